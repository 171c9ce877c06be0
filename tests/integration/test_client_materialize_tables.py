"""client.materialize.tables and .views against the embedded server over real HTTP: the
per-table classes, their keyword filters, reference tables, views, and the manager's
container interface."""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest
from helpers.client_materialize import (  # noqa: F401  (fixtures)
    LATEST,
    TABLES,
    VIEW,
    client,
    fresh_client,
    full,
    home,
    ids,
    mat,
    now,
    same_rows,
    sent,
    split,
)

from cave_widgets.client.errors import QueryValidationError


@pytest.fixture(scope="module")
def tables(mat):
    return mat.tables


def body_of(spy):
    [(_, _, body)] = spy.posts
    return body


# --- the container -----------------------------------------------------------------------------


def test_table_names_len_contains_getitem(tables):
    assert tables.table_names == sorted(TABLES)
    assert len(tables) == 4
    assert "synapses" in tables and "nope" not in tables
    assert tables["nuclei"] is tables.nuclei
    with pytest.raises(KeyError):
        tables["nope"]
    assert repr(tables) == repr(sorted(TABLES))
    assert set(TABLES) <= set(dir(tables))


def test_unknown_attribute_names_the_tables(tables):
    with pytest.raises(AttributeError, match=r"nope.*cell_type_ref, cell_types, nuclei, synapses"):
        tables.nope


def test_find_is_case_insensitive(tables):
    assert tables.find("cell") == ["cell_type_ref", "cell_types"]
    assert tables.find("NUC") == ["nuclei"]
    assert tables.find("zzz") == []


def test_repr_html_has_one_details_per_table(tables, mat):
    html = tables._repr_html_()
    assert html.count("<details>") == 4 and html.count("</details>") == 4
    for name in TABLES:
        assert f"<summary>{name}</summary>" in html
        assert mat.get_table_metadata(name)["description"] in html
    assert tables._repr_mimebundle_()["text/html"] == html


def test_table_classes_describe_their_fields(tables, mat):
    syn = tables.synapses
    assert syn.__doc__ == mat.get_table_metadata("synapses")["description"]
    assert set(syn.fields) == {"id", "pre_pt_root_id", "post_pt_root_id", "size",
                               "pre_pt_position_bbox", "post_pt_position_bbox",
                               "ctr_pt_position_bbox"}
    assert set(syn.numeric_fields) == {"id", "pre_pt_root_id", "post_pt_root_id", "size"}
    assert set(syn.spatial_fields) == {"pre_pt_position_bbox", "post_pt_position_bbox",
                                       "ctr_pt_position_bbox"}
    assert "size" in syn.numeric_fields  # plain lists, as caveclient's class attributes
    params = inspect.signature(syn).parameters
    assert set(params) == set(syn.fields)
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params.values())


def test_reference_table_fields_merge_the_target(tables):
    ref = tables.cell_type_ref
    # this table's own id collides with the target's and gets _ref
    assert {"id_ref", "target_id", "cell_type", "classification_system"} <= set(ref.fields)
    assert {"id", "volume", "pt_root_id", "pt_position_bbox"} <= set(ref.fields)


# --- keyword filters ---------------------------------------------------------------------


def test_list_scalar_comparison_and_bbox_keywords(client, tables, full):
    syn = full("synapses")
    roots = [int(r) for r in syn["pre_pt_root_id"].value_counts().index[:30]]
    box = [[150_000, 150_000, 18_000], [300_000, 260_000, 25_000]]
    with sent(client) as spy:
        got = tables.synapses(pre_pt_root_id=roots, size={">": 400.0, "<=": 3000.0},
                              post_pt_position_bbox=box).query(split_positions=True)
    body = body_of(spy)
    assert body["filter_in_dict"] == {"synapses": {"pre_pt_root_id": roots}}
    assert body["filter_greater_dict"] == {"synapses": {"size": 400.0}}
    assert body["filter_less_equal_dict"] == {"synapses": {"size": 3000.0}}
    assert body["filter_spatial_dict"] == {"synapses": {"post_pt_position": box}}
    xyz = split(syn, "post_pt_position")
    keep = (syn["pre_pt_root_id"].isin(roots) & (syn["size"] > 400.0) & (syn["size"] <= 3000.0)
            & np.all((xyz >= box[0]) & (xyz <= box[1]), axis=1))
    assert 0 < keep.sum() < len(syn)
    same_rows(got, syn[np.asarray(keep, dtype=bool)])


