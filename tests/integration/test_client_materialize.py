"""MaterializationClient against the embedded server over real HTTP: versions, metadata,
tables, views, and query_table with every argument.

Filtered queries are checked against pandas filtering of the whole table, fetched once per
module (and itself checked against the raw Arrow answer and the server's row count).

Joins, views, live queries, synapse_query, the client's version/timestamp state, the row cap
and the tables/views managers are in test_client_materialize_queries.py and
test_client_materialize_tables.py."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from helpers.client_materialize import (  # noqa: F401  (fixtures)
    LATEST,
    RESOLUTION,
    TABLES,
    VIEW,
    by_id,
    client,
    combined,
    full,
    home,
    ids,
    make_client,
    mat,
    same_rows,
    sent,
    split,
)
from helpers.server_http import as_user, post_query, table_url

from cave_widgets.client.errors import (
    QueryValidationError,
    UnknownTableError,
    UnknownVersionError,
    VersionExpiredError,
)

UTC = timezone.utc


# --- versions ----------------------------------------------------------------------------------


def test_get_versions_lists_valid_versions_and_expired_on_request(mat):
    assert sorted(mat.get_versions()) == [2, 3, 4, 5]
    assert sorted(mat.get_versions(expired=True)) == [1, 2, 3, 4, 5]
    assert all(type(v) is int for v in mat.get_versions(expired=True))


def test_most_recent_version_is_the_newest_valid_one(mat):
    assert mat.most_recent_version() == LATEST
    assert mat.version == LATEST  # the client has no version: the latest is in force


def test_get_version_metadata_converts_times_to_utc(mat):
    meta = mat.get_version_metadata()
    assert meta["version"] == LATEST and meta["datastack"] == "demo_local"
    assert meta["valid"] is True and meta["status"] == "AVAILABLE"
    assert isinstance(meta["time_stamp"], datetime) and meta["time_stamp"].tzinfo == UTC
    assert meta["expires_on"] > meta["time_stamp"]
    old = mat.get_version_metadata(3)
    assert old["version"] == 3 and old["time_stamp"] < meta["time_stamp"]
    # version 2 is long-term: the server says expires_on null
    assert mat.get_version_metadata(2)["expires_on"].year == 9999


def test_get_version_metadata_of_unknown_and_expired_versions(mat):
    with pytest.raises(UnknownVersionError, match="No version found"):
        mat.get_version_metadata(99)
    expired = mat.get_version_metadata(1)  # still described, but marked
    assert expired["valid"] is False and expired["status"] == "EXPIRED"


def test_get_timestamp_matches_version_metadata(mat):
    stamps = [mat.get_timestamp(v) for v in (2, 3, 4, 5)]
    assert stamps == sorted(stamps) and len(set(stamps)) == 4
    assert all(s.tzinfo == UTC for s in stamps)
    assert mat.get_timestamp(3) == mat.get_version_metadata(3)["time_stamp"]
    assert mat.get_timestamp() == stamps[-1]  # default: the version in force


def test_get_versions_metadata(mat):
    records = mat.get_versions_metadata()
    assert sorted(r["version"] for r in records) == [2, 3, 4, 5]
    assert {"version", "expires_on", "id", "valid", "time_stamp", "datastack"} <= set(records[0])
    assert all(isinstance(r["time_stamp"], datetime) for r in records)
    by_version = {r["version"]: r for r in records}
    assert by_version[4]["time_stamp"] == mat.get_timestamp(4)
    everything = mat.get_versions_metadata(expired=True)
    assert {r["version"]: r["valid"] for r in everything}[1] is False


# --- tables ------------------------------------------------------------------------------------


def test_get_tables_per_version(mat):
    assert sorted(mat.get_tables()) == sorted(TABLES)
    assert sorted(mat.get_tables(version=2)) == ["cell_types", "nuclei", "synapses"]


@pytest.mark.parametrize("table", TABLES)
def test_get_annotation_count_is_the_row_count(mat, full, table):
    assert mat.get_annotation_count(table) == len(full(table))


def test_get_annotation_count_at_an_older_version(mat, full):
    assert mat.get_annotation_count("synapses", version=3) == len(full("synapses", 3))
    assert mat.get_annotation_count("synapses", version=3) < mat.get_annotation_count("synapses")


def test_get_table_metadata_folds_voxel_resolution(mat):
    meta = mat.get_table_metadata("synapses")
    assert meta["voxel_resolution"] == RESOLUTION
    assert not any(k.startswith("voxel_resolution_") for k in meta)
    assert meta["table_name"] == "synapses" and meta["schema"] == "synapse"
    assert meta["reference_table"] is None  # the server says null, as real ones do
    assert mat.get_table_metadata("cell_type_ref")["reference_table"] == "nuclei"
    # the cached answer is a copy: changing it changes nothing for the next caller
    meta["voxel_resolution"].append(1)
    meta["schema"] = "changed"
    again = mat.get_table_metadata("synapses")
    assert again["schema"] == "synapse" and again["voxel_resolution"] == RESOLUTION
    listed = mat.get_tables_metadata()
    listed[0]["voxel_resolution"].clear()
    assert mat.get_tables_metadata()[0]["voxel_resolution"] == RESOLUTION
    schema = mat.get_view_schema(VIEW)
    schema["pt_position"]["type"] = "changed"
    assert mat.get_view_schema(VIEW)["pt_position"] == {"type": "SpatialPoint"}


def test_get_table_metadata_of_missing_tables(mat):
    with pytest.raises(UnknownTableError, match="nope"):
        mat.get_table_metadata("nope")
    with pytest.raises(UnknownTableError, match="cell_type_ref"):
        mat.get_table_metadata("cell_type_ref", version=2)  # created after version 2


def test_get_tables_metadata(mat):
    metas = mat.get_tables_metadata()
    assert sorted(m["table_name"] for m in metas) == sorted(TABLES)
    for m in metas:
        assert m["voxel_resolution"] == RESOLUTION
        assert "voxel_resolution_x" not in m
        assert m == mat.get_table_metadata(m["table_name"])
    assert len(mat.get_tables_metadata(version=2)) == 3


# --- views -------------------------------------------------------------------------------------


def test_get_views(mat):
    views = mat.get_views()
    assert list(views) == [VIEW]
    assert views[VIEW]["live_compatible"] is False
    assert views[VIEW]["voxel_resolution_z"] == 40.0
    assert mat.get_views(version=2) == {}  # the view is newer than version 2


def test_get_view_metadata(mat):
    meta = mat.get_view_metadata(VIEW)
    assert meta["table_name"] == VIEW
    assert "nuclei" in meta["description"]
    with pytest.raises(UnknownTableError):
        mat.get_view_metadata("nope")


def test_get_view_schema_and_schemas(mat):
    schema = mat.get_view_schema(VIEW)
    assert schema["pt_position"] == {"type": "SpatialPoint"}
    assert schema["pt_root_id"] == {"type": "integer"}
    assert schema["cell_type"] == {"type": "string"}
    assert schema["volume"] == {"type": "float"}
    assert mat.get_view_schemas() == {VIEW: schema}


def test_get_unique_string_values(mat, full):
    values = mat.get_unique_string_values("cell_types")
    table = full("cell_types")
    assert set(values) == {"classification_system", "cell_type"}
    for column, found in values.items():
        assert sorted(found) == sorted(table[column].unique())


# --- the whole table, once -----------------------------------------------------------------


def test_full_table_equals_the_raw_arrow_answer(demo_server, full):
    """The reference frame the filter tests compare against is the server's own answer."""
    base = f"{demo_server.url}/materialize/api/v3/datastack/{demo_server.datastack}"
    with as_user(demo_server.token) as s:
        raw = pa.ipc.open_stream(post_query(s, table_url(base, "synapses")).content).read_all()
    ours = full("synapses")
    assert list(ours.columns) == raw.column_names
    assert ids(ours) == sorted(raw.column("id").to_pylist())
    np.testing.assert_array_equal(ours["post_pt_position_x"].to_numpy(int),
                                  raw.column("post_pt_position_x").to_numpy())


