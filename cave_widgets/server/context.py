"""What every route handler sees: the Call (the request, the ServiceContext with the store,
the segmentation index, the users and the settings, the signed-in user, the body), the small
request helpers, and the route_options a handler declares for the adapter in app.py."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from starlette.requests import Request

from .auth import AuthRegistry, User
from .chunkedgraph.service import ChunkedGraph
from .demo import catalog
from .errors import BadRequest, NotFound
from .state_store import StateStore
from .store import DemoStore

DEFAULT_ROW_CAP = 200_000


@dataclass
class ServerSettings:
    row_cap: int = DEFAULT_ROW_CAP
    max_body: int = 64 * 2**20  # bytes of a request body from a signed-in user
    max_open_body: int = 2**20  # ... on routes that need no token
    query_seconds: float = 120.0  # a query running longer is stopped (400: narrow it)
    # Served beyond loopback (--host), anyone who reaches the server could sign in as the demo
    # user with one click: then the sign-in page asks for this secret, printed at start-up.
    signin_secret: str | None = None


@dataclass
class ServiceContext:
    store: DemoStore
    segmentation: ChunkedGraph
    auth: AuthRegistry
    settings: ServerSettings = field(default_factory=ServerSettings)
    states: StateStore = field(default_factory=StateStore)  # the JSON state service's


@dataclass
class Call:
    """One request as a route function sees it."""

    request: Request
    ctx: ServiceContext
    user: User | None
    body: object
    raw_body: bytes

    @property
    def base_url(self) -> str:
        # One origin plays global and local server; never a trailing slash (caveclient
        # concatenates paths onto it).
        return str(self.request.base_url).rstrip("/")

    def path(self, name: str) -> str:
        return self.request.path_params[name]

    def int_path(self, name: str) -> int:
        return parse_int(self.request.path_params[name], name)

    def flag(self, name: str, default: bool) -> bool:
        return parse_bool(self.request.query_params.get(name), name, default)

    def query(self, name: str, default=None):
        return self.request.query_params.get(name, default)


def parse_int(text: str, name: str) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        raise BadRequest(f"{name} must be an integer, got {text!r}") from None


def parse_unix_seconds(text: str, name: str) -> float:
    """A moment given as seconds since the Unix epoch: a finite number, else a 400."""
    try:
        seconds = float(text)
    except (TypeError, ValueError):
        raise BadRequest(f"{name} must be seconds since the Unix epoch, got {text!r}") from None
    if not math.isfinite(seconds):
        raise BadRequest(f"{name} must be a finite number of seconds, got {text!r}")
    return seconds


def parse_bool(text: str | None, name: str, default: bool) -> bool:
    if text is None:
        return default
    value = text.strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise BadRequest(f"{name} must be True or False, got {text!r}")


def parse_json(raw: bytes):
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise BadRequest("the request body nests deeper than any CAVE request does") from None


def check_datastack(name: str) -> None:
    if name != catalog.DATASTACK:
        raise NotFound(
            f"Datastack {name!r} not found; this server has {catalog.DATASTACK!r}"
        )


def naive_iso(when: datetime) -> str:
    """caveclient parses version times with a fixed pattern: naive UTC, always microseconds."""
    return when.astimezone(timezone.utc).replace(tzinfo=None).strftime("%Y-%m-%dT%H:%M:%S.%f")


Handler = Callable[[Call], object]


@dataclass(frozen=True)
class RouteOptions:
    """What the app's adapter does before it calls a handler (app.endpoint)."""

    auth: bool = True  # False: an open route; no token is read, call.user is None
    permission: str | None = "view"  # None: any signed-in user (the auth API, listings)
    json_body: bool = True  # False: a binary body, left undecoded in call.raw_body
    # True: run on the event loop, not in a worker thread. Only for handlers that touch no
    # database and answer from memory in about a millisecond: the hand-over to a thread costs
    # more than that on a busy machine.
    inline: bool = False


def route_options(*, auth: bool = True, permission: str | None = "view", json_body: bool = True,
                  inline: bool = False):
    """Declare how a handler is served. The decorator only records the options on the
    function; a handler without it is served with the defaults, so forgetting it fails closed
    (a token with the `view` permission is required)."""
    options = RouteOptions(auth=auth, permission=permission, json_body=json_body,
                           inline=inline)

    def record(handler: Handler) -> Handler:
        handler.route_options = options
        return handler

    return record


def options_of(handler: Handler) -> RouteOptions:
    return getattr(handler, "route_options", RouteOptions())
