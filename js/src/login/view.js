// The LoginWidget's frame: the server line, "Checking your sign-in…", who is signed in with
// "Switch user" and "Log out", and the sign-in row. The parts with a life of their own
// (notice, log-out confirmation, sign-in status, paste form) are made elsewhere and only
// placed here, so the page reads top to bottom in one spot.
import { h } from "../lib/dom.js";

// actions: {onSignIn, onLogout, onRememberChange(remember), onPasteToggle}
// parts:   {notice, logoutConfirmation, signInStatus, pasteForm}, each with an `el`
// Returns {el, show(state)}: state is {status, serverAddress, userName, userEmail, remember}.
export function createLoginView({ actions, parts }) {
  const server = h("span", { className: "cw-login-server" });
  const header = h("div", { className: "cw-login-header" },
    h("span", { className: "cw-login-title" }, "CAVE"), server);

  const checking = h("div", { className: "cw-login-checking", role: "status" },
    h("span", { className: "cw-spinner", "aria-hidden": "true" }), "Checking your sign-in…");

  const name = h("span", { className: "cw-login-name" });
  const email = h("span", { className: "cw-login-email" });
  const userLine = h("div", { className: "cw-login-user" },
    h("span", { className: "cw-login-who" }, "Signed in as ", name, " ", email),
    h("span", { className: "cw-login-actions" },
      h("button", { type: "button", className: "cw-button cw-login-switch",
        onClick: () => actions.onSignIn() }, "Switch user"),
      h("button", { type: "button", className: "cw-button cw-login-logout",
        onClick: () => actions.onLogout() }, "Log out")));

  const rememberBox = h("input", { type: "checkbox", className: "cw-login-remember",
    onChange: () => actions.onRememberChange(rememberBox.checked) });
  const signInRow = h("div", { className: "cw-login-signin-row" },
    h("button", { type: "button", className: "cw-button cw-primary cw-login-signin",
      onClick: () => actions.onSignIn() }, "Sign in"),
    h("label", { className: "cw-login-remember-label" },
      rememberBox, " Remember me on this machine"),
    h("button", { type: "button", className: "cw-link-button cw-login-paste-toggle",
      onClick: () => actions.onPasteToggle() }, "Paste a token"));
  const hint = h("div", { className: "cw-login-hint" },
    "Sign in opens a small window of your CAVE server.");

  const el = h("div", { className: "cw-login" },
    header, checking, userLine, parts.notice.el, parts.logoutConfirmation.el,
    signInRow, hint, parts.signInStatus.el, parts.pasteForm.el);

  function show({ status, serverAddress, userName, userEmail, remember }) {
    el.dataset.status = status;
    server.textContent = serverAddress;
    server.title = serverAddress;
    name.textContent = userName || "";
    email.textContent = userEmail ? `(${userEmail})` : "";
    rememberBox.checked = !!remember;
    checking.hidden = status !== "checking";
    userLine.hidden = status !== "signed_in";
    signInRow.hidden = status === "signed_in" || status === "checking";
    hint.hidden = signInRow.hidden;
  }

  return { el, show };
}
