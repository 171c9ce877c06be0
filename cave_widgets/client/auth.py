"""The auth service: tokens (files shared with caveclient), who is signed in, user lookups and
the login URLs the widgets open."""

from __future__ import annotations

import errno
import os
import webbrowser
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from . import complete, errors, http, tokens

if TYPE_CHECKING:
    from .context import ServiceContext


_READ_ONLY = {errno.EROFS}


def _browser_available() -> bool:
    try:
        webbrowser.get()
        return True
    except webbrowser.Error:
        return False


class AuthClient:
    service = "auth"

    def __init__(self, ctx: ServiceContext, server_address: str, token: str | None,
                 token_file: Path, token_key: str | None,
                 explicit_file: str | os.PathLike | None = None):
        self.ctx = ctx
        self.server_address = server_address.rstrip("/")
        self._token = token
        self._token_file = Path(token_file)
        self._token_key = token_key or tokens.DEFAULT_KEY
        self._explicit_file = explicit_file

    def __repr__(self) -> str:  # never the token
        state = "with a token" if self._token else "without a token"
        return f"AuthClient(server_address={self.server_address!r}, {state})"

    # --- the token ---------------------------------------------------------------------------

    @property
    def token(self) -> str | None:
        return self._token

    @token.setter
    def token(self, value: str | None) -> None:
        self.ctx.change_auth(auth_token=value)

    @property
    def token_file(self) -> Path:
        return self._token_file

    @property
    def token_key(self) -> str:
        return self._token_key

    @property
    def explicit_token_file(self) -> Path | None:
        """The token file the client was told to use (auth_token_file), if any; otherwise
        the files are looked up per server as caveclient does."""
        return Path(os.path.expanduser(self._explicit_file)) if self._explicit_file else None

    @property
    def request_header(self) -> dict:
        """The Authorization header, for callers building their own requests."""
        return {"Authorization": f"Bearer {self._token}"} if self._token else {}

    def get_token(self, token_key: str | None = None) -> str | None:
        """Reload the token from the current token file."""
        return tokens.read_key(self._token_file, token_key or self._token_key)

    @property
    def local_server(self) -> str | None:
        return self.ctx.local_server if self.ctx.datastack_name else None

    @property
    def local_server_filepath(self) -> Path | None:
        local = self.local_server
        return tokens.server_file(http.netloc(local)) if local else None

    def save_token(self, token: str | None = None, token_key: str = tokens.DEFAULT_KEY,
                   overwrite: bool = False, token_file: str | os.PathLike | None = None,
                   switch_token: bool = True, write_to_server_file: bool = True,
                   ignore_readonly: bool = True, local_server: bool = True) -> None:
        """Save a token where caveclient looks for it (0600 file in a 0700 folder), then use it.

        Unlike caveclient, saving the value a file already holds is not an error.
        """
        token = token if token is not None else self._token
        if not token or not isinstance(token, str):
            raise ValueError("save_token needs a token (a 32-character hex string)")
        targets = []
        if write_to_server_file:
            targets.append(tokens.server_file(http.netloc(self.server_address)))
        targets.append(Path(os.path.expanduser(token_file)) if token_file else self._token_file)
        if local_server and self.local_server_filepath is not None:
            targets.append(self.local_server_filepath)
        targets = list(dict.fromkeys(targets))
        if not overwrite:
            # Refuse before writing anything: a half-done save would leave some files with the
            # new token, which the next client would then pick up although the save failed.
            for path in targets:
                held = tokens.read_key(path, token_key)
                if held is not None and held != token:
                    raise ValueError(f"{path} already holds a different '{token_key}'; pass "
                                     "overwrite=True to replace it")
        for path in targets:
            try:
                tokens.write_key(path, token, token_key, overwrite=overwrite)
            except OSError as exc:
                # A read-only file, folder or file system is skipped when asked to.
                read_only = isinstance(exc, PermissionError) or exc.errno in _READ_ONLY
                if not (ignore_readonly and read_only):
                    raise
        if switch_token:
            self.ctx.change_auth(auth_token=token, auth_token_key=token_key,
                                auth_token_file=token_file or self._token_file)

    # --- URLs for people -----------------------------------------------------------------

    @property
    def token_page_url(self) -> str:
        return f"{self.server_address}/sticky_auth/settings/tokens"

    @property
    def new_token_url(self) -> str:
        return f"{self.server_address}/auth/api/v1/create_token"

    def login_url(self, redirect: str | None = None) -> str:
        """The sign-in page. Without `redirect` it posts the token to the window that opened it
        (popup flow); with it, it redirects there with `middle_auth_token=` added."""
        url = f"{self.server_address}/sticky_auth/api/v1/authorize"
        return f"{url}?{urlencode({'redirect': redirect})}" if redirect else url

    def get_token_page(self, open: bool = False) -> str:
        """URL of the page listing your tokens; opened in a browser if asked and possible."""
        if open and _browser_available():
            webbrowser.open(self.token_page_url)
        return self.token_page_url

    def get_new_token(self, open: bool = False, no_text: bool = True) -> str:
        """URL that mints a new long-lived token when opened signed in (older tokens stay
        valid); opened in a browser if asked and possible."""
        if not no_text:
            print(f"Open {self.new_token_url} while signed in, copy the token it shows, and "
                  "save it with client.auth.save_token(token).")
        if open and _browser_available():
            webbrowser.open(self.new_token_url)
        return self.new_token_url

    def setup_token(self, make_new: bool = True, open: bool = True) -> str:
        if make_new:
            return self.get_new_token(open=open, no_text=False)
        print(f"Open {self.token_page_url}, copy a token, and save it with "
              "client.auth.save_token(token).")
        return self.get_token_page(open=open)

    # --- the service ---------------------------------------------------------------------

    def _get(self, path: str, session=None, **params):
        response = http.request(session or self.ctx.session, "GET",
                                f"{self.server_address}/auth/api/v1/{path}",
                                params=params or None, token_page=self.token_page_url,
                                complete=complete.json_document)
        return http.json_of(response)

    def _session_for(self, token: str):
        """A session signing requests to this server with `token` (not the client's)."""
        return http.make_session(token, {http.netloc(self.server_address)},
                                 **self.ctx.pool_options)

    def whoami(self) -> dict:
        """Who the token belongs to and what they may do (the auth service's user cache
        record); also updates the client's auth state. Raises AuthenticationError when the
        token is missing or rejected."""
        if not self._token:
            self._set_state("anonymous", None)
            raise errors.AuthenticationError(
                "No token is set for this client.",
                action=f"Get one at {self.token_page_url} and save it with "
                       "client.auth.save_token(token), or sign in with the LoginWidget.")
        try:
            record = self._get("user/cache")
        except errors.AuthenticationError:
            self._set_state("rejected", None)
            raise
        self._set_state("verified", record)
        return record

    def _set_state(self, state: str, record: dict | None) -> None:
        self.ctx.report_auth(self, state, record)

    def check_token(self, token: str) -> dict | None:
        """Who `token` belongs to (the user record), or None if the server rejects it,
        without switching this client to it: a sign-in checks a token this way first, so a
        rejected one never signs out whoever is signed in."""
        with self._session_for(token) as session:
            try:
                return self._get("user/cache", session=session)
            except errors.AuthenticationError:
                return None

    def get_user_information(self, user_ids) -> list[dict]:
        ids = ",".join(str(int(i)) for i in user_ids)
        return self._get("user", id=ids)

    def get_usernames(self, user_ids) -> dict[int, str]:
        """Names for user ids (any signed-in user may ask)."""
        ids = ",".join(str(int(i)) for i in user_ids)
        return {u["id"]: u["name"] for u in self._get("username", id=ids)}

    def get_group_users(self, group_id: int) -> list[dict]:
        return self._get(f"group/{int(group_id)}/user")

    def get_tokens(self) -> list[dict]:
        return self._get("user/token")

    def create_token(self, description: str = "", *, signed_with: str | None = None) -> str:
        """Mint a new long-lived API key for the signed-in user (needs a valid token); with
        `signed_with`, for the user of that token instead of the client's."""
        session = self._session_for(signed_with) if signed_with else self.ctx.session
        try:
            response = http.request(
                session, "POST", f"{self.server_address}/auth/api/v1/user/token",
                data=http.encode_json({"description": description}),
                headers={"Content-Type": "application/json"}, token_page=self.token_page_url)
        finally:
            if signed_with:
                session.close()
        return http.json_of(response)