def test_dtypes_are_nullable_like_the_real_server(full):
    df = full("synapses")
    for column in ("id", "pre_pt_supervoxel_id", "pre_pt_root_id", "post_pt_root_id"):
        assert df[column].dtype == pd.Int64Dtype(), column
    assert df["valid"].dtype == pd.BooleanDtype()
    assert df["size"].dtype == pd.Float32Dtype()
    assert df["post_pt_position_x"].dtype == pd.Int32Dtype()
    cells = full("cell_types")
    assert pd.api.types.is_string_dtype(cells["cell_type"])
    ref = full("cell_type_ref")
    assert ref["target_id"].dtype == pd.Int64Dtype()


def test_big_ids_are_exact(full):
    roots = full("synapses")["pre_pt_root_id"]
    assert roots.min() > 2**59  # root ids need all 64 bits: no float rounding allowed
    assert all(int(r) == r for r in roots.head(50))


# --- filters -------------------------------------------------------------------------------


def _roots(df, n=3):
    return [int(r) for r in df["pre_pt_root_id"].value_counts().index[:n]]


BOX = [[150_000, 150_000, 18_000], [250_000, 250_000, 22_000]]


def _in_box(df, base, box=BOX):
    xyz = split(df, base)
    return np.all((xyz >= box[0]) & (xyz <= box[1]), axis=1)


