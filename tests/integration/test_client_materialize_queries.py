"""MaterializationClient against the embedded server over real HTTP: join_query, query_view,
live_live_query, live_query, synapse_query, the client's version/timestamp deciding what is
queried, and the row cap (RowCapWarning)."""

from __future__ import annotations

import re
import warnings
from datetime import timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from helpers.client_materialize import (  # noqa: F401  (fixtures)
    LATEST,
    RESOLUTION,
    VIEW,
    by_id,
    client,
    combined,
    fresh_client,
    full,
    home,
    ids,
    mat,
    no_row_cap_warning,
    now,
    row_cap,
    same_rows,
    sent,
    split,
)

from cave_widgets.client.errors import (
    ExpiredVersionWarning,
    InvalidRequestError,
    QueryValidationError,
    RowCapWarning,
    UnknownTableError,
    VersionExpiredError,
)

UTC = timezone.utc
LIVE_PATH = "/materialize/api/v3/datastack/demo_local/query"


def version_path(version: int, rest: str) -> str:
    return f"/materialize/api/v3/datastack/demo_local/version/{version}{rest}"


@pytest.fixture(scope="module")
def live(mat, now):
    """Whole tables as of `now` (live), fetched once."""
    cache: dict = {}

    def get(table: str) -> pd.DataFrame:
        if table not in cache:
            cache[table] = mat.live_live_query(table, now, split_positions=True,
                                               metadata=False, log_warning=False)
        return cache[table].copy()

    return get


@pytest.fixture(scope="module")
def view(mat):
    return mat.query_view(VIEW, split_positions=True, metadata=False)


def suffixed(df: pd.DataFrame, shared: set, suffix: str) -> pd.DataFrame:
    """Suffix the columns whose schema name is shared; a split position keeps its axis last
    (pt_position_x → pt_position_nuc_x), so the triple still recombines."""
    def name(c):
        if c in shared:
            return c + suffix
        if c[-2:] in ("_x", "_y", "_z") and c[:-2] in shared:
            return c[:-2] + suffix + c[-2:]
        return c
    return df.rename(columns=name)


def schema_names(df: pd.DataFrame) -> set:
    return {c[:-2] if c[-2:] in ("_x", "_y", "_z") else c for c in df.columns}


# --- join_query ----------------------------------------------------------------------------


JOIN = [["nuclei", "pt_root_id"], ["cell_types", "pt_root_id"]]
JOIN_SUFFIXES = {"nuclei": "_nuc", "cell_types": "_ct"}


def expected_join(full, version=LATEST):
    nuclei, cells = full("nuclei", version), full("cell_types", version)
    shared = schema_names(nuclei) & schema_names(cells)
    left, right = suffixed(nuclei, shared, "_nuc"), suffixed(cells, shared, "_ct")
    return left.merge(right, left_on="pt_root_id_nuc", right_on="pt_root_id_ct")


def by_pair(df):
    return df.sort_values(["id_nuc", "id_ct"]).reset_index(drop=True)