def test_scalar_is_equality_and_empty_list_is_dropped(client, tables, full):
    cells = full("cell_types")
    with sent(client) as spy:
        got = tables.cell_types(cell_type="BC", pt_root_id=[]).query(split_positions=True)
    body = body_of(spy)
    assert body["filter_equal_dict"] == {"cell_types": {"cell_type": "BC"}}
    assert "filter_in_dict" not in body
    same_rows(got, cells[cells["cell_type"] == "BC"])


def test_numpy_array_is_an_in_filter(tables, full):
    nuclei = full("nuclei")
    wanted = nuclei["id"].to_numpy()[:7]
    got = tables.nuclei(id=wanted).query(split_positions=True)
    same_rows(got, nuclei[nuclei["id"].isin(wanted)])


@pytest.mark.parametrize("kwargs,message", [
    ({"nope": 1}, "no filter field nope"),
    ({"cell_type": {">": "a"}}, "comparisons"),
    ({"id": {"!=": 3}}, "comparisons"),
])
def test_bad_keywords(tables, kwargs, message):
    with pytest.raises(QueryValidationError, match=message):
        tables.cell_types(**kwargs)


def test_bad_values_fail_before_sending(client, tables):
    with sent(client) as spy:
        with pytest.raises(QueryValidationError, match="bounding box"):
            tables.synapses(post_pt_position_bbox=[[0, 0, 0]]).query()
        with pytest.raises(QueryValidationError, match="ids are whole numbers"):
            tables.synapses(pre_pt_root_id="abc").query()
    assert spy.posts == []


def test_query_arguments(tables, full):
    syn = full("synapses")
    got = tables.synapses(size={">": 1000.0}).query(select_columns=["id", "size"], limit=20,
                                                     offset=10)
    expected = syn[syn["size"] > 1000.0].sort_values("id").iloc[10:30]
    assert list(got.columns) == ["id", "size"] and ids(got) == ids(expected)
    counted = tables.synapses(size={">": 1000.0}).query(get_counts=True)
    assert int(counted["count"].iloc[0]) == int((syn["size"] > 1000.0).sum())
    nm = tables.nuclei().query(desired_resolution=[1, 1, 1], limit=5, split_positions=True)
    assert nm.attrs["dataframe_resolution"] == [1.0, 1.0, 1.0]
    old = tables.synapses().query(materialization_version=3, metadata=False)
    assert len(old) == len(full("synapses", 3))


def test_get_all(tables, full):
    same_rows(tables.nuclei.get_all(split_positions=True, metadata=False), full("nuclei"))


# --- reference tables ----------------------------------------------------------------------------


def test_reference_table_query_joins_with_ref_suffix_on_this_side(client, tables, full):
    ref, nuclei = full("cell_type_ref"), full("nuclei")
    volume = float(nuclei["volume"].median())  # from the data, like the other filter tests
    with sent(client) as spy:
        got = tables.cell_type_ref(cell_type="excitatory", volume={">": volume}).query(
            split_positions=True)
    body = body_of(spy)
    assert body["tables"] == [["cell_type_ref", "target_id"], ["nuclei", "id"]]
    assert body["suffix_map"] == {"cell_type_ref": "_ref", "nuclei": ""}
    assert body["filter_equal_dict"] == {"cell_type_ref": {"cell_type": "excitatory"}}
    assert body["filter_greater_dict"] == {"nuclei": {"volume": volume}}
    merged = ref.merge(nuclei, left_on="target_id", right_on="id", suffixes=("_ref", ""))
    expected = merged[(merged["cell_type"] == "excitatory") & (merged["volume"] > volume)]
    assert 0 < len(expected) < len(merged)
    assert list(got.columns) == list(expected.columns)
    same_rows(got, expected)


def test_reference_table_filter_on_its_own_id(tables, full):
    ref = full("cell_type_ref")
    wanted = [int(i) for i in ref["id"].head(4)]
    got = tables.cell_type_ref(id_ref=wanted).query()
    assert sorted(int(i) for i in got["id_ref"]) == wanted


