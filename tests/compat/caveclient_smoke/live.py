"""Live queries, the tables manager and a query on an expired version."""

from __future__ import annotations

import datetime as dt
import time

import numpy as np

from .checks import (
    EXPIRED_VERSION,
    SYNAPSES,
    check,
    ensure,
    http_status,
    ids_of,
    need,
)

# --------------------------------------------------------------------------------------
# live queries, table manager, expired versions
# --------------------------------------------------------------------------------------


@check("materialize.live_live_query")
def _(s):
    mat = s.client.materialize
    now = dt.datetime.now(dt.timezone.utc)
    current = mat.live_live_query(SYNAPSES, now, limit=500)
    ensure(len(current) > 0, "no rows at all")
    ensure("pre_pt_root_id" in current.columns, f"columns {list(current.columns)}")
    # A root that exists now, taken from the live result itself.
    root = int(current["pre_pt_root_id"].value_counts().index[0])
    df = mat.live_live_query(
        SYNAPSES, now, filter_in_dict={SYNAPSES: {"pre_pt_root_id": [root]}}, split_positions=True
    )
    ensure(len(df) > 0, f"no rows for current root {root}")
    ensure((df["pre_pt_root_id"].astype("int64") == root).all(), "rows outside the root filter")
    latest = s.client.chunkedgraph.is_latest_roots(
        np.unique(df["pre_pt_root_id"].to_numpy(dtype=np.int64)))  # Int64 → plain ints
    ensure(bool(np.all(latest)), "live_live_query returned root ids that are not current")
    s.live_rows = df


@check("query_table(timestamp=...) live query")
def _(s):
    now = dt.datetime.now(dt.timezone.utc)
    roots = [int(r) for r in need(s, "live_rows")["pre_pt_root_id"].unique()[:1]]
    df = s.client.materialize.query_table(
        SYNAPSES, filter_in_dict={"pre_pt_root_id": roots}, timestamp=now, split_positions=True
    )
    ensure(len(df) > 0, "no rows")
    ensure(set(df["pre_pt_root_id"].astype("int64")) <= set(roots), "rows outside the filter")
    ensure(df.attrs.get("live_query") is True, f"attrs live_query {df.attrs.get('live_query')!r}")
    live = need(s, "live_rows")
    # caveclient's live query reads the newest version and only moves its root ids forward, so
    # it differs from the server's live_live_query exactly by the annotations created or
    # deleted since that version (the demo has some). Anything else is a disagreement.
    extra = sorted(set(ids_of(df)) - set(ids_of(live)))
    missing = sorted(set(ids_of(live)) - set(ids_of(df)))
    mat = s.client.materialize
    if extra or missing:
        then = set(ids_of(mat.query_table(SYNAPSES, filter_in_dict={"id": extra + missing},
                                          materialization_version=need(s, "latest"))))
        still = set(ids_of(mat.live_live_query(
            SYNAPSES, now, filter_in_dict={SYNAPSES: {"id": extra + missing}})))
        ensure(set(extra) <= then - still,
               f"rows {extra} only in the client's live query, yet not deleted since the version")
        ensure(not set(missing) & then,
               f"rows {missing} only in live_live_query, yet already in the newest version")
    ensure(len(extra) + len(missing) < len(live) // 10 + 1,
           f"ids differ from live_live_query's for the same root: {len(df)} vs {len(live)} rows")


@check("materialize.tables manager")
def _(s):
    syn, roots = need(s, "syn", "some_roots")
    tables = s.client.materialize.tables
    ensure(SYNAPSES in tables.table_names, f"{SYNAPSES!r} not in {tables.table_names}")
    df = tables.synapses(pre_pt_root_id=roots).query(split_positions=True)
    expected = syn[syn["pre_pt_root_id"].isin(roots)]
    ensure(len(df) > 0, "no rows")
    ensure(sorted(ids_of(df)) == ids_of(expected), f"{len(df)} rows, expected {len(expected)}")
    # The manager's own inequality syntax ({">": value}) becomes filter_greater_dict.
    cut = float(syn["size"].median())
    big = tables.synapses(size={">": cut}).query(split_positions=True)
    ensure(len(big) > 0 and bool((big["size"] > cut).all()), f"size > {cut} via the manager failed")
    ensure(len(big) == int((syn["size"] > cut).sum()), f"{len(big)} rows for size > {cut}")


@check("query on an expired version fails cleanly")
def _(s):
    started = time.monotonic()
    status, message = http_status(lambda: s.client.materialize.query_table(
        SYNAPSES, materialization_version=EXPIRED_VERSION, limit=5
    ))
    ensure(400 <= status < 500, f"status {status}: {message}")
    ensure("version" in message.lower(), f"the error does not mention the version: {message}")
    ensure(time.monotonic() - started < 30, "took more than 30 s to fail")
