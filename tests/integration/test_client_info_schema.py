"""client.info (InfoServiceClient) and client.schema (SchemaClient) against the embedded
server over real HTTP: every method, what it sends, what it caches and how it fails."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers.client_wire import client, home, private_home, record_requests  # noqa: F401  (fixtures)
from packaging.version import Version

from cave_widgets import CAVEclient, schema_catalogue
from cave_widgets.client import (
    AuthenticationError,
    GlobalClientError,
    NotFoundError,
    UnknownDatastackError,
)
from cave_widgets.server.demo import catalog

SCHEMAS = schema_catalogue.names()  # the real catalogue: 57 types, in the service's order


@pytest.fixture()
def global_client(demo_server):
    return CAVEclient(server_address=demo_server.url, auth_token=demo_server.token)


# --- datastacks and their records ------------------------------------------------------------


def test_info_is_on_the_global_server(client, demo_server):
    assert client.info.server_address == demo_server.url
    assert client.info.datastack_name == demo_server.datastack
    assert repr(client.info) == f"InfoServiceClient(server_address='{demo_server.url}')"


def test_server_version(client):
    assert client.info.server_version == Version("4.3.3")


def test_get_datastacks(client, demo_server):
    assert client.info.get_datastacks() == [demo_server.datastack]


def test_get_datastack_info(client, demo_server):
    record = client.info.get_datastack_info()
    assert record["local_server"] == demo_server.url
    assert record["aligned_volume"]["name"] == catalog.ALIGNED_VOLUME
    assert record["synapse_table"] == "synapses"
    assert record["segmentation_source"] == (
        f"graphene://{demo_server.url}/segmentation/table/{catalog.PCG_TABLE}")
    assert client.info.get_datastack_info(demo_server.datastack) == record


def test_get_datastack_info_uses_the_stored_record(client, demo_server, monkeypatch):
    seen = record_requests(monkeypatch)
    client.change_auth(auth_token=demo_server.token)  # a session that records
    full = ("GET", f"/info/api/v2/datastack/full/{demo_server.datastack}")
    client.info.get_datastack_info()
    assert seen == []
    client.info.get_datastack_info(use_stored=False)
    assert seen == [full]


def test_get_datastack_info_with_an_image_mirror(client, demo_server):
    seen = []
    client.session.hooks["response"].append(lambda r, *a, **k: seen.append(r.request.url))
    record = client.info.get_datastack_info(image_mirror="demo_em")
    assert record["local_server"] == demo_server.url
    assert seen == [f"{demo_server.url}/info/api/v2/datastack/full/{demo_server.datastack}"
                    "?image_source_name=demo_em"]


def test_unknown_datastack(client):
    with pytest.raises(UnknownDatastackError, match="nope_ds"):
        client.info.get_datastack_info("nope_ds")
    with pytest.raises(UnknownDatastackError):
        client.info.get_image_mirrors("nope_ds")


def test_refresh_stored_data_asks_again(client, demo_server):
    cache = client.info.info_cache
    cache[demo_server.datastack] = dict(cache[demo_server.datastack], viewer_site="stale")
    assert client.info.viewer_site() == "stale"
    client.info.refresh_stored_data()
    assert client.info.viewer_site() == f"{demo_server.url}/neuroglancer/v/demo/"


def test_record_fields(client, demo_server):
    info = client.info
    assert info.local_server() == demo_server.url
    assert info.annotation_endpoint() == f"{demo_server.url}/annotation"
    assert info.image_source() == f"precomputed://{demo_server.url}/demo/em"
    assert info.segmentation_source() == (
        f"graphene://{demo_server.url}/segmentation/table/{catalog.PCG_TABLE}")
    assert info.synapse_segmentation_source() is None
    assert info.viewer_site() == f"{demo_server.url}/neuroglancer/v/demo/"
    resolution = info.viewer_resolution()
    assert isinstance(resolution, np.ndarray)
    assert resolution.tolist() == list(catalog.VOXEL_RESOLUTION)


def test_record_fields_of_a_named_datastack_from_a_global_client(global_client, demo_server):
    assert global_client.info.local_server(demo_server.datastack) == demo_server.url
    assert global_client.info.viewer_resolution(demo_server.datastack).tolist() == [4, 4, 40]


# --- aligned volumes and image mirrors -------------------------------------------------------


def test_get_aligned_volumes(client):
    assert client.info.get_aligned_volumes() == [catalog.ALIGNED_VOLUME]


def test_get_aligned_volume_info_comes_from_the_record(client, demo_server):
    volume = client.info.get_aligned_volume_info()
    assert volume == client.info.get_datastack_info()["aligned_volume"]
    assert volume["name"] == catalog.ALIGNED_VOLUME and volume["id"] == 1
    assert volume["image_source"] == f"precomputed://{demo_server.url}/demo/em"


def test_get_aligned_volume_info_of_an_image_mirror(client, demo_server):
    mirror = client.info.get_aligned_volume_info(image_mirror="demo_em")
    assert mirror["name"] == "demo_em"
    assert mirror["image_source"] == f"precomputed://{demo_server.url}/demo/em"
    assert client.info.image_source(image_mirror="demo_em") == mirror["image_source"]
    with pytest.raises(ValueError, match="demo_em"):
        client.info.get_aligned_volume_info(image_mirror="no_mirror")


def test_get_aligned_volume_info_by_id(client):
    assert client.info.get_aligned_volume_info_by_id()["name"] == catalog.ALIGNED_VOLUME
    assert client.info.get_aligned_volume_info_by_id(1)["id"] == 1
    with pytest.raises(NotFoundError):
        client.info.get_aligned_volume_info_by_id(99)


def test_get_datastacks_by_aligned_volume(client, demo_server):
    assert client.info.get_datastacks_by_aligned_volume() == [demo_server.datastack]
    assert client.info.get_datastacks_by_aligned_volume(catalog.ALIGNED_VOLUME) == [
        demo_server.datastack]
    with pytest.raises(NotFoundError):
        client.info.get_datastacks_by_aligned_volume("no_volume")


def test_get_image_mirrors(client, demo_server):
    mirrors = client.info.get_image_mirrors()
    assert [m["name"] for m in mirrors] == ["demo_em"]
    assert {"id", "name", "image_source", "viewer_layer_name", "description"} <= set(mirrors[0])
    assert client.info.get_image_mirror_names() == ["demo_em"]
    assert client.info.get_image_mirror_names(demo_server.datastack) == ["demo_em"]


# --- a global client's info ------------------------------------------------------------------


@pytest.mark.parametrize("method", [
    "get_datastack_info", "get_image_mirrors", "get_image_mirror_names", "local_server",
    "annotation_endpoint", "image_source", "segmentation_source", "viewer_site",
    "viewer_resolution", "get_aligned_volume_info",
])
def test_datastack_methods_of_a_global_client_need_a_name(global_client, method):
    with pytest.raises(GlobalClientError, match="datastack"):
        getattr(global_client.info, method)()


def test_global_methods_of_a_global_client(global_client, demo_server):
    assert global_client.info.get_datastacks() == [demo_server.datastack]
    assert global_client.info.get_aligned_volumes() == [catalog.ALIGNED_VOLUME]
    assert global_client.info.get_aligned_volume_info_by_id(1)["name"] == catalog.ALIGNED_VOLUME
    assert global_client.info.get_datastacks_by_aligned_volume(catalog.ALIGNED_VOLUME) == [
        demo_server.datastack]


def test_info_needs_a_token(demo_server):
    anonymous = CAVEclient(server_address=demo_server.url)
    with pytest.raises(AuthenticationError):
        anonymous.info.get_aligned_volumes()
    assert anonymous.info.server_version == Version("4.3.3")  # the version route is open


# --- schema ----------------------------------------------------------------------------------


def test_schema_is_on_the_global_server_and_speaks_v2(client, demo_server):
    assert client.schema.server_address == demo_server.url
    assert client.schema.api_version == 2
    assert client.schema.server_version is None  # the schema service reports none


def test_get_schemas(client):
    assert client.schema.get_schemas() == SCHEMAS


def test_schema_definition(client):
    definition = client.schema.schema_definition("synapse")
    assert definition["$schema"].startswith("http://json-schema.org/")
    synapse = definition["definitions"]["SynapseSchema"]
    assert list(synapse["properties"]) == ["ctr_pt", "post_pt", "pre_pt", "size", "valid"]
    assert synapse["properties"]["pre_pt"]["$ref"] == "#/definitions/BoundSpatialPoint"


@pytest.mark.parametrize("name", SCHEMAS)
def test_every_schema_definition_is_the_catalogues(client, name):
    got = client.schema.schema_definition(name)
    want = schema_catalogue.definition(name)
    assert got == want
    assert json.dumps(got) == json.dumps(want)  # key order too


def test_unknown_schema(client):
    with pytest.raises(NotFoundError, match="no_schema"):
        client.schema.schema_definition("no_schema")


def test_schema_definition_multi(client):
    both = client.schema.schema_definition_multi(["synapse", "nucleus_detection"])
    assert list(both) == ["synapse", "nucleus_detection"]
    assert both["synapse"] == client.schema.schema_definition("synapse")
    assert both["nucleus_detection"] == client.schema.schema_definition("nucleus_detection")


def test_schema_definition_multi_with_an_unknown_schema_is_none(client):
    assert client.schema.schema_definition_multi(["synapse", "no_schema"]) is None


def test_schema_definition_all(client):
    everything = client.schema.schema_definition_all()
    assert list(everything) == SCHEMAS
    want = {n: schema_catalogue.definition(n) for n in SCHEMAS}
    assert json.dumps(everything) == json.dumps(want)  # every document, key order included
    assert everything["cell_type_local"] == client.schema.schema_definition("cell_type_local")


def test_schema_needs_no_token(demo_server):
    anonymous = CAVEclient(server_address=demo_server.url)
    assert anonymous.schema.get_schemas() == SCHEMAS
    assert "definitions" in anonymous.schema.schema_definition("synapse")
