"""The client flattens schema documents into the columns CAVE's materialized tables really have:
for every schema of the catalogue, `from_schema` agrees with the columns emannotationschemas'
own model creation gives (recorded in the catalogue by tools/generate_schema_catalogue.py)."""

from __future__ import annotations

import pytest

from cave_widgets import schema_catalogue as catalogue
from cave_widgets.client.materialize.columns import columns_of_schema, from_schema
from cave_widgets.server.demo import catalog as demo_catalog
from cave_widgets.server.schemas import table_columns

# Written out here rather than taken from the module under test.
SQL_TYPE_KIND = {"BIGINT": "integer", "INTEGER": "integer", "FLOAT": "float",
                 "VARCHAR": "string", "BOOLEAN": "boolean"}
NAMES = catalogue.names()


def real_columns(name: str) -> list[tuple[str, str]]:
    out = []
    for column, sql_type in catalogue.columns(name):
        kind = "position" if sql_type.startswith("geometry(POINTZ") else SQL_TYPE_KIND[sql_type]
        out.append((column, kind))
    return out


def real_root_columns(name: str) -> set[str]:
    """Root id columns of segmentation-bound points: `<p>root_id` next to `<p>supervoxel_id`."""
    names = {c for c, _ in catalogue.columns(name)}
    return {c for c in names
            if c.endswith("root_id") and c[: -len("root_id")] + "supervoxel_id" in names}


@pytest.mark.parametrize("name", NAMES)
def test_columns_are_the_real_table_columns_in_table_order(name):
    got = from_schema("t", catalogue.definition(name), name)
    assert list(got.kinds.items()) == real_columns(name)
    assert set(got.root_columns) == real_root_columns(name)


@pytest.mark.parametrize("name", NAMES)
def test_the_document_alone_gives_the_same_columns(name):
    # A server whose documents the catalogue does not know (another emannotationschemas
    # version, a renamed type): same columns and kinds, in document order.
    got = from_schema("t", catalogue.definition(name))
    assert got.kinds == dict(real_columns(name))
    assert next(iter(got.kinds)) == "id"
    assert set(got.root_columns) == real_root_columns(name)


def test_the_catalogue_alone_names_a_tables_columns():
    got = columns_of_schema("nuclei", "nucleus_detection")
    assert got.table == "nuclei"
    assert list(got.kinds.items()) == real_columns("nucleus_detection")
    assert columns_of_schema("t", "no_such_schema") is None


def test_derived_points_flatten_with_chunk_and_level():
    got = from_schema("t", catalogue.definition("derived_tag"), "derived_tag")
    assert list(got.kinds) == ["id", "valid", "pt_position", "pt_supervoxel_id", "pt_root_id",
                               "pt_dependent_chunk", "pt_level", "tag"]
    assert got.root_columns == ("pt_root_id",)
    bare = from_schema("t", catalogue.definition("derived_spatial_point"))
    assert "valid" not in bare.kinds and bare.kinds["position"] == "position"


def test_a_document_that_is_not_the_catalogues_keeps_its_own_order():
    doc = catalogue.definition("synapse")
    doc["definitions"]["Renamed"] = doc["definitions"].pop("SynapseSchema")
    doc["$ref"] = "#/definitions/Renamed"
    got = from_schema("t", doc, "synapse")
    assert list(got.kinds)[:3] == ["id", "valid", "ctr_pt_position"]  # alphabetical properties
    assert got.kinds == dict(real_columns("synapse"))


def test_point_references_without_definitions_still_flatten():
    doc = {"$ref": "#/definitions/S", "definitions": {"S": {"properties": {
        "pre_pt": {"$ref": "#/definitions/BoundSpatialPoint"},
        "ctr_pt": {"$ref": "#/definitions/SpatialPoint"},
        "size": {"type": ["number", "null"], "format": "float"}}}}}
    got = from_schema("t", doc)
    assert list(got.kinds.items()) == [
        ("id", "integer"), ("valid", "boolean"), ("pre_pt_position", "position"),
        ("pre_pt_supervoxel_id", "integer"), ("pre_pt_root_id", "integer"),
        ("ctr_pt_position", "position"), ("size", "float")]


@pytest.mark.parametrize("name", sorted({t.schema for t in demo_catalog.TABLES}))
def test_the_embedded_servers_documents_give_its_own_columns(name):
    # The demo server serves the catalogue's documents and builds its tables from the
    # catalogue's columns: the client's columns for them are exactly the server's table
    # columns, in its order.
    want = [(c.name, c.kind) for c in table_columns(name)]
    for schema_name in (None, name):
        got = from_schema("t", catalogue.definition(name), schema_name)
        assert sorted(got.kinds.items()) == sorted(want)
        if schema_name is not None:
            assert list(got.kinds.items()) == want
        assert set(got.root_columns) == {c.name for c in table_columns(name) if c.role == "root"}
