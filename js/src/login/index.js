// LoginWidget front end (cave_widgets/widgets/login.py): builds the view, wires the three
// ways to sign in, and follows the model.
//
//   popup.js  the sign-in page in a popup posts the token back (the usual way)
//   tab.js    a new tab signs in and hands the token over through cave_widgets' Jupyter
//             server extension (when the popup cannot post back)
//   paste.js  the person pastes a token (when neither can work)
//
// Whichever way, the token goes to Python once, inside a request, and nowhere else: never
// into a model trait (traits can be saved into the notebook). At most one flow runs at a
// time; starting another or disposing the view stops it, with its listeners and timers.
import { createRequester } from "../lib/request.js";
import { createLogoutConfirmation } from "./logout_confirmation.js";
import { createNoticeArea } from "./notice.js";
import { createPasteForm } from "./paste.js";
import { startPopupSignIn } from "./popup.js";
import { createSignInStatus } from "./status.js";
import { findJupyterServer, startTabSignIn } from "./tab.js";
import { createLoginView } from "./view.js";
import "../lib/messages.css";
import "./login.css";

const SHOWN_TRAITS = ["status", "server_address", "user_name", "user_email", "remember",
  "keys_page_url", "notice"];

function render({ model, el }) {
  const requester = createRequester(model);
  let stopSignIn = () => {}; // stops the popup or new-tab flow under way, if any

  const notice = createNoticeArea({ onCheckAgain: () => ask("check", {}) });
  const logoutConfirmation = createLogoutConfirmation({ onConfirm: () => logout(true) });
  const signInStatus = createSignInStatus({
    onRetry: signInWithPopup,
    onSignInInTab: signInInTab,
    canSignInInTab: () => findJupyterServer() !== null,
  });
  const pasteForm = createPasteForm({ onToken: sendToken });
  const view = createLoginView({
    actions: {
      onSignIn: signInWithPopup,
      onLogout: () => logout(false),
      onRememberChange: (remember) => { model.set("remember", remember); model.save_changes(); },
      onPasteToggle: () => pasteForm.toggle(),
    },
    parts: { notice, logoutConfirmation, signInStatus, pasteForm },
  });
  el.append(view.el);

  // --- the sign-in flows -------------------------------------------------------------------
  function showSignInStatus(flow, state, detail) {
    const message = signInStatus.show(flow, state, detail);
    if (message.paste) pasteForm.show(true);
  }

  function signInWithPopup() {
    const url = model.get("login_url");
    if (!url) return;
    stopSignIn();
    stopSignIn = startPopupSignIn({ url, onToken: sendToken,
      onStatus: (state) => showSignInStatus("popup", state) });
  }

  function signInInTab() {
    const jupyter = findJupyterServer();
    if (!jupyter) return;
    stopSignIn();
    stopSignIn = startTabSignIn({ loginUrl: model.get("login_url"), jupyter, onToken: sendToken,
      onStatus: (state, detail) => showSignInStatus("tab", state, detail) });
  }

  // --- talking to Python -------------------------------------------------------------------
  function ask(kind, payload) {
    const req = requester.request(kind, payload);
    req.promise.then(({ result }) => {
      if (result && result.confirm) logoutConfirmation.ask(result.confirm);
    }).catch((err) => {
      if (err.stale) return;
      notice.showError(err.info || { message: String(err.message) });
    });
    return req;
  }

  function sendToken(token) {
    signInStatus.clear();
    ask("token", { token, remember: !!model.get("remember") });
  }

  function logout(confirmed) {
    logoutConfirmation.hide();
    ask("logout", { confirmed });
  }

  // --- following the model -----------------------------------------------------------------
  function update() {
    const status = model.get("status");
    view.show({ status, serverAddress: model.get("server_address"),
      userName: model.get("user_name"), userEmail: model.get("user_email"),
      remember: model.get("remember") });
    pasteForm.setTokenPageUrl(model.get("keys_page_url"));
    if (status === "signed_in") {
      // Signed in by any way (paste, a cell): a sign-in window still open is no longer
      // awaited, so its closing cannot report a failed sign-in under the signed-in view.
      stopSignIn();
      stopSignIn = () => {};
      pasteForm.show(false);
      signInStatus.clear();
    }
    notice.show(model.get("notice") || {});
  }

  for (const trait of SHOWN_TRAITS) model.on(`change:${trait}`, update);
  update();

  return () => {
    stopSignIn();
    pasteForm.dispose();
    requester.dispose();
    for (const trait of SHOWN_TRAITS) model.off(`change:${trait}`, update);
  };
}

export default { render };
