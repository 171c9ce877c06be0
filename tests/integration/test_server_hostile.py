"""The embedded server under hostile input: a 4xx in the services' error shapes, never a
500, a hang, a leak of SQL or internals, or a closed connection; bodies, query time and
memory are bounded."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
import requests
import uvicorn

from cave_widgets.server import app as app_module
from cave_widgets.server.context import route_options
from cave_widgets.server.runner import _bind, _url, build_context

TIMEOUT = 30


@pytest.fixture()
def api(demo_server):
    with requests.Session() as s:
        s.headers["Authorization"] = f"Bearer {demo_server.token}"
        yield s


def base(demo_server) -> str:
    return f"{demo_server.url}/materialize/api/v3/datastack/{demo_server.datastack}/version/5"


def no_internals(r: requests.Response) -> None:
    text = r.text
    for leak in ("SELECT ", "Traceback", "duckdb", "Binder Error", "Conversion Error",
                 "File \""):
        assert leak not in text, f"{leak!r} in the answer: {text[:300]}"


def test_deeply_nested_json_without_a_token_is_400(demo_server):
    nested = "[" * 100_000 + "]" * 100_000
    r = requests.post(f"{demo_server.url}/schema/api/v2/types", data=nested, timeout=TIMEOUT,
                      params={"schema_names": "synapse"})
    assert r.status_code == 400 and "nests" in r.json()["message"]
    no_internals(r)


@pytest.mark.parametrize("resolution", [[1e-310, 1, 1], [0, 1, 1], [1e9, 1, 1],
                                        [float("inf"), 1, 1], [1, 1]])
def test_absurd_resolutions_are_400(api, demo_server, resolution):
    r = api.post(f"{base(demo_server)}/table/synapses/query", timeout=TIMEOUT,
                 data=requests.models.complexjson.dumps({"desired_resolution": resolution}),
                 headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "desired_resolution" in r.json()["message"]
    no_internals(r)


@pytest.mark.parametrize("tables, words", [
    ([["synapses", "pre_pt_position"], ["nuclei", "pt_position"]], "position"),
    ([["synapses", "id"], ["cell_types", "cell_type"]], "cannot be joined"),
    ([["synapses", "valid"], ["nuclei", "valid"]], "boolean"),
    ([["synapses", "size"], ["nuclei", "volume"]], "float"),
])
def test_joins_that_would_explode_or_fail_are_400(api, demo_server, tables, words):
    started = time.monotonic()
    r = api.post(f"{base(demo_server)}/query", json={"tables": tables}, timeout=TIMEOUT)
    assert r.status_code == 400 and words in r.json()["message"]
    assert time.monotonic() - started < 5  # refused, not computed
    no_internals(r)


def test_bodies_are_bounded(demo_server, api):
    big = b"x" * (demo_server.settings.max_open_body + 1)
    r = requests.post(f"{demo_server.url}/schema/api/v2/types", data=big, timeout=TIMEOUT)
    assert r.status_code == 413
    huge = b"[" + b"1," * (demo_server.settings.max_body // 2) + b"1]"
    r = api.post(f"{base(demo_server)}/table/synapses/query", data=huge, timeout=TIMEOUT,
                 headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    # the connection is still good after refusals
    assert api.get(f"{demo_server.url}/info/api/v2/datastacks", timeout=TIMEOUT).ok


def test_a_query_past_the_time_limit_is_stopped(demo_server):
    """A query that would run for minutes (a real DuckDB query over 2e10 rows) is stopped at
    the server's limit and answered with a 400 that says so."""
    from types import SimpleNamespace

    from cave_widgets.server import materialize_queries, query, schemas
    from cave_widgets.server.errors import BadRequest
    from cave_widgets.server.store import Relation

    endless = Relation("endless", "SELECT hash(range) AS id FROM range(20000000000)",
                       (schemas.Column("id", "integer"),), (1.0, 1.0, 1.0))
    plan = query.single_table_plan(endless, {}, 10, count=True, random_sample=None)
    settings = SimpleNamespace(query_seconds=0.3)
    call = SimpleNamespace(ctx=SimpleNamespace(store=demo_server.context.store,
                                               settings=settings))
    started = time.monotonic()
    with pytest.raises(BadRequest, match="longer than this server allows"):
        materialize_queries._execute(call, plan)
    assert time.monotonic() - started < 10


def test_bad_ids_of_every_kind_are_4xx(api, demo_server):
    cg = f"{demo_server.url}/segmentation/api/v1/table/demo_pcg"
    for path in ("node/-1/root", "node/abc/root", f"node/{2**64}/root", "node/1e5/root"):
        r = api.get(f"{cg}/{path}", timeout=TIMEOUT)
        assert 400 <= r.status_code < 500, (path, r.status_code, r.text[:200])
        no_internals(r)


def test_an_internal_error_is_500_without_internals_and_the_connection_survives(
        monkeypatch):
    """A bug in a handler: the real services' 500 shape, nothing of the bug in the body, and
    the same keep-alive connection answers the next request."""

    @route_options(auth=False)
    def crash(call):
        raise RuntimeError("secret internal detail /etc/passwd")

    class Crashing:
        __name__ = "crashing"
        ROUTES = (("GET", "/crash", crash),)

    monkeypatch.setattr(app_module, "SERVICES", app_module.SERVICES + (Crashing,))
    ctx, _ = build_context("small")
    sock = _bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app_module.build_app(ctx), log_level="critical",
                                           lifespan="off"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])),
                              daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.01)
        url = _url("127.0.0.1", sock)
        with requests.Session() as s:
            r = s.get(f"{url}/crash", timeout=TIMEOUT)
            assert r.status_code == 500 and r.json() == {
                "code": 500, "message": "internal error (see the server's log)"}
            assert "secret" not in r.text
            assert s.get(f"{url}/info/version", timeout=TIMEOUT).ok  # same connection
    finally:
        server.should_exit = True
        thread.join(10)


def test_the_openapi_description_covers_every_route(demo_server):
    doc = requests.get(f"{demo_server.url}/openapi.json", timeout=TIMEOUT).json()
    described = {(path, m.upper()) for path, ops in doc["paths"].items() for m in ops}
    routes = {(path, m) for service in app_module.SERVICES
              for methods, path, _ in service.ROUTES for m in methods.split()}
    assert routes <= described and len(routes) > 100
