"""The skeleton client's wire, with HTTP faked by `responses`: the URLs caveclient 8.2.1
builds, gzip payloads with no Content-Encoding, bulk hex values (gzip JSON / plain SWC),
skeletons_exist's int keys and bare bool, version gates, and ids refused before sending; and
the Arrow answers the embedded server gives our client for dict skeletons, which must decode
to exactly what the JSON answers of a real service decode to, and are asked for again when
cut short.

Nothing here opens a socket."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
import responses
from helpers.typed_values import typed

from cave_widgets import CAVEclient
from cave_widgets.client.errors import (
    IncompleteResponseError,
    QueryValidationError,
    ServerIncompatibilityError,
)
from cave_widgets.server.skeletons import formats
from cave_widgets.server.skeletons.build import Skeleton
from cave_widgets.wire import skeleton_rows

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
    # Arrow is asked for first; the real service's gzip answer above was read all the same
    assert call.request.headers["Accept"].startswith(skeleton_rows.MEDIA_TYPE)
    swc = sk.get_skeleton(BIG, output_format="swc")
    assert swc.parent.tolist() == [-1, 0] and swc.type.tolist() == [1, 3]
    assert skeleton_rows.MEDIA_TYPE not in fake.calls[-1].request.headers.get("Accept", "")


def test_bulk_hex_values(fake, sk):
    fake.add(responses.GET, f"{V}/bulk/get_skeletons/4/flatdict/False/{BIG},5",
             json={str(BIG): gzip.compress(json.dumps(FLAT).encode()).hex(),
                   "5": "invalid_layer_rid"})
    with pytest.warns(UserWarning, match="not a valid root"):
        out = sk.get_bulk_skeletons([BIG, 5])
    assert list(out) == [str(BIG)] and out[str(BIG)]["vertices"] == FLAT["vertices"]
    assert fake.calls[-1].request.headers["Accept"].startswith(skeleton_rows.MEDIA_TYPE)
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


# --- Arrow answers (the embedded server) against JSON answers (a real service) ---------------

def skeleton(root_id: int, edges: np.ndarray) -> Skeleton:
    """Values that text and binary could disagree on: shortest-repr floats, -0.0, tiny and
    huge floats, uint64 ids above 2**63, meta strings with spaces (the JSON path drops them)."""
    n = 3
    return Skeleton(
        root_id=root_id,
        vertices=np.array([[0.1, 1e-300, -0.0], [1 / 3, 2.5e10, 7.0], [4.0, 5.0, 6.0]]),
        edges=edges, root=0, radius=np.array([0.1 + 0.2, 2.0, 1e-7]),
        compartment=np.array([1, 3, 3], np.uint8), mesh_to_skel_map=np.array([0, 1, 1, 2]),
        lvl2_ids=np.array([BIG, BIG + 1, BIG + 2, 2**64 - 1], np.uint64)[:n + 1],
        meta={"root_id": root_id, "note": "a b", "timestamp": 1.5, "soma_pt_x": None,
              "meta": {"datastack": "wire ds", "space": "l2cache"}})


TREE = skeleton(BIG, np.array([[1, 0], [2, 1]]))
NO_EDGES = skeleton(BIG + 7, np.zeros((0, 2), np.int64))  # JSON: [] → np.array([]) float64
SINGLE = Skeleton(  # one vertex (a neuron of one level-2 node): no edges, 1×3 vertices
    root_id=BIG + 9, vertices=np.array([[1.5, 2.5, 3.5]]), edges=np.zeros((0, 2), np.int64),
    root=0, radius=np.array([2.0]), compartment=np.array([1], np.uint8),
    mesh_to_skel_map=np.array([0]), lvl2_ids=np.array([2**64 - 2], np.uint64),
    meta={"root_id": BIG + 9})



def serve(fake, url: str, method: str, json_answer, arrow_rows: list, v: int) -> dict:
    """Answer `url` in Arrow when asked for it and `state["arrow"]`, else as a real service
    (which ignores the Accept header). state["cut"] cuts that many Arrow answers short."""
    state = {"arrow": True, "cut": 0}
    body = skeleton_rows.stream(formats.arrow_schema(v), arrow_rows)

    def answer(request):
        if state["arrow"] and skeleton_rows.MEDIA_TYPE in request.headers.get("Accept", ""):
            cut = state["cut"] > 0
            state["cut"] -= 1
            return 200, {"Content-Type": skeleton_rows.MEDIA_TYPE}, \
                body[:len(body) // 2] if cut else body
        if isinstance(json_answer, bytes):
            return 200, {"Content-Type": "application/octet-stream"}, json_answer
        return 200, {"Content-Type": "application/json"}, json.dumps(json_answer)

    fake.add_callback(method, url, callback=answer)
    return state


@pytest.mark.parametrize("v", [1, 2, 3, 4])
@pytest.mark.parametrize("sk_", [TREE, NO_EDGES, SINGLE], ids=["tree", "no-edges", "single"])
def test_arrow_skeleton_decodes_as_the_json_one(fake, sk, v, sk_):
    rid = sk_.root_id
    state = serve(fake, f"{V}/async/get_skeleton/{v}/{rid}/flatdict", responses.GET,
                  formats.encode(sk_, v, "flatdict")[0],
                  [formats.arrow_row(sk_, v, str(rid))], v)
    from_arrow = sk.get_skeleton(rid, skeleton_version=v)
    assert fake.calls[-1].response.headers["Content-Type"] == skeleton_rows.MEDIA_TYPE
    state["arrow"] = False
    from_json = sk.get_skeleton(rid, skeleton_version=v)
    assert fake.calls[-1].response.headers["Content-Type"] == "application/octet-stream"
    assert typed(from_arrow) == typed(from_json)
    if sk_ is not SINGLE:
        assert from_json["meta"]["note"] == "ab"  # the JSON path's spaces removed, both ways
    assert ("lvl2_ids" in from_arrow) == (v >= 4) and ("radius" in from_arrow) == (v >= 2)


@pytest.mark.parametrize("v", [2, 4])
def test_arrow_bulk_decodes_as_the_json_one(fake, sk, v):
    rows = [(str(BIG), TREE), (str(BIG + 7), NO_EDGES), (str(BIG + 9), SINGLE)]
    url = f"{V}/bulk/get_skeletons/{v}/flatdict/False/{BIG},{BIG + 7},{BIG + 9},5"
    json_answer = {k: formats.bulk_value(s, v, "flatdict") for k, s in rows}
    json_answer["5"] = "invalid_layer_rid"
    arrow_rows = [formats.arrow_row(s, v, k) for k, s in rows]
    arrow_rows.append(formats.arrow_problem(v, "5", "invalid_layer_rid"))
    state = serve(fake, url, responses.GET, json_answer, arrow_rows, v)
    with pytest.warns(UserWarning, match="not a valid root"):
        from_arrow = sk.get_bulk_skeletons([BIG, BIG + 7, BIG + 9, 5], skeleton_version=v)
    state["arrow"] = False
    with pytest.warns(UserWarning, match="not a valid root"):
        from_json = sk.get_bulk_skeletons([BIG, BIG + 7, BIG + 9, 5], skeleton_version=v)
    assert list(from_json) == [str(BIG), str(BIG + 7), str(BIG + 9)]
    assert typed(from_arrow) == typed(from_json)
    assert isinstance(from_arrow[str(BIG)]["vertices"][0], list)  # plain lists, as caveclient

    fetch = f"{V}/bulk/get_cached_skeletons/{v}/flatdict"
    asked = [BIG, BIG + 7, 77, BIG + 9]  # 77 has no skeleton: both answers leave it out
    state = serve(fake, fetch, responses.POST, {k: json_answer[k] for k, _ in rows},
                  arrow_rows[:3], v)
    from_arrow = sk.fetch_skeletons(asked, skeleton_version=v)
    state["arrow"] = False
    assert typed(sk.fetch_skeletons(asked, skeleton_version=v)) == typed(from_json)
    assert typed(from_arrow) == typed(from_json)


def test_arrow_rows_not_as_stated_are_refused(fake, sk):
    import pyarrow as pa

    def body(stated: bytes | None) -> bytes:
        schema = formats.arrow_schema(4)
        if stated is not None:
            schema = schema.with_metadata({skeleton_rows.ROWS: stated})
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, schema) as writer:  # ends with its marker all the same
            writer.write_batch(formats.arrow_row(TREE, 4, str(BIG)))
        return sink.getvalue().to_pybytes()

    url = f"{V}/bulk/get_skeletons/4/flatdict/False/{BIG}"
    fake.add(responses.GET, url, body=b"", content_type=skeleton_rows.MEDIA_TYPE)
    for stated, why in ((b"2", "states 2 rows but holds 1"), (None, "does not state")):
        fake.replace(responses.GET, url, body=body(stated), content_type=skeleton_rows.MEDIA_TYPE)
        with pytest.raises(IncompleteResponseError, match=why):
            sk.get_bulk_skeletons([BIG])
    fake.replace(responses.GET, url, body=body(b"1"), content_type=skeleton_rows.MEDIA_TYPE)
    assert list(sk.get_bulk_skeletons([BIG])) == [str(BIG)]


def test_arrow_cut_short_is_asked_again_then_refused(fake, sk):
    rid = BIG
    url = f"{V}/async/get_skeleton/4/{rid}/flatdict"
    state = serve(fake, url, responses.GET, b"", [formats.arrow_row(TREE, 4, str(rid))], 4)
    state["cut"] = 1  # the first answer is cut short, the second whole
    got = sk.get_skeleton(rid)
    assert len([c for c in fake.calls if c.request.url.startswith(url)]) == 2
    assert got["vertices"].tolist() == TREE.vertices.tolist()
    state["cut"] = 100  # always cut: never taken for a smaller skeleton
    with pytest.raises(IncompleteResponseError, match="incomplete"):
        sk.get_skeleton(rid)
    fetch = f"{V}/bulk/get_cached_skeletons/4/flatdict"
    state = serve(fake, fetch, responses.POST, {}, [formats.arrow_row(TREE, 4, str(rid))], 4)
    state["cut"] = 1  # fetch_skeletons only reads: its POST is asked again too
    assert list(sk.fetch_skeletons([rid])) == [str(rid)]
    assert len([c for c in fake.calls if c.request.url.startswith(fetch)]) == 2


@pytest.mark.parametrize("enabled", [True, False])
def test_plain_decoding_leaves_the_collector_as_it_was(enabled):
    import gc

    table = __import__("pyarrow").ipc.open_stream(skeleton_rows.stream(
        formats.arrow_schema(4), [formats.arrow_row(TREE, 4, "1")])).read_all()
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        assert skeleton_rows.as_plain(table)["1"]["root"] == 0
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