FILTER_CASES = {
    "in": ("synapses", lambda d: {"filter_in_dict": {"pre_pt_root_id": _roots(d)}},
           lambda d: d["pre_pt_root_id"].isin(_roots(d))),
    "out": ("cell_types", lambda d: {"filter_out_dict": {"cell_type": ["23P", "BC", "5P-IT"]}},
            lambda d: ~d["cell_type"].isin(["23P", "BC", "5P-IT"])),
    "equal": ("synapses", lambda d: {"filter_equal_dict": {"post_pt_root_id": _roots(d)[0]}},
              lambda d: d["post_pt_root_id"] == _roots(d)[0]),
    "equal_string": ("cell_types", lambda d: {"filter_equal_dict": {"cell_type": "MC"}},
                     lambda d: d["cell_type"] == "MC"),
    "greater": ("synapses", lambda d: {"filter_greater_dict": {"size": 2500.5}},
                lambda d: d["size"] > 2500.5),
    "less": ("synapses", lambda d: {"filter_less_dict": {"size": 150.25}},
             lambda d: d["size"] < 150.25),
    "greater_equal": ("synapses", lambda d: {"filter_greater_equal_dict": {"id": 19_000}},
                      lambda d: d["id"] >= 19_000),
    "less_equal": ("nuclei", lambda d: {"filter_less_equal_dict": {"volume": 200.0}},
                   lambda d: d["volume"] <= 200.0),
    "spatial": ("synapses", lambda d: {"filter_spatial_dict": {"post_pt_position": BOX}},
                lambda d: _in_box(d, "post_pt_position")),
    "regex": ("cell_types", lambda d: {"filter_regex_dict": {"cell_type": "^5P-[IE]T$"}},
              lambda d: d["cell_type"].str.contains("^5P-[IE]T$", regex=True)),
    "several": ("synapses",
                lambda d: {"filter_in_dict": {"pre_pt_root_id": _roots(d, 40)},
                           "filter_greater_dict": {"size": 500.0},
                           "filter_spatial_dict": {"pre_pt_position": BOX}},
                lambda d: d["pre_pt_root_id"].isin(_roots(d, 40)) & (d["size"] > 500.0)
                & _in_box(d, "pre_pt_position")),
}


@pytest.mark.parametrize("case", list(FILTER_CASES))
def test_each_filter_kind_matches_pandas_filtering(mat, full, case):
    table, kwargs, keep = FILTER_CASES[case]
    everything = full(table)
    expected = everything[np.asarray(keep(everything), dtype=bool)]
    assert 0 < len(expected) < len(everything), "the case must select some rows, not all"
    got = mat.query_table(table, **kwargs(everything), split_positions=True, metadata=False)
    same_rows(got, expected)


def test_filters_accept_numpy_and_pandas_values(mat, full):
    everything = full("synapses")
    roots = everything["pre_pt_root_id"].drop_duplicates().head(5)
    got = mat.query_table("synapses", split_positions=True, metadata=False,
                          filter_in_dict={"pre_pt_root_id": roots},  # a Series
                          filter_greater_dict={"size": np.float32(300)})
    expected = everything[everything["pre_pt_root_id"].isin(roots) & (everything["size"] > 300)]
    same_rows(got, expected)
    got = mat.query_table("synapses", metadata=False,
                          filter_equal_dict={"pre_pt_root_id": np.int64(roots.iloc[0])},
                          filter_in_dict={"post_pt_root_id": np.asarray(everything[
                              "post_pt_root_id"].head(100))})
    assert len(got) and (got["pre_pt_root_id"] == roots.iloc[0]).all()


