"""client.state against the embedded server: every JSONService method and property over real
HTTP, the viewer it links to (the datastack's viewer_site, followed when the datastack
changes), and the typed errors of a missing token, a non-admin and an unknown id."""

from __future__ import annotations

import json

import numpy as np
import pytest
import requests
from helpers.client_wire import client, home  # noqa: F401  (fixtures)

from cave_widgets import CAVEclient
from cave_widgets.client.errors import (
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)

PROPS = {"@type": "neuroglancer_segment_properties",
         "inline": {"ids": ["11", "22"],
                    "properties": [{"id": "label", "type": "label", "values": ["pyr", "basket"]},
                                   {"id": "depth", "type": "number", "data_type": "float32",
                                    "values": [1.5, 2.5]}]}}


def test_the_service_and_its_viewer(client, demo_server):
    state = client.state
    assert state is client.state
    assert str(state.server_version) == "0.7.2"
    assert state.state_service_endpoint == f"{demo_server.url}/nglstate/api/v1/post"
    assert state.ngl_url == f"{demo_server.url}/neuroglancer/v/demo/" == client.info.viewer_site()
    # The embedded viewer has no version.json on purpose: links take the ?json_url= form,
    # which its page redirects to #!.
    assert state.get_neuroglancer_info() == {}


def test_states_round_trip_with_ids_as_strings(client):
    state = {"layers": [{"type": "segmentation", "segments": np.array([2**63 + 1], np.uint64)}],
             "position": np.array([1.5, 2.0, 3.0]), "count": 3}
    state_id = client.state.upload_state_json(state)
    assert isinstance(state_id, int)
    assert client.state.get_state_json(state_id) == {
        "layers": [{"type": "segmentation", "segments": [str(2**63 + 1)]}],
        "position": [1.5, 2.0, 3.0], "count": 3}


def test_links_open_the_state_and_read_back(client, demo_server):
    state_id = client.state.upload_state_json({"layers": [], "title": "linked"})
    link = client.state.build_neuroglancer_url(state_id)
    viewer = f"{demo_server.url}/neuroglancer/v/demo/"
    state_url = f"{demo_server.url}/nglstate/api/v1/{state_id}"
    assert link == f"{viewer}?json_url={state_url}"
    assert client.state.get_state_json(link) == {"layers": [], "title": "linked"}
    assert client.state.get_state_json(state_url)["title"] == "linked"
    spelunker = client.state.build_neuroglancer_url(state_id, target_site="spelunker")
    assert spelunker == f"{viewer}#!{state_url}"  # http: no middleauth+ (no viewer opens it)
    # The viewer page turns the ?json_url= form into the #! form neuroglancer reads (for a
    # signed-in browser: the viewer fetches the state with the browser's cookie).
    r = requests.get(link, allow_redirects=False, timeout=30,
                     cookies={"middle_auth_token": demo_server.token})
    assert r.status_code == 302 and r.headers["location"] == f"/neuroglancer/v/demo/#!{state_url}"


def test_property_files(client, demo_server):
    prop_id = client.state.upload_property_json(PROPS)
    assert client.state.get_property_json(prop_id) == PROPS
    source = client.state.build_neuroglancer_url(prop_id, format_properties=True)
    assert source == f"precomputed://{demo_server.url}/nglstate/api/v1/property/{prop_id}"
    with pytest.raises(ValueError, match="maximum size"):
        client.state.upload_property_json(PROPS, max_size=50)


def test_explicit_ids_are_for_admins(client, demo_server):
    wanted = int(np.random.default_rng().integers(10**15, 2**53))
    assert client.state.upload_state_json({"n": 1}, state_id=wanted, timestamp=1.7e9) == wanted
    with pytest.raises(InvalidRequestError, match="already in use"):
        client.state.upload_state_json({"n": 2}, state_id=wanted)
    assert client.state.upload_property_json(PROPS, state_id=wanted + 1) == wanted + 1
    guest = CAVEclient(server_address=demo_server.url, auth_token=demo_server.tokens["guest"])
    with pytest.raises(PermissionDeniedError):
        guest.state.upload_state_json({}, state_id=wanted + 2)
    assert guest.state.get_state_json(wanted) == {"n": 1}  # any signed-in user reads


def test_errors_are_typed(client, demo_server):
    with pytest.raises(NotFoundError, match="no state with id 12"):
        client.state.get_state_json(12)
    anonymous = CAVEclient(server_address=demo_server.url, auth_token=None)
    assert str(anonymous.state.server_version) == "0.7.2"  # the version route is open
    with pytest.raises(AuthenticationError):
        anonymous.state.upload_state_json({})


def test_the_viewer_follows_the_datastack_until_set(client, demo_server):
    state = client.state
    client.datastack_name = None
    assert client.state is state and state.ngl_url is None  # a global client has no viewer
    client.datastack_name = demo_server.datastack
    assert state.ngl_url.endswith("/neuroglancer/v/demo/")
    state.ngl_url = "https://elsewhere.test/"
    assert state.ngl_url == "https://elsewhere.test/"
    assert state.build_neuroglancer_url(5, target_site="seunglab") == (
        f"https://elsewhere.test/?json_url={demo_server.url}/nglstate/api/v1/5")


def test_save_state_json_local(client, tmp_path):
    path = tmp_path / "state.json"
    client.state.save_state_json_local({"segments": np.array([3], np.uint64)}, str(path))
    assert json.loads(path.read_text()) == {"segments": ["3"]}
