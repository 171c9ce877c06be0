"""The service pattern, without the demo server: every registry row is a client property,
services get a ServiceContext (never the client), the server-version probe runs once and
forgets failures, and the client's modules import without a cycle."""

from __future__ import annotations

import ast
import threading
from pathlib import Path

import pytest
from helpers.scripted_server import scripted_server
from packaging.version import Version

import cave_widgets.client as client_package
from cave_widgets import CAVEclient
from cave_widgets.client import errors, get_session_defaults, set_session_defaults
from cave_widgets.client.context import ServiceContext
from cave_widgets.client.registry import SERVICES


@pytest.fixture(autouse=True)
def private_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))


@pytest.fixture()
def no_retries():
    saved = dict(get_session_defaults())
    set_session_defaults(max_retries=0)
    yield
    set_session_defaults(**saved)


def test_every_registry_row_is_a_client_property():
    for spec in SERVICES:
        assert hasattr(CAVEclient, spec.name), spec.name
        assert spec.server in ("global", "local")
        if spec.implementation:
            assert spec.load().__name__ in spec.implementation


def test_datastack_services_refuse_a_global_client():
    client = CAVEclient(server_address="http://127.0.0.1:9")
    for spec in SERVICES:
        if spec.needs_datastack:
            with pytest.raises(errors.GlobalClientError, match="datastack"):
                getattr(client, spec.name)


def test_a_service_gets_the_context_not_the_client():
    client = CAVEclient(server_address="http://127.0.0.1:9")
    for service in (client.info, client.schema, client.auth):
        assert isinstance(service.ctx, ServiceContext)
        assert not any(isinstance(v, CAVEclient) for v in vars(service).values())
    assert client.info is client.info  # built once


def test_the_server_version_is_asked_once_by_one_thread():
    script = {"/info/version": [(200, "4.3.3")]}
    with scripted_server(script) as server:
        client = CAVEclient(server_address=server.url)
        results, failures = [], []
        barrier = threading.Barrier(8)

        def ask():
            barrier.wait()
            try:
                results.append(client.info.server_version)
            except Exception as exc:
                failures.append(exc)

        threads = [threading.Thread(target=ask) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert failures == []
        assert results == [Version("4.3.3")] * 8
        assert server.count("/info/version") == 1


def test_a_failed_version_probe_is_not_remembered(no_retries):
    script = {"/info/version": [(503, {"message": "busy"}), (503, {"message": "busy"}),
                                (200, "4.3.3")]}
    with scripted_server(script) as server:
        client = CAVEclient(server_address=server.url)
        for _ in range(2):
            with pytest.raises(errors.ServerError, match="503"):
                client.info.server_version
        assert client.info.server_version == Version("4.3.3")
        assert client.info.server_version == Version("4.3.3")
        assert server.count("/info/version") == 3


def test_a_service_without_a_version_route_says_none(no_retries):
    with scripted_server({}) as server:
        client = CAVEclient(server_address=server.url)
        assert client.info.server_version is None
        assert client.info.server_version is None
        assert server.count("/info/version") == 1


def _client_imports() -> dict[str, set[str]]:
    """Module → the cave_widgets.client modules it imports at run time (anywhere in the
    file, functions included; `if TYPE_CHECKING:` blocks excluded)."""
    root = Path(client_package.__file__).parent
    sources = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        is_package = parts[-1] == "__init__"
        module = ".".join(p for p in parts if p != "__init__")
        sources[module] = (path, parts[:-1] if not is_package else parts[:-1])
    graph: dict[str, set[str]] = {}
    for module, (path, package) in sources.items():
        tree = ast.parse(path.read_text())
        typing_only = {id(n) for guard in ast.walk(tree) if isinstance(guard, ast.If)
                       and getattr(guard.test, "id", "") == "TYPE_CHECKING"
                       for n in ast.walk(guard)}  # annotations only: no runtime import
        targets = set()
        for node in ast.walk(tree):
            if not (isinstance(node, ast.ImportFrom) and node.level) or id(node) in typing_only:
                continue
            base = list(package[: len(package) - node.level + 1])
            target = ".".join(base + ([node.module] if node.module else []))
            names = [f"{target}.{a.name}".strip(".") for a in node.names]
            submodules = [n for n in names if n in sources]
            targets.update(submodules or [target])
        graph[module] = {t for t in targets if t in sources and t != module}
    return graph


def test_the_client_modules_import_without_a_cycle():
    graph = _client_imports()
    assert graph["materialize.queries"] and graph["framework"]  # the check sees imports
    state: dict[str, int] = {}

    def visit(module, path):
        if state.get(module) == 1:
            cycle = path[path.index(module):] + [module]
            raise AssertionError(f"import cycle: {' -> '.join(cycle)}")
        if state.get(module) == 2:
            return
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            visit(target, path + [module])
        state[module] = 2

    for module in sorted(graph):
        visit(module, [])