def test_filter_matching_nothing_gives_an_empty_frame_with_columns(mat, full):
    got = mat.query_table("synapses", filter_equal_dict={"pre_pt_root_id": 1})
    assert len(got) == 0
    # in table order (real synapse tables: pre, post, ctr)
    assert list(got.columns)[-3:] == ["pre_pt_position", "post_pt_position", "ctr_pt_position"]
    assert got["id"].dtype == pd.Int64Dtype()


# --- columns, paging, positions ------------------------------------------------------------


def test_select_columns_list(mat, full):
    got = mat.query_table("synapses", select_columns=["id", "pre_pt_root_id", "size",
                                                      "post_pt_position"],
                          split_positions=True, metadata=False)
    # a root id brings its supervoxel id; columns come in table order
    assert list(got.columns) == ["id", "pre_pt_supervoxel_id", "pre_pt_root_id",
                                 "post_pt_position_x", "post_pt_position_y",
                                 "post_pt_position_z", "size"]
    same_rows(got, full("synapses")[list(got.columns)])


def test_select_columns_dict(mat):
    got = mat.query_table("synapses", select_columns={"synapses": ["id", "size"]}, limit=5)
    assert list(got.columns) == ["id", "size"]


def test_select_columns_dict_on_a_reference_table_selects_per_table(mat, full):
    got = mat.query_table("cell_type_ref", select_columns={"cell_type_ref": ["id", "cell_type"],
                                                           "nuclei": ["volume"]},
                          metadata=False)
    assert list(got.columns) == ["id", "cell_type", "volume"]
    assert len(got) == len(full("cell_type_ref"))


def test_select_columns_list_on_a_reference_table_spans_both_tables(mat):
    got = mat.query_table("cell_type_ref", select_columns=["id", "cell_type", "volume"],
                          limit=5, metadata=False)
    assert list(got.columns) == ["id", "cell_type", "volume"]
    when = mat.get_timestamp() + pd.Timedelta(seconds=1)
    live = mat.query_table("cell_type_ref", select_columns=["id", "cell_type", "volume"],
                           timestamp=when, limit=5, metadata=False)
    assert list(live.columns) == ["id", "cell_type", "volume"]
    pd.testing.assert_frame_equal(live, got)


def test_offset_limit_pages_are_stable_and_cover_the_table(mat, full):
    everything = full("synapses")
    size, pages = 4000, []
    for offset in range(0, len(everything), size):
        page = mat.query_table("synapses", offset=offset, limit=size, split_positions=True,
                               metadata=False)
        assert len(page) == min(size, len(everything) - offset)
        pages.append(page)
    again = mat.query_table("synapses", offset=size, limit=size, split_positions=True,
                            metadata=False)
    pd.testing.assert_frame_equal(again, pages[1])  # same page twice: same rows, same order
    seen = [i for p in pages for i in p["id"]]
    assert len(seen) == len(set(seen)) == len(everything)  # no overlap, nothing missed
    same_rows(pd.concat(pages, ignore_index=True), everything)


def test_offset_past_the_end_is_empty(mat, full):
    assert len(mat.query_table("nuclei", offset=len(full("nuclei")), limit=10)) == 0


def test_split_positions_both_ways(mat):
    split_df = mat.query_table("synapses", limit=200, split_positions=True)
    joined = mat.query_table("synapses", limit=200, split_positions=False)
    bases = ["pre_pt_position", "post_pt_position", "ctr_pt_position"]  # table order
    names = list(split_df.columns)
    for base in bases:
        i = names.index(f"{base}_x")
        assert names[i:i + 3] == [f"{base}_x", f"{base}_y", f"{base}_z"]
    # combined: the triples are gone and one column per point is appended at the end
    assert list(joined.columns) == [c for c in names if c[:-2] not in bases] + bases
    for base in bases:
        cell = joined[base].iloc[0]
        assert isinstance(cell, np.ndarray) and cell.shape == (3,)
        assert cell.dtype == np.int64  # as caveclient: nm arithmetic must not overflow int32
        np.testing.assert_array_equal(combined(joined, base), split(split_df, base))
    pd.testing.assert_frame_equal(joined.drop(columns=bases),
                                  split_df.drop(columns=[c for c in names if c[:-2] in bases]))