def test_join_query_matches_a_pandas_merge(mat, full):
    got = mat.join_query(JOIN, suffixes=JOIN_SUFFIXES, split_positions=True)
    expected = expected_join(full)
    assert len(expected) > 100
    assert list(got.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(by_pair(got), by_pair(expected))


def test_join_query_filters_are_keyed_by_table(mat, full):
    # Filter values from the data: the median volume, a box around the middle of the nuclei.
    e = expected_join(full)
    xyz = split(e, "pt_position_nuc")
    volume = float(e["volume"].median())
    box = [np.floor(np.quantile(xyz, 0.1, axis=0)).astype(int).tolist(),
           np.ceil(np.quantile(xyz, 0.9, axis=0)).astype(int).tolist()]
    got = mat.join_query(JOIN, suffixes=JOIN_SUFFIXES, split_positions=True,
                         filter_in_dict={"cell_types": {"cell_type": ["BC", "MC", "23P"]}},
                         filter_greater_dict={"nuclei": {"volume": volume}},
                         filter_spatial_dict={"nuclei": {"pt_position": box}})
    keep = (e["cell_type"].isin(["BC", "MC", "23P"]) & (e["volume"] > volume)
            & np.all((xyz >= box[0]) & (xyz <= box[1]), axis=1))
    assert 0 < keep.sum() < len(e)
    pd.testing.assert_frame_equal(by_pair(got), by_pair(e[keep]))


def test_join_query_select_columns_dict_and_suffix_list(mat):
    got = mat.join_query(JOIN, suffixes=["_n", "_c"], limit=20,
                         select_columns={"nuclei": ["id", "volume"],
                                         "cell_types": ["id", "cell_type"]})
    assert list(got.columns) == ["id_n", "volume", "id_c", "cell_type"]
    assert len(got) == 20


def test_join_query_paging_and_counts(mat, full):
    total = len(expected_join(full))
    pages = [mat.join_query(JOIN, suffixes=JOIN_SUFFIXES, offset=o, limit=100,
                            split_positions=True, metadata=False)
             for o in range(0, total, 100)]
    stacked = pd.concat(pages, ignore_index=True)
    assert len(stacked) == total
    assert not stacked.duplicated(["id_nuc", "id_ct"]).any()


def test_join_query_desired_resolution_and_positions(mat):
    base = mat.join_query(JOIN, suffixes=JOIN_SUFFIXES, limit=30, split_positions=True)
    nm = mat.join_query(JOIN, suffixes=JOIN_SUFFIXES, limit=30, desired_resolution=[1, 1, 1])
    np.testing.assert_allclose(combined(nm, "pt_position_ct"),
                               split(base, "pt_position_ct") * RESOLUTION)
    assert nm.attrs["dataframe_resolution"] == [1.0, 1.0, 1.0]
    assert list(nm.columns[-4:]) == ["pt_position_nuc", "bb_start_position", "bb_end_position",
                                     "pt_position_ct"]


def test_join_query_attrs(mat):
    df = mat.join_query(JOIN, suffixes=JOIN_SUFFIXES, limit=5,
                        filter_equal_dict={"cell_types": {"cell_type": "BC"}})
    a = df.attrs
    assert a["join_query"] is True and a["live_query"] is False
    assert a["materialization_version"] == LATEST
    assert set(a["tables"]) == {"nuclei", "cell_types"}
    assert a["tables"]["nuclei"]["join_column"] == "pt_root_id"
    assert a["tables"]["cell_types"]["suffix"] == "_ct"
    assert a["tables"]["nuclei"]["table_id"] == mat.get_table_metadata("nuclei")["id"]
    assert a["filters"]["equal"] == {"cell_types": {"cell_type": "BC"}}
    assert a["dataframe_resolution"] == RESOLUTION


def test_join_query_return_df_false_gives_records(mat):
    records = mat.join_query(JOIN, suffixes=JOIN_SUFFIXES, limit=4, return_df=False)
    assert isinstance(records, list) and len(records) == 4
    assert {"id_nuc", "id_ct", "pt_position_nuc_x"} <= set(records[0])


def test_join_query_at_an_older_version(mat, full):
    got = mat.join_query(JOIN, suffixes=JOIN_SUFFIXES, materialization_version=3,
                         split_positions=True)
    assert got.attrs["materialization_version"] == 3
    pd.testing.assert_frame_equal(by_pair(got), by_pair(expected_join(full, 3)))


JOIN_INVALID = [
    ({"filter_in_dict": {"synapses": {"id": [1]}}}, r"synapses.*not in this join"),
    ({"filter_equal_dict": {"nuclei": {"cell_type": "BC"}}}, r"nuclei has no column 'cell_type'"),
    ({"filter_in_dict": {"nuclei": [1]}}, "map"),
    ({"select_columns": {"synapses": ["id"]}}, "not in this join"),
    ({"select_columns": ["id", "nope"]}, "'nope'"),
    ({"limit": 0}, "limit"),
    ({"desired_resolution": [1, 1]}, "desired_resolution"),
]


@pytest.mark.parametrize("kwargs,message", JOIN_INVALID)
def test_join_query_invalid_arguments(client, kwargs, message):
    with sent(client) as spy, pytest.raises(QueryValidationError, match=message):
        client.materialize.join_query(JOIN, **kwargs)
    assert spy.posts == []


@pytest.mark.parametrize("tables,message", [
    ([["nuclei", "id"]], "tables must be"),
    ([["nuclei", "id"], ["cell_types"]], "tables must be"),
    ([["nuclei", "nope"], ["cell_types", "id"]], "'nope'"),
])
def test_join_query_malformed_tables(client, tables, message):
    with sent(client) as spy, pytest.raises(QueryValidationError, match=message):
        client.materialize.join_query(tables)
    assert spy.posts == []


# --- query_view ----------------------------------------------------------------------------


def test_query_view_whole_view(mat, full, view):
    nuclei = full("nuclei")
    assert ids(view) == ids(nuclei)  # one row per nucleus
    assert list(view.columns[:2]) == ["id", "volume"]
    assert view["id"].dtype == pd.Int64Dtype()
    joined = by_id(view)
    np.testing.assert_array_equal(split(joined, "pt_position"),
                                  split(by_id(nuclei), "pt_position"))


VIEW_FILTERS = {
    "equal": ({"filter_equal_dict": {"cell_type": "inhibitory"}},
              lambda d: d["cell_type"] == "inhibitory"),
    "in": ({"filter_in_dict": {"cell_type": ["excitatory", "nonneuronal"]}},
           lambda d: d["cell_type"].isin(["excitatory", "nonneuronal"])),
    # as in SQL, NOT IN never matches a missing value
    "out": ({"filter_out_dict": {"cell_type": ["excitatory"]}},
            lambda d: d["cell_type"].notna() & ~d["cell_type"].isin(["excitatory"])),
    "greater": ({"filter_greater_dict": {"volume": 300.0}}, lambda d: d["volume"] > 300.0),
    "less_equal": ({"filter_less_equal_dict": {"id": 108_000}}, lambda d: d["id"] <= 108_000),
    "regex": ({"filter_regex_dict": {"cell_type": "^in"}},
              lambda d: d["cell_type"].str.startswith("in").fillna(False)),
    "spatial": ({"filter_spatial_dict": {"pt_position": [[100_000, 100_000, 15_000],
                                                         [250_000, 200_000, 27_000]]}},
                lambda d: np.all((split(d, "pt_position") >= [100_000, 100_000, 15_000])
                                 & (split(d, "pt_position") <= [250_000, 200_000, 27_000]),
                                 axis=1)),
}


@pytest.mark.parametrize("case", list(VIEW_FILTERS))
def test_query_view_filters_match_pandas(mat, view, case):
    kwargs, keep = VIEW_FILTERS[case]
    expected = view[np.asarray(keep(view), dtype=bool)]
    assert 0 < len(expected) < len(view)
    same_rows(mat.query_view(VIEW, **kwargs, split_positions=True, metadata=False), expected)


def test_query_view_select_paging_counts_sample(mat, view):
    got = mat.query_view(VIEW, select_columns=["id", "cell_type"], limit=10, offset=5)
    assert list(got.columns) == ["id", "cell_type"]
    assert ids(got) == ids(by_id(view).iloc[5:15])
    counted = mat.query_view(VIEW, get_counts=True, filter_equal_dict={"cell_type": "inhibitory"})
    assert int(counted["count"].iloc[0]) == int((view["cell_type"] == "inhibitory").sum())
    sample = mat.query_view(VIEW, random_sample=25, metadata=False)
    assert len(sample) == 25 and set(ids(sample)) <= set(ids(view))
    records = mat.query_view(VIEW, limit=3, return_df=False)
    assert isinstance(records, list) and "pt_position_x" in records[0]


def test_query_view_positions_and_resolution(mat, view):
    got = mat.query_view(VIEW, desired_resolution=[2, 2, 20], limit=50)
    assert list(got.columns)[-1] == "pt_position"
    base = by_id(view).head(50)
    np.testing.assert_allclose(combined(by_id(got), "pt_position"),
                               split(base, "pt_position") * [2, 2, 2])


def test_query_view_attrs(mat):
    df = mat.query_view(VIEW, limit=3, filter_equal_dict={"cell_type": "inhibitory"})
    a = df.attrs
    assert a["table_name"] == VIEW and a["join_query"] is False
    assert a["materialization_version"] == LATEST
    assert a["filters"]["equal"] == {VIEW: {"cell_type": "inhibitory"}}
    assert a["dataframe_resolution"] == RESOLUTION


def test_query_view_errors(client, mat):
    with sent(client) as spy, pytest.raises(QueryValidationError, match=r"nucleus_types.*'nope'"):
        mat.query_view(VIEW, filter_equal_dict={"nope": 1})
    assert spy.posts == []
    with pytest.raises(UnknownTableError):
        mat.query_view(VIEW, materialization_version=2)  # the view is newer than version 2
    with pytest.raises(UnknownTableError):
        mat.query_view("nope")


# --- live_live_query ----------------------------------------------------------------------------


def test_live_live_query_at_a_version_time_equals_that_version(mat, full):
    for version in (2, 4):
        when = mat.get_timestamp(version) + timedelta(seconds=1)
        got = mat.live_live_query("synapses", when, split_positions=True, metadata=False)
        expected = full("synapses", version).drop(columns="valid")
        same_rows(got, expected)


def test_live_live_query_now_differs_from_the_latest_version(mat, full, live):
    now_rows, v5 = live("synapses"), full("synapses")
    assert len(now_rows) != len(v5)  # annotations were added after version 5
    assert "valid" not in now_rows.columns


def test_query_table_with_timestamp_is_the_live_query(mat, now, live):
    got = mat.query_table("synapses", timestamp=now, split_positions=True)
    same_rows(got, live("synapses"))
    assert got.attrs["live_query"] is True and got.attrs["materialization_version"] is None
    assert got.attrs["timestamp"] == now.strftime("%Y-%m-%dT%H:%M:%S.%f")


def test_timestamp_forms_agree(mat, now):
    kwargs = dict(limit=50, split_positions=True, metadata=False)
    aware = mat.live_live_query("nuclei", now, **kwargs)
    for other in (now.replace(tzinfo=None), now.isoformat(), pd.Timestamp(now),
                  now.astimezone(timezone(timedelta(hours=-7)))):
        pd.testing.assert_frame_equal(mat.live_live_query("nuclei", other, **kwargs), aware)


def test_live_live_query_filters_keyed_by_table(mat, now, live):
    syn = live("synapses")
    roots = [int(r) for r in syn["post_pt_root_id"].value_counts().index[:5]]
    got = mat.live_live_query("synapses", now, split_positions=True,
                              filter_in_dict={"synapses": {"post_pt_root_id": roots}},
                              filter_less_dict={"synapses": {"size": 1000.0}},
                              select_columns={"synapses": ["id", "post_pt_root_id", "size"]})
    keep = syn["post_pt_root_id"].isin(roots) & (syn["size"] < 1000.0)
    assert list(got.columns) == ["id", "post_pt_supervoxel_id", "post_pt_root_id", "size"]
    same_rows(got, syn.loc[keep, list(got.columns)])


def test_live_live_query_with_join_and_suffixes(mat, now, live):
    got = mat.live_live_query("cell_type_ref", now,
                              joins=[["cell_type_ref", "target_id", "nuclei", "id"]],
                              suffixes={"cell_type_ref": "", "nuclei": "_ref"},
                              filter_equal_dict={"cell_type_ref": {"cell_type": "inhibitory"}},
                              split_positions=True)
    ref, nuclei = live("cell_type_ref"), live("nuclei")
    expected = ref[ref["cell_type"] == "inhibitory"].merge(
        nuclei, left_on="target_id", right_on="id", suffixes=("", "_ref"))
    assert list(got.columns) == list(expected.columns)
    same_rows(got, expected)
    assert got.attrs["join_query"] is True and got.attrs["live_query"] is True


def test_query_table_with_timestamp_merges_reference_tables(mat, now):
    got = mat.query_table("cell_type_ref", timestamp=now, split_positions=True)
    assert {"id_ref", "volume", "pt_root_id"} <= set(got.columns)
    assert (got["id_ref"] == got["target_id"]).all()
    alone = mat.query_table("cell_type_ref", timestamp=now, merge_reference=False)
    assert list(alone.columns) == ["id", "target_id", "classification_system", "cell_type"]


def test_live_live_query_rejects_root_ids_not_valid_then(mat, full, live, now):
    old = full("synapses", 2)
    current = set(live("synapses")["pre_pt_root_id"]) | set(live("synapses")["post_pt_root_id"])
    retired = sorted(set(old["pre_pt_root_id"]) - current)
    assert retired, "the demo history retires some root ids after version 2"
    stale, good = int(retired[0]), int(live("synapses")["pre_pt_root_id"].iloc[0])
    with pytest.raises(InvalidRequestError, match=str(stale)) as info:
        mat.live_live_query("synapses", now,
                            filter_in_dict={"synapses": {"pre_pt_root_id": [stale, good]}})
    assert info.value.status == 400
    kept = mat.live_live_query("synapses", now, allow_invalid_root_ids=True,
                               filter_in_dict={"synapses": {"pre_pt_root_id": [stale, good]}})
    assert len(kept) and (kept["pre_pt_root_id"] == good).all()
    # the same root id is fine at a time it was current
    then = mat.get_timestamp(2) + timedelta(seconds=1)
    at_v2 = mat.live_live_query("synapses", then,
                                filter_equal_dict={"synapses": {"pre_pt_root_id": stale}})
    assert len(at_v2) == int((old["pre_pt_root_id"] == stale).sum())


@pytest.mark.parametrize("kwargs,message", [
    ({"select_columns": ["id"]}, "maps table names"),
    ({"filter_equal_dict": {"nuclei": {"id": 1}}}, r"'nuclei'.*does not read"),
    ({"filter_equal_dict": {"synapses": {"nope": 1}}}, "'nope'"),
    ({"offset": -1}, "offset"),
    ({"random_sample": -3}, "random_sample"),
])
def test_live_live_query_invalid_arguments(client, now, kwargs, message):
    with sent(client) as spy, pytest.raises(QueryValidationError, match=message):
        client.materialize.live_live_query("synapses", now, **kwargs)
    assert spy.posts == []


def test_live_live_query_bad_timestamp(mat):
    with pytest.raises(TypeError):
        mat.live_live_query("synapses", object())
    with pytest.raises(InvalidRequestError, match="future"):
        mat.live_live_query("synapses", pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=3))


