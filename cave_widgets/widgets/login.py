"""LoginWidget: sign in to a CAVE server from a notebook, and see who is signed in.

The client owns who is signed in (``client.auth_state``, ``user_name``, ``user_email``); the
widget only mirrors those traits and offers the actions. A token never becomes a synced
trait: it travels browser → Python once, inside a request (``{"type": "token", ...}``), and
Python hands it to the client. Every HTTP call runs in the widget's worker thread.
"""

from __future__ import annotations

import hashlib
import socket
import threading
from pathlib import Path

import traitlets

from ..client import errors, http, tokens
from ..client.framework import CAVEclient
from ._base import STATIC, RequestWidget, bundle, friendly, log

__all__ = ["LoginWidget"]

STATUSES = ["signed_out", "checking", "signed_in", "error"]
_STATUS_OF_AUTH_STATE = {"anonymous": "signed_out", "unverified": "checking",
                         "verified": "signed_in", "rejected": "error"}


def _fingerprint(token: str) -> str:
    # Enough to recognise a token we saved ourselves, without keeping the token around.
    return hashlib.sha256(token.encode()).hexdigest()


def _notice(message: str, *, kind: str = "error", action: str = "", link: str = "",
            details: str = "") -> dict:
    return {"message": message, "action": action, "kind": kind, "link": link,
            "details": details}


def _scrub(value, secret: str | None):
    """`value` (a notice) with any copy of the secret replaced: error texts must never echo
    the token into a synced trait."""
    if not secret:
        return value
    if isinstance(value, dict):
        return {k: _scrub(v, secret) for k, v in value.items()}
    if isinstance(value, str):
        return value.replace(secret, "…")
    return value


