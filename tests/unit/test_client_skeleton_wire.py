"""The skeleton client's wire, with HTTP faked by `responses`: the URLs caveclient 8.2.1
builds, gzip payloads with no Content-Encoding, bulk hex values (gzip JSON / plain SWC),
skeletons_exist's int keys and bare bool, version gates, and ids refused before sending.

Nothing here opens a socket."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
import responses

from cave_widgets import CAVEclient
from cave_widgets.client.errors import QueryValidationError, ServerIncompatibilityError

GLOBAL = "https://global.example.test"
LOCAL = "https://local.example.test"
DS = "wire_ds"
TABLE = "wire_pcg"
API = f"{LOCAL}/skeletoncache/api"
V = f"{API}/v1/{DS}"
INFO = {
    "datastack_name": DS, "local_server": LOCAL,
    "aligned_volume": {"name": "vol", "id": 1, "image_source": "precomputed://x"},
    "segmentation_source": f"graphene://{LOCAL}/segmentation/table/{TABLE}",
    "viewer_resolution_x": 4.0, "viewer_resolution_y": 4.0, "viewer_resolution_z": 40.0,
}
BIG = 2**63 + 12345678901234567
FLAT = {"vertices": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], "edges": [[1, 0]], "root": 0,
        "radius": [2.0, 2.0], "compartment": [1, 3], "mesh_to_skel_map": [0, 1],
        "lvl2_ids": [BIG, BIG + 1], "meta": {"root_id": BIG}}
SWC = "0 1 0.001 0.002 0.003 0.002 -1\n1 3 0.004 0.005 0.006 0.002 0\n"


@pytest.fixture()
def fake(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / ".config"))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        # a bare JSON string proves its end only by its length
        rsps.add(responses.GET, f"{API}/version", body='"0.23.11"',
                 content_type="application/json", headers={"Content-Length": "9"})
        rsps.add(responses.GET, f"{API}/versions", json=[-1, 0, 1, 2, 3, 4])
        rsps.add(responses.GET, f"{LOCAL}/l2cache/api/v1/table_mapping",
                 json={TABLE: {"cv_path": "x", "l2cache_id": "y"}})
        yield rsps


@pytest.fixture()
def sk(fake):
    return CAVEclient(DS, server_address=GLOBAL, auth_token="wire-token",
                      info_cache={DS: dict(INFO)}, write_server_cache=False).skeleton


def test_get_skeleton_dict_and_swc(fake, sk):
    fake.add(responses.GET, f"{V}/async/get_skeleton/4/{BIG}/flatdict",
             body=gzip.compress(json.dumps(FLAT).encode()))
    fake.add(responses.GET, f"{V}/async/get_skeleton/4/{BIG}/swccompressed",
             body=gzip.compress(SWC.encode()))
    d = sk.get_skeleton(BIG)
    assert isinstance(d["vertices"], np.ndarray) and d["lvl2_ids"].dtype == np.uint64
    assert d["lvl2_ids"].tolist() == [BIG, BIG + 1] and d["root"] == 0
    call = [c for c in fake.calls if "flatdict" in c.request.url][0]
    assert call.request.url.endswith("?verbose_level=0")
    assert call.request.headers["Authorization"] == "Bearer wire-token"
    swc = sk.get_skeleton(BIG, output_format="swc")
    assert swc.parent.tolist() == [-1, 0] and swc.type.tolist() == [1, 3]


def test_bulk_hex_values(fake, sk):
    fake.add(responses.GET, f"{V}/bulk/get_skeletons/4/flatdict/False/{BIG},5",
             json={str(BIG): gzip.compress(json.dumps(FLAT).encode()).hex(),
                   "5": "invalid_layer_rid"})
    with pytest.warns(UserWarning, match="not a valid root"):
        out = sk.get_bulk_skeletons([BIG, 5])
    assert list(out) == [str(BIG)] and out[str(BIG)]["vertices"] == FLAT["vertices"]
    fake.add(responses.POST, f"{V}/bulk/get_cached_skeletons/4/swccompressed",
             json={str(BIG): SWC.encode().hex()})
    got = sk.fetch_skeletons([BIG], output_format="swc")
    assert got[str(BIG)].shape == (2, 7)
    body = json.loads(fake.calls[-1].request.body)
    assert body == {"root_ids": [BIG], "generate_missing": False, "verbose_level": 0}


def framed(text: str):
    """A bare JSON value proves its end only by its length (as the real server sends it)."""
    return 200, {"Content-Length": str(len(text))}, text


def test_skeletons_exist_keys_and_bare_bool(fake, sk):
    answers = iter([{str(BIG): True, "7": False}, True])
    fake.add_callback(responses.POST, f"{V}/precomputed/skeleton/exists",
                      callback=lambda r: framed(json.dumps(next(answers))))
    assert sk.skeletons_exist(root_ids=[BIG, 7]) == {BIG: True, 7: False}
    assert sk.skeletons_exist(root_ids=BIG) is True
    assert json.loads(fake.calls[-1].request.body)["root_ids"] == [BIG]


def test_refusal_list_and_gates(fake, sk):
    fake.add(responses.GET, f"{V}/precomputed/skeleton/get_refusal_list",
             body=gzip.compress(f"DATASTACK_NAME,ROOT_ID\n{DS},{BIG}\n".encode()))
    df = sk.get_refusal_list()
    assert df.ROOT_ID.tolist() == [BIG] and df.DATASTACK_NAME.tolist() == [DS]
    sk._server_version = __import__("packaging.version").version.Version("0.20.0")
    with pytest.raises(ServerIncompatibilityError, match="0.21.0"):
        sk.get_refusal_list()
    with pytest.raises(ServerIncompatibilityError, match="0.23.9"):
        sk.fetch_skeletons([BIG])


def test_ids_refused_before_sending(fake, sk):
    sent = lambda: [c for c in fake.calls if "/v1/" in c.request.url]
    for bad in (1.0, True, -3, 2**64, "12"):
        with pytest.raises(QueryValidationError):
            sk.get_skeleton(bad)
    with pytest.raises(QueryValidationError):
        sk.get_bulk_skeletons(np.array([1.5]))
    assert sent() == []