def test_live_query_equals_live_live_query(mat, now, live):
    syn = live("synapses")
    roots = [int(r) for r in syn["pre_pt_root_id"].value_counts().index[:4]]
    got = mat.live_query("synapses", now, filter_in_dict={"pre_pt_root_id": roots},
                         split_positions=True)
    same_rows(got, syn[syn["pre_pt_root_id"].isin(roots)])
    whole = mat.live_query("nuclei", now, split_positions=True, metadata=False)
    same_rows(whole, live("nuclei"))


# --- synapse_query -------------------------------------------------------------------------


def test_synapse_query_pre_ids_list_and_scalar(client, mat, full):
    syn = full("synapses")
    roots = [int(r) for r in syn["pre_pt_root_id"].value_counts().index[:3]]
    with sent(client) as spy:
        many = mat.synapse_query(pre_ids=roots, split_positions=True)
        one = mat.synapse_query(pre_ids=roots[0], split_positions=True)
    # remove_autapses (on by default) drops rows whose pre and post roots are one object: a
    # false merge not yet split at the version makes such rows between two cells.
    syn = syn[syn["pre_pt_root_id"] != syn["post_pt_root_id"]]
    same_rows(many, syn[syn["pre_pt_root_id"].isin(roots)])
    same_rows(one, syn[syn["pre_pt_root_id"] == roots[0]])
    (_, _, body_many), (_, _, body_one) = spy.posts
    assert body_many["filter_in_dict"] == {"synapses": {"pre_pt_root_id": roots}}
    assert body_one["filter_equal_dict"] == {"synapses": {"pre_pt_root_id": roots[0]}}
    assert many.attrs["remove_autapses"] is True


