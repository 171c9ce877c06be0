"""Fixtures and helpers for the materialization-client integration tests
(tests/integration/test_client_materialize*.py): our CAVEclient against the embedded demo
server over real HTTP, with HOME pointed at a temporary folder so nothing is written into
the real home.

Test modules import the fixtures they use by name (pytest picks up fixtures that are module
globals)."""

from __future__ import annotations

import json
import warnings
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pandas as pd
import pytest

from cave_widgets import CAVEclient
from cave_widgets.client.errors import RowCapWarning

TABLES = ["synapses", "nuclei", "cell_types", "cell_type_ref"]
VIEW = "nucleus_types"
LATEST = 5
RESOLUTION = [4.0, 4.0, 40.0]


def make_client(demo_server, **kwargs) -> CAVEclient:
    return CAVEclient(demo_server.datastack, server_address=demo_server.url,
                      auth_token=demo_server.token, write_server_cache=False, **kwargs)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """HOME (and the XDG folders) in a temporary folder for the whole module."""
    path = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(path))
        mp.setenv("USERPROFILE", str(path))
        mp.setenv("XDG_CACHE_HOME", str(path / ".cache"))
        mp.setenv("XDG_CONFIG_HOME", str(path / ".config"))
        yield path


@pytest.fixture(scope="module")
def client(demo_server, home):
    """One client per module. Tests must not change its version or timestamp: use
    `fresh_client` for that."""
    c = make_client(demo_server)
    yield c
    assert c.version is None and c.timestamp is None, "a test changed the shared client"


@pytest.fixture(scope="module")
def mat(client):
    return client.materialize


@pytest.fixture()
def fresh_client(demo_server, home):
    return make_client(demo_server)


@pytest.fixture(scope="module")
def full(mat):
    """Whole tables (split positions, metadata off), fetched once per module and version.
    The tests filter these with pandas and compare."""
    cache: dict = {}

    def get(table: str, version: int = LATEST, merge_reference: bool = False) -> pd.DataFrame:
        key = (table, version, merge_reference)
        if key not in cache:
            df = mat.query_table(table, materialization_version=version, split_positions=True,
                                 metadata=False, merge_reference=merge_reference,
                                 log_warning=False)
            assert 0 < len(df) < 200_000, f"{table}: {len(df)} rows, the row cap may have cut it"
            cache[key] = df
        return cache[key].copy()

    return get


@pytest.fixture(scope="module")
def now() -> datetime:
    """One "now" per module; the demo's history ends 30 minutes before the server's now."""
    return datetime.now(timezone.utc) - timedelta(seconds=5)


@contextmanager
def row_cap(demo_server, cap: int):
    """Lower the server's row cap for the block; always restored."""
    before = demo_server.settings.row_cap
    demo_server.settings.row_cap = cap
    try:
        yield
    finally:
        demo_server.settings.row_cap = before


@contextmanager
def no_row_cap_warning():
    """Fails if a RowCapWarning is raised in the block."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RowCapWarning)
        yield


class Sent:
    """Every request a client sends, as (method, path, query params, JSON body)."""

    def __init__(self, client: CAVEclient):
        self.calls: list[tuple[str, str, dict, object]] = []
        self._hooks = client.session.hooks["response"]
        self._hooks.append(self._record)

    def _record(self, response, *args, **kwargs):
        request = response.request
        parts = urlsplit(request.url)
        body = request.body
        if isinstance(body, bytes):
            body = body.decode()
        self.calls.append((request.method, parts.path, dict(parse_qsl(parts.query)),
                           json.loads(body) if body else None))

    def close(self):
        self._hooks.remove(self._record)

    @property
    def posts(self) -> list[tuple[str, dict, object]]:
        return [(path, params, body) for method, path, params, body in self.calls
                if method == "POST"]


@contextmanager
def sent(client: CAVEclient):
    spy = Sent(client)
    try:
        yield spy
    finally:
        spy.close()


# --- comparing frames ----------------------------------------------------------------------


def by_id(df: pd.DataFrame, column: str = "id") -> pd.DataFrame:
    return df.sort_values(column).reset_index(drop=True)


def same_rows(got: pd.DataFrame, expected: pd.DataFrame, column: str = "id") -> None:
    """Equal values, column names and dtypes, whatever the row order and index."""
    assert list(got.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(by_id(got, column), by_id(expected, column))


def ids(df: pd.DataFrame, column: str = "id") -> list[int]:
    return sorted(int(v) for v in df[column])


def split(df: pd.DataFrame, base: str) -> np.ndarray:
    """An n×3 array of a split position column's values."""
    return df[[f"{base}_x", f"{base}_y", f"{base}_z"]].to_numpy(dtype=float)


def combined(df: pd.DataFrame, base: str) -> np.ndarray:
    """An n×3 array of a combined position column's values."""
    return np.stack(df[base].to_numpy()).astype(float) if len(df) else np.empty((0, 3))
