// The line under the sign-in button that says how a sign-in flow is going, with the way
// out that fits: try the popup again, or take the new-tab route when this page runs in
// Jupyter. The flows (popup.js, tab.js) report states; the words are all here.
import { h } from "../lib/dom.js";

// Per flow and state. retry: offer "Retry" (the popup again); tab: offer the new-tab route;
// paste: the text sends the person to the paste field, so the caller reveals it.
const MESSAGES = {
  popup: {
    waiting: { text: "Waiting for the sign-in window…" },
    blocked: { text: "Popup blocked. Allow popups for this page, or paste a token below.",
      tab: true, paste: true },
    closed: { text: "Login window closed —", retry: true, tab: true },
  },
  tab: {
    unavailable: { text: "This Jupyter server cannot receive the sign-in (the cave_widgets "
      + "server extension is not enabled). Paste a token below.", paste: true },
    waiting: { text: "Sign in in the new tab; this widget picks the sign-in up by itself." },
    expired: { text: "The sign-in was not finished in 10 minutes —", retry: true, tab: true },
  },
};

// onRetry(), onSignInInTab(): the buttons' actions. canSignInInTab(): whether the new-tab
// route exists here, asked each time the line is shown.
// Returns {el, show(flow, state, detail) → the message shown, clear()}.
export function createSignInStatus({ onRetry, onSignInInTab, canSignInInTab }) {
  const el = h("div", { className: "cw-login-popup-status", role: "status",
    "aria-live": "polite" });

  function show(flow, state, { signInLink } = {}) {
    const message = MESSAGES[flow][state];
    el.replaceChildren(message.text);
    if (message.retry) {
      el.append(" ", h("button", { type: "button", className: "cw-button cw-login-retry",
        onClick: () => onRetry() }, "Retry"));
    }
    if (message.tab && canSignInInTab()) {
      el.append(" ", h("button", { type: "button", className: "cw-button cw-login-tab",
        onClick: () => onSignInInTab() }, "Sign in in a new tab"));
    }
    if (signInLink) { // the browser blocked the new tab: the person opens it by hand
      el.append(" ", h("a", { href: signInLink, target: "_blank", rel: "noopener",
        className: "cw-login-tab-link" }, "Open the sign-in page"));
    }
    return message;
  }

  return { el, show, clear: () => el.replaceChildren() };
}