def test_synapse_query_post_ids_and_both(mat, full):
    syn = full("synapses")
    pair = syn.iloc[0]
    post = int(pair["post_pt_root_id"])
    same_rows(mat.synapse_query(post_ids=np.array([post]), split_positions=True),
              syn[syn["post_pt_root_id"] == post])
    both = mat.synapse_query(pre_ids=int(pair["pre_pt_root_id"]), post_ids=post,
                             split_positions=True)
    expected = syn[(syn["pre_pt_root_id"] == pair["pre_pt_root_id"])
                   & (syn["post_pt_root_id"] == post)]
    assert len(expected) >= 1
    same_rows(both, expected)


def test_synapse_query_include_zeros(client, mat, full):
    syn = full("synapses")
    root = int(syn["pre_pt_root_id"].iloc[0])
    with sent(client) as spy:
        got = mat.synapse_query(pre_ids=[root], include_zeros=False, split_positions=True)
        mat.synapse_query(pre_ids=[root], include_zeros=True)
    (_, _, without), (_, _, with_zeros) = spy.posts
    assert without["filter_notin_dict"] == {"synapses": {"pre_pt_root_id": [0],
                                                         "post_pt_root_id": [0]}}
    assert "filter_notin_dict" not in with_zeros
    expected = syn[(syn["pre_pt_root_id"] == root) & (syn["post_pt_root_id"] != 0)]
    same_rows(got, expected)


