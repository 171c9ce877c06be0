"""Fixtures shared by the server integration tests (test_server_*.py), built on the
session-wide `demo_server` (tests/conftest.py) and the helpers in tests/helpers/server_http.py.

URLs, sessions and caches are module-scoped: each test module gets its own."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
import requests
from helpers.server_http import LATEST, as_user, frame, guard, ok, post_query, table_url

from cave_widgets.server.demo import catalog

# --- sessions ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def session(demo_server):
    """A guarded session signed in as the demo user."""
    with as_user(demo_server.token) as s:
        yield s


@pytest.fixture()
def api(http):
    """The demo user's per-test session (tests/conftest.py), guarded."""
    return guard(http)


@pytest.fixture()
def anon():
    """No token at all: no Authorization header, no cookie."""
    with requests.Session() as s:
        yield guard(s)


# --- base URLs -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def root(demo_server):
    """The materialization API root, above the v2/v3 prefixes."""
    return f"{demo_server.url}/materialize/api"


@pytest.fixture(scope="module")
def base(demo_server):
    """The demo datastack's v3 materialization routes."""
    return f"{demo_server.url}/materialize/api/v3/datastack/{demo_server.datastack}"


@pytest.fixture(scope="module")
def cg(demo_server):
    """The chunkedgraph routes of the demo's PCG table."""
    return f"{demo_server.url}/segmentation/api/v1/table/{catalog.PCG_TABLE}"


# --- data ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def full(session, base):
    """Whole tables (and views) at a version, fetched once per module."""
    cache: dict = {}

    def get(name: str, version: int = LATEST, kind: str = "table") -> pd.DataFrame:
        key = (name, version, kind)
        if key not in cache:
            url = (table_url(base, name, version) if kind == "table"
                   else f"{base}/version/{version}/views/{name}/query")
            cache[key] = frame(post_query(session, url))
        return cache[key]

    return get


@pytest.fixture(scope="module")
def version_time(session, base) -> dict[int, datetime]:
    """Each valid version's materialization time (UTC)."""
    meta = ok(session.get(f"{base}/metadata", params={"expired": "False"}))
    return {
        m["version"]: datetime.strptime(m["time_stamp"], "%Y-%m-%dT%H:%M:%S.%f").replace(
            tzinfo=timezone.utc)
        for m in meta
    }


@pytest.fixture(scope="module")
def now() -> datetime:
    # One "now" for the whole module: the history is frozen before it (last edit 30 min ago).
    return datetime.now(timezone.utc) - timedelta(seconds=1)
