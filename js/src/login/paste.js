// Sign-in by pasting a token: the fallback when neither the popup nor the new tab can work.
// The field is a password field (the token never shows on screen or in a screenshot) and is
// emptied the moment it is submitted, whatever happens to the token next.
import { h } from "../lib/dom.js";

// onToken(token): the trimmed, non-empty token, once per submit.
// Returns {el, show(visible), toggle(), setTokenPageUrl(url), dispose()}; el starts hidden.
export function createPasteForm({ onToken }) {
  const input = h("input", { type: "password", className: "cw-login-token",
    autocomplete: "off", spellcheck: "false", placeholder: "32-character token",
    "aria-label": "CAVE token" });
  const tokenPageLink = h("a", { className: "cw-login-token-link", target: "_blank",
    rel: "noopener" }, "Get a token");
  const el = h("form", { className: "cw-login-paste", onSubmit: submit },
    input,
    h("button", { type: "submit", className: "cw-button cw-login-use-token" }, "Use token"),
    tokenPageLink);
  el.hidden = true;

  function submit(ev) {
    ev.preventDefault();
    const token = input.value.trim();
    input.value = ""; // never left in the page, whatever happens next
    if (token) onToken(token);
  }

  function show(visible) {
    el.hidden = !visible;
    if (visible) input.focus();
  }

  return {
    el,
    show,
    toggle: () => show(el.hidden),
    setTokenPageUrl: (url) => { tokenPageLink.href = url || "#"; },
    // A token typed but never submitted must not outlive the widget's view either.
    dispose: () => { input.value = ""; },
  };
}