@pytest.mark.parametrize("desired", [[1, 1, 1], [8.0, 8.0, 80.0], [3, 3, 30]])
def test_desired_resolution_scales_positions(mat, desired):
    base = mat.query_table("synapses", limit=100, split_positions=True)
    scaled = mat.query_table("synapses", limit=100, split_positions=True,
                             desired_resolution=desired)
    factor = np.asarray(RESOLUTION) / np.asarray(desired, dtype=float)
    for point in ("pre_pt_position", "post_pt_position"):
        np.testing.assert_allclose(split(scaled, point), split(base, point) * factor, rtol=1e-9)
    assert scaled.attrs["dataframe_resolution"] == [float(v) for v in desired]
    assert base.attrs["dataframe_resolution"] == RESOLUTION
    combined_df = mat.query_table("synapses", limit=100, desired_resolution=np.array(desired))
    np.testing.assert_allclose(combined(combined_df, "ctr_pt_position"),
                               split(base, "ctr_pt_position") * factor, rtol=1e-9)


def test_client_desired_resolution_is_the_default(demo_server, home, mat):
    nm = make_client(demo_server, desired_resolution=[1, 1, 1])
    got = nm.materialize.query_table("nuclei", limit=20, split_positions=True)
    base = mat.query_table("nuclei", limit=20, split_positions=True)
    np.testing.assert_allclose(split(got, "pt_position"), split(base, "pt_position") * RESOLUTION)
    assert got.attrs["dataframe_resolution"] == [1.0, 1.0, 1.0]
    # an explicit argument wins over the client's default
    own = nm.materialize.query_table("nuclei", limit=20, split_positions=True,
                                     desired_resolution=RESOLUTION)
    np.testing.assert_array_equal(split(own, "pt_position"), split(base, "pt_position"))


def test_get_counts(mat, full):
    counted = mat.query_table("synapses", get_counts=True)
    assert list(counted.columns) == ["count"] and int(counted["count"].iloc[0]) == len(
        full("synapses"))
    filtered = mat.query_table("synapses", get_counts=True,
                               filter_greater_dict={"size": 2500.5})
    everything = full("synapses")
    assert int(filtered["count"].iloc[0]) == int((everything["size"] > 2500.5).sum())


def test_random_sample(mat, full):
    everything = full("synapses")
    sample = mat.query_table("synapses", random_sample=500, split_positions=True, metadata=False)
    assert len(sample) == 500
    assert set(ids(sample)) <= set(ids(everything))
    same_rows(sample, everything[everything["id"].isin(sample["id"])])
    small = full("nuclei")
    assert len(mat.query_table("nuclei", random_sample=10 * len(small))) == len(small)


def test_return_df_false_gives_json_records(mat, full):
    records = mat.query_table("nuclei", return_df=False)
    assert isinstance(records, list) and isinstance(records[0], dict)
    everything = by_id(full("nuclei"))
    assert sorted(r["id"] for r in records) == ids(everything)
    first = min(records, key=lambda r: r["id"])
    row = everything.iloc[0]
    assert first["pt_root_id"] == int(row["pt_root_id"])  # 64-bit ids exact in JSON too
    assert [first[f"pt_position_{a}"] for a in "xyz"] == [int(row[f"pt_position_{a}"])
                                                          for a in "xyz"]


def test_metadata_false_leaves_attrs_empty(mat):
    assert mat.query_table("nuclei", limit=3, metadata=False).attrs == {}
    assert mat.query_table("nuclei", limit=3).attrs != {}


def test_materialization_version_queries_that_version(mat, full):
    old = mat.query_table("synapses", materialization_version=3, split_positions=True)
    assert old.attrs["materialization_version"] == 3
    assert len(old) == mat.get_annotation_count("synapses", version=3)
    assert set(ids(old)) != set(ids(full("synapses")))
    with pytest.raises(UnknownTableError):
        mat.query_table("cell_type_ref", materialization_version=2)


# --- reference tables ------------------------------------------------------------------------


