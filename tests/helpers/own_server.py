"""Embedded demo servers for tests. `running_demo()` starts one and always stops it;
`own_server` is a module-scoped fixture for modules that write (tables, rows, edits), so what
they change never reaches the session's server. A module that should use its own server
everywhere imports it under the session fixture's name:
``from helpers.own_server import own_server as demo_server``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest


@contextmanager
def running_demo(scale: str = "small") -> Iterator:
    from cave_widgets.server import serve_demo

    server = serve_demo(scale=scale)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def own_server():
    with running_demo() as server:
        yield server
