// What the person should know now: the kernel's `notice` trait ({message, action, kind,
// link, details}), or the error of a request that failed. Terms of service and missing
// permissions are fixed outside the notebook, so they get a link there and "Check again".
import { errorBox, h } from "../lib/dom.js";

// onCheckAgain(): asks the kernel to check the sign-in again.
// Returns {el, show(notice), showError(info)}.
export function createNoticeArea({ onCheckAgain }) {
  const el = h("div", { className: "cw-login-notice" });

  function show(notice) {
    el.replaceChildren();
    if (!notice.message) return;
    if (notice.kind === "info") {
      el.append(h("div", { className: "cw-login-info" }, notice.message));
    } else if (notice.kind === "tos" || notice.kind === "permission") {
      el.append(fixElsewhere(notice));
    } else {
      el.append(errorBox(notice));
    }
  }

  function fixElsewhere(notice) {
    return h("div", { className: "cw-warning", role: "alert", "data-kind": notice.kind },
      h("div", { className: "cw-warning-message" }, notice.message),
      notice.action ? h("div", { className: "cw-warning-action" }, notice.action) : null,
      h("div", { className: "cw-warning-buttons" },
        notice.link ? h("a", { className: "cw-button cw-login-fix-link", href: notice.link,
          target: "_blank", rel: "noopener" },
          notice.kind === "tos" ? "Open the terms of service" : "Open") : null,
        h("button", { type: "button", className: "cw-button cw-login-check",
          onClick: () => onCheckAgain() }, "Check again")));
  }

  return { el, show, showError: (info) => el.replaceChildren(errorBox(info)) };
}