def test_merge_reference_joins_the_referenced_table(mat, full):
    merged = mat.query_table("cell_type_ref", split_positions=True)
    own = full("cell_type_ref")
    nuclei = full("nuclei")
    # this table's columns first, then the target's; colliding target columns get _ref
    assert list(merged.columns[:5]) == list(own.columns)
    assert {"id_ref", "valid_ref", "volume", "pt_root_id", "pt_position_x"} <= set(merged.columns)
    assert (merged["id_ref"] == merged["target_id"]).all()
    expected = own.merge(nuclei, left_on="target_id", right_on="id", suffixes=("", "_ref"))
    same_rows(merged[list(expected.columns)], expected)
    assert merged.attrs["join_query"] is True
    assert set(merged.attrs["tables"]) == {"cell_type_ref", "nuclei"}
    assert merged.attrs["tables"]["nuclei"]["suffix"] == "_ref"


def test_merge_reference_false_returns_the_table_alone(mat, full):
    alone = mat.query_table("cell_type_ref", merge_reference=False, split_positions=True)
    assert list(alone.columns) == ["id", "valid", "target_id", "classification_system",
                                   "cell_type"]
    assert alone.attrs["join_query"] is False
    assert alone.attrs["table_reference_table"] == "nuclei"


def test_merge_reference_with_filters(mat, full):
    merged = mat.query_table("cell_type_ref", filter_equal_dict={"cell_type": "inhibitory"},
                             split_positions=True)
    own = full("cell_type_ref")
    assert ids(merged) == ids(own[own["cell_type"] == "inhibitory"])


# --- attrs -----------------------------------------------------------------------------------


def test_attrs_follow_caveclient(mat):
    df = mat.query_table("synapses", filter_in_dict={"pre_pt_root_id": [1, 2]},
                         filter_greater_dict={"size": 10.0}, select_columns=["id", "size"],
                         limit=7, offset=3)
    a = df.attrs
    meta = mat.get_table_metadata("synapses")
    assert a["datastack_name"] == "demo_local"
    assert a["join_query"] is False and a["live_query"] is False
    assert a["materialization_version"] == LATEST and a["timestamp"] is None
    assert a["table_id"] == meta["id"]
    assert a["table_name"] == "synapses" and a["table_schema"] == "synapse"
    assert a["table_voxel_resolution"] == RESOLUTION
    assert a["table_description"] == meta["description"]
    assert a["dataframe_resolution"] == RESOLUTION
    assert a["filters"]["inclusive"] == {"synapses": {"pre_pt_root_id": [1, 2]}}
    assert a["filters"]["greater"] == {"synapses": {"size": 10.0}}
    assert a["filters"]["exclusive"] is None
    assert set(a["filters"]) == {"inclusive", "exclusive", "equal", "greater", "less",
                                 "greater_equal", "less_equal", "spatial", "regex"}
    assert a["select_columns"] == ["id", "size"] and a["limit"] == 7 and a["offset"] == 3
    assert "'synapses'" in a["column_names"] and "'size'" in a["column_names"]


def test_attrs_hold_only_json_types(mat):
    import json

    df = mat.query_table("nuclei", limit=2, filter_in_dict={"id": np.array([1, 2])})
    assert json.loads(json.dumps(df.attrs)) == df.attrs


# --- argument checking: nothing is sent --------------------------------------------------------

