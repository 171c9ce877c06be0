"""Helpers for talking to the demo server over real HTTP: guarded sessions (every call has a
timeout, never follows a redirect and fails on any 5xx), response decoders that assert the
status and content type, and caveclient-style query requests.

Fixtures built on these live in tests/integration/conftest.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import requests

from cave_widgets.server.demo import catalog

TIMEOUT = 30
LATEST = catalog.DEFAULT_VERSION
VALID = sorted(v.version for v in catalog.VERSIONS if not v.expired)
# Browser pages may redirect (sign-in flow, token settings); API routes never do.
BROWSER_PAGES = (
    "/sticky_auth/api/v1/authorize", "/sticky_auth/settings/", "/sticky_auth/api/v1/tos/",
)


# --- sessions ------------------------------------------------------------------------------------


def _no_5xx_no_redirect(response, *args, **kwargs):
    where = f"{response.request.method} {response.url}"
    assert response.status_code < 500, f"{where} -> {response.status_code}: {response.text[:500]}"
    if not any(p in response.url for p in BROWSER_PAGES):
        assert not response.is_redirect, f"{where} redirected to {response.headers.get('location')}"


def guard(session: requests.Session) -> requests.Session:
    """Every call gets a timeout, never follows redirects, and fails on any 5xx."""
    plain = session.request

    def request(method, url, **kwargs):
        kwargs.setdefault("timeout", TIMEOUT)
        kwargs["allow_redirects"] = False
        return plain(method, url, **kwargs)

    session.request = request
    session.hooks["response"].append(_no_5xx_no_redirect)
    return session


def as_user(token: str) -> requests.Session:
    """A guarded session sending `token` as a Bearer header (usable as a context manager)."""
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {token}"
    return guard(s)


# --- responses -----------------------------------------------------------------------------------


def ok(response: requests.Response):
    """The JSON body of a 200 application/json answer."""
    assert response.status_code == 200, (
        f"{response.url}: {response.status_code} {response.text[:300]}")
    assert response.headers["Content-Type"] == "application/json"
    return response.json()


def frame(response: requests.Response) -> pd.DataFrame:
    """The data frame of a 200 Arrow IPC stream answer."""
    assert response.status_code == 200, response.text[:500]
    assert response.headers["Content-Type"] == "data.arrow"
    return pa.ipc.open_stream(response.content).read_all().to_pandas()


def same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Equal values in equal order, whatever the index and the exact (nullable) dtypes."""
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True), expected.reset_index(drop=True), check_dtype=False
    )


# --- requests ------------------------------------------------------------------------------------


def post_query(session, url, body=None, *, encoding="zstd", **params):
    """POST a query the way caveclient 8 does (Arrow, typed, split positions)."""
    query = {"return_pyarrow": "True", "arrow_format": "True", "split_positions": "True",
             "direct_sql_pandas": "True"}
    query.update({k: str(v) for k, v in params.items()})
    return session.post(url, params=query, json={} if body is None else body,
                        headers={"Accept-Encoding": encoding})


def table_url(base, table, version=LATEST):
    return f"{base}/version/{version}/table/{table}/query"


def roots_binary(session, cg, svs, timestamp=None) -> np.ndarray:
    """Roots of supervoxels `svs` (now, or at POSIX `timestamp`) via the binary route."""
    params = {} if timestamp is None else {"timestamp": repr(float(timestamp))}
    r = session.post(f"{cg}/roots_binary", params=params,
                     data=np.asarray(svs, dtype="<u8").tobytes())
    assert r.status_code == 200, r.text[:300]
    assert len(r.content) == 8 * len(svs)
    return np.frombuffer(r.content, dtype="<u8")
