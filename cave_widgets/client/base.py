"""What every service client has: its context, its server, the shared session, and the
server's software version (asked once, on first need)."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

import requests
from packaging.version import InvalidVersion, Version

from . import complete, errors, http

if TYPE_CHECKING:
    from .context import ServiceContext

_NOT_ASKED = object()


class ServiceClient:
    """Base of the service clients. URLs are written out in each method, explicitly.

    A service gets a ServiceContext (never the CAVEclient), the address of the server it
    talks to and, if that server tells its software version, the URL where it does.
    """

    #: service name used in messages
    service = ""

    def __init__(self, ctx: ServiceContext, server_address: str,
                 version_url: str | None = None):
        self.ctx = ctx
        self.server_address = server_address.rstrip("/")
        self._version_url = version_url
        self._server_version = _NOT_ASKED
        self._version_lock = threading.Lock()
        self._facts: dict = {}
        self._facts_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(server_address={self.server_address!r})"

    @property
    def session(self) -> requests.Session:
        return self.ctx.session

    # --- requests --------------------------------------------------------------------------

    def _request(self, method: str, url: str, *, kind: str = "", log_warning: bool = True,
                 json=None, **kwargs) -> requests.Response:
        if json is not None:
            kwargs["data"] = http.encode_json(json)
            kwargs.setdefault("headers", {})["Content-Type"] = "application/json"
        session = self.session
        try:
            return http.request(session, method, url, kind=kind,
                                token_page=self.ctx.token_page_url, log_warning=log_warning,
                                **kwargs)
        except errors.AuthenticationError:
            self.ctx.token_rejected(session)  # every view learns the token no longer works
            raise

    def _get_json(self, url: str, *, kind: str = "", **kwargs):
        kwargs.setdefault("complete", complete.json_document)
        return http.json_of(self._request("GET", url, kind=kind, **kwargs))

    def _post_json(self, url: str, body=None, *, kind: str = "", **kwargs):
        kwargs.setdefault("complete", complete.json_document)
        return http.json_of(self._request("POST", url, kind=kind, json=body, **kwargs))

    # --- facts: fetched once per client --------------------------------------------------------

    def _cached(self, key, fetch, ttl: float | None = None, refresh: bool = False):
        """The value of `fetch()` for `key`, asked once and reused (for `ttl` seconds, if
        given). A service lives until the client's datastack, server or auth changes, so its
        cache does too; anything that depends on the version has the version in its key.
        Failures are not remembered."""
        now = time.monotonic()
        with self._facts_lock:
            held = self._facts.get(key)
            if held is not None and not refresh and (ttl is None or now - held[0] < ttl):
                return held[1]
        value = fetch()
        with self._facts_lock:
            self._facts[key] = (now, value)
        return value

    # --- the server's software version ------------------------------------------------------

    @property
    def server_version(self) -> Version | None:
        """The service's software version, or None if it does not say.

        Asked once, by one thread while the others wait. Only an answer is remembered: a
        failed probe (a burst of 503s, a dropped connection) raises its typed error and the
        next call asks again."""
        with self._version_lock:
            if self._server_version is _NOT_ASKED:
                self._server_version = self._ask_server_version()
            return self._server_version

    def _ask_server_version(self) -> Version | None:
        if not self._version_url:
            return None
        try:
            text = self._get_json(self._version_url)
        except errors.NotFoundError:
            return None  # the service has no version route: it cannot say
        try:
            return Version(str(text))
        except InvalidVersion:
            return None

    def _require_server(self, minimum: str, feature: str) -> None:
        version = self.server_version
        if version is None or version < Version(minimum):
            raise errors.ServerIncompatibilityError(
                f"{feature} needs {self.service} server {minimum} or newer; "
                f"{self.server_address} runs {version or 'an unknown version'}. "
                "Ask its administrators to upgrade it."
            )
