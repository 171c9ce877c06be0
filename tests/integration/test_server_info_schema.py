"""The info service (datastacks, aligned volumes, image sources) and the schema service over
real HTTP, checked against the wire format caveclient reads and against the demo catalog."""

from __future__ import annotations

import json

import pytest
from helpers.server_http import ok
from packaging.version import Version

from cave_widgets import schema_catalogue
from cave_widgets.server.demo import catalog

SCHEMAS = schema_catalogue.names()  # the real catalogue: 57 types, in the service's order


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


def compact(obj) -> bytes:
    """A JSON value as the server writes it (no spaces, keys in the value's own order)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def test_schema_versions_and_types(anon, demo_server):
    assert ok(anon.get(f"{demo_server.url}/schema/versions")) == [2]
    types = ok(anon.get(f"{demo_server.url}/schema/api/v2/type"))
    assert types == SCHEMAS and len(types) == 57 and types[:2] == ["synapse", "nocleft_synapse"]


def test_every_table_schema_is_served(anon, demo_server):
    types = ok(anon.get(f"{demo_server.url}/schema/api/v2/type"))
    for table in catalog.TABLES:
        assert table.schema in types


@pytest.mark.parametrize("name", SCHEMAS)
def test_every_document_is_the_catalogues_byte_for_byte(anon, demo_server, name):
    r = anon.get(f"{demo_server.url}/schema/api/v2/type/{name}")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    # Same keys in the same order, same values: the document as the real service renders it.
    assert r.content == compact(schema_catalogue.definition(name))


def test_types_all_is_the_whole_catalogue_byte_for_byte(anon, demo_server):
    r = anon.get(f"{demo_server.url}/schema/api/v2/types_all")
    assert r.status_code == 200
    assert r.content == compact({n: schema_catalogue.definition(n) for n in SCHEMAS})


def test_types_answers_in_request_order(anon, demo_server):
    p = f"{demo_server.url}/schema/api/v2"
    names = ["bound_tag", "synapse", "cell_match_reference"]
    want = compact({n: schema_catalogue.definition(n) for n in names})
    for method in ("POST", "GET"):
        r = anon.request(method, f"{p}/types", params={"schema_names": ",".join(names)})
        assert r.status_code == 200 and r.content == want, method
    assert ok(anon.post(f"{p}/types")) == {}


def test_documents_are_the_real_ones_not_approximations(anon, demo_server):
    """The differences the hand-written documents had, each checked on the wire."""
    p = f"{demo_server.url}/schema/api/v2/type"
    synapse, tag, nucleus = (ok(anon.get(f"{p}/{n}"))
                             for n in ("synapse", "bound_tag", "nucleus_detection"))
    assert synapse["$ref"] == "#/definitions/SynapseSchema"
    assert tag["$ref"] == "#/definitions/BoundTagAnnotation"
    assert list(tag["definitions"]) == ["BoundSpatialPoint", "BoundTagAnnotation"]  # no extras
    bound = tag["definitions"]["BoundSpatialPoint"]
    assert bound == {"properties": {"position": {"type": "array"},
                                    "root_id": {"type": "integer"},
                                    "supervoxel_id": {"type": "integer"}},
                     "type": "object", "required": ["position"], "additionalProperties": False}
    for doc in (synapse, tag, nucleus):
        root = doc["definitions"][doc["$ref"].removeprefix("#/definitions/")]
        assert root["properties"]["valid"] == {
            "title": "valid", "type": ["boolean", "null"], "default": False,
            "description": "is this annotation valid"}
        assert root["additionalProperties"] is True
    assert synapse["definitions"]["SynapseSchema"]["required"] == ["ctr_pt", "post_pt", "pre_pt"]
    assert nucleus["definitions"]["NucleusDetection"]["required"] == ["pt"]


def test_schema_fields_match_the_materialized_columns(anon, api, demo_server):
    """Flattening the schema document gives exactly the columns a table query returns, in the
    real table order of the catalogue."""
    base = (f"{demo_server.url}/materialize/api/v3/datastack/demo_local/version/"
            f"{catalog.DEFAULT_VERSION}")
    for table in catalog.TABLES:
        doc = ok(anon.get(f"{demo_server.url}/schema/api/v2/type/{table.schema}"))
        props = doc["definitions"][doc["$ref"].removeprefix("#/definitions/")]["properties"]
        expected = {"id"}
        for name, prop in props.items():
            if prop.get("$ref") == "#/definitions/BoundSpatialPoint":
                expected |= {f"{name}_position_{a}" for a in "xyz"}
                expected |= {f"{name}_supervoxel_id", f"{name}_root_id"}
            elif prop.get("$ref") == "#/definitions/SpatialPoint":
                expected |= {f"{name}_position_{a}" for a in "xyz"}
            else:
                expected.add(name)
        in_order = []
        for column, sql_type in schema_catalogue.columns(table.schema):
            geometry = sql_type.startswith("geometry")
            in_order += [f"{column}_{a}" for a in "xyz"] if geometry else [column]
        r = api.post(f"{base}/table/{table.name}/query", params={"return_pyarrow": "False",
                                                                  "arrow_format": "True"},
                     json={"limit": 1})
        row = ok(r)[0]
        assert set(row) == expected, table.name
        assert list(row) == in_order, table.name


def test_unknown_schema_is_404_naming_it(anon, demo_server):
    p = f"{demo_server.url}/schema/api/v2"
    for r in (anon.get(f"{p}/type/nope"),
              anon.post(f"{p}/types", params={"schema_names": "synapse,nope"})):
        assert r.status_code == 404 and "'nope'" in r.json()["message"]
