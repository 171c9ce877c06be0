"""Materialization queries over real HTTP: every filter kind, column selection, paging,
resolution scaling, count, random samples, JSON output, the Arrow encoding and the response
headers caveclient reads, joins and views.

Expectations are computed independently: fetch a whole (small) table once, then filter it
with pandas and compare with what the server returns for the same filter.
"""

from __future__ import annotations

import ast

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from helpers.server_http import LATEST, as_user, frame, post_query, same, table_url

from cave_widgets.server.demo import catalog

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
LZ4_FRAME_MAGIC = b"\x04\x22\x4d\x18"
LIMITED = '201 - "Limited query to {} rows'

# session, base and full come from conftest.py; full(name, version=LATEST, kind="table")
# fetches a whole table (or view) once per module.


# --- every filter kind ------------------------------------------------------------------------


def test_full_table_is_ordered_unique_and_valid_only(full):
    syn = full("synapses")
    assert len(syn) > 1000
    assert syn["id"].is_unique and syn["id"].is_monotonic_increasing
    assert syn["valid"].all()  # rows with valid=false never come back


def test_filter_in_on_root_ids(session, base, full):
    syn = full("synapses")
    roots = syn["pre_pt_root_id"].value_counts().index[:3].tolist()
    got = frame(post_query(session, table_url(base, "synapses"),
                           {"filter_in_dict": {"synapses": {"pre_pt_root_id": roots}}}))
    expected = syn[syn["pre_pt_root_id"].isin(roots)]
    assert len(expected) > 0
    same(got, expected)


@pytest.mark.parametrize("key", ["filter_notin_dict", "filter_out_dict"])
def test_filter_notin_and_its_alias(session, base, full, key):
    syn = full("synapses")
    roots = syn["post_pt_root_id"].value_counts().index[:5].tolist()
    got = frame(post_query(session, table_url(base, "synapses"),
                           {key: {"synapses": {"post_pt_root_id": roots}}}))
    expected = syn[~syn["post_pt_root_id"].isin(roots)]
    assert 0 < len(expected) < len(syn)
    same(got, expected)


def test_filter_in_with_an_empty_list_matches_nothing_and_notin_everything(session, base, full):
    url = table_url(base, "nuclei")
    assert len(frame(post_query(session, url, {"filter_in_dict": {"nuclei": {"id": []}}}))) == 0
    got = frame(post_query(session, url, {"filter_notin_dict": {"nuclei": {"id": []}}}))
    same(got, full("nuclei"))


def test_filter_equal_on_text_and_on_zero_root(session, base, full):
    ct = full("cell_types")
    got = frame(post_query(session, table_url(base, "cell_types"),
                           {"filter_equal_dict": {"cell_types": {"cell_type": "BC"}}}))
    expected = ct[ct["cell_type"] == "BC"]
    assert len(expected) > 0
    same(got, expected)
    # Nuclei outside the segmentation carry root id 0; equality on 0 finds exactly those.
    nuc = full("nuclei")
    got = frame(post_query(session, table_url(base, "nuclei"),
                           {"filter_equal_dict": {"nuclei": {"pt_root_id": 0}}}))
    expected = nuc[nuc["pt_root_id"] == 0]
    assert len(expected) > 0
    same(got, expected)


