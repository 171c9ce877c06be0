// Sign-in in a popup: the server's sticky authorize page, opened by us, posts
// {token, app_urls} back to its opener once the person has signed in.
//
// Any page can post a message to this window, so a message counts only when it comes from
// the popup we opened AND from the sign-in page's origin; anything else is ignored.

const POPUP_NAME = "cave-login";
const POPUP_FEATURES = "width=480,height=640";
// There is no "popup closed" event; polling `closed` is how a page learns of it.
const CLOSED_POLL_MS = 400;

// Opens `url` in a popup and waits for the token it posts back.
//   onToken(token)  at most once, after the listener and timer are gone and the popup closed
//   onStatus(state) "waiting"  the popup is open
//                   "blocked"  the browser refused to open it (nothing is left running)
//                   "closed"   the person closed it without signing in
// Returns stop(): removes the message listener and the timer; safe to call more than once.
// It leaves an open popup alone (the person may still be reading it).
export function startPopupSignIn({ url, onToken, onStatus }) {
  let popup = null;
  try {
    popup = window.open(url, POPUP_NAME, POPUP_FEATURES);
  } catch (_) {
    popup = null;
  }
  if (!popup) {
    onStatus("blocked");
    return () => {};
  }

  const signInOrigin = new URL(url, window.location.href).origin;
  let stopped = false;
  let timer = null;

  function stop() {
    if (stopped) return;
    stopped = true;
    window.removeEventListener("message", onMessage);
    clearInterval(timer);
  }

  function onMessage(ev) {
    if (ev.source !== popup || ev.origin !== signInOrigin) return; // someone else's message
    const token = ev.data && typeof ev.data.token === "string" ? ev.data.token : "";
    if (!token) return;
    stop();
    try { popup.close(); } catch (_) { /* already closed */ }
    onToken(token);
  }

  timer = setInterval(() => {
    if (!popup.closed) return;
    stop(); // a token, had one come, would have stopped this timer first
    onStatus("closed");
  }, CLOSED_POLL_MS);
  window.addEventListener("message", onMessage);
  onStatus("waiting");
  return stop;
}
