"""The checked-in catalogue of real CAVE annotation schemas (cave_widgets.schema_catalogue) and
its loader. tests/integration/test_schema_catalogue_compat.py regenerates it from the real
emannotationschemas package; these checks need nothing but the file."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from cave_widgets import schema_catalogue as catalogue

REPO = Path(__file__).resolve().parents[2]
GENERATOR = REPO / "tools" / "generate_schema_catalogue.py"
DATA = REPO / "cave_widgets" / "schema_catalogue" / "catalogue.json"
DRAFT_07 = "http://json-schema.org/draft-07/schema#"

# schema type -> root class, as the real service names them (never derived from the type name)
WELL_KNOWN = {
    "synapse": "SynapseSchema",
    "fly_synapse": "BuhmannSynapseSchema",
    "cell_type_local": "CellTypeLocal",
    "cell_type_reference": "CellTypeReference",
    "nucleus_detection": "NucleusDetection",
    "bound_tag": "BoundTagAnnotation",
    "reference_point": "FlatSegmentationReferenceSinglePoint",
    "proofread_status": "ProofreadStatus",
    "derived_spatial_point": "DerivedSpatialPoint",
}


def load_generator():
    spec = importlib.util.spec_from_file_location("generate_schema_catalogue", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_many_schema_types_in_service_order():
    names = catalogue.names()
    assert len(names) >= 50
    assert len(set(names)) == len(names)
    assert names[:2] == ["synapse", "nocleft_synapse"]  # the service's own listing order
    assert set(WELL_KNOWN) <= set(names)


@pytest.mark.parametrize("name, root", sorted(WELL_KNOWN.items()))
def test_well_known_schemas_carry_their_real_root_class(name, root):
    doc = catalogue.definition(name)
    assert doc["$ref"] == f"#/definitions/{root}"
    assert root in doc["definitions"]


def test_documents_have_the_service_shape():
    for name in catalogue.names():
        doc = catalogue.definition(name)
        assert list(doc) == ["$schema", "definitions", "$ref"], name
        assert doc["$schema"] == DRAFT_07
        root = doc["$ref"].split("/")[-1]
        assert list(doc["definitions"])[-1] == root, name  # the root class comes last
        for definition in doc["definitions"].values():
            assert definition["type"] == "object"
            assert isinstance(definition["required"], list)  # caveclient's stage needs it
            assert list(definition["properties"]) == sorted(definition["properties"])


def test_points_and_references_look_as_the_real_service_renders_them():
    synapse = catalogue.definition("synapse")
    bound = synapse["definitions"]["BoundSpatialPoint"]
    assert bound["properties"] == {"position": {"type": "array"}, "root_id": {"type": "integer"},
                                   "supervoxel_id": {"type": "integer"}}
    assert bound["additionalProperties"] is False and bound["required"] == ["position"]
    root = synapse["definitions"]["SynapseSchema"]
    assert root["properties"]["pre_pt"]["$ref"] == "#/definitions/BoundSpatialPoint"
    assert root["properties"]["ctr_pt"]["$ref"] == "#/definitions/SpatialPoint"
    assert root["properties"]["size"]["format"] == "float"
    assert root["additionalProperties"] is True
    reference = catalogue.definition("cell_type_reference")["definitions"]["CellTypeReference"]
    assert reference["properties"]["target_id"] == {"type": "integer"}
    assert "target_id" in reference["required"]
    valid = root["properties"]["valid"]
    assert valid["type"] == ["boolean", "null"] and valid["default"] is False


def test_definition_returns_a_copy():
    first = catalogue.definition("synapse")
    first["definitions"]["SynapseSchema"]["properties"].clear()
    first["$ref"] = "changed"
    second = catalogue.definition("synapse")
    assert second["$ref"] == "#/definitions/SynapseSchema"
    assert "pre_pt" in second["definitions"]["SynapseSchema"]["properties"]
    assert catalogue.definition("synapse") is not catalogue.definition("synapse")


def test_unknown_names_are_key_errors():
    with pytest.raises(KeyError, match="no_such_schema"):
        catalogue.definition("no_such_schema")
    with pytest.raises(KeyError):
        catalogue.columns("no_such_schema")


def test_versions_are_recorded():
    assert catalogue.version().startswith("5.26.")
    versions = catalogue.versions()
    assert versions["emannotationschemas"] == catalogue.version()
    assert versions["marshmallow-jsonschema"]
    # What the file says it was built with is what the generator pins.
    assert versions == load_generator().pinned_versions()


def test_every_schema_has_table_columns():
    for name in catalogue.names():
        columns = catalogue.columns(name)
        names = [c for c, _ in columns]
        assert names[0] == "id" and columns[0] == ("id", "BIGINT"), name
        assert len(set(names)) == len(names), name
    assert catalogue.columns("synapse") == [
        ("id", "BIGINT"), ("valid", "BOOLEAN"),
        ("pre_pt_position", "geometry(POINTZ,-1)"), ("pre_pt_supervoxel_id", "BIGINT"),
        ("pre_pt_root_id", "BIGINT"),
        ("post_pt_position", "geometry(POINTZ,-1)"), ("post_pt_supervoxel_id", "BIGINT"),
        ("post_pt_root_id", "BIGINT"),
        ("ctr_pt_position", "geometry(POINTZ,-1)"), ("size", "FLOAT")]


def test_the_file_is_laid_out_as_the_generator_writes_it():
    text = DATA.read_text(encoding="utf-8")
    data = json.loads(text)
    assert load_generator().render(data) == text  # pretty-printed, nothing edited by hand
    assert list(data) == ["about", "format", "versions", "types", "schemas", "columns"]
    assert data["types"] == list(data["schemas"]) == list(data["columns"])


def test_import_is_cheap_and_independent():
    code = ("import sys, cave_widgets.schema_catalogue as c; "
            "loaded = c._catalogue.cache_info().currsize; "
            "print(loaded, sorted(m for m in sys.modules if m.startswith("
            "('cave_widgets.client', 'cave_widgets.server', 'pandas', 'pyarrow'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "0 []"
