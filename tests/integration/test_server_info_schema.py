"""The info service (datastacks, aligned volumes, image sources) and the schema service over
real HTTP, checked against the wire format caveclient reads and against the demo catalog."""

from __future__ import annotations

import pytest
from helpers.server_http import ok
from packaging.version import Version

from cave_widgets.server.demo import catalog

SCHEMAS = ["bound_tag", "cell_type_local", "cell_type_reference", "nucleus_detection", "synapse"]


# --- info ----------------------------------------------------------------------------------------


def test_info_version_is_open_and_pep440(anon, demo_server):
    version = ok(anon.get(f"{demo_server.url}/info/version"))
    assert isinstance(version, str) and Version(version) >= Version("4.3.1")


def test_datastacks_lists_the_demo(api, demo_server):
    assert ok(api.get(f"{demo_server.url}/info/api/v2/datastacks")) == [catalog.DATASTACK]


def test_datastack_record_has_what_caveclient_needs(api, demo_server):
    record = ok(api.get(f"{demo_server.url}/info/api/v2/datastack/full/{demo_server.datastack}"))
    # local_server is this very origin, without a trailing slash (caveclient concatenates).
    assert record["local_server"] == demo_server.url and not record["local_server"].endswith("/")
    assert record["segmentation_source"] == (
        f"graphene://{demo_server.url}/segmentation/table/{catalog.PCG_TABLE}")
    av = record["aligned_volume"]
    assert av["name"] == catalog.ALIGNED_VOLUME and isinstance(av["id"], int)
    assert av["image_source"].startswith("precomputed://")
    assert record["synapse_table"] == "synapses" and record["soma_table"] == "nuclei"
    assert [record[f"viewer_resolution_{a}"] for a in "xyz"] == list(catalog.VOXEL_RESOLUTION)
    for key in ("viewer_site", "description", "analysis_database", "skeleton_source",
                "proofreading_status_table", "cell_identification_table",
                "proofreading_review_table"):
        assert key in record  # nulls are present as null
    # The tables it names exist in the newest version.
    tables = ok(api.get(f"{demo_server.url}/materialize/api/v2/datastack/demo_local/version/"
                        f"{catalog.DEFAULT_VERSION}/tables"))
    assert record["synapse_table"] in tables and record["soma_table"] in tables


def test_image_sources(api, demo_server):
    record = ok(api.get(f"{demo_server.url}/info/api/v2/datastack/full/demo_local"))
    sources = ok(api.get(f"{demo_server.url}/info/api/v2/datastack/demo_local/image_sources"))
    assert len(sources) == 1
    assert set(sources[0]) == {"id", "name", "viewer_layer_name", "image_source", "description"}
    assert sources[0]["image_source"] == record["aligned_volume"]["image_source"]


def test_aligned_volume_routes_agree(api, demo_server):
    p = f"{demo_server.url}/info/api/v2"
    record = ok(api.get(f"{p}/datastack/full/demo_local"))["aligned_volume"]
    assert ok(api.get(f"{p}/aligned_volume")) == [catalog.ALIGNED_VOLUME]
    assert ok(api.get(f"{p}/aligned_volume/{catalog.ALIGNED_VOLUME}")) == record
    assert ok(api.get(f"{p}/aligned_volume/id/{record['id']}")) == record
    assert ok(api.get(f"{p}/aligned_volume/{catalog.ALIGNED_VOLUME}/datastacks")) == ["demo_local"]
    for path in ("aligned_volume/other", f"aligned_volume/id/{record['id'] + 1}",
                 "aligned_volume/id/x", "aligned_volume/other/datastacks"):
        r = api.get(f"{p}/{path}")
        assert r.status_code == 404 and r.json()["message"]


