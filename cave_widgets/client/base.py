"""What every service client has: its server, the shared session, API-version negotiation
and the server's software version."""

from __future__ import annotations

from typing import TYPE_CHECKING

import requests
from packaging.version import InvalidVersion, Version

from . import errors, http

if TYPE_CHECKING:
    from .framework import CAVEclient


class ServiceClient:
    """Base of the service clients. URLs are written out in each method, explicitly."""

    #: service name used in messages
    service = ""

    def __init__(self, framework: CAVEclient, server_address: str):
        self.fc = framework
        self.server_address = server_address.rstrip("/")
        self._server_version: Version | None | bool = False  # False: not asked yet

    def __repr__(self) -> str:
        return f"{type(self).__name__}(server_address={self.server_address!r})"

    @property
    def session(self) -> requests.Session:
        return self.fc.session

    # --- requests --------------------------------------------------------------------------

    def _request(self, method: str, url: str, *, kind: str = "", log_warning: bool = True,
                 json=None, **kwargs) -> requests.Response:
        if json is not None:
            kwargs["data"] = http.encode_json(json)
            kwargs.setdefault("headers", {})["Content-Type"] = "application/json"
        return http.request(self.session, method, url, kind=kind,
                            token_page=self.fc.auth.token_page_url, log_warning=log_warning,
                            **kwargs)

    def _get_json(self, url: str, *, kind: str = "", **kwargs):
        return http.json_of(self._request("GET", url, kind=kind, **kwargs))

    def _post_json(self, url: str, body=None, *, kind: str = "", **kwargs):
        return http.json_of(self._request("POST", url, kind=kind, json=body, **kwargs))

    # --- versions ------------------------------------------------------------------------

    def _negotiate_api(self, probe_url: str | None, known: set[int], fallback: int) -> int:
        """Highest API version both sides speak; the fallback when the server won't say."""
        if probe_url is None:
            return fallback
        try:
            response = self.session.get(probe_url, timeout=10)
            offered = set(response.json()) if response.ok else set()
        except (requests.RequestException, ValueError, TypeError):
            offered = set()
        common = known & {v for v in offered if isinstance(v, int)}
        return max(common) if common else fallback

    def _version_url(self) -> str | None:
        return None

    @property
    def server_version(self) -> Version | None:
        """The service's software version, or None if it does not say."""
        if self._server_version is False:
            url = self._version_url()
            self._server_version = None
            if url:
                try:
                    text = self._get_json(url)
                    self._server_version = Version(str(text))
                except (errors.NotFoundError, InvalidVersion):
                    self._server_version = None
        return self._server_version

    def _require_server(self, minimum: str, feature: str) -> None:
        version = self.server_version
        if version is None or version < Version(minimum):
            raise errors.ServerIncompatibilityError(
                f"{feature} needs {self.service} server {minimum} or newer; "
                f"{self.server_address} runs {version or 'an unknown version'}. "
                "Ask its administrators to upgrade it."
            )
