"""The embedded server's table columns come from the real schema catalogue: every schema type's
columns, in the real table order, with root id columns paired with their supervoxel ids."""

import pytest

from cave_widgets import schema_catalogue as catalogue
from cave_widgets.server.demo import catalog
from cave_widgets.server.schemas import table_columns

# Written out here rather than taken from the module under test.
SQL_TYPE_KIND = {"BIGINT": "integer", "INTEGER": "integer", "FLOAT": "float",
                 "VARCHAR": "string", "BOOLEAN": "boolean"}


@pytest.mark.parametrize("name", catalogue.names())
def test_columns_are_the_catalogues_flat_columns_in_order(name):
    want = [(c, "position" if t.startswith("geometry(POINTZ") else SQL_TYPE_KIND[t])
            for c, t in catalogue.columns(name)]
    assert [(c.name, c.kind) for c in table_columns(name)] == want


@pytest.mark.parametrize("name", catalogue.names())
def test_root_ids_pair_with_the_supervoxel_of_the_same_point(name):
    cols = {c.name: c for c in table_columns(name)}
    for c in cols.values():
        if c.role == "root":
            assert c.partner == c.name.removesuffix("root_id") + "supervoxel_id"
            assert cols[c.partner].role == "supervoxel"
        elif c.role == "supervoxel":
            assert any(r.partner == c.name for r in cols.values())
        else:
            assert c.partner is None


def test_real_table_orders():
    assert [c.name for c in table_columns("synapse")] == [
        "id", "valid", "pre_pt_position", "pre_pt_supervoxel_id", "pre_pt_root_id",
        "post_pt_position", "post_pt_supervoxel_id", "post_pt_root_id", "ctr_pt_position",
        "size"]
    assert [c.name for c in table_columns("bound_tag")] == [
        "id", "valid", "pt_position", "pt_supervoxel_id", "pt_root_id", "tag"]
    # Static root ids that are not a point's (cell_similarity's query/match roots) are plain.
    sim = {c.name: c for c in table_columns("cell_similarity")}
    assert sim["query_root_id"].role == "" and sim["match_root_id"].role == ""
    assert sim["match_pt_root_id"].partner == "match_pt_supervoxel_id"


def test_position_columns_split_into_xyz():
    pos = next(c for c in table_columns("nucleus_detection") if c.name == "pt_position")
    assert pos.physical == ["pt_position_x", "pt_position_y", "pt_position_z"]


def test_every_demo_table_has_a_catalogued_schema():
    for table in catalog.TABLES:
        assert table.schema in catalogue.names()


def test_unknown_schema_type_is_a_key_error():
    with pytest.raises(KeyError):
        table_columns("no_such_schema")
