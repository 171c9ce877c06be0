"""The few HTML pages of the demo's auth service: the sign-in page behind the sticky authorize
route, the page that hands the token back to the opener, the token settings page and the
terms-of-service form. Plain HTML, no external assets (nothing here reaches the internet)."""

from __future__ import annotations

import json
from html import escape

from starlette.responses import HTMLResponse

STYLE = """
body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#222}
h1{font-size:1.4rem}form.user{margin:.6rem 0}button{font-size:1rem;padding:.5rem 1rem;
cursor:pointer;border-radius:6px;border:1px solid #888;background:#f4f6fb}
.muted{color:#666;font-size:.9rem}code{background:#f2f2f2;padding:.1rem .3rem}
.token{font-family:monospace;font-size:1.05rem;background:#eef6ee;padding:.5rem;display:block;
word-break:break-all}
"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def sign_in_page(users, redirect: str | None, action: str,
                 secret_needed: bool = False) -> HTMLResponse:
    hidden = (
        f"<input type='hidden' name='redirect' value='{escape(redirect, quote=True)}'>"
        if redirect
        else ""
    )
    if secret_needed:  # one field, copied into each user's form when it is sent
        hidden += "<input type='hidden' name='secret' class='secret-copy' value=''>"
    ask = (
        "<p><label>Sign-in secret (printed by the server at start-up): <input type='password' "
        "id='secret' autocomplete='off'></label></p><script>document.addEventListener("
        "'submit',function(e){e.target.querySelector('.secret-copy').value="
        "document.getElementById('secret').value;});</script>"
        if secret_needed else ""
    )
    forms = "".join(
        f"<form class='user' method='post' action='{escape(action, quote=True)}'>{hidden}"
        f"<input type='hidden' name='user_id' value='{u.id}'>"
        f"<button type='submit' data-user='{u.id}'>Sign in as {escape(u.name)}</button> "
        f"<span class='muted'>{escape(u.email)}{_access_note(u)}</span></form>"
        for u in users
    )
    return _page(
        "CAVE demo sign-in",
        "<p>This is the embedded demo server of cave_widgets. It has no passwords: pick the "
        "demo user to sign in as. A real CAVE deployment signs you in with your institution's "
        "Google account here instead.</p>" + ask + forms,
    )


def _access_note(user) -> str:
    if user.missing_tos:
        return " — has not accepted the terms of service yet"
    if not user.permissions:
        return " — no access to the demo datastack"
    return " — full access"


def token_to_opener_page(token: str, app_urls: list[str]) -> HTMLResponse:
    """The popup flow: post the token to the window that opened us, then close.

    The token travels only inside the postMessage payload; the page never displays it.
    """
    payload = json.dumps({"token": token, "app_urls": app_urls}).replace("</", "<\\/")
    script = (
        "<script>(function(){var msg=" + payload + ";"
        "if(window.opener){window.opener.postMessage(msg,'*');"
        "document.getElementById('status').textContent='Signed in. This window will close.';"
        "setTimeout(function(){window.close();},300);}"
        "else{document.getElementById('status').textContent="
        "'Signed in, but no window is waiting for the token. Close this window and use the "
        "token page instead.';}})();</script>"
    )
    return _page("CAVE demo sign-in", "<p id='status'>Finishing sign-in…</p>" + script)


def token_settings_page(user, tokens, new_token: str | None, sign_in_url: str,
                        action: str) -> HTMLResponse:
    if user is None:
        return _page(
            "API tokens",
            f"<p>You are not signed in. <a href='{escape(sign_in_url, quote=True)}'>Sign in</a> "
            "to see and create API tokens.</p>",
        )
    rows = "".join(
        f"<li><code>{escape(t.value[:4])}…</code> {escape(t.description or '')}</li>"
        for t in tokens
    )
    fresh = ""
    if new_token:
        fresh = (
            "<p>Your new token (copy it now; it is shown once):</p>"
            f"<span class='token' id='new-token'>{escape(new_token)}</span>"
            "<p class='muted'>In Python: <code>client.auth.save_token(token)</code></p>"
        )
    return _page(
        "API tokens",
        f"<p>Signed in as {escape(user.name)} ({escape(user.email)}).</p>{fresh}"
        f"<p>Your API tokens:</p><ul>{rows or '<li>none yet</li>'}</ul>"
        f"<form method='post' action='{escape(action, quote=True)}'>"
        "<button type='submit' id='create-token'>Create new token</button></form>",
    )


def terms_page(user, accepted: bool, action: str) -> HTMLResponse:
    if user is None:
        return _page("Terms of service", "<p>Sign in first to accept the terms of service.</p>")
    if accepted or not user.missing_tos:
        return _page("Terms of service", "<p>You have accepted the demo terms of service.</p>")
    return _page(
        "Terms of service",
        "<p>The demo data are synthetic; use them for anything you like.</p>"
        f"<form method='post' action='{escape(action, quote=True)}'>"
        "<button type='submit' id='accept'>I accept</button></form>",
    )