def test_synapse_query_remove_autapses(mat, full):
    old = full("synapses", 2)
    autapses = old[old["pre_pt_root_id"] == old["post_pt_root_id"]]
    assert len(autapses) >= 1, "version 2 of the demo holds autapses"
    root = int(autapses["pre_pt_root_id"].iloc[0])
    kept = mat.synapse_query(pre_ids=[root], materialization_version=2, remove_autapses=False,
                             split_positions=True)
    dropped = mat.synapse_query(pre_ids=[root], materialization_version=2, split_positions=True)
    assert set(ids(kept)) - set(ids(dropped)) == set(ids(autapses[autapses[
        "pre_pt_root_id"] == root]))
    assert (dropped["pre_pt_root_id"] != dropped["post_pt_root_id"]).all()
    assert "remove_autapses" not in kept.attrs


def test_synapse_query_bounding_box(mat, full):
    syn = full("synapses")
    box = [[200_000, 150_000, 20_000], [260_000, 210_000, 23_000]]
    got = mat.synapse_query(bounding_box=box, split_positions=True)
    xyz = split(syn, "post_pt_position")
    same_rows(got, syn[np.all((xyz >= box[0]) & (xyz <= box[1]), axis=1)])
    pre = mat.synapse_query(bounding_box=box, bounding_box_column="pre_pt_position",
                            split_positions=True)
    xyz = split(syn, "pre_pt_position")
    same_rows(pre, syn[np.all((xyz >= box[0]) & (xyz <= box[1]), axis=1)])
    with pytest.raises(QueryValidationError, match="bounding box"):
        mat.synapse_query(bounding_box=[[0, 0, 0]])


