"""A small Jupyter server extension for sign-in where popups cannot post back (VS Code
webviews, some hosted notebooks): CAVE's authorize route redirects here instead.

1. The widget's page registers a one-time nonce:   POST  {base}/cave_widgets/login/nonce
2. It opens CAVE's sign-in with redirect={base}/cave_widgets/login/callback?nonce=N.
3. CAVE redirects back with middle_auth_token=...; the callback keeps the token for that
   nonce only, answers with a redirect to a clean URL (so the token leaves the address bar
   and history) and a page that never shows the token.
4. The widget's page collects it once:              POST  {base}/cave_widgets/login/claim
   and hands it to the kernel, which checks and saves it.

Every route sits behind Jupyter's own authentication; nonces expire after ten minutes and
work once.
"""

from __future__ import annotations

import json
import secrets
import threading
import time

from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web

NONCE_TTL = 600.0


class LoginHandoff:
    """Nonce → token, in memory, one use each."""

    def __init__(self, ttl: float = NONCE_TTL):
        self.ttl = ttl
        self._lock = threading.Lock()
        self._nonces: dict[str, float] = {}
        self._tokens: dict[str, str] = {}

    def _expire(self) -> None:
        now = time.monotonic()
        for nonce, born in list(self._nonces.items()):
            if now - born > self.ttl:
                self._nonces.pop(nonce, None)
                self._tokens.pop(nonce, None)

    def new_nonce(self) -> str:
        nonce = secrets.token_urlsafe(24)
        with self._lock:
            self._expire()
            self._nonces[nonce] = time.monotonic()
        return nonce

    def deliver(self, nonce: str, token: str) -> bool:
        with self._lock:
            self._expire()
            if nonce not in self._nonces or nonce in self._tokens:
                return False
            self._tokens[nonce] = token
            return True

    def claim(self, nonce: str) -> str | None:
        with self._lock:
            self._expire()
            token = self._tokens.pop(nonce, None)
            if token is not None:
                self._nonces.pop(nonce, None)
            return token


class _Base(JupyterHandler):
    @property
    def handoff(self) -> LoginHandoff:
        return self.settings["cave_widgets_login_handoff"]

    def no_store(self) -> None:
        self.set_header("Cache-Control", "no-store")
        self.set_header("Referrer-Policy", "no-referrer")


class NonceHandler(_Base):
    @web.authenticated
    def post(self):
        self.no_store()
        self.finish({"nonce": self.handoff.new_nonce()})


class CallbackHandler(_Base):
    # Not @web.authenticated: that would redirect an unauthenticated browser to Jupyter's
    # login page with this URL, token included, in its `next` parameter. CAVE also adds a
    # `token=` parameter, which Jupyter reads as its own token; a browser signed in to
    # Jupyter still has its cookie, so the check below holds.
    def get(self):
        self.no_store()
        if self.current_user is None:
            self.set_status(403)
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.finish("<!doctype html><meta charset='utf-8'><title>CAVE sign-in</title>"
                        "<p style='font-family:sans-serif;margin:3rem'>Open Jupyter in this "
                        "browser first, then start the sign-in again from your notebook.</p>")
            return
        nonce = self.get_query_argument("nonce", "")
        token = self.get_query_argument("middle_auth_token", "") or self.get_query_argument(
            "token", "")
        if token:
            accepted = self.handoff.deliver(nonce, token)
            # Drop the token from the address bar and history straight away.
            status = "ok" if accepted else "refused"
            clean = url_path_join(self.base_url, "cave_widgets/login/callback")
            self.redirect(f"{clean}?status={status}")
            return
        status = self.get_query_argument("status", "")
        text = {
            "ok": "Signed in. You can close this tab and go back to your notebook.",
            "refused": "This sign-in link was not started from your notebook, was already "
                       "used, or expired. Start the sign-in again from the notebook.",
        }.get(status, "Nothing to do here.")
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(
            "<!doctype html><meta charset='utf-8'><title>CAVE sign-in</title>"
            f"<p style='font-family:sans-serif;margin:3rem'>{text}</p>"
        )


class ClaimHandler(_Base):
    @web.authenticated
    def post(self):
        self.no_store()
        try:
            body = json.loads(self.request.body or b"{}")
        except (ValueError, RecursionError):
            body = None
        if not isinstance(body, dict):  # a list, a number, nested junk: not a claim
            raise web.HTTPError(400, "the body must be a JSON object: {\"nonce\": ...}")
        nonce = body.get("nonce", "")
        token = self.handoff.claim(nonce) if isinstance(nonce, str) else None
        if token is None:
            self.set_status(404)
            self.finish({"pending": True})
            return
        self.finish({"token": token})


def _jupyter_server_extension_points():
    return [{"module": "cave_widgets.jupyter_extension"}]


def _load_jupyter_server_extension(serverapp) -> None:
    web_app = serverapp.web_app
    web_app.settings["cave_widgets_login_handoff"] = LoginHandoff()
    base = web_app.settings["base_url"]
    web_app.add_handlers(".*$", [
        (url_path_join(base, "cave_widgets/login/nonce"), NonceHandler),
        (url_path_join(base, "cave_widgets/login/callback"), CallbackHandler),
        (url_path_join(base, "cave_widgets/login/claim"), ClaimHandler),
    ])
