// Sign-in in a new tab through cave_widgets' Jupyter server extension
// (cave_widgets/jupyter_extension.py), for pages whose popups cannot post the token back.
//
// The extension hands this page a one-time nonce; the new tab signs in to CAVE, which
// redirects it to the extension's callback with the nonce and the token; this page then
// claims the token with the nonce. The token never appears in a URL we build, and a nonce
// works once and for ten minutes only.

// How often the page asks the extension whether the sign-in has arrived.
const CLAIM_POLL_MS = 800;
// The extension forgets a nonce after ten minutes (NONCE_TTL); waiting longer is pointless.
const GIVE_UP_MS = 10 * 60 * 1000;

// The Jupyter server this page was served by, as {base, xsrf}, or null when the page is not
// JupyterLab/Notebook (VS Code, a static page): then there is no extension to talk to.
export function findJupyterServer() {
  const config = document.getElementById("jupyter-config-data");
  if (!config) return null;
  try {
    const base = JSON.parse(config.textContent).baseUrl || "/";
    const xsrf = (document.cookie.match(/(?:^|;\s*)_xsrf=([^;]+)/) || [])[1] || "";
    return { base: new URL(base, window.location.href).href, xsrf: decodeURIComponent(xsrf) };
  } catch (_) {
    return null;
  }
}

function postToExtension(jupyter, path, body, signal) {
  return fetch(`${jupyter.base}cave_widgets/login/${path}`, {
    method: "POST", credentials: "same-origin", body: JSON.stringify(body || {}), signal,
    headers: { "X-XSRFToken": jupyter.xsrf, "Content-Type": "application/json" },
  });
}

// Opens CAVE's sign-in page (`loginUrl`) in a new tab that returns to `jupyter`
// (from findJupyterServer()) and waits for the token there.
//   onToken(token)          at most once, after polling has stopped
//   onStatus(state, detail) "unavailable"  the extension is not enabled (nothing left running)
//                           "waiting"      the tab is open; when the browser blocked it,
//                                          detail.signInLink is the page to open by hand
//                           "expired"      ten minutes passed without a sign-in
// Returns stop(): cancels the requests under way and the polling; safe to call more than
// once, also while the nonce is still being fetched (no tab opens afterwards).
export function startTabSignIn({ loginUrl, jupyter, onToken, onStatus }) {
  const requests = new AbortController();
  let stopped = false;
  let timer = null;

  function stop() {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    requests.abort();
  }

  async function claimOnce(nonce) {
    const claimed = await postToExtension(jupyter, "claim", { nonce }, requests.signal)
      .catch(() => null);
    // 404 means "not signed in yet"; a token that arrives after stop() is not ours to use.
    if (stopped || !claimed || claimed.status !== 200) return;
    const { token } = await claimed.json().catch(() => ({}));
    if (stopped) return;
    stop();
    if (token) onToken(token);
  }

  async function begin() {
    const answer = await postToExtension(jupyter, "nonce", {}, requests.signal)
      .catch(() => null);
    const { nonce } = answer && answer.ok ? await answer.json().catch(() => ({})) : {};
    if (stopped) return;
    if (!nonce) {
      stop();
      onStatus("unavailable");
      return;
    }
    const callback = new URL(`${jupyter.base}cave_widgets/login/callback`);
    callback.searchParams.set("nonce", nonce);
    const signIn = new URL(loginUrl, window.location.href);
    signIn.searchParams.set("redirect", callback.href);
    const tab = window.open(signIn.href, "_blank");
    onStatus("waiting", tab ? {} : { signInLink: signIn.href });

    const deadline = Date.now() + GIVE_UP_MS;
    timer = setInterval(() => {
      if (Date.now() > deadline) {
        stop();
        onStatus("expired");
        return;
      }
      claimOnce(nonce);
    }, CLAIM_POLL_MS);
  }

  begin();
  return stop;
}