def test_synapse_query_limit_resolution_and_live(mat, now, live):
    syn = live("synapses")
    root = int(syn["post_pt_root_id"].value_counts().index[0])
    got = mat.synapse_query(post_ids=[root], timestamp=now, split_positions=True)
    same_rows(got, syn[syn["post_pt_root_id"] == root])
    assert got.attrs["live_query"] is True
    nm = mat.synapse_query(post_ids=[root], limit=3, desired_resolution=[1, 1, 1])
    assert len(nm) == 3 and nm.attrs["dataframe_resolution"] == [1.0, 1.0, 1.0]


def test_synapse_query_needs_a_synapse_table(mat, monkeypatch):
    monkeypatch.setattr(mat, "synapse_table", None)
    with pytest.raises(QueryValidationError, match="synapse_table"):
        mat.synapse_query(pre_ids=[1])


# --- the client's version and timestamp ---------------------------------------------------------


def test_client_version_drives_every_query(fresh_client, full):
    fresh_client.version = 3
    mat = fresh_client.materialize
    assert mat.version == 3
    assert fresh_client.timestamp == mat.get_timestamp(3)  # a version pins its time
    with sent(fresh_client) as spy:
        df = mat.query_table("synapses", split_positions=True, metadata=False)
        mat.join_query(JOIN, limit=2)
        mat.query_view(VIEW, limit=2)
        mat.synapse_query(pre_ids=[1])
    same_rows(df, full("synapses", 3))
    paths = [path for path, _, _ in spy.posts]
    assert paths == [version_path(3, "/table/synapses/query"), version_path(3, "/query"),
                     version_path(3, f"/views/{VIEW}/query"),
                     version_path(3, "/table/synapses/query")]
    assert mat.get_tables() == mat.get_tables(version=3)
    assert mat.get_annotation_count("synapses") == len(df)
    # an explicit version still wins
    assert mat.query_table("nuclei", materialization_version=4).attrs[
        "materialization_version"] == 4
    fresh_client.version = None
    assert mat.query_table("nuclei", limit=1).attrs["materialization_version"] == LATEST


def test_setting_version_on_materialize_moves_the_client(fresh_client):
    fresh_client.materialize.version = 4
    assert fresh_client.version == 4
    assert fresh_client.materialize.query_table("nuclei", limit=1).attrs[
        "materialization_version"] == 4


