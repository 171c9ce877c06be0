"""Start the embedded server: in a background thread for tests and notebooks (serve_demo),
or in the foreground for the command line."""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field

import uvicorn

from .app import build_app
from .auth import AuthRegistry, default_users, new_token_value
from .chunkedgraph.service import ChunkedGraph
from .context import DEFAULT_ROW_CAP, ServerSettings, ServiceContext
from .demo import catalog
from .demo.build import ensure_demo_database
from .demo.segmentation import graph_meta
from .store import DemoStore

log = logging.getLogger(__name__)

# Seconds open requests get to finish when the server stops. A viewer's event stream never
# finishes by itself (routes_viewer.events): without a limit, stopping would wait for it.
SHUTDOWN_GRACE = 3.0


@dataclass
class DemoServer:
    """A running embedded server. `token` signs in as the demo user (full access);
    `tokens` holds one token per demo user: "demo", "guest" (no access to the datastack)
    and "new" (has not accepted the terms of service)."""

    url: str
    datastack: str
    token: str = field(repr=False)
    tokens: dict[str, str] = field(repr=False)
    context: ServiceContext = field(repr=False)
    _server: uvicorn.Server | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def settings(self) -> ServerSettings:
        return self.context.settings

    def stop(self, timeout: float = 10.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> DemoServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:  # never show tokens
        return f"DemoServer(url={self.url!r}, datastack={self.datastack!r})"


def build_context(
    scale: str = "small",
    token: str | None = None,
    guest_token: str | None = None,
    row_cap: int = DEFAULT_ROW_CAP,
    work_path: str | None = None,
    host: str = "127.0.0.1",
) -> tuple[ServiceContext, dict[str, str]]:
    """The services' context. `work_path`: a file for the writable database (edits survive
    a restart); by default it lives in memory. Bound beyond loopback (`host`), sign-in needs
    a secret (ctx.settings.signin_secret), which the caller shows the person."""
    db = ensure_demo_database(scale)
    store = DemoStore(str(db), work_path=work_path)
    users = default_users()
    tokens = {
        "demo": token or new_token_value(),
        "guest": guest_token or new_token_value(),
        "new": new_token_value(),
    }
    registry = AuthRegistry(users, {1: tokens["demo"], 2: tokens["guest"], 3: tokens["new"]})
    ctx = ServiceContext(
        store=store,
        segmentation=ChunkedGraph(store, graph_meta()),
        auth=registry,
        settings=ServerSettings(
            row_cap=row_cap,
            signin_secret=None if is_loopback(host) else secrets.token_urlsafe(12)),
    )
    return ctx, tokens


def is_loopback(host: str) -> bool:
    return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on sockets that say they are
    # TCP, and without it every small keep-alive response waits ~40 ms on delayed ACKs.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


def _url(host: str, sock: socket.socket) -> str:
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def serve_demo(
    scale: str = "small",
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    guest_token: str | None = None,
    row_cap: int = DEFAULT_ROW_CAP,
    ready_timeout: float = 60.0,
    work_path: str | None = None,
) -> DemoServer:
    """Start the demo server in a background thread and return once it answers.

    Use it as a context manager (``with serve_demo() as server: ...``) or call ``.stop()``.
    Port 0 picks a free port; ``server.url`` tells which.
    """
    ctx, tokens = build_context(scale, token, guest_token, row_cap, work_path, host)
    sock = _bind(host, port)
    config = uvicorn.Config(build_app(ctx), log_level="warning", lifespan="off",
                            timeout_graceful_shutdown=SHUTDOWN_GRACE)
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=lambda: asyncio.run(server.serve(sockets=[sock])),
        name="cave-demo-server",
        daemon=True,
    )
    thread.start()
    deadline = time.monotonic() + ready_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError("the embedded CAVE server did not start; see the log above")
        time.sleep(0.01)
    return DemoServer(
        url=_url(host, sock),
        datastack=catalog.DATASTACK,
        token=tokens["demo"],
        tokens=tokens,
        context=ctx,
        _server=server,
        _thread=thread,
    )


def run_forever(scale: str, host: str, port: int, token: str | None, row_cap: int) -> None:
    """Serve in the foreground until interrupted (the `cave-widgets serve` command)."""
    started = time.perf_counter()
    ctx, tokens = build_context(scale, token, None, row_cap, host=host)
    sock = _bind(host, port)
    url = _url(host, sock)
    print(
        f"CAVE demo server at {url} datastack={catalog.DATASTACK} token={tokens['demo']}",
        flush=True,
    )
    if ctx.settings.signin_secret:
        print(f"Sign-in secret (served beyond this machine, sign-in asks for it): "
              f"{ctx.settings.signin_secret}", flush=True)
    log.info("ready in %.1f s (scale %s)", time.perf_counter() - started, scale)
    server = uvicorn.Server(uvicorn.Config(build_app(ctx), log_level="warning", lifespan="off",
                                           timeout_graceful_shutdown=SHUTDOWN_GRACE))
    try:
        asyncio.run(server.serve(sockets=[sock]))
    except KeyboardInterrupt:
        pass
