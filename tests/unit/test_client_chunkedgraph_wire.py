"""The chunkedgraph client's wire format, with HTTP faked by `responses`: ids validated as
uint64 before anything is sent, binary bodies little-endian, timestamps as epoch seconds,
long lists cut into batches whose answers come back in input order."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
import responses

from cave_widgets import CAVEclient
from cave_widgets.client import errors
from cave_widgets.client.chunkedgraph import client as cg_client
from cave_widgets.client.chunkedgraph.ids import as_ids, decode_ids, encode_ids

GLOBAL = "https://global.example.test"
LOCAL = "https://local.example.test"
DS = "wire_ds"
V1 = f"{LOCAL}/segmentation/api/v1/table/wire_pcg"
INFO = {"datastack_name": DS, "local_server": LOCAL, "segmentation_source":
        f"graphene://{LOCAL}/segmentation/table/wire_pcg",
        "aligned_volume": {"name": "vol", "id": 1, "image_source": "precomputed://x"},
        "viewer_resolution_x": 4.0, "viewer_resolution_y": 4.0, "viewer_resolution_z": 40.0}
BIG = 2**64 - 1


@pytest.fixture()
def fake(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(f"{GLOBAL}/info/api/v2/datastack/full/{DS}", json=INFO)
        rsps.get(f"{LOCAL}/segmentation/api/version", json="2.21.1",
                 auto_calculate_content_length=True)  # a bare string proves its end by length
        yield rsps


@pytest.fixture()
def cg(fake):
    return CAVEclient(DS, server_address=GLOBAL, auth_token="t" * 32).chunkedgraph


def query(call) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url).query).items()}


def test_binary_ids_are_little_endian_uint64():
    ids = np.array([864691135217871271, 864691135566275148], dtype=np.uint64)
    body = encode_ids(ids)
    assert body == bytes.fromhex("a729179301 00000c".replace(" ", "")
                                 + "4c62dba70100000c")
    np.testing.assert_array_equal(decode_ids(body), ids)


@pytest.mark.parametrize("bad", [1.0, [1, 2.5], np.array([1.0]), True, [True], -1, [-3],
                                 np.array([-1]), 2**64, [2**64], "abc", None])
def test_bad_ids_are_refused_before_sending(cg, fake, bad):
    with pytest.raises(errors.QueryValidationError):
        cg.get_roots(bad)
    assert not [c for c in fake.calls if "roots_binary" in c.request.url]


def test_good_ids_of_every_kind_are_exact():
    assert as_ids(BIG).tolist() == [BIG]
    assert as_ids([BIG, 0]).tolist() == [BIG, 0]
    assert as_ids(np.uint64(BIG)).tolist() == [BIG]
    assert as_ids(np.array([5, 6], dtype=np.int32)).dtype == np.uint64
    assert as_ids("18446744073709551615").tolist() == [BIG]


def test_get_roots_sends_binary_ids_and_epoch_seconds(cg, fake):
    fake.post(f"{V1}/roots_binary", body=encode_ids(np.array([BIG, 7], dtype=np.uint64)))
    when = datetime(2024, 1, 1, tzinfo=timezone.utc)
    got = cg.get_roots([BIG, 3], timestamp=when, stop_layer=2)
    assert got.dtype == np.uint64 and got.tolist() == [BIG, 7]
    call = [c for c in fake.calls if "roots_binary" in c.request.url][0]
    assert call.request.body == encode_ids(np.array([BIG, 3], dtype=np.uint64))
    assert query(call) == {"timestamp": "1704067200.0", "stop_layer": "2"}


def test_long_lists_are_batched_in_order(cg, fake, monkeypatch):
    monkeypatch.setattr(cg_client, "BATCH_SIZE", 3)

    def echo_plus_one(request):
        return 200, {}, encode_ids(decode_ids(request.body) + np.uint64(1))

    fake.add_callback(responses.POST, f"{V1}/roots_binary", callback=echo_plus_one)
    ids = np.arange(10, dtype=np.uint64) + np.uint64(2**63)
    got = cg.get_roots(ids)
    np.testing.assert_array_equal(got, ids + np.uint64(1))
    assert len([c for c in fake.calls if "roots_binary" in c.request.url]) == 4


def test_repeated_ids_are_asked_once_per_part_and_answered_in_place(cg, fake, monkeypatch):
    monkeypatch.setattr(cg_client, "BATCH_SIZE", 4)
    asked = []

    def echo_plus_one(request):
        batch = decode_ids(request.body)
        asked.append(batch)
        return 200, {}, encode_ids(batch + np.uint64(1))

    fake.add_callback(responses.POST, f"{V1}/roots_binary", callback=echo_plus_one)
    rng = np.random.default_rng(1)
    ids = rng.choice(np.arange(6, dtype=np.uint64) + np.uint64(2**63), size=40)
    got = cg.get_roots(ids)
    np.testing.assert_array_equal(got, ids + np.uint64(1))
    assert all(len(set(b.tolist())) == len(b) <= 4 for b in asked)  # no id twice in a request
    assert sum(map(len, asked)) < len(ids)  # the repeats were not sent


def test_json_bodies_carry_exact_ids(cg, fake):
    fake.post(f"{V1}/is_latest_roots", json={"is_latest": [True, False]})
    assert cg.is_latest_roots([BIG, 2]).tolist() == [True, False]
    call = [c for c in fake.calls if "is_latest" in c.request.url][0]
    assert json.loads(call.request.body) == {"node_ids": [BIG, 2]}
    assert "timestamp" not in query(call)  # no client time: the server's now


def test_client_version_time_is_the_default_timestamp(cg, fake):
    when = datetime(2024, 6, 5, 10, 10, 1, tzinfo=timezone.utc)
    cg.ctx._snapshot = lambda: type("S", (), {"version": 3, "timestamp": when})()
    assert cg.timestamp == when
    fake.get(f"{V1}/node/5/root", json={"root_id": 9})
    assert cg.get_root_id(5) == 9
    assert query(fake.calls[-1])["timestamp"] == repr(when.timestamp())
    with pytest.raises(ValueError):
        cg.timestamp = datetime.now(timezone.utc)


def test_operation_ids_go_as_a_python_list_text(cg, fake):
    fake.get(f"{V1}/operation_details", json={})
    cg.get_operation_details(np.array([225368, 217696]))
    assert query(fake.calls[-1]) == {"operation_ids": "[225368, 217696]"}


def test_bounds_must_be_3x2_voxels(cg, fake):
    with pytest.raises(errors.QueryValidationError):
        cg.get_leaves(5, bounds=[[0, 1], [0, 1]])
    fake.get(f"{V1}/node/5/leaves", json={"leaf_ids": [1]})
    cg.get_leaves(5, bounds=np.array([[0, 10], [2, 20], [3, 30]]))
    assert query(fake.calls[-1])["bounds"] == "0-10_2-20_3-30"


def test_version_gates(cg, fake):
    fake.replace(responses.GET, f"{LOCAL}/segmentation/api/version", json="2.10.0",
                 auto_calculate_content_length=True)
    with pytest.raises(errors.ServerIncompatibilityError):
        cg.get_minimal_covering_nodes([1])
    with pytest.raises(errors.ServerIncompatibilityError):
        cg.level2_chunk_graph(5, bounds=np.zeros((3, 2), int))
    with pytest.raises(errors.ServerIncompatibilityError):
        cg.get_root_timestamps([5], latest=True)


def test_lineage_graph_object_needs_networkx(cg, fake):
    fake.post(f"{V1}/lineage_graph_multiple", json={
        "directed": True, "multigraph": False, "graph": {}, "nodes": [], "links": []})
    try:
        import networkx  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install networkx"):
            cg.get_lineage_graph(5, as_nx_graph=True)