def test_client_timestamp_alone_means_live(fresh_client, live, now):
    fresh_client.timestamp = now
    assert fresh_client.version is None
    mat = fresh_client.materialize
    with sent(fresh_client) as spy:
        df = mat.query_table("synapses", split_positions=True)
    [(path, params, body)] = spy.posts
    assert path == LIVE_PATH
    assert body["timestamp"] == now.isoformat() and body["table"] == "synapses"
    assert df.attrs["live_query"] is True
    same_rows(df, live("synapses"))
    # an explicit version overrides the client's live mode
    assert mat.query_table("nuclei", materialization_version=3).attrs[
        "materialization_version"] == 3


def test_client_timestamp_after_version_drops_the_version(fresh_client, now):
    fresh_client.version = 3
    fresh_client.timestamp = now
    assert fresh_client.version is None
    with sent(fresh_client) as spy:
        fresh_client.materialize.query_table("nuclei", limit=5)
    assert [p for p, _, _ in spy.posts] == [LIVE_PATH]


def test_expired_client_version_warns_then_queries_fail(fresh_client):
    with pytest.warns(ExpiredVersionWarning, match="Version 1"):
        fresh_client.version = 1
    with pytest.raises(VersionExpiredError):
        fresh_client.materialize.query_table("synapses", limit=1)


# --- the row cap -------------------------------------------------------------------------


CAP_TEXT = re.compile(r"truncated this result to ([\d,]+) of ([\d,]+) matching rows")


def cap_numbers(record) -> tuple[int, int]:
    shown, total = CAP_TEXT.search(str(record.message)).groups()
    return int(shown.replace(",", "")), int(total.replace(",", ""))


def test_row_cap_warns_with_the_total(demo_server, mat, full):
    everything = full("synapses")
    with row_cap(demo_server, 1000), pytest.warns(RowCapWarning) as caught:
        df = mat.query_table("synapses")
    assert len(df) == 1000
    assert cap_numbers(caught[0]) == (1000, len(everything))
    assert df.attrs["total_rows"] == len(everything)


def test_row_cap_total_counts_the_filtered_rows(demo_server, mat, full):
    everything = full("synapses")
    expected = int((everything["size"] > 800.0).sum())
    with row_cap(demo_server, 500), pytest.warns(RowCapWarning) as caught:
        df = mat.query_table("synapses", filter_greater_dict={"size": 800.0})
    assert len(df) == 500 and cap_numbers(caught[0]) == (500, expected)


def test_row_cap_no_warning_for_the_users_own_limit(demo_server, mat):
    with row_cap(demo_server, 1000), no_row_cap_warning():
        assert len(mat.query_table("synapses", limit=1000)) == 1000
        assert len(mat.query_table("synapses", limit=300)) == 300
        small = mat.query_table("nuclei", filter_greater_dict={"volume": 340.0})
        assert 0 < len(small) < 1000
    # a limit above the cap is still cut by the cap: that warns
    with row_cap(demo_server, 1000), pytest.warns(RowCapWarning):
        assert len(mat.query_table("synapses", limit=5000)) == 1000


def test_row_cap_on_join_view_and_live(demo_server, mat, full, view, live, now):
    references, joined_rows, nuclei_now = (len(full("cell_type_ref")), len(expected_join(full)),
                                           len(live("nuclei")))
    with row_cap(demo_server, 50):
        with pytest.warns(RowCapWarning) as caught:
            joined = mat.join_query(JOIN, suffixes=JOIN_SUFFIXES)
        assert len(joined) == 50
        assert cap_numbers(caught[0]) == (50, joined_rows)
        with pytest.warns(RowCapWarning) as caught:
            v = mat.query_view(VIEW)
        assert cap_numbers(caught[0]) == (50, len(view)) and v.attrs["total_rows"] == len(view)
        with pytest.warns(RowCapWarning) as caught:
            lv = mat.live_live_query("nuclei", now)
        assert len(lv) == 50
        assert cap_numbers(caught[0]) == (50, nuclei_now)
        with pytest.warns(RowCapWarning) as caught:
            merged = mat.query_table("cell_type_ref")
        assert cap_numbers(caught[0]) == (50, references)
        assert merged.attrs["total_rows"] == references


def test_row_cap_restored(demo_server, mat, full):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RowCapWarning)
        assert len(mat.query_table("synapses", metadata=False)) == len(full("synapses"))
