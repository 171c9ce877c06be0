"""The ASGI application: every CAVE service on one origin.

Each service is one routes module ending in a ROUTES table of (methods, path, handler) rows;
a handler is a plain function `def name(call: Call) -> object` that may declare its
route_options. A new service is one such module plus one entry in SERVICES.
"""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import (
    openapi,
    routes_annotation,
    routes_auth,
    routes_chunkedgraph,
    routes_chunkedgraph_edits,
    routes_chunkedgraph_history,
    routes_image,
    routes_info,
    routes_l2cache,
    routes_materialize,
    routes_schema,
    routes_seg_mirror,
    routes_skeleton,
    routes_state,
    routes_viewer,
)
from .context import Call, Handler, ServiceContext, options_of, parse_json
from .errors import PayloadTooLarge, ServiceError

log = logging.getLogger(__name__)

SERVICES = (routes_info, routes_schema, routes_auth, routes_materialize, routes_chunkedgraph,
            routes_chunkedgraph_history, routes_chunkedgraph_edits, routes_l2cache,
            routes_skeleton, routes_annotation, routes_state, routes_image, routes_seg_mirror,
            routes_viewer)


def endpoint(ctx: ServiceContext, handler: Handler):
    """The one adapter between Starlette and a handler: authenticate, check the permission on
    the demo dataset, read a bounded body and parse it, run the handler off the event loop
    (handlers are sync and may block on DuckDB; those declared inline answer from memory),
    and serialise a result that is not a Response as JSON. Every failure is answered here, in
    the services' error shapes: nothing reaches Starlette's last-resort handler, which would
    also close the connection."""
    options = options_of(handler)

    async def serve(request: Request) -> Response:
        try:
            user = None
            if options.auth:
                base = str(request.base_url).rstrip("/")
                user, _ = ctx.auth.authenticate(request, f"{base}/sticky_auth/api/v1/authorize")
                if options.permission:
                    tos_url = f"{base}/sticky_auth/api/v1/tos/1/accept"
                    ctx.auth.require(user, options.permission, tos_url)
            limit = ctx.settings.max_body if options.auth else ctx.settings.max_open_body
            raw = await _bounded_body(request, limit)
            body = parse_json(raw) if options.json_body else None
            call = Call(request, ctx, user, body, raw)
            result = handler(call) if options.inline else await run_in_threadpool(handler, call)
        except ServiceError as exc:
            return _error_response(exc)
        except Exception:  # a bug, not bad input: logged with its details, answered without
            log.exception("unhandled error on %s %s", request.method, request.url.path)
            return JSONResponse({"code": 500, "message": "internal error (see the server's "
                                 "log)"}, status_code=500)
        if isinstance(result, Response):
            return result
        return JSONResponse(result)

    return serve


async def _bounded_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the request body ({int(declared):,} bytes) is larger than "
                              f"this route takes ({limit:,} bytes)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the request body is larger than this route takes "
                                  f"({limit:,} bytes)")
        chunks.append(chunk)
    return b"".join(chunks)


def _error_response(exc: ServiceError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


def service_routes(ctx: ServiceContext, service) -> list[Route]:
    return [
        Route(path, endpoint(ctx, handler), methods=methods.split(), name=handler.__name__)
        for methods, path, handler in service.ROUTES
    ]


async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
    return _error_response(exc)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # A bug outside any handler: the real services' 500 shape, no internals in the body.
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse({"code": 500, "message": "internal error (see the server's log)"},
                        status_code=500)


async def _openapi(request: Request) -> JSONResponse:
    return JSONResponse(openapi.build_openapi(SERVICES))


async def _http_error(request: Request, exc) -> JSONResponse:
    status = getattr(exc, "status_code", 404)
    message = {404: f"no route {request.url.path}", 405: f"{request.method} is not allowed on "
               f"{request.url.path}"}.get(status, str(getattr(exc, "detail", "")))
    return JSONResponse({"message": message}, status_code=status)


def build_app(ctx: ServiceContext) -> Starlette:
    routes = [route for service in SERVICES for route in service_routes(ctx, service)]
    routes.append(Route("/openapi.json", _openapi, methods=["GET"], name="openapi"))
    middleware = [
        # Browser front ends (the widgets) read these headers from query responses.
        Middleware(
            CORSMiddleware,
            allow_origin_regex=r"https?://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?",
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["WWW-Authenticate", "column_names", "dataframe_resolution", "Warning",
                            "Order-By"],
        )
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={
            ServiceError: _service_error,
            404: _http_error,
            405: _http_error,
            Exception: _unexpected,
        },
    )
    # caveclient treats any redirect of an API call as an auth failure: never add one.
    app.router.redirect_slashes = False
    app.state.ctx = ctx
    return app
