// Asked before signing out when the token sits in a file caveclient shares: signing out
// removes it from there too, which the person should agree to first.
import { h } from "../lib/dom.js";

// onConfirm(): sign out and remove the token from the file.
// Returns {el, ask(file), hide()}; el starts hidden.
export function createLogoutConfirmation({ onConfirm }) {
  const el = h("div", { className: "cw-login-confirm" });
  el.hidden = true;

  function hide() {
    el.hidden = true;
    el.replaceChildren();
  }

  function ask(file) {
    el.replaceChildren(
      h("div", { className: "cw-login-confirm-message" },
        "Your token is saved in ", h("code", {}, file),
        ", which caveclient on this machine reads too. Signing out removes it from that file."),
      h("div", { className: "cw-login-confirm-buttons" },
        h("button", { type: "button", className: "cw-button cw-danger cw-login-confirm-yes",
          onClick: () => onConfirm() }, "Remove and sign out"),
        h("button", { type: "button", className: "cw-button cw-login-confirm-no",
          onClick: hide }, "Cancel")));
    el.hidden = false;
  }

  return { el, ask, hide };
}