@pytest.mark.parametrize(
    "key, op",
    [
        ("filter_greater_dict", lambda s, v: s > v),
        ("filter_less_dict", lambda s, v: s < v),
        ("filter_greater_equal_dict", lambda s, v: s >= v),
        ("filter_less_equal_dict", lambda s, v: s <= v),
    ],
)
def test_comparison_filters_on_ids_include_or_exclude_the_boundary(session, base, full, key, op):
    nuc = full("nuclei")
    boundary = int(nuc["id"].iloc[len(nuc) // 2])  # an id that exists: boundary matters
    got = frame(post_query(session, table_url(base, "nuclei"),
                           {key: {"nuclei": {"id": boundary}}}))
    expected = nuc[op(nuc["id"], boundary)]
    assert 0 < len(expected) < len(nuc)
    same(got, expected)


def test_comparison_filters_on_floats_combine_with_and(session, base, full):
    syn = full("synapses")
    lo, hi = float(syn["size"].quantile(0.25)), float(syn["size"].quantile(0.6))
    body = {
        "filter_greater_dict": {"synapses": {"size": lo}},
        "filter_less_dict": {"synapses": {"size": hi}},
    }
    got = frame(post_query(session, table_url(base, "synapses"), body))
    # The server compares float32 sizes against the JSON doubles.
    size = syn["size"].astype("float64")
    expected = syn[(size > lo) & (size < hi)]
    assert 0 < len(expected) < len(syn)
    same(got, expected)


def test_spatial_bounding_box_is_inclusive_and_in_table_voxels(session, base, full):
    syn = full("synapses")
    cols = [f"ctr_pt_position_{a}" for a in "xyz"]
    lo = [int(syn[c].quantile(0.2)) for c in cols]
    hi = [int(syn[c].quantile(0.8)) for c in cols]
    body = {"filter_spatial_dict": {"synapses": {"ctr_pt_position": [lo, hi]}}}
    got = frame(post_query(session, table_url(base, "synapses"), body))
    inside = np.ones(len(syn), dtype=bool)
    for c, a, b in zip(cols, lo, hi):
        inside &= (syn[c] >= a).to_numpy() & (syn[c] <= b).to_numpy()
    expected = syn[inside]
    assert 0 < len(expected) < len(syn)
    same(got, expected)
    # The box stays in table voxels even when positions come back at another resolution.
    scaled = frame(post_query(session, table_url(base, "synapses"),
                              {**body, "desired_resolution": [8, 8, 40]}))
    assert scaled["id"].tolist() == expected["id"].tolist()
    # A box hugging one point exactly still finds it (inclusive bounds).
    row = syn.iloc[7]
    point = [int(row[c]) for c in cols]
    box = [point, [p + 1 for p in point]]
    tight = {"filter_spatial_dict": {"synapses": {"ctr_pt_position": box}}}
    ids = frame(post_query(session, table_url(base, "synapses"), tight))["id"].tolist()
    assert int(row["id"]) in ids


@pytest.mark.parametrize("pattern", ["^5P", "P-", "^(?:BC|MC)$", "p"])
def test_regex_filter_is_unanchored_and_case_sensitive(session, base, full, pattern):
    ct = full("cell_types")
    got = frame(post_query(session, table_url(base, "cell_types"),
                           {"filter_regex_dict": {"cell_types": {"cell_type": pattern}}}))
    expected = ct[ct["cell_type"].str.contains(pattern, regex=True)]
    if pattern == "p":
        # Cell types are upper case: a case-insensitive match would find some.
        assert len(expected) == 0
    else:
        assert 0 < len(expected) < len(ct)
    same(got, expected)


def test_filters_on_booleans_and_all_kinds_together(session, base, full):
    syn = full("synapses")
    roots = syn["pre_pt_root_id"].value_counts().index[:20].tolist()
    median = float(syn["size"].median())
    body = {
        "filter_in_dict": {"synapses": {"pre_pt_root_id": roots}},
        "filter_notin_dict": {"synapses": {"post_pt_root_id": roots[:3]}},
        "filter_equal_dict": {"synapses": {"valid": True}},
        "filter_greater_equal_dict": {"synapses": {"size": median}},
    }
    got = frame(post_query(session, table_url(base, "synapses"), body))
    expected = syn[syn["pre_pt_root_id"].isin(roots) & ~syn["post_pt_root_id"].isin(roots[:3])
                   & (syn["size"].astype("float64") >= median)]
    assert len(expected) > 0
    same(got, expected)


# --- columns, paging, resolution ------------------------------------------------------------


def test_select_columns_root_id_brings_its_supervoxel_and_positions_split(session, base, full):
    syn = full("synapses")
    body = {"select_columns": ["size", "pre_pt_root_id", "ctr_pt_position"], "limit": 50}
    got = frame(post_query(session, table_url(base, "synapses"), body))
    expected_cols = ["pre_pt_supervoxel_id", "pre_pt_root_id", "ctr_pt_position_x",
                     "ctr_pt_position_y", "ctr_pt_position_z", "size"]
    assert list(got.columns) == expected_cols  # table order, x/y/z adjacent
    same(got, syn[expected_cols].iloc[:50])


def test_select_columns_supervoxel_alone_does_not_pull_the_root(session, base):
    got = frame(post_query(session, table_url(base, "nuclei"),
                           {"select_columns": ["pt_supervoxel_id"], "limit": 3}))
    assert list(got.columns) == ["pt_supervoxel_id"]


def test_default_columns_follow_the_schema_with_positions_split(full):
    nuc = full("nuclei")
    assert list(nuc.columns) == [
        "id", "valid", "volume", "pt_position_x", "pt_position_y", "pt_position_z",
        "pt_supervoxel_id", "pt_root_id", "bb_start_position_x", "bb_start_position_y",
        "bb_start_position_z", "bb_end_position_x", "bb_end_position_y", "bb_end_position_z",
    ]
    # Nullable pandas dtypes, as the real server's frames have.
    assert str(nuc["pt_root_id"].dtype) == "Int64"
    assert str(nuc["pt_position_x"].dtype) == "Int32"


def test_offset_limit_paging_is_stable_and_non_overlapping(session, base, full):
    nuc = full("nuclei")
    pages, page = [], 97
    for offset in range(0, len(nuc) + page, page):
        body = {"offset": offset, "limit": page}
        first = frame(post_query(session, table_url(base, "nuclei"), body))
        again = frame(post_query(session, table_url(base, "nuclei"), body))
        same(first, again)
        pages.append(first)
    ids = pd.concat(pages)["id"]
    assert ids.is_unique
    assert ids.tolist() == nuc["id"].tolist()
    assert len(pages[-1]) == 0  # past the end: an empty frame, still with its schema
    assert list(pages[-1].columns) == list(nuc.columns)


@pytest.mark.parametrize("resolution", [[8, 8, 40], [1, 1, 1], [2.5, 4, 80]])
def test_desired_resolution_scales_positions_and_says_so(session, base, full, resolution):
    nuc = full("nuclei")
    r = post_query(session, table_url(base, "nuclei"), {"desired_resolution": resolution})
    got = frame(r)
    assert r.headers["dataframe_resolution"] == ", ".join(str(float(v)) for v in resolution)
    assert len(got) == len(nuc)
    for axis, table_res, want in zip("xyz", catalog.VOXEL_RESOLUTION, resolution):
        for col in ("pt_position", "bb_start_position", "bb_end_position"):
            name = f"{col}_{axis}"
            expected = nuc[name].to_numpy(dtype="float64") * table_res / want
            np.testing.assert_allclose(got[name].to_numpy(dtype="float64"), expected, rtol=1e-12)
    same(got[["id", "volume", "pt_root_id"]], nuc[["id", "volume", "pt_root_id"]])


def test_default_resolution_header_is_the_table_resolution(session, base):
    r = post_query(session, table_url(base, "nuclei"), {"limit": 1})
    assert r.headers["dataframe_resolution"] == "4.0, 4.0, 40.0"


# --- count, random sample, JSON ----------------------------------------------------------------


@pytest.mark.parametrize("table", ["synapses", "nuclei", "cell_types", "cell_type_ref"])
def test_count_matches_the_length_of_the_full_result(session, base, full, table):
    got = frame(post_query(session, table_url(base, table), {}, count=True))
    assert list(got.columns) == ["count"]
    assert len(got) == 1
    assert int(got["count"].iloc[0]) == len(full(table))


def test_count_with_a_filter_ignores_the_limit(session, base, full):
    ct = full("cell_types")
    body = {"filter_equal_dict": {"cell_types": {"classification_system": "inhibitory_neuron"}},
            "limit": 3}
    got = frame(post_query(session, table_url(base, "cell_types"), body, count=True))
    expected = int((ct["classification_system"] == "inhibitory_neuron").sum())
    assert expected > 3
    assert int(got["count"].iloc[0]) == expected


def test_random_sample_returns_distinct_real_rows(session, base, full):
    syn = full("synapses")
    got = frame(post_query(session, table_url(base, "synapses"), {}, random_sample=100))
    assert len(got) == 100
    assert got["id"].is_unique
    same(got, syn.set_index("id").loc[got["id"]].reset_index()[list(syn.columns)])
    # A sample at least as large as the table is the table.
    nuc = full("nuclei")
    whole = frame(post_query(session, table_url(base, "nuclei"), {}, random_sample=len(nuc) + 10))
    assert sorted(whole["id"]) == sorted(nuc["id"])


def test_json_output_equals_the_arrow_output(session, base, full):
    body = {"filter_less_dict": {"nuclei": {"id": int(full("nuclei")["id"].iloc[30])}}}
    arrow = frame(post_query(session, table_url(base, "nuclei"), body))
    r = post_query(session, table_url(base, "nuclei"), body, encoding="gzip", return_pyarrow=False,
                   arrow_format=False)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    records = r.json()
    assert isinstance(records, list) and len(records) == 30
    got = pd.DataFrame.from_records(records)
    assert list(got.columns) == list(arrow.columns)
    same(got.astype(arrow.dtypes.to_dict()), arrow)
    assert isinstance(records[0]["pt_root_id"], int) and records[0]["pt_root_id"] > 2**53


# --- encoding and headers --------------------------------------------------------------------


def test_arrow_buffers_are_zstd_compressed_when_asked_and_plain_otherwise(session, base):
    url = table_url(base, "synapses")
    body = {"limit": 2000}
    zstd = post_query(session, url, body, encoding="zstd")
    lz4 = post_query(session, url, body, encoding="lz4")
    plain = post_query(session, url, body, encoding="identity")
    for r in (zstd, lz4, plain):
        assert r.headers["Content-Type"] == "data.arrow"
        assert "Content-Encoding" not in r.headers  # compression lives inside the IPC stream
    assert ZSTD_MAGIC in zstd.content
    assert LZ4_FRAME_MAGIC in lz4.content and ZSTD_MAGIC not in lz4.content
    assert ZSTD_MAGIC not in plain.content and LZ4_FRAME_MAGIC not in plain.content
    assert len(zstd.content) < len(plain.content)
    tables = [pa.ipc.open_stream(r.content).read_all() for r in (zstd, lz4, plain)]
    assert tables[0].equals(tables[2]) and tables[1].equals(tables[2])
    assert tables[2].num_rows == 2000


def test_response_is_one_ipc_stream_with_one_batch(session, base):
    r = post_query(session, table_url(base, "nuclei"), {"limit": 40})
    reader = pa.ipc.open_stream(r.content)
    batches = list(reader)
    assert len(batches) == 1 and batches[0].num_rows == 40
    # An IPC *file* would start with ARROW1; caveclient reads a stream.
    assert not r.content.startswith(b"ARROW1")


def test_column_names_header_maps_the_selected_columns(session, base):
    r = post_query(session, table_url(base, "synapses"),
                   {"select_columns": ["post_pt_root_id", "size"], "limit": 1})
    mapping = ast.literal_eval(r.headers["column_names"])
    assert mapping == {"synapses": {"post_pt_supervoxel_id": "post_pt_supervoxel_id",
                                    "post_pt_root_id": "post_pt_root_id", "size": "size"}}


def test_limit_warning_when_the_limit_truncates(session, base, full):
    r = post_query(session, table_url(base, "nuclei"), {"limit": 10})
    assert len(frame(r)) == 10
    assert LIMITED.format(10) in r.headers["Warning"]
    r = post_query(session, table_url(base, "nuclei"), {"limit": len(full("nuclei")) + 1})
    assert "Limited query" not in r.headers.get("Warning", "")
    # caveclient 8 always sends arrow_format=True; without it the server says it is deprecated.
    assert "Warning" not in r.headers


def test_arrow_format_false_adds_a_deprecation_warning(session, base):
    r = post_query(session, table_url(base, "nuclei"), {"limit": 1000}, arrow_format=False)
    assert "arrow_format" in r.headers["Warning"]
    assert len(frame(r)) > 0  # still Arrow


def test_row_cap_truncates_and_warns(demo_server, session, base, full):
    nuc = full("nuclei")
    old = demo_server.settings.row_cap
    demo_server.settings.row_cap = 25
    try:
        r = post_query(session, table_url(base, "nuclei"), {})
        got = frame(r)
        assert LIMITED.format(25) in r.headers["Warning"]
        same(got, nuc.iloc[:25])
        # A larger explicit limit is capped too; a smaller one wins.
        r = post_query(session, table_url(base, "nuclei"), {"limit": 100})
        assert len(frame(r)) == 25 and LIMITED.format(25) in r.headers["Warning"]
        r = post_query(session, table_url(base, "nuclei"), {"limit": 5, "offset": 25})
        same(frame(r), nuc.iloc[25:30])
        assert LIMITED.format(5) in r.headers["Warning"]
        # Counting is not capped.
        r = post_query(session, table_url(base, "nuclei"), {}, count=True)
        assert int(frame(r)["count"].iloc[0]) == len(nuc)
    finally:
        demo_server.settings.row_cap = old
    r = post_query(session, table_url(base, "nuclei"), {})
    assert len(frame(r)) == len(nuc)


def test_table_owner_notice_is_a_warning_on_cell_type_ref_only(session, base):
    notice = next(t.notice_text for t in catalog.TABLES if t.name == "cell_type_ref")
    r = post_query(session, table_url(base, "cell_type_ref"), {"limit": 1000})
    assert f"Table Owner Notice on cell_type_ref: {notice}" in r.headers["Warning"]
    r = post_query(session, table_url(base, "nuclei"), {"limit": 1000})
    assert "Table Owner Notice" not in r.headers.get("Warning", "")


def test_cors_lets_local_front_ends_read_the_query_headers(session, base):
    url = table_url(base, "nuclei")
    local = "http://localhost:8888"
    pre = session.options(url, headers={"Origin": local, "Access-Control-Request-Method": "POST",
                                        "Access-Control-Request-Headers": "authorization"})
    assert pre.status_code == 200
    assert pre.headers["Access-Control-Allow-Origin"] == local
    r = session.post(url, params={"arrow_format": "True"}, json={"limit": 1},
                     headers={"Origin": local})
    assert r.headers["Access-Control-Allow-Origin"] == local
    exposed = {h.strip().lower() for h in r.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"dataframe_resolution", "column_names", "warning", "www-authenticate"} <= exposed
    foreign = session.post(url, params={"arrow_format": "True"}, json={"limit": 1},
                           headers={"Origin": "https://elsewhere.example.org"})
    assert "Access-Control-Allow-Origin" not in foreign.headers


def test_concurrent_queries_return_the_same_as_serial_ones(demo_server, base, full):
    from concurrent.futures import ThreadPoolExecutor

    nuc = full("nuclei")
    bodies = [{"offset": o, "limit": 50} for o in range(0, len(nuc), 50)] * 3

    def one(body):
        with as_user(demo_server.token) as s:
            return frame(post_query(s, table_url(base, "nuclei"), body))

    with ThreadPoolExecutor(8) as pool:
        pages = list(pool.map(one, bodies))
    for body, page in zip(bodies, pages):
        same(page, nuc.iloc[body["offset"]:body["offset"] + 50])


# --- joins ----------------------------------------------------------------------------------


def _expected_reference_join(full, version=LATEST):
    ref = full("cell_type_ref", version)
    nuc = full("nuclei", version).rename(columns={"id": "id_ref", "valid": "valid_ref"})
    merged = ref.merge(nuc, left_on="target_id", right_on="id_ref")
    return merged.sort_values(["id", "id_ref"]).reset_index(drop=True)


def test_join_with_suffix_map_equals_a_pandas_merge(session, base, full):
    body = {"tables": [["cell_type_ref", "target_id"], ["nuclei", "id"]],
            "suffix_map": {"cell_type_ref": "", "nuclei": "_ref"}}
    r = post_query(session, f"{base}/version/{LATEST}/query", body)
    got = frame(r)
    expected = _expected_reference_join(full)
    assert len(expected) > 100
    assert list(got.columns) == list(expected.columns)
    same(got, expected)
    mapping = ast.literal_eval(r.headers["column_names"])
    assert mapping["nuclei"]["id"] == "id_ref" and mapping["cell_type_ref"]["id"] == "id"
    assert mapping["nuclei"]["volume"] == "volume"
    # The notice of the referencing table travels with the join.
    assert "Table Owner Notice on cell_type_ref" in r.headers["Warning"]


def test_join_with_select_column_map_and_filters_on_both_tables(session, base, full):
    volume = float(full("nuclei")["volume"].median())
    body = {
        "tables": [["cell_type_ref", "target_id"], ["nuclei", "id"]],
        "select_column_map": {"cell_type_ref": ["cell_type"], "nuclei": ["pt_root_id", "volume"]},
        "suffix_map": {"cell_type_ref": "", "nuclei": "_ref"},
        "filter_equal_dict": {"cell_type_ref": {"cell_type": "inhibitory"}},
        "filter_greater_dict": {"nuclei": {"volume": volume}},
    }
    got = frame(post_query(session, f"{base}/version/{LATEST}/query", body))
    exp = _expected_reference_join(full)
    exp = exp[(exp["cell_type"] == "inhibitory") & (exp["volume"].astype("float64") > volume)]
    assert len(exp) > 0
    assert list(got.columns) == ["cell_type", "volume", "pt_supervoxel_id", "pt_root_id"]
    same(got, exp[["cell_type", "volume", "pt_supervoxel_id", "pt_root_id"]])
    count = frame(post_query(session, f"{base}/version/{LATEST}/query", body, count=True))
    assert int(count["count"].iloc[0]) == len(exp)


def test_join_deprecated_suffixes_and_flat_select_columns(session, base, full):
    body = {"tables": [["cell_type_ref", "target_id"], ["nuclei", "id"]],
            "suffixes": ["", "_nuc"], "select_columns": ["id", "cell_type", "volume"]}
    got = frame(post_query(session, f"{base}/version/{LATEST}/query", body))
    exp = _expected_reference_join(full)
    # A flat list gives each name to the first table that has it; no clash, no suffix.
    assert list(got.columns) == ["id", "cell_type", "volume"]
    same(got, exp[["id", "cell_type", "volume"]])


def test_join_without_suffixes_still_gives_unique_column_names(session, base):
    body = {"tables": [["cell_type_ref", "target_id"], ["nuclei", "id"]], "limit": 5}
    got = frame(post_query(session, f"{base}/version/{LATEST}/query", body))
    assert got.columns.is_unique
    assert {"id", "valid"} <= set(got.columns) and len(got) == 5


# --- views ----------------------------------------------------------------------------------


def _expected_view(full, version=LATEST):
    nuc = full("nuclei", version)
    ref = full("cell_type_ref", version)
    cols = ["id", "volume", "pt_position_x", "pt_position_y", "pt_position_z",
            "pt_supervoxel_id", "pt_root_id"]
    merged = nuc[cols].merge(ref[["target_id", "classification_system", "cell_type"]],
                             left_on="id", right_on="target_id", how="left")
    return merged.drop(columns="target_id").sort_values("id").reset_index(drop=True)


def _records(df):
    return df.astype(object).where(df.notna(), None).to_dict("records")


@pytest.mark.parametrize("version", sorted({3, LATEST}))
def test_view_query_equals_the_left_join_it_describes(session, base, full, version):
    got = frame(post_query(session, f"{base}/version/{version}/views/nucleus_types/query"))
    expected = _expected_view(full, version)
    assert list(got.columns) == list(expected.columns)
    assert _records(got) == _records(expected)
    assert got["cell_type"].isna().any() and got["cell_type"].notna().any()


def test_view_query_with_filter_select_and_count(session, base, full):
    expected = _expected_view(full)
    expected = expected[expected["cell_type"] == "excitatory"]
    url = f"{base}/version/{LATEST}/views/nucleus_types/query"
    body = {"filter_equal_dict": {"nucleus_types": {"cell_type": "excitatory"}},
            "select_columns": ["id", "pt_root_id"]}
    got = frame(post_query(session, url, body))
    assert list(got.columns) == ["id", "pt_supervoxel_id", "pt_root_id"]
    same(got, expected[["id", "pt_supervoxel_id", "pt_root_id"]])
    count = frame(post_query(session, url, body, count=True))
    assert int(count["count"].iloc[0]) == len(expected) > 0