class LoginWidget(RequestWidget):
    """Shows who is signed in to ``client``'s server, or a "Sign in" button.

    Sign-in opens the server's sign-in page in a popup, which hands the token back to the
    page; a "Paste a token" field is the fallback. With "Remember me on this machine" the
    widget mints a long-lived API key and saves it where caveclient also reads it (0600).
    The widget follows the client: ``client.change_auth(...)`` in a cell shows up here.
    """

    _esm = bundle("login")
    _css = STATIC / "login.css"

    server_address = traitlets.Unicode("").tag(sync=True)
    status = traitlets.Enum(STATUSES, "signed_out").tag(sync=True)
    user_name = traitlets.Unicode("").tag(sync=True)
    user_email = traitlets.Unicode("").tag(sync=True)
    remember = traitlets.Bool(False).tag(sync=True)
    login_url = traitlets.Unicode("").tag(sync=True)
    keys_page_url = traitlets.Unicode("").tag(sync=True)  # the page listing API keys
    # What the person should know now: {message, action, kind, link, details}; kind is
    # "error", "auth", "tos", "permission" or "info". Empty when there is nothing to say.
    notice = traitlets.Dict().tag(sync=True)

    def __init__(self, client: CAVEclient, **kwargs):
        super().__init__(**kwargs)
        self.client = client
        # One sign-in, check or sign-out at a time: they all switch the client's token.
        self._auth_lock = threading.RLock()
        # Token files this widget wrote: path -> fingerprint of the key written there.
        self._saved: dict[Path, str] = {}
        self.handle("token", self._on_token)
        self.handle("check", self._on_check)
        self.handle("logout", self._on_logout)
        self._client_traits = ["server_address", "auth_state", "user_name", "user_email"]
        client.observe(self._client_changed, names=self._client_traits)
        self._follow_client()

    # --- following the client ------------------------------------------------------------

    def _client_changed(self, change) -> None:
        self._follow_client(new_state=change["name"] in ("server_address", "auth_state"))

    def _follow_client(self, new_state: bool = True) -> None:
        c = self.client
        state = c.auth_state
        with self.hold_sync():
            self.server_address = c.server_address
            self.login_url = c.auth.login_url()
            self.keys_page_url = c.auth.token_page_url
            self.user_name = c.user_name or ""
            self.user_email = c.user_email or ""
            self.status = _STATUS_OF_AUTH_STATE[state]
            if new_state:
                self.notice = self._rejected_notice() if state == "rejected" else {}
        if new_state and state == "unverified":
            # A token set in a cell (or found in a file) is checked off the kernel's thread.
            # Our own sign-in also passes through here; the check then finds the state
            # already verified and does nothing.
            self.submit(self._check_quietly)

    def _rejected_notice(self, details: str = "") -> dict:
        return _notice("The server did not accept that token.", kind="auth",
                       action="Sign in again, or paste a token from the token page.",
                       link=self.keys_page_url, details=details)

    # --- checks --------------------------------------------------------------------------

    def _check_quietly(self) -> None:
        try:
            self._check(only_unverified=True)
        except Exception:  # the worker has nobody to tell but the widget
            log.debug("checking the client's token failed", exc_info=True)

    def _check(self, only_unverified: bool = False) -> dict:
        """Ask the server who the client's token belongs to and whether they may use the
        datastack; show the answer."""
        with self._auth_lock:
            c = self.client
            if only_unverified and c.auth_state != "unverified":
                return {"status": self.status}
            if not c.auth.token:  # nothing to check: the client is signed out already
                return {"status": self.status}
            self.status = "checking"
            auth = c.auth
            try:
                record = auth.whoami()
            except errors.AuthenticationError as exc:
                if c.auth is auth:
                    # whoami marked the client "rejected"; say what to do about it.
                    self.notice = _scrub(self._rejected_notice(friendly(exc)["details"]),
                                         auth.token)
                    self.status = "error"
                    return {"status": self.status}
            except Exception as exc:
                self._show_failure(exc, auth.token)
                return {"status": self.status}
            else:
                if c.auth is auth:
                    self.notice = self._access_notice(c, record)
                    self.status = "signed_in"
                    return {"status": self.status}
            # The token changed while we asked (a cell called change_auth): show the client
            # as it is now; the change has scheduled a check of its own.
            self._follow_client()
            return {"status": self.status}

    def _access_notice(self, probe, record: dict) -> dict:
        """Signed in, but can this user see the data? Missing terms of service or permission
        become a notice with the way to fix it."""
        name = record.get("name") or "This user"
        datastack = self.client.datastack_name
        if datastack:
            try:
                probe.info.get_datastack_info(datastack, use_stored=False)
            except errors.TermsOfServiceError as exc:
                return _notice(
                    f"{name} has not accepted the terms of service of {datastack}.",
                    kind="tos", link=exc.tos_form_url or "",
                    action="Open the terms of service, accept them, then check again.",
                    details=friendly(exc)["details"])
            except errors.PermissionDeniedError as exc:
                return _notice(
                    f"{name} has no permission to see {datastack}.", kind="permission",
                    action="Ask the datastack's administrators for access, or sign in as "
                           "another user.", details=friendly(exc)["details"])
            return {}
        # A client without a datastack: the auth record says what is missing, no extra call.
        missing = record.get("missing_tos") or []
        if missing:
            tos = missing[0]
            link = f"{self.client.server_address}/sticky_auth/api/v1/tos/{tos['tos_id']}/accept"
            return _notice(
                f"{name} has not accepted the terms of service of "
                f"{tos.get('dataset_name', 'a dataset')} ({tos.get('tos_name', '')}).",
                kind="tos", link=link,
                action="Open the terms of service, accept them, then check again.")
        granted = record.get("permissions_v2_ignore_tos") or record.get("permissions_v2") or {}
        if granted and not any(granted.values()):
            return _notice(f"{name} has no permission to see any dataset on this server.",
                           kind="permission",
                           action="Ask the datastack's administrators for access, or sign in "
                                  "as another user.")
        return {}

    def _show_failure(self, exc: BaseException, token: str | None) -> None:
        self.notice = _scrub(friendly(exc), token)
        self.status = "error"

    # --- requests from the browser -------------------------------------------------------

    def _on_token(self, content: dict, _buffers) -> dict:
        token = content.pop("token", None)  # the message dict is ours; keep no extra copy
        token = token.strip().lower() if isinstance(token, str) else ""
        remember = bool(content.get("remember", self.remember))
        with self._auth_lock:
            try:
                self._sign_in(token, remember)
            except Exception as exc:
                self._show_failure(exc, token)
        return {"status": self.status}

    def _sign_in(self, token: str, remember: bool) -> None:
        if not tokens.TOKEN_PATTERN.match(token):
            self.notice = _notice("That does not look like a CAVE token.", kind="invalid",
                                  action="A token is 32 hexadecimal characters; copy it again "
                                         "from the token page.", link=self.keys_page_url)
            self.status = "error"
            return
        self.status = "checking"
        self.notice = {}
        c = self.client
        # Check the token on its own first: a rejected token must not sign out whoever is
        # signed in now.
        if c.auth.check_token(token) is None:
            self.notice = self._rejected_notice()
            self.status = "error"
            return
        saved_in = None
        if remember:
            # The sign-in token lives 7 days; a key minted with it lives until revoked.
            token = c.auth.create_token(description=f"cave_widgets on {socket.gethostname()}",
                                        signed_with=token)
            saved_in = self._save(token)
        c.change_auth(auth_token=token)
        record = c.auth.whoami()
        self.notice = self._access_notice(c, record) or (
            self._saved_notice(saved_in) if saved_in else {})
        self.status = "signed_in"

    @staticmethod
    def _saved_notice(path: Path) -> dict:
        home = Path.home()
        shown = f"~/{path.relative_to(home)}" if path.is_relative_to(home) else str(path)
        return _notice(f"Remembered: your key is saved in {shown} (readable by you only), "
                       "where caveclient on this machine finds it too.", kind="info",
                       action="Log out removes it.")

    def _save(self, key: str) -> Path:
        """Save the key in the per-server file (and the datastack's local server's file), where
        caveclient looks first. Not in the generic cave-secret.json: that one may hold the
        person's token for another server, and it is read only when no per-server file
        exists."""
        c = self.client
        server_file = tokens.server_file(http.netloc(c.server_address))
        c.auth.save_token(key, token_key=c.auth.token_key, overwrite=True,
                          token_file=server_file, switch_token=False)
        written = [server_file]
        if c.datastack_name and c.auth.local_server_filepath is not None:
            written.append(c.auth.local_server_filepath)
        for path in written:
            self._saved[path] = _fingerprint(key)
        return server_file

    def _on_check(self, _content: dict, _buffers) -> dict:
        return self._check()

    def _on_logout(self, content: dict, _buffers) -> dict:
        """Forget the token. Dropping it from the client is not enough: the client would read
        a saved token file again (change_auth(auth_token=None) re-resolves the files). So the
        saved token is also removed from its file — silently when this widget saved it,
        otherwise only once the person confirmed, since caveclient reads that file too."""
        confirmed = bool(content.get("confirmed"))
        with self._auth_lock:
            c = self.client
            key = c.auth.token_key
            explicit = c.auth.explicit_token_file
            netloc = http.netloc(c.server_address)
            for _ in range(4):  # per-server file, generic file, legacy file: at most three
                found, path = tokens.resolve(netloc, None, explicit, key)
                if found is None:
                    break
                holder = path if tokens.read_key(path, key) == found else tokens.legacy_file()
                ours = self._saved.get(holder) == _fingerprint(found)
                if not ours and not confirmed:
                    return {"confirm": str(holder)}
                tokens.remove_key(holder, key)
                self._saved.pop(holder, None)
            # Keys this widget saved elsewhere (a datastack's local server file) go too.
            for path, fingerprint in list(self._saved.items()):
                held = tokens.read_key(path, key)
                if held is not None and _fingerprint(held) == fingerprint:
                    tokens.remove_key(path, key)
                del self._saved[path]
            c.change_auth(auth_token=None)
            if c.auth_state == "anonymous":
                self.notice = _notice("Signed out.", kind="info")
        return {"status": self.status}

    def close(self) -> None:
        try:
            self.client.unobserve(self._client_changed, names=self._client_traits)
        except (ValueError, AttributeError):
            pass
        super().close()
