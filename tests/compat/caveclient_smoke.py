"""Compatibility smoke test: drive the real, unmodified ``caveclient`` (8.x) against a
CAVE-compatible server and check that every call it makes returns sensible results.

Standalone on purpose: it imports only caveclient, numpy, pandas and the standard library, so
it runs in a throwaway virtualenv that has caveclient's own pins (pandas<3) and no
cave_widgets. The token is read from the environment variable CAVE_DEMO_TOKEN so it never
appears in process lists or logs.

    CAVE_DEMO_TOKEN=... python caveclient_smoke.py --url http://127.0.0.1:8000 \
        --datastack demo_local

Prints one line per check (``PASS name`` / ``FAIL name: reason``), then ``N passed, M failed``;
the exit status is 1 when any check failed (2 for bad usage).

Ids, timestamps and column values are never hard-coded: each check takes them from the
results of earlier checks (e.g. root ids from the synapse table), and filters are verified
against a full download of the same table filtered with pandas.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from types import SimpleNamespace

import numpy as np
import pandas as pd

TOKEN_ENV = "CAVE_DEMO_TOKEN"

# Tables and the view of the demo datastack this script expects (names only; all ids and
# values come from the server).
SYNAPSES = "synapses"
NUCLEI = "nuclei"
CELL_TYPES = "cell_types"
REFERENCE = "cell_type_ref"
VIEW = "nucleus_types"
EXPIRED_VERSION = 1


class CheckFailed(AssertionError):
    pass


def ensure(condition, message: str) -> None:
    """Like assert, but survives python -O and always carries a message."""
    if not condition:
        raise CheckFailed(message)


CHECKS: list[tuple[str, Callable]] = []


def check(name: str):
    def register(fn):
        CHECKS.append((name, fn))
        return fn

    return register


class State(SimpleNamespace):
    """What checks hand to later checks. Reading something an earlier check never stored is a
    clear failure of the later check, not an AttributeError."""

    def __getattr__(self, name: str):
        raise CheckFailed(f"needs {name} from an earlier check that failed or did not run")


def need(s: State, *names: str):
    """Values an earlier check stored; a clear failure when that check did not get there."""
    missing = [n for n in names if vars(s).get(n) is None]
    if missing:
        raise CheckFailed(
            f"needs {', '.join(missing)} from an earlier check that failed or did not run"
        )
    values = tuple(getattr(s, n) for n in names)
    return values[0] if len(values) == 1 else values


def http_status(call: Callable) -> tuple[int, str]:
    """Run a call that must fail with an HTTP error; return its status and message."""
    try:
        call()
    except Exception as exc:
        response = getattr(exc, "response", None)
        status = getattr(response, "status_code", None)
        if type(exc).__name__ != "HTTPError" or status is None:
            raise CheckFailed(f"failed with {type(exc).__name__} instead of an HTTP error: "
                              f"{exc}") from None
        return status, str(exc)
    raise CheckFailed("the call succeeded")


def is_int_dtype(series: pd.Series) -> bool:
    return pd.api.types.is_integer_dtype(series.dtype)


def ids_of(df: pd.DataFrame, column: str = "id") -> list[int]:
    return [int(v) for v in df[column].tolist()]


def as_utc(when) -> dt.datetime:
    when = pd.Timestamp(when).to_pydatetime()
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


# --------------------------------------------------------------------------------------
# info, schema
# --------------------------------------------------------------------------------------


@check("construct_client")
def _(s):
    from caveclient import CAVEclient

    s.client = CAVEclient(
        s.datastack,
        server_address=s.url,
        auth_token=s.token,
        write_server_cache=False,
    )
    ensure(s.client.datastack_name == s.datastack, f"datastack_name is {s.client.datastack_name!r}")
    ensure(s.client.server_address == s.url, f"server_address is {s.client.server_address!r}")
    ensure(
        s.client.local_server.rstrip("/") == s.url.rstrip("/"),
        f"local_server {s.client.local_server!r} is not the server {s.url!r}",
    )


@check("info.get_datastacks")
def _(s):
    stacks = s.client.info.get_datastacks()
    ensure(isinstance(stacks, list), f"expected a list, got {type(stacks).__name__}")
    ensure(s.datastack in stacks, f"{s.datastack!r} not in {stacks!r}")


@check("info.get_datastack_info")
def _(s):
    info = s.client.info.get_datastack_info()
    ensure(info["local_server"].rstrip("/") == s.url.rstrip("/"),
           f"local_server {info['local_server']!r}")
    av = info["aligned_volume"]
    ensure(isinstance(av.get("name"), str) and av["name"], f"aligned_volume name {av!r}")
    ensure(isinstance(av.get("id"), int), f"aligned_volume id {av.get('id')!r}")
    ensure(info["synapse_table"] == SYNAPSES, f"synapse_table {info['synapse_table']!r}")
    seg = info["segmentation_source"]
    ensure(isinstance(seg, str) and "/" in seg, f"segmentation_source {seg!r}")
    ensure(
        s.client.chunkedgraph.table_name == seg.rstrip("/").split("/")[-1],
        "chunkedgraph table name is not the last part of segmentation_source",
    )
    res = s.client.info.viewer_resolution()
    ensure(len(res) == 3 and all(r > 0 for r in res), f"viewer_resolution {res!r}")
    s.aligned_volume = av["name"]


@check("info.get_aligned_volumes")
def _(s):
    name = need(s, "aligned_volume")
    volumes = s.client.info.get_aligned_volumes()
    ensure(name in volumes, f"{name!r} not in {volumes!r}")
    av = s.client.info.get_aligned_volume_info()
    by_id = s.client.info.get_aligned_volume_info_by_id(av["id"])
    ensure(by_id["name"] == name, f"aligned volume {av['id']} is {by_id.get('name')!r}")


@check("a bad token is rejected")
def _(s):
    from caveclient import CAVEclient

    wrong = "0123456789abcdef" * 2
    wrong = wrong if wrong != s.token else wrong[::-1]
    status, message = http_status(lambda: CAVEclient(
        s.datastack, server_address=s.url, auth_token=wrong, write_server_cache=False
    ))
    ensure(status == 401, f"status {status}: {message}")


@check("schema.get_schemas")
def _(s):
    names = s.client.schema.get_schemas()
    ensure(isinstance(names, list) and names, f"expected a non-empty list, got {names!r}")
    for wanted in ("synapse", "nucleus_detection", "cell_type_local", "cell_type_reference"):
        ensure(wanted in names, f"{wanted!r} not in {names!r}")


@check("schema.schema_definition")
def _(s):
    doc = s.client.schema.schema_definition("synapse")
    ensure(str(doc.get("$ref", "")).startswith("#/definitions/"), f"$ref is {doc.get('$ref')!r}")
    main = doc["$ref"].split("/")[-1]
    props = doc["definitions"][main]["properties"]
    for pt in ("pre_pt", "post_pt"):
        ensure(pt in props, f"{pt} missing from the synapse definition")
        ensure(
            props[pt].get("$ref", "").endswith("BoundSpatialPoint"),
            f"{pt} is not a BoundSpatialPoint: {props[pt]!r}",
        )
    ensure("BoundSpatialPoint" in doc["definitions"], "no BoundSpatialPoint definition")
    status, message = http_status(lambda: s.client.schema.schema_definition("no_such_schema_xyz"))
    ensure(status == 404, f"an unknown schema gave {status}: {message}")


@check("schema.schema_definition_multi / schema_definition_all")
def _(s):
    names = s.client.schema.get_schemas()
    every = s.client.schema.schema_definition_all()
    ensure(isinstance(every, dict) and list(every) == names,
           f"types_all keys differ from get_schemas: {list(every or {})[:5]!r}...")
    for name, doc in every.items():
        main = str(doc.get("$ref", "")).split("/")[-1]
        ensure(main in doc.get("definitions", {}), f"{name}: $ref {doc.get('$ref')!r} unresolved")
        ensure("required" in doc["definitions"][main], f"{name}: root definition has no required")
    some = s.client.schema.schema_definition_multi(["synapse", "bound_tag"])
    ensure(isinstance(some, dict) and list(some) == ["synapse", "bound_tag"],
           f"schema_definition_multi gave {list(some or {})!r}")
    ensure(some["synapse"] == every["synapse"], "multi and all disagree on synapse")


@check("annotation.stage_annotations (the schema documents drive staging)")
def _(s):
    staged = s.client.annotation.stage_annotations(schema_name="synapse")
    staged.add(pre_pt_position=[1, 2, 3], ctr_pt_position=[2, 3, 4], post_pt_position=[3, 4, 5],
               size=3.0)
    ensure(staged.annotation_list == [{"ctr_pt": {"position": [2, 3, 4]},
                                       "post_pt": {"position": [3, 4, 5]},
                                       "pre_pt": {"position": [1, 2, 3]}, "size": 3.0}],
           f"staged rows {staged.annotation_list!r}")
    # the real synapse schema requires the three points but not size
    staged.add(pre_pt_position=[1, 2, 3], ctr_pt_position=[2, 3, 4], post_pt_position=[3, 4, 5])
    try:
        staged.add(pre_pt_position=[1, 2, 3], post_pt_position=[3, 4, 5], size=3.0)
    except TypeError:
        pass
    else:
        raise CheckFailed("a synapse without ctr_pt was accepted")
    tag = s.client.annotation.stage_annotations(schema_name="bound_tag")
    tag.add(pt_position=[1, 2, 3], tag="x")
    ensure(tag.annotation_list == [{"pt": {"position": [1, 2, 3]}, "tag": "x"}],
           f"staged bound_tag rows {tag.annotation_list!r}")


# --------------------------------------------------------------------------------------
# materialization: versions, tables, metadata
# --------------------------------------------------------------------------------------


@check("materialize.get_versions")
def _(s):
    versions = s.client.materialize.get_versions()
    ensure(isinstance(versions, list) and versions, f"expected a non-empty list, got {versions!r}")
    ensure(all(isinstance(v, int) for v in versions), f"non-integer versions in {versions!r}")
    ensure(EXPIRED_VERSION not in versions, f"expired version {EXPIRED_VERSION} listed: {versions}")
    s.versions = sorted(versions)
    s.latest = max(versions)
    ensure(s.client.materialize.version == s.latest,
           f"client default version {s.client.materialize.version} is not the newest {s.latest}")


@check("materialize.get_versions(expired=True)")
def _(s):
    versions = need(s, "versions")
    everything = s.client.materialize.get_versions(expired=True)
    ensure(EXPIRED_VERSION in everything, f"{EXPIRED_VERSION} not in {everything!r}")
    ensure(set(versions) <= set(everything), f"{everything!r} lacks some of {versions!r}")


@check("materialize.get_version_metadata")
def _(s):
    latest = need(s, "latest")
    meta = s.client.materialize.get_version_metadata(latest)
    ensure(meta["version"] == latest, f"version {meta['version']!r}")
    ensure(meta["valid"] is True, f"valid is {meta['valid']!r}")
    ts = meta["time_stamp"]
    ensure(isinstance(ts, dt.datetime) and ts.tzinfo is not None, f"time_stamp {ts!r}")
    ensure(ts <= dt.datetime.now(dt.timezone.utc), f"time_stamp {ts} is in the future")
    exp = meta["expires_on"]
    ensure(exp is None or (isinstance(exp, dt.datetime) and exp > ts), f"expires_on {exp!r}")
    s.latest_ts = ts
    # An older valid version, to look at root ids that have changed since.
    older = [v for v in s.versions if v < latest]
    ensure(older, f"need at least two valid versions, have {s.versions}")
    s.old_version = min(older)
    s.old_ts = s.client.materialize.get_timestamp(s.old_version)
    ensure(s.old_ts < ts, f"version {s.old_version} time {s.old_ts} is not before {ts}")


@check("materialize.get_versions_metadata")
def _(s):
    versions = need(s, "versions")
    metas = s.client.materialize.get_versions_metadata()
    ensure(sorted(m["version"] for m in metas) == versions,
           f"metadata versions {[m['version'] for m in metas]} != {versions}")
    ensure(all(isinstance(m["time_stamp"], dt.datetime) for m in metas), "time_stamp not parsed")


@check("materialize.get_tables")
def _(s):
    tables = s.client.materialize.get_tables()
    ensure(isinstance(tables, list), f"expected a list, got {tables!r}")
    for t in (SYNAPSES, NUCLEI, CELL_TYPES, REFERENCE):
        ensure(t in tables, f"{t!r} not in {tables!r}")
    s.tables = tables


@check("materialize.get_table_metadata")
def _(s):
    meta = s.client.materialize.get_table_metadata(SYNAPSES)
    ensure(meta["table_name"] == SYNAPSES, f"table_name {meta.get('table_name')!r}")
    ensure(meta["schema"] == "synapse", f"schema {meta.get('schema')!r}")
    # real AE/ME send null (not "") for a table that references nothing
    ensure(meta["reference_table"] is None, f"reference_table {meta['reference_table']!r}")
    res = meta["voxel_resolution"]
    ensure(len(res) == 3 and all(float(r) > 0 for r in res), f"voxel_resolution {res!r}")
    ensure(meta["aligned_volume"] == need(s, "aligned_volume"),
           f"aligned_volume {meta['aligned_volume']!r}")
    s.voxel_resolution = [float(r) for r in res]
    ref = s.client.materialize.get_table_metadata(REFERENCE)
    ensure(ref["reference_table"] == NUCLEI,
           f"{REFERENCE} reference_table {ref['reference_table']!r}")
    ensure(ref["schema"] == "cell_type_reference", f"{REFERENCE} schema {ref['schema']!r}")


@check("materialize.get_tables_metadata")
def _(s):
    tables = need(s, "tables")
    metas = s.client.materialize.get_tables_metadata()
    names = sorted(m["table_name"] for m in metas)
    ensure(names == sorted(tables), f"{names} != {sorted(tables)}")


@check("materialize.get_annotation_count")
def _(s):
    s.counts = {}
    for t in (SYNAPSES, NUCLEI, CELL_TYPES, REFERENCE):
        n = s.client.materialize.get_annotation_count(t)
        ensure(isinstance(n, int) and n > 0, f"count of {t} is {n!r}")
        s.counts[t] = n


# --------------------------------------------------------------------------------------
# materialization: query_table
# --------------------------------------------------------------------------------------


@check("query_table(full table, split_positions=True)")
def _(s):
    counts = need(s, "counts")
    df = s.client.materialize.query_table(SYNAPSES, split_positions=True)
    ensure(len(df) > 0, "no rows")
    ensure(len(df) <= counts[SYNAPSES], f"{len(df)} rows but the count is {counts[SYNAPSES]}")
    ensure(df["id"].is_unique, "ids are not unique")
    ensure(bool(df["valid"].all()), "rows with valid=False were returned")
    for col in ("id", "pre_pt_root_id", "post_pt_root_id", "pre_pt_supervoxel_id"):
        ensure(is_int_dtype(df[col]), f"{col} has dtype {df[col].dtype}")
        # Real servers send nullable pandas dtypes (their frames go through pandas first).
        ensure(str(df[col].dtype) == "Int64", f"{col} is {df[col].dtype}, not Int64")
    ensure(str(df["valid"].dtype) == "boolean", f"valid is {df['valid'].dtype}, not boolean")
    ensure(pd.api.types.is_float_dtype(df["size"].dtype), f"size has dtype {df['size'].dtype}")
    for axis in "xyz":
        col = f"pre_pt_position_{axis}"
        ensure(col in df.columns, f"{col} missing; columns {list(df.columns)}")
        ensure(pd.api.types.is_numeric_dtype(df[col].dtype), f"{col} has dtype {df[col].dtype}")
    ensure("pre_pt_position" not in df.columns, "split_positions=True still has pre_pt_position")
    ensure(df.attrs.get("table_name") == SYNAPSES,
           f"attrs table_name {df.attrs.get('table_name')!r}")
    ensure(df.attrs.get("materialization_version") == need(s, "latest"),
           f"attrs materialization_version {df.attrs.get('materialization_version')!r}")
    ensure(list(df.attrs.get("dataframe_resolution", [])) == need(s, "voxel_resolution"),
           f"attrs dataframe_resolution {df.attrs.get('dataframe_resolution')!r}")
    ensure(df.attrs.get("join_query") is False, f"attrs join_query {df.attrs.get('join_query')!r}")
    s.syn = df.sort_values("id").reset_index(drop=True)
    # Root ids for the filters: a busy presynaptic cell and a few others.
    counts_by_root = s.syn["pre_pt_root_id"].value_counts()
    s.busy_root = int(counts_by_root.index[0])
    s.some_roots = [int(r) for r in counts_by_root.index[1:4]]


@check("query_table(split_positions=False)")
def _(s):
    syn = need(s, "syn")
    df = s.client.materialize.query_table(SYNAPSES, limit=20)
    ensure(len(df) == 20, f"{len(df)} rows")
    for col in ("pre_pt_position", "post_pt_position", "ctr_pt_position"):
        ensure(col in df.columns, f"{col} missing; columns {list(df.columns)}")
        ensure(f"{col}_x" not in df.columns, f"{col}_x still present")
        ensure(all(len(p) == 3 for p in df[col]), f"{col} values are not 3-vectors")
    by_id = syn.set_index("id")
    for _, row in df.iterrows():
        want = by_id.loc[int(row["id"]), [f"pre_pt_position_{a}" for a in "xyz"]]
        ensure(np.allclose(np.asarray(row["pre_pt_position"], dtype=float), want.to_numpy(float)),
               f"id {row['id']}: position {row['pre_pt_position']} != split {list(want)}")


@check("query_table(limit)")
def _(s):
    df = s.client.materialize.query_table(SYNAPSES, limit=7, split_positions=True)
    ensure(len(df) == 7, f"limit=7 gave {len(df)} rows")
    ensure(df.attrs.get("limit") == 7, f"attrs limit {df.attrs.get('limit')!r}")


@check("query_table(offset)")
def _(s):
    first = s.client.materialize.query_table(SYNAPSES, limit=15, split_positions=True)
    shifted = s.client.materialize.query_table(SYNAPSES, offset=5, limit=10, split_positions=True)
    ensure(len(shifted) == 10, f"{len(shifted)} rows")
    ensure(ids_of(shifted) == ids_of(first)[5:15],
           f"offset=5 ids {ids_of(shifted)} != ids {ids_of(first)[5:15]} of the plain query")


@check("query_table(filter_in_dict)")
def _(s):
    syn, roots = need(s, "syn", "some_roots")
    df = s.client.materialize.query_table(
        SYNAPSES, filter_in_dict={"pre_pt_root_id": roots}, split_positions=True
    )
    expected = syn[syn["pre_pt_root_id"].isin(roots)]
    ensure(len(df) > 0, "no rows")
    ensure(set(df["pre_pt_root_id"].astype("int64")) <= set(roots), "rows outside the filter")
    ensure(sorted(ids_of(df)) == ids_of(expected), f"{len(df)} rows, expected {len(expected)}")
    ensure(df.attrs["filters"]["inclusive"] == {"pre_pt_root_id": roots}, "attrs filters wrong")


@check("query_table(filter_out_dict)")
def _(s):
    syn, busy = need(s, "syn", "busy_root")
    df = s.client.materialize.query_table(
        SYNAPSES, filter_out_dict={"pre_pt_root_id": [busy]}, split_positions=True
    )
    ensure(busy not in set(df["pre_pt_root_id"].astype("int64")), "excluded root id still present")
    expected = syn[syn["pre_pt_root_id"] != busy]
    ensure(len(df) == len(expected) and len(df) < len(syn),
           f"{len(df)} rows, expected {len(expected)} of {len(syn)}")


@check("query_table(filter_equal_dict)")
def _(s):
    syn, busy = need(s, "syn", "busy_root")
    df = s.client.materialize.query_table(
        SYNAPSES, filter_equal_dict={"pre_pt_root_id": busy}, split_positions=True
    )
    expected = syn[syn["pre_pt_root_id"] == busy]
    ensure(len(df) > 0, "no rows")
    ensure((df["pre_pt_root_id"].astype("int64") == busy).all(), "rows with another root id")
    ensure(sorted(ids_of(df)) == ids_of(expected), f"{len(df)} rows, expected {len(expected)}")


@check("query_table(filter_greater_dict / less / >= / <=)")
def _(s):
    syn = need(s, "syn")
    cut = float(syn["size"].quantile(0.9))
    mat = s.client.materialize
    cases = [
        ("filter_greater_dict", lambda c: c > cut),
        ("filter_less_dict", lambda c: c < cut),
        ("filter_greater_equal_dict", lambda c: c >= cut),
        ("filter_less_equal_dict", lambda c: c <= cut),
    ]
    for kwarg, op in cases:
        df = mat.query_table(SYNAPSES, split_positions=True, **{kwarg: {"size": cut}})
        expected = syn[op(syn["size"])]
        ensure(len(df) > 0, f"{kwarg}: no rows")
        ensure(bool(op(df["size"]).all()), f"{kwarg}: rows violate size vs {cut}")
        ensure(sorted(ids_of(df)) == ids_of(expected),
               f"{kwarg}: {len(df)} rows, expected {len(expected)}")


@check("query_table(filter_spatial_dict)")
def _(s):
    syn = need(s, "syn")
    cols = [f"ctr_pt_position_{a}" for a in "xyz"]
    # A box around the middle of the data; half-voxel edges so inclusive/exclusive can't matter.
    lo = syn[cols].quantile(0.3).to_numpy(float).round() + 0.5
    hi = syn[cols].quantile(0.7).to_numpy(float).round() + 0.5
    box = [lo.tolist(), hi.tolist()]
    df = s.client.materialize.query_table(
        SYNAPSES, filter_spatial_dict={"ctr_pt_position": box}, split_positions=True
    )
    inside = np.ones(len(syn), bool)
    for c, a, b in zip(cols, lo, hi):
        inside &= (syn[c] >= a).to_numpy() & (syn[c] <= b).to_numpy()
    expected = syn[inside]
    ensure(len(expected) > 0, "test box is empty; choose another")
    ensure(len(df) > 0, "no rows")
    pts = df[cols].to_numpy(float)
    ensure(bool(((pts >= lo) & (pts <= hi)).all()), "points outside the box were returned")
    ensure(sorted(ids_of(df)) == ids_of(expected), f"{len(df)} rows, expected {len(expected)}")


@check("query_table(filter_regex_dict)")
def _(s):
    full = s.client.materialize.query_table(CELL_TYPES)
    ensure(len(full) > 0, "cell type table is empty")
    types = sorted(full["cell_type"].dropna().unique())
    ensure(len(types) >= 3, f"need at least three cell types, have {types}")
    # An unanchored alternation that picks two whole types out of several.
    pattern = f"({types[0]}|{types[-1]})$"
    df = s.client.materialize.query_table(CELL_TYPES, filter_regex_dict={"cell_type": pattern})
    with warnings.catch_warnings():  # pandas warns about the group; it is only for the server
        warnings.simplefilter("ignore", UserWarning)
        expected = full[full["cell_type"].str.contains(pattern, regex=True, na=False)]
    ensure(len(df) > 0, f"regex {pattern!r} matched nothing")
    ensure(set(df["cell_type"]) <= {types[0], types[-1]}, f"rows not matching {pattern!r}")
    ensure(sorted(ids_of(df)) == sorted(ids_of(expected)),
           f"{len(df)} rows, expected {len(expected)}")
    s.cell_types = full


@check("query_table(select_columns)")
def _(s):
    df = s.client.materialize.query_table(
        SYNAPSES, select_columns=["id", "pre_pt_root_id", "size"], limit=50, split_positions=True
    )
    ensure(len(df) == 50, f"{len(df)} rows")
    cols = set(df.columns)
    ensure({"id", "pre_pt_root_id", "size"} <= cols, f"columns {sorted(cols)}")
    extra = cols - {"id", "pre_pt_root_id", "pre_pt_supervoxel_id", "size"}
    ensure(not extra, f"unrequested columns returned: {sorted(extra)}")


@check("query_table(desired_resolution)")
def _(s):
    syn, res = need(s, "syn", "voxel_resolution")
    want = [1.0, 1.0, 1.0]
    df = s.client.materialize.query_table(
        SYNAPSES, desired_resolution=want, limit=25, split_positions=True
    )
    ensure(len(df) == 25, f"{len(df)} rows")
    ensure([float(r) for r in df.attrs["dataframe_resolution"]] == want,
           f"attrs dataframe_resolution {df.attrs['dataframe_resolution']!r}")
    by_id = syn.set_index("id")
    for axis, r in zip("xyz", res):
        col = f"pre_pt_position_{axis}"
        native = by_id.loc[ids_of(df), col].to_numpy(float)
        ensure(np.allclose(df[col].to_numpy(float), native * r),
               f"{col} not scaled by {r}: {df[col].tolist()[:3]} vs {native[:3]}")


@check("query_table(get_counts)")
def _(s):
    syn, busy = need(s, "syn", "busy_root")
    df = s.client.materialize.query_table(
        SYNAPSES, filter_equal_dict={"pre_pt_root_id": busy}, get_counts=True
    )
    ensure("count" in df.columns and len(df) == 1, f"count frame {df!r}")
    ensure(int(df["count"].iloc[0]) == int((syn["pre_pt_root_id"] == busy).sum()),
           f"count {df['count'].iloc[0]} != {(syn['pre_pt_root_id'] == busy).sum()}")


@check("query_table(random_sample)")
def _(s):
    syn = need(s, "syn")
    n = 50
    df = s.client.materialize.query_table(SYNAPSES, random_sample=n, split_positions=True)
    ensure(0 < len(df) <= n, f"random_sample={n} gave {len(df)} rows")
    ensure(set(ids_of(df)) <= set(ids_of(syn)), "sampled ids are not in the table")
    ensure(ids_of(df) != ids_of(syn)[: len(df)], "the sample is just the first rows")


@check("query_table(return_df=False)")
def _(s):
    syn = need(s, "syn")
    rows = s.client.materialize.query_table(SYNAPSES, limit=5, return_df=False)
    ensure(isinstance(rows, list) and len(rows) == 5, f"expected 5 records, got {rows!r:.200}")
    ensure(all(isinstance(r, dict) and "id" in r for r in rows), f"records {rows[0]!r:.200}")
    by_id = syn.set_index("id")
    for r in rows:
        ensure(int(r["pre_pt_root_id"]) == int(by_id.loc[int(r["id"]), "pre_pt_root_id"]),
               f"record {r['id']} has root {r['pre_pt_root_id']} (64-bit ids must survive JSON)")


@check("query_table(reference table -> join)")
def _(s):
    counts = need(s, "counts")
    df = s.client.materialize.query_table(REFERENCE)
    ensure(len(df) > 0, "no rows")
    ensure(len(df) <= counts[REFERENCE], f"{len(df)} rows > count {counts[REFERENCE]}")
    wanted = ("target_id", "cell_type", "classification_system", "volume", "pt_root_id",
              "pt_position")
    for col in wanted:
        ensure(col in df.columns, f"{col} missing; columns {list(df.columns)}")
    # suffix_map {reference table: "", target table: "_ref"}: the annotation keeps `id`, the
    # joined nucleus's clashing columns get the `_ref` suffix (as on the real server).
    ensure("id_ref" in df.columns, f"no id_ref column; columns {list(df.columns)}")
    ensure((df["target_id"].astype("int64") == df["id_ref"].astype("int64")).all(),
           "target_id does not match the joined nucleus id (id_ref)")
    plain = s.client.materialize.query_table(REFERENCE, merge_reference=False)
    ensure("volume" not in plain.columns, "merge_reference=False still joined the target table")
    ensure(sorted(ids_of(df)) == sorted(ids_of(plain)),
           "the joined rows' ids are not the reference table's ids")
    nuclei = s.client.materialize.query_table(NUCLEI, split_positions=True)
    by_id = nuclei.set_index("id")
    sample = df.head(20)
    ensure(np.allclose(by_id.loc[ids_of(sample, "target_id"), "volume"].to_numpy(float),
                       sample["volume"].to_numpy(float)),
           "joined nucleus volumes differ from the nuclei table")
    s.nuclei = nuclei


@check("materialize.join_query")
def _(s):
    mat = s.client.materialize
    df = mat.join_query(
        [[SYNAPSES, "post_pt_root_id"], [NUCLEI, "pt_root_id"]],
        select_columns={
            SYNAPSES: ["id", "post_pt_root_id", "size"],
            NUCLEI: ["id", "pt_root_id", "volume"],
        },
        suffixes={SYNAPSES: "_syn", NUCLEI: "_nuc"},
        limit=200,
    )
    ensure(len(df) > 0, "no rows")
    for col in ("id_syn", "id_nuc", "post_pt_root_id", "pt_root_id", "size", "volume"):
        ensure(col in df.columns, f"{col} missing; columns {list(df.columns)}")
    ensure((df["post_pt_root_id"].astype("int64") == df["pt_root_id"].astype("int64")).all(),
           "joined rows do not share the join key")
    ensure(df.attrs.get("join_query") is True, f"attrs join_query {df.attrs.get('join_query')!r}")
    syn = need(s, "syn").set_index("id")
    sample = df.head(20)
    ensure((syn.loc[ids_of(sample, "id_syn"), "post_pt_root_id"].to_numpy()
            == sample["post_pt_root_id"].to_numpy(np.int64)).all(),
           "joined synapse rows do not match the synapse table")


@check("materialize.get_unique_string_values")
def _(s):
    cell_types = need(s, "cell_types")
    values = s.client.materialize.get_unique_string_values(CELL_TYPES)
    ensure(isinstance(values, dict), f"expected a dict, got {type(values).__name__}")
    for col in ("cell_type", "classification_system"):
        ensure(col in values, f"{col} not in {sorted(values)}")
        ensure(sorted(values[col]) == sorted(cell_types[col].dropna().unique()),
               f"{col}: {sorted(values[col])} != values in the table")


# --------------------------------------------------------------------------------------
# views
# --------------------------------------------------------------------------------------


@check("materialize.get_views")
def _(s):
    views = s.client.materialize.get_views()
    ensure(VIEW in views, f"{VIEW!r} not in {list(views)}")
    ensure("voxel_resolution_x" in views[VIEW], f"view record {views[VIEW]!r}")


@check("materialize.get_view_schema")
def _(s):
    schema = s.client.materialize.get_view_schema(VIEW)
    ensure(isinstance(schema, dict) and schema, f"schema {schema!r}")
    ensure(all("type" in v for v in schema.values()), f"entries without a type: {schema!r}")
    ensure(any(v["type"] == "SpatialPoint" for v in schema.values()), "no SpatialPoint column")
    s.view_schema = schema


@check("materialize.get_view_metadata / get_view_schemas")
def _(s):
    schema = need(s, "view_schema")
    meta = s.client.materialize.get_view_metadata(VIEW)
    ensure(meta.get("table_name") == VIEW, f"table_name {meta.get('table_name')!r}")
    res = [meta.get(f"voxel_resolution_{a}") for a in "xyz"]
    ensure(all(isinstance(r, (int, float)) and r > 0 for r in res),
           f"voxel_resolution_x/y/z {res!r}")
    schemas = s.client.materialize.get_view_schemas()
    ensure(schemas.get(VIEW) == schema, "get_view_schemas disagrees with get_view_schema")


@check("materialize.query_view")
def _(s):
    schema = need(s, "view_schema")
    df = s.client.materialize.query_view(VIEW, split_positions=True)
    ensure(len(df) > 0, "no rows")
    expected = set()
    for name, spec in schema.items():
        expected |= ({f"{name}_{a}" for a in "xyz"} if spec["type"] == "SpatialPoint" else {name})
    ensure(set(df.columns) == expected,
           f"columns {sorted(df.columns)} != schema {sorted(expected)}")
    value = df["cell_type"].dropna().iloc[0]
    some = s.client.materialize.query_view(VIEW, filter_equal_dict={"cell_type": value}, limit=10)
    ensure(len(some) > 0 and (some["cell_type"] == value).all(), f"view filter on {value!r} failed")
    ensure(len(some) <= 10, f"limit=10 gave {len(some)} rows")


@check("materialize.views manager")
def _(s):
    views = s.client.materialize.views
    ensure(VIEW in views.table_names, f"{VIEW!r} not in {views.table_names}")
    df = getattr(views, VIEW)().query(limit=5)
    ensure(len(df) == 5, f"{len(df)} rows")


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


# --------------------------------------------------------------------------------------
# auth
# --------------------------------------------------------------------------------------


@check("auth.get_user_information")
def _(s):
    users = s.client.auth.get_user_information([1])
    ensure(isinstance(users, list) and len(users) == 1, f"expected one user, got {users!r}")
    ensure(users[0]["id"] == 1, f"id {users[0].get('id')!r}")
    ensure(isinstance(users[0].get("name"), str) and users[0]["name"],
           f"name {users[0].get('name')!r}")


@check("auth.get_tokens")
def _(s):
    tokens = s.client.auth.get_tokens()
    ensure(isinstance(tokens, list) and tokens,
           f"expected a non-empty list, got {type(tokens).__name__}")
    ensure(all("id" in t and "user_id" in t for t in tokens), "token records lack id/user_id")
    ensure(any(t.get("token") == s.token for t in tokens), "the client's own token is not listed")


# --------------------------------------------------------------------------------------
# chunkedgraph
# --------------------------------------------------------------------------------------


@check("chunkedgraph.get_roots")
def _(s):
    syn, latest_ts = need(s, "syn", "latest_ts")
    sample = syn.drop_duplicates("pre_pt_root_id").head(200)
    svids = sample["pre_pt_supervoxel_id"].to_numpy(np.uint64)
    cg = s.client.chunkedgraph
    # At the version's time the chunkedgraph must agree with the materialized root ids.
    roots = cg.get_roots(svids, timestamp=latest_ts)
    ensure(len(roots) == len(svids), f"{len(roots)} roots for {len(svids)} supervoxels")
    ensure(np.array_equal(np.asarray(roots, np.int64), sample["pre_pt_root_id"].to_numpy(np.int64)),
           "roots at the version timestamp differ from the table's root ids")
    now_roots = np.asarray(cg.get_roots(svids), np.int64)
    ensure((now_roots > 0).all(), "some supervoxels have no root now")
    old_roots = np.asarray(cg.get_roots(svids, timestamp=need(s, "old_ts")), np.int64)
    s.sample_svids = svids
    s.now_roots = now_roots
    s.old_roots = old_roots
    changed = np.flatnonzero(old_roots != now_roots)
    ensure(len(changed) > 0, "no root in the sample changed between the old version and now")
    s.changed_pairs = [(int(old_roots[i]), int(now_roots[i])) for i in changed[:12]]
    s.changed_sv = int(svids[changed[0]])
    s.changed_old = int(old_roots[changed[0]])
    s.changed_new = int(now_roots[changed[0]])


@check("chunkedgraph.get_root_id")
def _(s):
    svids, now_roots, old_roots, old_ts = need(
        s, "sample_svids", "now_roots", "old_roots", "old_ts"
    )
    cg = s.client.chunkedgraph
    ensure(int(cg.get_root_id(int(svids[0]))) == int(now_roots[0]),
           "root now differs from get_roots")
    ensure(int(cg.get_root_id(int(svids[0]), timestamp=old_ts)) == int(old_roots[0]),
           "root at the old version differs from get_roots")


@check("chunkedgraph.is_latest_roots")
def _(s):
    now_roots, old, new = need(s, "now_roots", "changed_old", "changed_new")
    cg = s.client.chunkedgraph
    flags = cg.is_latest_roots(now_roots)
    ensure(len(flags) == len(now_roots) and bool(np.all(flags)),
           "current roots not reported latest")
    pair = cg.is_latest_roots([old, new])
    ensure(list(map(bool, pair)) == [False, True], f"is_latest_roots([old, new]) = {list(pair)}")
    ensure(bool(cg.is_latest_roots([old], timestamp=need(s, "old_ts"))[0]),
           "the old root is not latest at the old version's time")


@check("chunkedgraph.get_root_timestamps")
def _(s):
    old, new, old_ts = need(s, "changed_old", "changed_new", "old_ts")
    cg = s.client.chunkedgraph
    now = dt.datetime.now(dt.timezone.utc)
    created = cg.get_root_timestamps([old, new])
    ensure(len(created) == 2 and all(isinstance(t, dt.datetime) for t in created), f"{created!r}")
    ensure(created[0] <= old_ts, f"old root created {created[0]} after the old version {old_ts}")
    ensure(created[0] < created[1] <= now, f"creation order {created[0]}, {created[1]}")
    retired = cg.get_root_timestamps([old], latest=True)
    ensure(created[0] < retired[0] <= created[1] + dt.timedelta(seconds=1),
           f"old root retired at {retired[0]}, created {created[0]}, successor {created[1]}")


@check("chunkedgraph.get_past_ids")
def _(s):
    new, old, old_ts = need(s, "changed_new", "changed_old", "old_ts")
    r = s.client.chunkedgraph.get_past_ids([new], timestamp_past=old_ts)
    ensure(set(r) >= {"past_id_map", "future_id_map"}, f"keys {sorted(r)}")
    ensure(new in r["past_id_map"], f"{new} not a key of past_id_map {list(r['past_id_map'])[:5]}")
    ensure(old in r["past_id_map"][new],
           f"old root {old} not among past ids {r['past_id_map'][new]}")
    # future_id_map keeps a past root only when its way to now is unambiguous (no split on
    # it, one sink; reference §4.5): check that against the lineage of every changed root.
    cg = s.client.chunkedgraph
    pairs = need(s, "changed_pairs")
    got = cg.get_past_ids(sorted({n for _, n in pairs}), timestamp_past=old_ts)
    forward, ambiguous = 0, 0
    for o, n in pairs:
        ensure(o in got["past_id_map"][n], f"old root {o} not among past ids of {n}")
        now = dt.datetime.now(dt.timezone.utc)  # past = now: from `o` forwards only
        links = cg.get_lineage_graph(o, timestamp_past=now, timestamp_future=now)["links"]
        out = pd.Series([link["source"] for link in links]).value_counts()
        sinks = {link["target"] for link in links} - {link["source"] for link in links}
        if (out > 1).any() or len(sinks) != 1:  # a split on the way: ambiguous, left out
            ensure(o not in got["future_id_map"], f"{o} has a split after it, yet is mapped")
            ambiguous += 1
        else:
            ensure(got["future_id_map"].get(o) == n,
                   f"future_id_map[{o}] = {got['future_id_map'].get(o)}, expected {n}")
            forward += 1
    ensure(forward > 0, f"no changed root with an unambiguous history among {len(pairs)} "
                        f"({ambiguous} split on the way)")


@check("chunkedgraph.get_lineage_graph")
def _(s):
    new, old, old_ts = need(s, "changed_new", "changed_old", "old_ts")
    cg = s.client.chunkedgraph
    graph = cg.get_lineage_graph(new, timestamp_past=old_ts)
    ensure(isinstance(graph, dict) and "nodes" in graph and "links" in graph,
           f"graph keys {list(graph)}")
    ids = {int(n["id"]) for n in graph["nodes"]}
    ensure(new in ids and old in ids, f"lineage of {new} lacks it or {old}")
    # Edges run from retired roots to their successors: there must be a path old -> new.
    succ: dict[int, set[int]] = {}
    for link in graph["links"]:
        succ.setdefault(int(link["source"]), set()).add(int(link["target"]))
    seen, todo = {old}, [old]
    while todo:
        for nxt in succ.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    ensure(new in seen, f"no path {old} -> {new} along the lineage links")
    nxg = cg.get_lineage_graph(new, timestamp_past=old_ts, as_nx_graph=True)
    ensure(nxg.is_directed() and nxg.has_node(new) and nxg.has_node(old),
           "the networkx form of the graph lacks the roots")
    ensure(nxg.number_of_edges() == len(graph["links"]), "the networkx form lost edges")


@check("chunkedgraph.get_latest_roots")
def _(s):
    old, new = need(s, "changed_old", "changed_new")
    latest = [int(r) for r in s.client.chunkedgraph.get_latest_roots(old)]
    ensure(new in latest, f"{new} not among latest roots {latest} of {old}")
    ensure(bool(np.all(s.client.chunkedgraph.is_latest_roots(latest))),
           "a 'latest' root is not latest")


@check("chunkedgraph.get_delta_roots")
def _(s):
    old, new, old_ts = need(s, "changed_old", "changed_new", "old_ts")
    gone, born = s.client.chunkedgraph.get_delta_roots(old_ts)
    gone, born = {int(i) for i in gone}, {int(i) for i in born}
    ensure(old in gone, f"{old} not among the {len(gone)} retired roots")
    ensure(new in born, f"{new} not among the {len(born)} new roots")
    ensure(not (gone & born), f"ids both retired and new: {sorted(gone & born)[:5]}")
    # A window that ends at the old version holds neither the old root's retirement nor
    # the new root's creation.
    older_gone, older_born = s.client.chunkedgraph.get_delta_roots(
        old_ts - dt.timedelta(days=1), old_ts
    )
    ensure(old not in {int(i) for i in older_gone}, f"{old} retired before {old_ts}")
    ensure(new not in {int(i) for i in older_born}, f"{new} created before {old_ts}")


@check("chunkedgraph.get_leaves")
def _(s):
    sv, new = need(s, "changed_sv", "changed_new")
    leaves = [int(x) for x in s.client.chunkedgraph.get_leaves(new)]
    ensure(sv in leaves, f"supervoxel {sv} not among the {len(leaves)} leaves of {new}")


@check("chunkedgraph.get_oldest_timestamp / base_resolution")
def _(s):
    old_ts = need(s, "old_ts")
    cg = s.client.chunkedgraph
    oldest = cg.get_oldest_timestamp()
    ensure(isinstance(oldest, dt.datetime), f"oldest timestamp {oldest!r}")
    ensure(as_utc(oldest) <= old_ts, f"oldest timestamp {oldest} after version time {old_ts}")
    res = cg.base_resolution
    ensure(len(res) == 3 and all(r > 0 for r in res), f"base_resolution {res!r}")


# --- every other ChunkedGraphClient read, checked against the data ----------------------


def _reachable(links, start: int) -> set[int]:
    succ: dict[int, set[int]] = {}
    for a, b in links:
        succ.setdefault(int(a), set()).add(int(b))
        succ.setdefault(int(b), set()).add(int(a))
    seen, todo = {start}, [start]
    while todo:
        for nxt in succ.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


@check("chunkedgraph metadata (segmentation_info, cloudvolume_path, timestamp)")
def _(s):
    cg = s.client.chunkedgraph
    info = cg.segmentation_info
    ensure(info["graph"]["n_layers"] >= 3, f"n_layers {info['graph'].get('n_layers')}")
    ensure(list(cg.base_resolution) == list(info["scales"][0]["resolution"]),
           "base_resolution is not the first scale's resolution")
    ensure(cg.cloudvolume_path.startswith("graphene://")
           and cg.cloudvolume_path.rstrip("/").endswith(cg.table_name),
           f"cloudvolume_path {cg.cloudvolume_path!r}")
    ensure(cg.default_url_mapping["table_id"] == cg.table_name, "default_url_mapping table_id")
    s.n_layers = int(info["graph"]["n_layers"])


@check("chunkedgraph.get_root_id(level2) / get_roots(stop_layer=2) / get_children")
def _(s):
    sv, new, n_layers = need(s, "changed_sv", "changed_new", "n_layers")
    cg = s.client.chunkedgraph
    l2 = int(cg.get_root_id(sv, level2=True))
    ensure(l2 >> 56 == 2, f"{l2} is not a level-2 id")
    ensure(int(cg.get_roots([sv], stop_layer=2)[0]) == l2, "get_roots(stop_layer=2) differs")
    ensure(sv in [int(c) for c in cg.get_children(l2)], f"{sv} not a child of its L2 {l2}")
    l2s = [int(x) for x in cg.get_leaves(new, stop_layer=2)]
    ensure(l2 in l2s, f"L2 {l2} not among the {len(l2s)} L2 leaves of {new}")
    ensure(all(x >> 56 == 2 for x in l2s), "get_leaves(stop_layer=2) returned non-L2 ids")
    children = [int(c) for c in cg.get_children(new)]
    ensure(children and all(1 < c >> 56 < n_layers for c in children),
           f"children layers {[c >> 56 for c in children]}")
    s.l2s = l2s
    s.root_children = children
    s.root_leaves = sorted(int(x) for x in cg.get_leaves(new))


@check("chunkedgraph.get_leaves_many")
def _(s):
    new, children, leaves = need(s, "changed_new", "root_children", "root_leaves")
    cg = s.client.chunkedgraph
    many = cg.get_leaves_many(children)
    ensure(sorted(map(int, many)) == sorted(children), "keys are not the nodes asked for")
    union = sorted(int(x) for v in many.values() for x in v)
    ensure(union == leaves, f"the children's leaves ({len(union)}) are not the root's "
                            f"({len(leaves)})")
    l2_many = cg.get_leaves_many([new], stop_layer=2)
    ensure(sorted(int(x) for x in l2_many[new]) == sorted(need(s, "l2s")),
           "get_leaves_many(stop_layer=2) differs from get_leaves(stop_layer=2)")


@check("chunkedgraph.get_minimal_covering_nodes")
def _(s):
    new, leaves = need(s, "changed_new", "root_leaves")
    cg = s.client.chunkedgraph
    cover = [int(x) for x in cg.get_minimal_covering_nodes(leaves)]
    ensure(cover, "no covering nodes")
    ensure({int(r) for r in cg.get_roots(cover)} == {new}, "covering nodes of another root")
    covered = sorted(int(x) for v in cg.get_leaves_many(cover).values() for x in v)
    ensure(covered == leaves, f"covering nodes {cover} (layers {[c >> 56 for c in cover]}) of "
                              f"root {new} cover {len(covered)} leaves, not its {len(leaves)}")
    half = leaves[: max(1, len(leaves) // 2)]
    part = [int(x) for x in cg.get_minimal_covering_nodes(half)]
    covered = sorted(int(x) for v in cg.get_leaves_many(part).values() for x in v)
    ensure(covered == sorted(half), "covering nodes of half the leaves cover something else")


@check("chunkedgraph.is_valid_nodes")
def _(s):
    new, old, l2s, old_ts = need(s, "changed_new", "changed_old", "l2s", "old_ts")
    cg = s.client.chunkedgraph
    got = list(map(bool, cg.is_valid_nodes([new, old, l2s[0]])))
    ensure(got == [True, True, True], f"is_valid_nodes([new, old, l2]) = {got}")
    fake = (new >> 56 << 56) + ((1 << 56) - 1)  # the last segment id of the root layer
    ensure(not bool(cg.is_valid_nodes([fake])[0]), f"made-up id {fake} reported valid")
    born = cg.get_root_timestamps([new])[0]
    before = list(map(bool, cg.is_valid_nodes([new, old], end_timestamp=born
                                               - dt.timedelta(seconds=1))))
    ensure(before == [False, True], f"valid before {new} was created: {before}")


@check("chunkedgraph.get_original_roots / suggest_latest_roots")
def _(s):
    new, old = need(s, "changed_new", "changed_old")
    cg = s.client.chunkedgraph
    originals = [int(x) for x in cg.get_original_roots(new)]
    graph = cg.get_lineage_graph(new)
    nodes = {int(n["id"]) for n in graph["nodes"]}
    targets = {int(link["target"]) for link in graph["links"]}
    ensure(originals and set(originals) <= nodes, "original roots not in the lineage graph")
    ensure(set(originals) == {n for n in nodes if n not in targets},
           "original roots are not the lineage graph's sources")
    ensure(old in nodes, f"{old} not in the lineage of {new}")
    born = cg.get_root_timestamps([new])[0]
    ensure(all(t <= born for t in cg.get_root_timestamps(originals)),
           "an original root is younger than the root")
    # caveclient compares the nodes at layer n_layers - 4; a root whose hierarchy skips that
    # layer (PCG's skip connections: a node alone in its chunk waits for a higher layer) has
    # none there and caveclient fails with IndexError, on a real server too. Take a changed
    # root that has nodes there; if none has, ask at layer 2, which every root has.
    n_layers = need(s, "n_layers")
    default_layer = max(1, n_layers - 4)
    olds = [o for o, _ in need(s, "changed_pairs")]
    usable = [o for o in olds if len(cg.get_leaves(o, stop_layer=default_layer))]
    old, stop = (usable[0], None) if usable else (old, 2)
    latest = [int(x) for x in cg.get_latest_roots(old)]
    suggested = int(cg.suggest_latest_roots(old, stop_layer=stop))
    ensure(suggested in latest, f"suggested {suggested} not among latest {latest}")
    ids, fractions = cg.suggest_latest_roots(old, stop_layer=stop, return_all=True,
                                             return_fraction_overlap=True)
    # caveclient takes get_roots of the old root's nodes at layer n_layers - 4. As in PCG, an
    # edit replaces the nodes on its way to the root and the replaced ones keep their parent
    # pointers, so they still reach the root they last belonged to: the old root itself or a
    # root in between. Every other node reaches a latest root.
    between = {int(n["id"]) for n in cg.get_lineage_graph(old)["nodes"]}
    ensure(set(map(int, ids)) <= set(latest) | between,
           f"suggested {list(ids)} neither latest ({latest}) nor in the lineage of {old}")
    fractions = list(map(float, fractions))
    ensure(fractions == sorted(fractions, reverse=True) and abs(sum(fractions) - 1) < 1e-9,
           f"fractions {fractions}")
    ensure(int(ids[0]) == suggested, "the first of return_all is not the suggestion")
    ensure(int(cg.suggest_latest_roots(new, stop_layer=2)) == new,
           "a latest root does not suggest itself")
    # The demo's neurons reach the default layer: the default path must have been taken.
    ensure(usable, f"no changed root in the sample has nodes at layer {default_layer}")


@check("chunkedgraph change logs (change_log, tabular, merge_log, operation_details)")
def _(s):
    new = need(s, "changed_new")
    cg = s.client.chunkedgraph
    log = cg.get_change_log(new)
    ops = [int(o) for o in log["operations_ids"]]
    ensure(ops and log["n_mergers"] + log["n_splits"] == len(ops),
           f"{log['n_mergers']} merges + {log['n_splits']} splits != {len(ops)} operations")
    nodes = {int(n["id"]) for n in cg.get_lineage_graph(new)["nodes"]}
    ensure(set(map(int, log["past_ids"])) <= nodes, "past_ids not in the lineage graph")
    table = cg.get_tabular_change_log([new])[new]
    ensure(sorted(map(int, table["operation_id"])) == sorted(ops),
           "tabular change log operations differ from the change log")
    ensure(int(table["is_merge"].sum()) == log["n_mergers"], "tabular is_merge count")
    details = cg.get_operation_details(ops)
    ensure(set(details) == {str(o) for o in ops}, "operation_details keys")
    for op, row in zip(table["operation_id"], table.itertuples()):
        d = details[str(int(op))]
        ensure(("added_edges" in d) == bool(row.is_merge),
               f"operation {op}: details and tabular log disagree on merge/split")
    merges = cg.get_merge_log(new)
    ensure(len(merges["merge_edges"]) == log["n_mergers"], "merge_log edges != n_mergers")
    s.change_ops = ops


@check("chunkedgraph.get_user_operations")
def _(s):
    ops, new = need(s, "change_ops", "changed_new")
    cg = s.client.chunkedgraph
    details = cg.get_operation_details(ops)
    users = sorted({str(d["user"]) for d in details.values()})
    ensure(users, "operation details name no user")
    found: set[int] = set()
    for user in users:
        # PCG answers 400 without end_time, and caveclient sends none unless given one
        # (reference chunkedgraph-l2cache-wire.md §2.3): pass it.
        frame = cg.get_user_operations(int(user), cg.get_oldest_timestamp(),
                                       timestamp_end=dt.datetime.now(dt.timezone.utc))
        ensure({"operation_id", "timestamp"} <= set(frame.columns),
               f"columns {list(frame.columns)}")
        mine = {int(o) for o, d in details.items() if str(d["user"]) == user}
        got = set(map(int, frame["operation_id"]))
        ensure(mine <= got, f"user {user}: operations {sorted(mine - got)} missing")
        found |= got
    ensure(set(ops) <= found, "operations of the change log missing from the user operations")


@check("chunkedgraph.level2_chunk_graph")
def _(s):
    new, l2s = need(s, "changed_new", "l2s")
    edges = s.client.chunkedgraph.level2_chunk_graph(new)
    nodes = {int(a) for e in edges for a in e}
    if len(l2s) > 1:
        ensure(nodes == set(l2s), f"graph nodes ({len(nodes)}) != L2 leaves ({len(l2s)})")
        ensure(_reachable(edges, l2s[0]) == set(l2s), "the L2 graph is not connected")
    s.l2_edges = [(int(a), int(b)) for a, b in edges]


@check("chunkedgraph.get_subgraph / get_contact_sites")
def _(s):
    new, leaves = need(s, "changed_new", "root_leaves")
    cg = s.client.chunkedgraph
    scale = cg.segmentation_info["scales"][0]
    lo = np.asarray(scale["voxel_offset"])
    bounds = np.stack([lo, lo + np.asarray(scale["size"])], axis=1)
    nodes, affinities, areas = cg.get_subgraph(new, bounds)
    ensure(len(nodes) == len(affinities) == len(areas), "subgraph arrays of unequal length")
    ensure(set(np.asarray(nodes).ravel().tolist()) <= set(leaves),
           "subgraph edges between supervoxels outside the root")
    sites = cg.get_contact_sites(new, bounds, calc_partners=True)
    ensure(all(isinstance(k, int) for k in sites), "contact site keys are not ints")
    ensure(new not in sites, "the root is its own contact partner")


@check("l2cache.table_mapping / has_cache / attributes")
def _(s):
    l2c = s.client.l2cache
    ensure(l2c.has_cache(), "has_cache() is False")
    ensure(s.client.chunkedgraph.table_name in l2c.table_mapping(), "table not in table_mapping")
    meta = l2c.cache_metadata()
    ensure(list(l2c.attributes) == list(meta), "attributes != cache_metadata keys")
    ensure({"rep_coord_nm", "size_nm3", "area_nm2"} <= set(meta), f"attributes {list(meta)}")


@check("l2cache.get_l2data / get_l2data_table")
def _(s):
    l2s, n_layers = need(s, "l2s", "n_layers")
    cg, l2c = s.client.chunkedgraph, s.client.l2cache
    data = l2c.get_l2data(l2s)
    ensure(set(data) == {str(x) for x in l2s}, "not one key per L2 id")
    info = cg.segmentation_info
    scale = info["scales"][0]
    res = np.asarray(scale["resolution"], float)
    offset = np.asarray(scale["voxel_offset"], float)
    chunk = np.asarray(info["graph"]["chunk_size"], float)
    bits = int(info["graph"]["spatial_bit_masks"]["2"])
    mask = (1 << bits) - 1
    for key, row in data.items():
        ensure(row, f"no cache entry for L2 {key}")
        l2 = int(key)
        c = np.array([(l2 >> (56 - bits * (i + 1))) & mask for i in range(3)], float)
        box_lo, box_hi = (offset + c * chunk) * res, (offset + (c + 1) * chunk) * res
        p = np.asarray(row["rep_coord_nm"], float)
        ensure(((p >= box_lo) & (p <= box_hi)).all(),
               f"L2 {l2}: rep_coord_nm {p.tolist()} outside its chunk box")
        ensure(row["size_nm3"] > 0 and row["area_nm2"] > 0, f"L2 {l2}: empty size/area")
    only = l2c.get_l2data(l2s[:3], attributes=["rep_coord_nm"])
    ensure(all(set(v) == {"rep_coord_nm"} for v in only.values()), "attributes= not honoured")
    table = l2c.get_l2data_table(l2s)
    ensure(sorted(map(int, table.index)) == sorted(l2s), "table index != L2 ids")
    for l2 in l2s[:20]:
        row = table.loc[l2]
        ensure(np.allclose([row["rep_coord_nm_x"], row["rep_coord_nm_y"], row["rep_coord_nm_z"]],
                           data[str(l2)]["rep_coord_nm"]), f"table and dict differ for {l2}")
    ensure(float(table["size_nm3"].sum()) == float(sum(v["size_nm3"] for v in data.values())),
           "volumes differ between the table and the dict")
    s.l2data = data


@check("chunkedgraph.find_path")
def _(s):
    new, l2s, data, edges = need(s, "changed_new", "l2s", "l2data", "l2_edges")
    ensure(len(l2s) > 2, f"root {new} has only {len(l2s)} L2 nodes")
    pts = np.array([data[str(x)]["rep_coord_nm"] for x in l2s], float)
    far = int(np.argmax(np.linalg.norm(pts - pts[0], axis=1)))
    centroids, path, failed = s.client.chunkedgraph.find_path(new, pts[0], pts[far])
    path = [int(x) for x in path]
    ensure(path and set(path) <= set(l2s), "path leaves the root's L2 nodes")
    ensure(len(centroids) == len(path), f"{len(centroids)} centroids for {len(path)} steps")
    adjacent = {frozenset(e) for e in edges}
    ensure(all(frozenset(p) in adjacent for p in zip(path, path[1:])),
           "consecutive path nodes are not L2 graph neighbours")
    ensure({path[0], path[-1]} == {l2s[0], l2s[far]}, "the path does not join the two points")
    ensure(len(failed) == 0, f"failed L2 ids {list(failed)}")


@check("CAVEclient(version=old)")
def _(s):
    from caveclient import CAVEclient

    old, old_ts, old_root = need(s, "old_version", "old_ts", "changed_old")
    client = CAVEclient(s.datastack, server_address=s.url, auth_token=s.token,
                        write_server_cache=False, version=old)
    ensure(client.version == old and client.materialize.version == old,
           f"versions {client.version}, {client.materialize.version}")
    ensure(client.timestamp == old_ts, f"timestamp {client.timestamp} != {old_ts}")
    ensure(client.chunkedgraph.timestamp == old_ts, "chunkedgraph does not use the version time")
    df = client.materialize.query_table(
        SYNAPSES, filter_equal_dict={"pre_pt_root_id": old_root}, split_positions=True
    )
    ensure(len(df) > 0, f"no rows for root {old_root} at version {old}")
    ensure(df.attrs["materialization_version"] == old,
           f"attrs materialization_version {df.attrs['materialization_version']}")
    roots = client.chunkedgraph.get_roots(df["pre_pt_supervoxel_id"].to_numpy(np.uint64))
    ensure((np.asarray(roots, np.int64) == old_root).all(),
           f"version {old} root ids disagree with the chunkedgraph at the version time")
    s.old_rows = df


@check("live_live_query(past timestamp)")
def _(s):
    sv, old_ts = need(s, "changed_sv", "old_ts")
    cg = s.client.chunkedgraph
    when = old_ts + dt.timedelta(hours=1)
    root = int(cg.get_roots([sv], timestamp=when)[0])
    df = s.client.materialize.live_live_query(
        SYNAPSES, when, filter_in_dict={SYNAPSES: {"pre_pt_root_id": [root]}}, split_positions=True
    )
    ensure(len(df) > 0, f"no rows for root {root} at {when}")
    ensure((df["pre_pt_root_id"].astype("int64") == root).all(), "rows outside the root filter")
    roots = cg.get_roots(df["pre_pt_supervoxel_id"].to_numpy(np.uint64), timestamp=when)
    ensure((np.asarray(roots, np.int64) == root).all(),
           "returned root ids are not the supervoxels' roots at the query time")
    s.past_live = (when, root, df)


@check("live_live_query rejects a root that is not current")
def _(s):
    old = need(s, "changed_old")
    status, message = http_status(lambda: s.client.materialize.live_live_query(
        SYNAPSES, dt.datetime.now(dt.timezone.utc),
        filter_in_dict={SYNAPSES: {"pre_pt_root_id": [old]}},
    ))
    ensure(400 <= status < 500, f"status {status}: {message}")
    ensure(str(old) in message, f"the error does not name root {old}: {message}")


@check("query_table(timestamp=past) matches live_live_query")
def _(s):
    when, root, live = need(s, "past_live")
    df = s.client.materialize.query_table(
        SYNAPSES, filter_in_dict={"pre_pt_root_id": [root]}, timestamp=when, split_positions=True
    )
    ensure(len(df) > 0, f"no rows for root {root} at {when}")
    ensure((df["pre_pt_root_id"].astype("int64") == root).all(), "rows outside the root filter")
    ensure(sorted(ids_of(df)) == sorted(ids_of(live)),
           f"client-side live query gave {len(df)} rows, server-side {len(live)}")


# --------------------------------------------------------------------------------------
# chunkedgraph edits: only against a server of their own (--edit-url), never the read one
# --------------------------------------------------------------------------------------

EDIT_TOKEN_ENV = "CAVE_DEMO_EDIT_TOKEN"


@check("edit: construct a client on the edit server")
def _(s):
    from caveclient import CAVEclient

    s.editor = CAVEclient(s.datastack, server_address=s.edit_url, auth_token=s.edit_token,
                          write_server_cache=False)
    syn = s.editor.materialize.query_table(SYNAPSES, split_positions=False)
    res = np.asarray(syn.attrs.get("dataframe_resolution", (4, 4, 40)), float)
    svs = syn["pre_pt_supervoxel_id"].to_numpy(np.uint64)
    roots = np.asarray(s.editor.chunkedgraph.get_roots(svs), np.int64)
    s.edit_points = (svs, np.stack(syn["pre_pt_position"].to_numpy()).astype(float), roots, res)


@check("edit: preview_split / execute_split")
def _(s):
    cg = s.editor.chunkedgraph
    svs, pos, roots, res = need(s, "edit_points")
    values, counts = np.unique(roots, return_counts=True)
    root = int(values[np.argmax(counts)])
    mine = np.flatnonzero(roots == root)
    far = np.linalg.norm((pos[mine] - pos[mine[0]]) * res, axis=1)
    a, b = int(mine[0]), int(mine[np.argmax(far)])
    src, snk = [pos[a] * res], [pos[b] * res]
    cc0, cc1, ok = cg.preview_split(src, snk, root, [int(svs[a])], [int(svs[b])])
    ensure(ok and int(svs[a]) in cc0 and int(svs[b]) in cc1, "preview does not separate them")
    op, new_roots = cg.execute_split(src, snk, root, [int(svs[a])], [int(svs[b])])
    new_roots = [int(r) for r in new_roots]
    got = [int(r) for r in cg.get_roots([svs[a], svs[b]])]
    ensure(len(new_roots) >= 2 and got[0] != got[1] and set(got) <= set(new_roots),
           f"roots after the split {got}, new roots {new_roots}")
    ensure(list(map(bool, cg.is_latest_roots([root] + new_roots))) ==
           [False] + [True] * len(new_roots), "is_latest_roots after the split")
    # the preview's components are the new roots' leaves (among those it listed)
    leaves = {int(x) for x in cg.get_leaves(got[0])}
    ensure(set(map(int, cc0)) <= leaves, "the source side's supervoxels are not one new root")
    ensure(str(op) in cg.get_operation_details([op]), "operation details lack the split")
    log = cg.get_change_log(got[0])
    ensure(op in [int(o) for o in log["operations_ids"]], "the split is not in the change log")
    s.split = (op, root, new_roots)


@check("edit: undo_operation (split)")
def _(s):
    op, root, new_roots = need(s, "split")
    cg = s.editor.chunkedgraph
    undone = cg.undo_operation(op)
    restored = [int(r) for r in undone["new_root_ids"]]
    ensure(len(restored) == 1, f"undoing a split gave {restored}")
    ensure(not any(cg.is_latest_roots(new_roots)), "the split's roots are still latest")
    ensure(sorted(int(x) for x in cg.get_leaves(restored[0])) ==
           sorted(int(x) for x in cg.get_leaves(root)), "the undo did not restore the leaves")


@check("edit: do_merge / remesh_level2_chunks")
def _(s):
    cg = s.editor.chunkedgraph
    svs, pos, _, res = need(s, "edit_points")
    roots = np.asarray(cg.get_roots(svs), np.int64)  # after the split and its undo
    chunk = np.asarray(cg.segmentation_info["graph"]["chunk_size"], float)
    vox = pos * res / np.asarray(cg.base_resolution, float) // chunk
    for i in range(len(svs)):
        others = np.flatnonzero((np.abs(vox - vox[i]).max(axis=1) <= 2) & (roots != roots[i]))
        if len(others):
            j = int(others[0])
            break
    else:
        raise CheckFailed("no two nearby objects to merge")
    before = {int(roots[i]), int(roots[j])}
    leaves = sorted(int(x) for r in before for x in cg.get_leaves(r))
    result = cg.do_merge([int(svs[i]), int(svs[j])], [pos[i], pos[j]], resolution=res)
    merged = [int(r) for r in result["new_root_ids"]]
    ensure(len(merged) == 1, f"a merge made {merged}")
    ensure([int(r) for r in cg.get_roots([svs[i], svs[j]])] == merged * 2, "roots after merge")
    ensure(sorted(int(x) for x in cg.get_leaves(merged[0])) == leaves,
           "the merged root's leaves are not the union of the two")
    links = {(int(e["source"]), int(e["target"]))
             for e in cg.get_lineage_graph(merged[0])["links"]}
    ensure(links >= {(r, merged[0]) for r in before}, "lineage lacks the merge")
    l2 = [int(x) for x in cg.get_leaves(merged[0], stop_layer=2)[:3]]
    ensure(cg.remesh_level2_chunks(l2) is None, "remesh returned something")



def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="server address, e.g. http://127.0.0.1:8000")
    parser.add_argument("--datastack", required=True, help="datastack name, e.g. demo_local")
    parser.add_argument("--edit-url", default=None,
                        help="a second server the edit checks may change (its token in "
                             f"{EDIT_TOKEN_ENV}); without it they do not run")
    parser.add_argument("--only", action="append", default=[],
                        help="run only checks whose name contains this text (repeatable)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print tracebacks of failures")
    args = parser.parse_args(argv)
    token = os.environ.get(TOKEN_ENV)
    if not token:
        print(f"set {TOKEN_ENV} to the token to use (it is not accepted on the command line)",
              file=sys.stderr)
        return 2

    import caveclient

    print(f"caveclient {caveclient.__version__}, pandas {pd.__version__}, numpy {np.__version__}",
          flush=True)
    edit_token = os.environ.get(EDIT_TOKEN_ENV)
    if args.edit_url and not edit_token:
        print(f"--edit-url needs {EDIT_TOKEN_ENV}", file=sys.stderr)
        return 2
    s = State(url=args.url.rstrip("/"), datastack=args.datastack, token=token,
              edit_url=(args.edit_url or "").rstrip("/") or None, edit_token=edit_token)
    passed = failed = 0
    for name, fn in CHECKS:
        if args.only and name != "construct_client" and not any(o in name for o in args.only):
            continue
        if name.startswith("edit:") and not s.edit_url:
            continue
        started = time.perf_counter()
        try:
            fn(s)
        except Exception as exc:
            failed += 1
            reason = " ".join(f"{type(exc).__name__}: {exc}".split())
            for secret in filter(None, (token, edit_token)):
                reason = reason.replace(secret, "<token>")
            print(f"FAIL {name}: {reason[:2000]}", flush=True)
            if args.verbose:
                trace = traceback.format_exc()
                for secret in filter(None, (token, edit_token)):
                    trace = trace.replace(secret, "<token>")
                print(trace, flush=True)
        else:
            passed += 1
            print(f"PASS {name} ({time.perf_counter() - started:.2f} s)", flush=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
