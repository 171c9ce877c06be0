"""What every route needs: the store, the segmentation index, the users, the settings; and
the small request helpers that make each route a plain function."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import wraps

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .auth import AuthRegistry, User
from .demo import catalog
from .errors import BadRequest, NotFound
from .segmentation_index import SegmentationIndex
from .store import DemoStore

DEFAULT_ROW_CAP = 200_000


@dataclass
class ServerSettings:
    row_cap: int = DEFAULT_ROW_CAP


@dataclass
class ServiceContext:
    store: DemoStore
    segmentation: SegmentationIndex
    auth: AuthRegistry
    settings: ServerSettings = field(default_factory=ServerSettings)


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


def check_datastack(name: str) -> None:
    if name != catalog.DATASTACK:
        raise NotFound(
            f"Datastack {name!r} not found; this server has {catalog.DATASTACK!r}"
        )


def naive_iso(when: datetime) -> str:
    """caveclient parses version times with a fixed pattern: naive UTC, always microseconds."""
    return when.astimezone(timezone.utc).replace(tzinfo=None).strftime("%Y-%m-%dT%H:%M:%S.%f")


def route(
    ctx: ServiceContext, *, permission: str | None = "view", auth: bool = True, json_body=True
):
    """Wrap a sync route function: authenticate, check permission on the demo dataset, parse
    the JSON body (binary routes set json_body=False), run the function off the event loop, and serialise a non-Response result
    as JSON."""

    def decorate(fn: Callable[[Call], object]):
        @wraps(fn)
        async def endpoint(request: Request) -> Response:
            user = None
            if auth:
                base = str(request.base_url).rstrip("/")
                user, _ = ctx.auth.authenticate(request, f"{base}/sticky_auth/api/v1/authorize")
                if permission:
                    ctx.auth.require(user, permission, f"{base}/sticky_auth/api/v1/tos/1/accept")
            raw = await request.body()
            body = parse_json(raw) if json_body else None
            call = Call(request, ctx, user, body, raw)
            result = await run_in_threadpool(fn, call)
            if isinstance(result, Response):
                return result
            return JSONResponse(result)

        return endpoint

    return decorate
