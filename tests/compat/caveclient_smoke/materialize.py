"""Materialization: versions, tables, metadata and query_table with every option."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pandas as pd

from .checks import (
    CELL_TYPES,
    EXPIRED_VERSION,
    NUCLEI,
    REFERENCE,
    SYNAPSES,
    check,
    ensure,
    ids_of,
    is_int_dtype,
    need,
)

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
