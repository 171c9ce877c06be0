// Tiny DOM helpers shared by the widget views.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "className") {
      el.className = value;
    } else {
      el.setAttribute(key, value === true ? "" : value);
    }
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

// An error as the person sees it: the short message, what to do, details on demand, and
// optionally a retry button.
export function errorBox(info, onRetry) {
  const details = h("details", { className: "cw-details" },
    h("summary", {}, "details"), h("pre", {}, info.details || ""));
  return h("div", { className: "cw-error", role: "alert" },
    h("div", { className: "cw-error-message" }, info.message || "Something went wrong."),
    info.action ? h("div", { className: "cw-error-action" }, info.action) : null,
    info.link ? h("a", { href: info.link, target: "_blank", rel: "noopener" }, info.link) : null,
    onRetry ? h("button", { className: "cw-button", onClick: onRetry }, "Retry") : null,
    info.details ? details : null);
}
