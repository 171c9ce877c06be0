// LoginWidget front end (cave_widgets/widgets/login.py).
//
// Sign-in opens the server's sticky authorize page in a popup; the page posts
// {token, app_urls} back to its opener. We accept that message only from our popup and from
// the sign-in page's origin, close the popup, and send the token to Python once, inside a
// request. The token is never put in a model trait (traits can be saved into the notebook),
// and the paste field is emptied as soon as it is submitted.
import { createRequester } from "./lib/request.js";
import { errorBox, h } from "./lib/dom.js";
import "./login.css";

const POPUP_NAME = "cave-login";
const POPUP_FEATURES = "width=480,height=640";
const POLL_MS = 400;

function render({ model, el }) {
  const requester = createRequester(model);
  let popupWatch = null; // {popup, onMessage, timer} while a sign-in window is open

  // --- the pieces (built once; update() shows, hides and fills them) ----------------------
  const server = h("span", { className: "cw-login-server" });
  const header = h("div", { className: "cw-login-header" },
    h("span", { className: "cw-login-title" }, "CAVE"), server);

  const name = h("span", { className: "cw-login-name" });
  const email = h("span", { className: "cw-login-email" });
  const switchButton = h("button", { type: "button", className: "cw-button cw-login-switch",
    onClick: () => openPopup() }, "Switch user");
  const logoutButton = h("button", { type: "button", className: "cw-button cw-login-logout",
    onClick: () => logout(false) }, "Log out");
  const userLine = h("div", { className: "cw-login-user" },
    h("span", { className: "cw-login-who" }, "Signed in as ", name, " ", email),
    h("span", { className: "cw-login-actions" }, switchButton, logoutButton));

  const checking = h("div", { className: "cw-login-checking", role: "status" },
    h("span", { className: "cw-spinner", "aria-hidden": "true" }), "Checking your sign-in…");

  const signInButton = h("button", { type: "button",
    className: "cw-button cw-primary cw-login-signin", onClick: () => openPopup() }, "Sign in");
  const rememberBox = h("input", { type: "checkbox", className: "cw-login-remember",
    onChange: () => { model.set("remember", rememberBox.checked); model.save_changes(); } });
  const pasteToggle = h("button", { type: "button",
    className: "cw-link-button cw-login-paste-toggle", onClick: () => showPaste(paste.hidden) },
  "Paste a token");
  const signInRow = h("div", { className: "cw-login-signin-row" },
    signInButton,
    h("label", { className: "cw-login-remember-label" },
      rememberBox, " Remember me on this machine"),
    pasteToggle);
  const hint = h("div", { className: "cw-login-hint" },
    "Sign in opens a small window of your CAVE server.");

  const popupStatus = h("div", { className: "cw-login-popup-status", role: "status",
    "aria-live": "polite" });

  const tokenInput = h("input", { type: "password", className: "cw-login-token",
    autocomplete: "off", spellcheck: "false", placeholder: "32-character token",
    "aria-label": "CAVE token" });
  const tokenLink = h("a", { className: "cw-login-token-link", target: "_blank",
    rel: "noopener" }, "Get a token");
  const paste = h("form", { className: "cw-login-paste", onSubmit: submitPaste },
    tokenInput,
    h("button", { type: "submit", className: "cw-button cw-login-use-token" }, "Use token"),
    tokenLink);
  paste.hidden = true;

  const noticeArea = h("div", { className: "cw-login-notice" });
  const confirmArea = h("div", { className: "cw-login-confirm" });
  confirmArea.hidden = true;

  const root = h("div", { className: "cw-login" },
    header, checking, userLine, noticeArea, confirmArea, signInRow, hint, popupStatus, paste);
  el.append(root);

  // --- showing the model ------------------------------------------------------------------
  function update() {
    const status = model.get("status");
    root.dataset.status = status;
    server.textContent = model.get("server_address");
    server.title = model.get("server_address");
    name.textContent = model.get("user_name") || "";
    email.textContent = model.get("user_email") ? `(${model.get("user_email")})` : "";
    rememberBox.checked = !!model.get("remember");
    tokenLink.href = model.get("keys_page_url") || "#";

    const signedIn = status === "signed_in";
    checking.hidden = status !== "checking";
    userLine.hidden = !signedIn;
    signInRow.hidden = signedIn || status === "checking";
    hint.hidden = signInRow.hidden;
    if (signedIn) {
      showPaste(false);
      setPopupStatus("");
    }
    renderNotice(model.get("notice") || {});
  }

  function renderNotice(info) {
    noticeArea.replaceChildren();
    if (!info.message) return;
    if (info.kind === "info") {
      noticeArea.append(h("div", { className: "cw-login-info" }, info.message));
      return;
    }
    if (info.kind === "tos" || info.kind === "permission") {
      noticeArea.append(h("div", { className: "cw-warning", role: "alert", "data-kind": info.kind },
        h("div", { className: "cw-warning-message" }, info.message),
        info.action ? h("div", { className: "cw-warning-action" }, info.action) : null,
        h("div", { className: "cw-warning-buttons" },
          info.link ? h("a", { className: "cw-button cw-login-fix-link", href: info.link,
            target: "_blank", rel: "noopener" },
            info.kind === "tos" ? "Open the terms of service" : "Open") : null,
          h("button", { type: "button", className: "cw-button cw-login-check",
            onClick: () => ask("check", {}) }, "Check again"))));
      return;
    }
    noticeArea.append(errorBox(info));
  }

  function setPopupStatus(text, { retry = false, tab = false } = {}) {
    popupStatus.replaceChildren();
    if (!text) return;
    popupStatus.append(text);
    if (retry) {
      popupStatus.append(" ", h("button", { type: "button", className: "cw-button cw-login-retry",
        onClick: () => openPopup() }, "Retry"));
    }
    if (tab && jupyterServer()) {
      popupStatus.append(" ", h("button", { type: "button", className: "cw-button cw-login-tab",
        onClick: () => signInInTab() }, "Sign in in a new tab"));
    }
  }

  // --- sign-in through a new tab and cave_widgets' Jupyter server extension ----------------
  // For pages whose popups cannot post the token back: CAVE redirects the new tab to the
  // extension with a one-time nonce; this page then collects the token from the extension.
  function jupyterServer() {
    const cfg = document.getElementById("jupyter-config-data");
    if (!cfg) return null;
    try {
      const base = JSON.parse(cfg.textContent).baseUrl || "/";
      const xsrf = (document.cookie.match(/(?:^|;\s*)_xsrf=([^;]+)/) || [])[1] || "";
      return { base: new URL(base, window.location.href).href, xsrf: decodeURIComponent(xsrf) };
    } catch (_) {
      return null;
    }
  }

  async function extensionPost(server, path, body) {
    return fetch(`${server.base}cave_widgets/login/${path}`, {
      method: "POST", credentials: "same-origin", body: JSON.stringify(body || {}),
      headers: { "X-XSRFToken": server.xsrf, "Content-Type": "application/json" },
    });
  }

  async function signInInTab() {
    const server = jupyterServer();
    if (!server) return;
    stopWatching();
    const answer = await extensionPost(server, "nonce").catch(() => null);
    if (!answer || !answer.ok) {
      setPopupStatus("This Jupyter server cannot receive the sign-in (the cave_widgets server "
        + "extension is not enabled). Paste a token below.");
      showPaste(true);
      return;
    }
    const { nonce } = await answer.json();
    const callback = new URL(`${server.base}cave_widgets/login/callback`);
    callback.searchParams.set("nonce", nonce);
    const login = new URL(model.get("login_url"), window.location.href);
    login.searchParams.set("redirect", callback.href);
    const tab = window.open(login.href, "_blank");
    setPopupStatus("Sign in in the new tab; this widget picks the sign-in up by itself.");
    if (!tab) {
      popupStatus.append(" ", h("a", { href: login.href, target: "_blank", rel: "noopener",
        className: "cw-login-tab-link" }, "Open the sign-in page"));
    }
    const watch = { done: false };
    const deadline = Date.now() + 10 * 60 * 1000;
    watch.timer = setInterval(async () => {
      if (watch.done) return;
      if (Date.now() > deadline) {
        stopWatching();
        setPopupStatus("The sign-in was not finished in 10 minutes —", { retry: true, tab: true });
        return;
      }
      const claimed = await extensionPost(server, "claim", { nonce }).catch(() => null);
      if (!claimed || claimed.status !== 200 || watch.done) return;
      const { token } = await claimed.json();
      watch.done = true;
      stopWatching();
      if (token) sendToken(token);
    }, POLL_MS * 2);
    watch.onMessage = () => {};
    popupWatch = watch;
  }

  function showPaste(show) {
    paste.hidden = !show;
    if (show) tokenInput.focus();
  }

  // --- talking to Python -----------------------------------------------------------------
  function ask(kind, payload) {
    const req = requester.request(kind, payload);
    req.promise.then(({ result }) => {
      if (result && result.confirm) askToForget(result.confirm);
    }).catch((err) => {
      if (err.stale) return;
      noticeArea.replaceChildren(errorBox(err.info || { message: String(err.message) }));
    });
    return req;
  }

  function sendToken(token) {
    setPopupStatus("");
    ask("token", { token, remember: !!model.get("remember") });
  }

  function submitPaste(ev) {
    ev.preventDefault();
    const token = tokenInput.value.trim();
    tokenInput.value = ""; // never left in the page, whatever happens next
    if (token) sendToken(token);
  }

  function logout(confirmed) {
    confirmArea.hidden = true;
    confirmArea.replaceChildren();
    ask("logout", { confirmed });
  }

  function askToForget(file) {
    confirmArea.replaceChildren(
      h("div", { className: "cw-login-confirm-message" },
        "Your token is saved in ", h("code", {}, file),
        ", which caveclient on this machine reads too. Signing out removes it from that file."),
      h("div", { className: "cw-login-confirm-buttons" },
        h("button", { type: "button", className: "cw-button cw-danger cw-login-confirm-yes",
          onClick: () => logout(true) }, "Remove and sign out"),
        h("button", { type: "button", className: "cw-button cw-login-confirm-no",
          onClick: () => { confirmArea.hidden = true; confirmArea.replaceChildren(); } },
          "Cancel")));
    confirmArea.hidden = false;
  }

  // --- the sign-in popup -----------------------------------------------------------------
  function stopWatching() {
    if (!popupWatch) return;
    window.removeEventListener("message", popupWatch.onMessage);
    clearInterval(popupWatch.timer);
    popupWatch = null;
  }

  function openPopup() {
    const url = model.get("login_url");
    if (!url) return;
    stopWatching();
    let popup = null;
    try {
      popup = window.open(url, POPUP_NAME, POPUP_FEATURES);
    } catch (_) {
      popup = null;
    }
    if (!popup) {
      setPopupStatus("Popup blocked. Allow popups for this page, or paste a token below.",
        { tab: true });
      showPaste(true);
      return;
    }
    const origin = new URL(url, window.location.href).origin;
    const watch = { popup, done: false };
    watch.onMessage = (ev) => {
      if (ev.source !== popup || ev.origin !== origin) return; // someone else's message
      const token = ev.data && typeof ev.data.token === "string" ? ev.data.token : "";
      if (!token) return;
      watch.done = true;
      stopWatching();
      try { popup.close(); } catch (_) { /* already closed */ }
      sendToken(token);
    };
    watch.timer = setInterval(() => {
      if (!popup.closed) return;
      stopWatching();
      if (!watch.done) setPopupStatus("Login window closed —", { retry: true, tab: true });
    }, POLL_MS);
    window.addEventListener("message", watch.onMessage);
    popupWatch = watch;
    setPopupStatus("Waiting for the sign-in window…");
  }

  for (const trait of ["status", "server_address", "user_name", "user_email", "remember",
    "keys_page_url", "notice"]) {
    model.on(`change:${trait}`, update);
  }
  update();

  return () => {
    stopWatching();
    requester.dispose();
    for (const trait of ["status", "server_address", "user_name", "user_email", "remember",
      "keys_page_url", "notice"]) {
      model.off(`change:${trait}`, update);
    }
  };
}

export default { render };
