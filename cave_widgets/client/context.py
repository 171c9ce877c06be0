"""What a service client gets to work with: a ServiceContext, never the CAVEclient.

Like a requests adapter that never sees its Session, a service sees only what services
share: the HTTP session (pools, retries, the token), the server addresses, the datastack's
info record, the current snapshot (version and timestamp), its sibling services, and a way
to report who is signed in. The CAVEclient builds one context per client and hands the same
object to every service it makes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import requests


@dataclass(frozen=True)
class Snapshot:
    """Which state of the data a call reads: a materialization version (with its time), a
    live timestamp (version None), or neither (the newest version, decided per call)."""

    version: int | None = None
    timestamp: datetime | None = None

    @property
    def live(self) -> bool:
        return self.version is None and self.timestamp is not None


class ServiceContext:
    """The narrow interface between the CAVEclient and its services.

    Everything is read at call time (the session changes with the token, the snapshot with
    every `client.version = ...`), so a service never holds stale configuration. Built by
    the CAVEclient from callables; tests may build one from plain values.
    """

    def __init__(self, *, session: Callable[[], requests.Session],
                 server_address: Callable[[], str],
                 datastack_name: Callable[[], str | None],
                 datastack_info: Callable[[], dict],
                 info_cache: Callable[[], dict],
                 snapshot: Callable[[], Snapshot],
                 set_snapshot: Callable[..., Any],
                 service: Callable[[str], Any],
                 report_auth: Callable[[Any, str, dict | None], None],
                 token_rejected: Callable[[Any], None],
                 change_auth: Callable[..., None],
                 token_page_url: Callable[[], str | None],
                 desired_resolution: Callable[[], Any],
                 pool_options: Callable[[], dict]):
        self._session = session
        self._server_address = server_address
        self._datastack_name = datastack_name
        self._datastack_info = datastack_info
        self._info_cache = info_cache
        self._snapshot = snapshot
        self._set_snapshot = set_snapshot
        self._service = service
        self._report_auth = report_auth
        self._token_rejected = token_rejected
        self._change_auth = change_auth
        self._token_page_url = token_page_url
        self._desired_resolution = desired_resolution
        self._pool_options = pool_options

    def __repr__(self) -> str:
        return (f"ServiceContext(server_address={self.server_address!r}, "
                f"datastack_name={self.datastack_name!r})")

    @property
    def session(self) -> requests.Session:
        """The one HTTP session of the client (rebuilt when the token changes)."""
        return self._session()

    @property
    def server_address(self) -> str:
        """The global server (info, auth, schema, state)."""
        return self._server_address()

    @property
    def datastack_name(self) -> str | None:
        return self._datastack_name()

    def datastack_info(self) -> dict:
        """The datastack's info record (fetched once per client)."""
        return self._datastack_info()

    @property
    def info_cache(self) -> dict:
        """The client's datastack info records by name (shared, so the info service and
        the client never fetch a record twice)."""
        return self._info_cache()

    @property
    def local_server(self) -> str:
        """The datastack's own server (materialize, chunkedgraph, annotation, ...)."""
        return self.datastack_info()["local_server"].rstrip("/")

    @property
    def snapshot(self) -> Snapshot:
        """Version and timestamp as one consistent pair: read it once per call."""
        return self._snapshot()

    def set_snapshot(self, **kwargs) -> Snapshot:
        """Change version/timestamp through the client's one validated operation."""
        return self._set_snapshot(**kwargs)

    def service(self, name: str):
        """A sibling service of the same client (e.g. materialize asks schema)."""
        return self._service(name)

    def report_auth(self, reporter, state: str, record: dict | None) -> None:
        """Tell the client who is signed in. `reporter` is the AuthClient reporting: an
        answer about a token the client no longer holds is ignored."""
        self._report_auth(reporter, state, record)

    def token_rejected(self, session) -> None:
        """A request sent with `session` was refused with 401: if that is still the
        client's session (its token), the client is no longer signed in."""
        self._token_rejected(session)

    def change_auth(self, **kwargs) -> None:
        self._change_auth(**kwargs)

    @property
    def token_page_url(self) -> str | None:
        return self._token_page_url()

    @property
    def desired_resolution(self):
        return self._desired_resolution()

    @property
    def pool_options(self) -> dict:
        """max_retries, pool_maxsize, pool_block as given to the client."""
        return self._pool_options()
