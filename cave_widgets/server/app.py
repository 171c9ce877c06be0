"""The ASGI application: every CAVE service on one origin."""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse

from . import routes_auth, routes_chunkedgraph, routes_info, routes_materialize, routes_schema
from .errors import ServiceError

log = logging.getLogger(__name__)


async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # A bug, not bad input: say so in the real services' 500 shape and keep serving.
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse(
        {"code": 500, "message": f"internal error: {type(exc).__name__}: {exc}"}, status_code=500
    )


async def _http_error(request: Request, exc) -> JSONResponse:
    status = getattr(exc, "status_code", 404)
    message = {404: f"no route {request.url.path}", 405: f"{request.method} is not allowed on "
               f"{request.url.path}"}.get(status, str(getattr(exc, "detail", "")))
    return JSONResponse({"message": message}, status_code=status)


def build_app(ctx) -> Starlette:
    routes = (
        routes_info.info_routes(ctx)
        + routes_schema.build_routes(ctx)
        + routes_auth.build_routes(ctx)
        + routes_materialize.build_routes(ctx)
        + routes_chunkedgraph.build_routes(ctx)
    )
    middleware = [
        # Browser front ends (the widgets) read these headers from query responses.
        Middleware(
            CORSMiddleware,
            allow_origin_regex=r"https?://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?",
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["WWW-Authenticate", "column_names", "dataframe_resolution", "Warning"],
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
