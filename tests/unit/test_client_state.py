"""client.state (JSONService) on the wire, with HTTP faked by `responses`: the JSON encoding
of states (numpy ids as strings), how ids are read back, the property size limit and version
gate, and every branch of build_neuroglancer_url's decision table (caveclient 8.2.1's exact
links on an https server, no `middleauth+` on http)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import responses

from cave_widgets import CAVEclient
from cave_widgets.client.errors import NotFoundError, ServerIncompatibilityError
from cave_widgets.client.state import (
    FALLBACK_NGL_URL,
    neuroglancer_json_encoder,
    state_url_in_link,
)

GLOBAL = "https://global.example.test"
PLAIN = "http://127.0.0.1:8765"
J = f"{GLOBAL}/nglstate/api/v1"
VIEWER = "https://viewer.example.test/"
TOKEN = "a" * 32


@pytest.fixture(autouse=True)
def private_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))


@pytest.fixture()
def wire():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(f"{J}/version", json="0.7.2")
        yield mock


def state_service(server: str = GLOBAL):
    return CAVEclient(server_address=server, auth_token=TOKEN).state


def encode(value) -> str:
    return json.dumps(value, default=neuroglancer_json_encoder)


def test_the_encoder_writes_numpy_ids_as_strings_and_python_ints_as_numbers():
    state = {"segments": np.array([2**63 + 5, 7], dtype=np.uint64), "one": np.int64(3),
             "plain": 864691135000000000, "alpha": np.float32(0.5), "flag": np.bool_(True),
             "set": {1}, "series": pd.Series([np.int64(4)]), "nested": np.array([[1, 2]])}
    assert json.loads(encode(state)) == {
        "segments": [str(2**63 + 5), "7"], "one": "3", "plain": 864691135000000000,
        "alpha": 0.5, "flag": True, "set": [1], "series": ["4"], "nested": [["1", "2"]]}
    with pytest.raises(TypeError, match="object"):
        encode({"x": object()})


@pytest.mark.parametrize("link, found", [
    ("https://v.test/?json_url=https://g.test/nglstate/api/v1/12", "https://g.test/nglstate/api/v1/12"),
    ("https://v.test/#!middleauth+https://g.test/nglstate/api/v1/12",
     "https://g.test/nglstate/api/v1/12"),
    ("http://v.test/v/x/#!http%3A%2F%2Fg.test%2Fnglstate%2Fapi%2Fv1%2F12",
     "http://g.test/nglstate/api/v1/12"),
    ("https://v.test/#!%7B%22layers%22%3A%5B%5D%7D", None),  # an inline state: no URL
    ("https://g.test/nglstate/api/v1/12", None),
])
def test_state_urls_are_found_in_viewer_links(link, found):
    assert state_url_in_link(link) == found


def test_upload_sends_the_encoded_state_and_reads_the_id_from_the_answer(wire):
    wire.post(f"{J}/post", json=f"{J}/5736473471254528")
    state_id = state_service().upload_state_json({"segments": np.array([1], dtype=np.uint64)})
    assert state_id == 5736473471254528
    sent = wire.calls[-1].request
    assert json.loads(sent.body) == {"segments": ["1"]}
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"


def test_an_explicit_id_goes_in_the_path_with_its_timestamp(wire):
    wire.post(f"{J}/post/42", json=f"{J}/42")
    assert state_service().upload_state_json({}, state_id=42, timestamp=1_700_000_000) == 42
    assert wire.calls[-1].request.url == f"{J}/post/42?timestamp=1700000000.0"


def test_property_files_have_their_own_routes_and_a_size_limit(wire):
    wire.post(f"{J}/property/post", json=f"{J}/property/77")
    wire.get(f"{J}/property/77/info", json={"@type": "neuroglancer_segment_properties"})
    service = state_service()
    assert service.upload_property_json({"inline": {"ids": ["1"]}}) == 77
    assert service.get_property_json(77) == {"@type": "neuroglancer_segment_properties"}
    before = len(wire.calls)
    with pytest.raises(ValueError, match="exceeds maximum size of 10 bytes"):
        service.upload_property_json({"inline": {"ids": ["1"]}}, max_size=10)
    assert len(wire.calls) == before  # refused before sending


def test_property_routes_need_server_0_4(wire):
    wire.replace(responses.GET, f"{J}/version", json="0.3.9")
    service = state_service()
    with pytest.raises(ServerIncompatibilityError, match="0.4.0"):
        service.get_property_json(1)
    with pytest.raises(ServerIncompatibilityError):
        service.upload_property_json({})


def test_get_state_json_by_id_url_or_link(wire):
    wire.get(f"{J}/12", json={"layers": []})
    service = state_service()
    assert service.get_state_json(12) == {"layers": []}
    assert service.get_state_json("12") == {"layers": []}
    assert service.get_state_json(f"{J}/12") == {"layers": []}
    assert service.get_state_json(f"{VIEWER}#!middleauth+{J}/12") == {"layers": []}
    wire.get(f"{J}/13", status=404, json={"message": "no state with id 13"})
    with pytest.raises(NotFoundError, match="no state with id 13"):
        service.get_state_json(13)


def test_the_service_endpoint_and_viewer_of_a_global_client(wire):
    service = state_service()
    assert service.state_service_endpoint == f"{J}/post"
    assert service.ngl_url is None  # no datastack: no viewer_site
    service.ngl_url = VIEWER
    assert service.ngl_url == VIEWER


# --- build_neuroglancer_url: caveclient's decision table -------------------------------------


def test_a_viewer_without_version_json_gets_json_url_links_and_is_asked_once(wire):
    probe = wire.get(f"{VIEWER}version.json", status=404)
    service = state_service()
    assert service.build_neuroglancer_url(1001, VIEWER) == f"{VIEWER}?json_url={J}/1001"
    assert service.build_neuroglancer_url(1002, VIEWER.rstrip("/")) == (
        f"{VIEWER}?json_url={J}/1002")  # "/" added before "?"
    assert service.get_neuroglancer_info(VIEWER) == {}
    assert probe.call_count == 2  # once for the links (remembered), once asked directly


def test_a_viewer_with_version_json_gets_middleauth_links(wire):
    wire.get(f"{VIEWER}version.json", json={"version": "2.41"})
    service = state_service()
    assert service.build_neuroglancer_url(1001, VIEWER) == f"{VIEWER}#!middleauth+{J}/1001"


@pytest.mark.parametrize("site", ["mainline", "spelunker", "cave-explorer"])
def test_named_spelunker_sites_are_not_probed(wire, site):
    service = state_service()
    assert service.build_neuroglancer_url(7, VIEWER, target_site=site) == (
        f"{VIEWER}#!middleauth+{J}/7")
    assert service.build_neuroglancer_url(7, VIEWER.rstrip("/"), target_site=site) == (
        f"{VIEWER}#!middleauth+{J}/7")
    assert service.build_neuroglancer_url(7, VIEWER, target_site="seunglab") == (
        f"{VIEWER}?json_url={J}/7")
    assert all("version.json" not in c.request.url for c in wire.calls)


def test_static_urls_properties_and_unknown_sites(wire):
    service = state_service()
    url = "https://bucket.test/state.json"
    assert service.build_neuroglancer_url(url, VIEWER, target_site="mainline",
                                          static_url=True) == f"{VIEWER}#!{url}"
    wire.get(f"{VIEWER}version.json", status=404)
    # The properties form probes the viewer too (as caveclient), then ignores it.
    assert service.build_neuroglancer_url(55, VIEWER, format_properties=True) == (
        f"precomputed://middleauth+{J}/property/55")
    with pytest.raises(ValueError, match="target_site"):
        service.build_neuroglancer_url(1, VIEWER, target_site="elsewhere")


def test_the_fallback_viewer_is_caveclients(wire):
    wire.get(f"{FALLBACK_NGL_URL}version.json", status=404)
    assert state_service().build_neuroglancer_url(3) == f"{FALLBACK_NGL_URL}?json_url={J}/3"


def test_an_http_state_server_gets_no_middleauth_prefix():
    plain = f"{PLAIN}/nglstate/api/v1"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as wire:
        wire.get(f"{plain}/version", json="0.7.2")
        service = state_service(PLAIN)
        assert service.build_neuroglancer_url(9, VIEWER, target_site="mainline") == (
            f"{VIEWER}#!{plain}/9")
        assert service.build_neuroglancer_url(9, VIEWER, target_site="mainline",
                                              format_properties=True) == (
            f"precomputed://{plain}/property/9")


def test_save_state_json_local(tmp_path):
    path = tmp_path / "state.json"
    service = CAVEclient(server_address=GLOBAL).state
    service.save_state_json_local({"segments": np.array([5], dtype=np.uint64)}, str(path))
    assert json.loads(path.read_text()) == {"segments": ["5"]}
    with pytest.raises(ValueError, match="overwrite is False"):
        service.save_state_json_local({}, str(path))
    service.save_state_json_local({}, str(path), overwrite=True)
    assert json.loads(path.read_text()) == {}