def test_reference_table_live_query(tables, mat, now):
    got = tables.cell_type_ref(cell_type="inhibitory").live_query(now, split_positions=True)
    expected = mat.live_live_query(
        "cell_type_ref", now, joins=[["cell_type_ref", "target_id", "nuclei", "id"]],
        suffixes={"cell_type_ref": "_ref", "nuclei": ""},
        filter_equal_dict={"cell_type_ref": {"cell_type": "inhibitory"}}, split_positions=True)
    assert "id_ref" in got.columns and len(got) > 0
    same_rows(got, expected)
    # query(timestamp=...) on a reference table goes live, with its filters
    via_query = tables.cell_type_ref(cell_type="inhibitory").query(timestamp=now,
                                                                  split_positions=True)
    same_rows(via_query, expected)


def test_table_live_query_and_get_all_live(tables, mat, now):
    syn = mat.live_live_query("synapses", now, split_positions=True, metadata=False)
    root = int(syn["pre_pt_root_id"].iloc[0])
    got = tables.synapses(pre_pt_root_id=root).live_query(now, split_positions=True)
    same_rows(got, syn[syn["pre_pt_root_id"] == root])
    assert got.attrs["live_query"] is True
    whole = tables.nuclei.get_all_live(now, split_positions=True, metadata=False)
    same_rows(whole, mat.live_live_query("nuclei", now, split_positions=True, metadata=False))
    via_query = tables.synapses(pre_pt_root_id=root).query(timestamp=now, split_positions=True)
    same_rows(via_query, got)


# --- versions ------------------------------------------------------------------------------


def test_manager_follows_the_client_version(fresh_client, full):
    fresh_client.version = 2
    tables = fresh_client.materialize.tables
    assert tables.table_names == ["cell_types", "nuclei", "synapses"]
    df = tables.synapses().query(split_positions=True, metadata=False)
    same_rows(df, full("synapses", 2))
    fresh_client.version = None
    assert "cell_type_ref" in fresh_client.materialize.tables


# --- views -------------------------------------------------------------------------------------


def test_views_manager(mat, client):
    views = mat.views
    assert views.table_names == [VIEW] and len(views) == 1 and VIEW in views
    cls = views.nucleus_types
    assert views[VIEW] is cls
    assert {"id", "volume", "pt_root_id", "cell_type", "classification_system",
            "pt_position_bbox"} <= set(cls.fields)
    assert "volume" in cls.numeric_fields and cls.spatial_fields == ["pt_position_bbox"]
    assert "<summary>nucleus_types</summary>" in views._repr_html_()
    assert views.find("TYPES") == [VIEW]


def test_view_query_with_keywords(client, mat):
    whole = mat.query_view(VIEW, split_positions=True, metadata=False)
    volume = float(whole["volume"].median())  # from the data, like the other filter tests
    with sent(client) as spy:
        got = mat.views.nucleus_types(cell_type=["inhibitory", "nonneuronal"],
                                      volume={">=": volume}).query(split_positions=True)
    body = body_of(spy)
    assert body["filter_in_dict"] == {VIEW: {"cell_type": ["inhibitory", "nonneuronal"]}}
    assert body["filter_greater_equal_dict"] == {VIEW: {"volume": volume}}
    keep = whole["cell_type"].isin(["inhibitory", "nonneuronal"]) & (whole["volume"] >= volume)
    assert 0 < keep.sum() < len(whole)
    same_rows(got, whole[np.asarray(keep, dtype=bool)])
    assert got.attrs["table_name"] == VIEW
    same_rows(mat.views.nucleus_types.get_all(split_positions=True, metadata=False), whole)


def test_views_at_a_version_without_views(fresh_client):
    fresh_client.version = 2
    views = fresh_client.materialize.views
    assert len(views) == 0 and views.table_names == []
    assert views._repr_html_() == ""
    fresh_client.version = None


def test_view_query_arguments(mat):
    got = mat.views.nucleus_types(cell_type="inhibitory").query(
        select_columns=["id", "cell_type"], limit=5, materialization_version=LATEST)
    assert list(got.columns) == ["id", "cell_type"] and len(got) == 5
    counted = mat.views.nucleus_types(cell_type="inhibitory").query(get_counts=True)
    whole = mat.query_view(VIEW, metadata=False)
    assert int(counted["count"].iloc[0]) == int((whole["cell_type"] == "inhibitory").sum())
    assert isinstance(got, pd.DataFrame)