def test_info_routes_need_a_token_except_version(anon, demo_server):
    p = f"{demo_server.url}/info/api/v2"
    for path in ("/datastacks", "/datastack/full/demo_local", "/datastack/demo_local/image_sources",
                 "/aligned_volume", "/aligned_volume/demo_volume", "/aligned_volume/id/1",
                 "/aligned_volume/demo_volume/datastacks"):
        r = anon.get(p + path)
        assert r.status_code == 401 and r.json()["error"] == "no_token", path


# --- schema ---------------------------------------------------------------------------------------


def test_schema_versions_and_types(anon, demo_server):
    assert ok(anon.get(f"{demo_server.url}/schema/versions")) == [2]
    assert ok(anon.get(f"{demo_server.url}/schema/api/v2/type")) == SCHEMAS


def test_every_table_schema_is_served(anon, demo_server):
    types = ok(anon.get(f"{demo_server.url}/schema/api/v2/type"))
    for table in catalog.TABLES:
        assert table.schema in types


@pytest.mark.parametrize("name", SCHEMAS)
def test_schema_document_shape(anon, demo_server, name):
    doc = ok(anon.get(f"{demo_server.url}/schema/api/v2/type/{name}"))
    assert doc["$schema"] == "http://json-schema.org/draft-07/schema#"
    main = doc["$ref"].removeprefix("#/definitions/")
    assert main in doc["definitions"]
    for definition in doc["definitions"].values():
        assert definition["type"] == "object"
        assert set(definition) >= {"properties", "required", "additionalProperties"}
    for prop in doc["definitions"][main]["properties"].values():
        if "$ref" in prop:
            assert prop["$ref"] in ("#/definitions/BoundSpatialPoint", "#/definitions/SpatialPoint")
        else:
            kind = prop.get("format") or prop["type"]
            kind = [k for k in kind if k != "null"][0] if isinstance(kind, list) else kind
            assert kind in ("integer", "boolean", "string", "float", "number")


def test_schema_fields_match_the_materialized_columns(anon, api, demo_server):
    """Flattening the schema document gives exactly the columns a table query returns."""
    base = (f"{demo_server.url}/materialize/api/v3/datastack/demo_local/version/"
            f"{catalog.DEFAULT_VERSION}")
    for table in catalog.TABLES:
        doc = ok(anon.get(f"{demo_server.url}/schema/api/v2/type/{table.schema}"))
        props = doc["definitions"][doc["$ref"].removeprefix("#/definitions/")]["properties"]
        expected = {"id", "valid"}
        for name, prop in props.items():
            if prop.get("$ref") == "#/definitions/BoundSpatialPoint":
                expected |= {f"{name}_position_{a}" for a in "xyz"}
                expected |= {f"{name}_supervoxel_id", f"{name}_root_id"}
            elif prop.get("$ref") == "#/definitions/SpatialPoint":
                expected |= {f"{name}_position_{a}" for a in "xyz"}
            else:
                expected.add(name)
        r = api.post(f"{base}/table/{table.name}/query", params={"return_pyarrow": "False",
                                                                  "arrow_format": "True"},
                     json={"limit": 1})
        assert set(ok(r)[0]) == expected, table.name


def test_schema_multi_and_all(anon, demo_server):
    p = f"{demo_server.url}/schema/api/v2"
    every = ok(anon.get(f"{p}/types_all"))
    assert sorted(every) == SCHEMAS
    assert every["synapse"] == ok(anon.get(f"{p}/type/synapse"))
    for method in ("POST", "GET"):
        some = ok(anon.request(method, f"{p}/types", params={"schema_names": "synapse,bound_tag"}))
        assert some == {"synapse": every["synapse"], "bound_tag": every["bound_tag"]}
    assert ok(anon.post(f"{p}/types")) == {}


def test_unknown_schema_is_404_naming_it(anon, demo_server):
    p = f"{demo_server.url}/schema/api/v2"
    for r in (anon.get(f"{p}/type/nope"),
              anon.post(f"{p}/types", params={"schema_names": "synapse,nope"})):
        assert r.status_code == 404 and "'nope'" in r.json()["message"]
