"""Schema registry: flattened table columns and the JSON-Schema documents agree."""

import pytest

from cave_widgets.server.schemas import SCHEMAS


def test_synapse_columns_follow_cave_flattening():
    names = [c.name for c in SCHEMAS["synapse"].columns()]
    assert names[:2] == ["id", "valid"]
    for point in ("pre_pt", "post_pt"):
        assert {f"{point}_position", f"{point}_supervoxel_id", f"{point}_root_id"} <= set(names)
    assert "ctr_pt_position" in names and "ctr_pt_root_id" not in names
    root = next(c for c in SCHEMAS["synapse"].columns() if c.name == "pre_pt_root_id")
    assert root.role == "root" and root.partner == "pre_pt_supervoxel_id"


def test_position_columns_split_into_xyz():
    pos = next(c for c in SCHEMAS["nucleus_detection"].columns() if c.name == "pt_position")
    assert pos.physical == ["pt_position_x", "pt_position_y", "pt_position_z"]


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_json_schema_document_shape(name):
    doc = SCHEMAS[name].json_schema()
    assert doc["$schema"] == "http://json-schema.org/draft-07/schema#"
    main = doc["$ref"].split("/")[-1]
    props = doc["definitions"][main]["properties"]
    # Every field of the schema is a property; bound points reference BoundSpatialPoint.
    for field in SCHEMAS[name].fields:
        assert field.name in props
        if field.kind == "bound":
            assert props[field.name]["$ref"] == "#/definitions/BoundSpatialPoint"
        elif field.kind == "float":
            assert props[field.name]["format"] == "float"
    assert set(doc["definitions"]["BoundSpatialPoint"]["properties"]) == {
        "position", "supervoxel_id", "root_id"}