BAD_BOX = "a bounding box is"
INVALID = [
    ("synapses", {"filter_in_dict": {"nope": [1]}}, r"filter_in_dict.*synapses.*'nope'"),
    ("synapses", {"filter_equal_dict": {"pre_pt_root": 1}}, r"filter_equal_dict.*pre_pt_root"),
    ("synapses", {"filter_in_dict": {"pre_pt_root_id": 5}}, "expected a list"),
    ("synapses", {"filter_in_dict": {"pre_pt_root_id": ["abc"]}}, "ids are whole numbers"),
    ("synapses", {"filter_equal_dict": {"id": True}}, "ids are whole numbers"),
    ("synapses", {"filter_equal_dict": {"id": 1.5}}, "ids are whole numbers"),
    # a float id is refused however whole it looks: it no longer holds the id it stood for
    ("synapses", {"filter_in_dict": {"pre_pt_root_id": [float(864691135000221763)]}},
     "a float cannot hold a 64-bit id exactly"),
    ("synapses", {"filter_equal_dict": {"pre_pt_root_id": -5}}, "unsigned 64-bit"),
    ("synapses", {"filter_in_dict": {"pre_pt_root_id": [2**64]}}, "64-bit"),
    ("synapses", {"filter_greater_dict": {"size": 1.5}, "filter_equal_dict": {"id": 2.0}},
     "ids are whole numbers"),
    ("synapses", {"filter_greater_dict": {"size": "big"}}, "a number"),
    ("cell_types", {"filter_equal_dict": {"cell_type": 5}}, "text"),
    ("cell_types", {"filter_greater_dict": {"cell_type": "a"}}, "numeric columns"),
    ("synapses", {"filter_regex_dict": {"size": "1"}}, "text columns"),
    ("synapses", {"filter_equal_dict": {"post_pt_position": [1, 2, 3]}}, "is a position"),
    ("synapses", {"filter_spatial_dict": {"size": [[0, 0, 0], [1, 1, 1]]}}, "position columns"),
    ("synapses", {"filter_spatial_dict": {"post_pt_position": [[0, 0], [1, 1]]}}, BAD_BOX),
    ("synapses", {"filter_spatial_dict": {"post_pt_position": "everywhere"}}, BAD_BOX),
    ("synapses", {"filter_spatial_dict": {"post_pt_position": [[5, 0, 0], [1, 1, 1]]}},
     "minimum must be below"),
    ("synapses", {"filter_spatial_dict": {"post_pt_position": [[0, 0, "a"], [1, 1, 1]]}},
     "a number"),
    ("synapses", {"filter_in_dict": [("id", [1])]}, "map"),
    ("synapses", {"limit": 0}, "limit must be a positive integer"),
    ("synapses", {"limit": -5}, "limit"),
    ("synapses", {"limit": 2.5}, "limit"),
    ("synapses", {"limit": True}, "limit"),
    ("synapses", {"offset": -1}, "offset must be a non-negative integer"),
    ("synapses", {"offset": "3"}, "offset"),
    ("synapses", {"random_sample": 0}, "random_sample"),
    ("synapses", {"desired_resolution": [1, 1]}, "desired_resolution"),
    ("synapses", {"desired_resolution": [0, 4, 40]}, "desired_resolution"),
    ("synapses", {"desired_resolution": "4,4,40"}, "desired_resolution"),
    ("synapses", {"desired_resolution": [4, "x", 40]}, "desired_resolution"),
    ("synapses", {"select_columns": "id"}, "select_columns must be a list"),
    ("synapses", {"select_columns": ["id", "nope"]}, r"select_columns.*'nope'"),
    ("synapses", {"materialization_version": 3, "timestamp": datetime.now(UTC)}, "not both"),
]


@pytest.mark.parametrize("table,kwargs,message", INVALID,
                         ids=[f"{t}-{'-'.join(k)}-{i}" for i, (t, k, _) in enumerate(INVALID)])
def test_invalid_arguments_raise_before_any_query(client, table, kwargs, message):
    with sent(client) as spy, pytest.raises(QueryValidationError, match=message) as info:
        client.materialize.query_table(table, **kwargs)
    assert spy.posts == [], "a query was sent despite the invalid arguments"
    assert isinstance(info.value, ValueError)  # caveclient code catching ValueError still works


def test_numpy_integers_are_fine_for_limit_offset_and_sample(mat, full):
    df = mat.query_table("synapses", limit=np.int64(5), offset=np.int32(2),
                         split_positions=True, metadata=False)
    assert ids(df) == ids(by_id(full("synapses")).iloc[2:7])
    assert len(mat.query_table("synapses", random_sample=np.int64(7), metadata=False)) == 7


def test_validation_error_names_the_columns_there_are(mat):
    with pytest.raises(QueryValidationError) as info:
        mat.query_table("nuclei", filter_equal_dict={"colume": 1.0})
    text = str(info.value)
    assert "nuclei" in text and "'colume'" in text
    assert re.search(r"\bvolume\b", text)  # the message lists the real columns


# --- server-side failures ------------------------------------------------------------------


def test_expired_version_raises_version_expired(mat):
    with pytest.raises(VersionExpiredError, match="version 1"):
        mat.query_table("synapses", materialization_version=1)
    with pytest.raises(VersionExpiredError):
        mat.get_tables(version=1)


def test_unknown_table_raises_unknown_table(mat):
    with pytest.raises(UnknownTableError, match="nope") as info:
        mat.query_table("nope")
    assert isinstance(info.value, ValueError) and info.value.status == 404
    with pytest.raises(UnknownTableError):
        mat.get_annotation_count("nope")
