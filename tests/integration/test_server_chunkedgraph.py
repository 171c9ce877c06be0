"""The chunkedgraph subset over real HTTP: supervoxel → root lookups (binary and JSON) at any
time, root validity and timestamps, id mapping across time, lineage graphs, delta roots, the
oldest timestamp and the segmentation info.

Cross-checks tie the routes to each other and to the materialized tables: roots at a version's
timestamp equal that version's root-id columns; lineage edges agree with root timestamps; the
past/future id maps agree with looking up the roots of a root's supervoxels at those times.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import numpy as np
import pytest
import requests
from helpers.server_http import LATEST, TIMEOUT, VALID, ok, roots_binary

from cave_widgets.server.demo import catalog

# --- fixtures ---------------------------------------------------------------------------------
# session, cg, base, full, version_time and now come from conftest.py; the chunkedgraph routes
# take POSIX seconds, so this module narrows the two times to floats.


@pytest.fixture(scope="module")
def version_time(version_time) -> dict[int, float]:
    return {version: when.timestamp() for version, when in version_time.items()}


@pytest.fixture(scope="module")
def now(now) -> float:
    return now.timestamp()


def is_latest(session, cg, ids, timestamp=None) -> list[bool]:
    params = {} if timestamp is None else {"timestamp": repr(float(timestamp))}
    # caveclient sends this body as JSON text without a content type.
    r = session.post(f"{cg}/is_latest_roots", params=params,
                     data=json.dumps({"node_ids": [int(i) for i in ids]}))
    return ok(r)["is_latest"]


def root_timestamps(session, cg, ids, latest=False, timestamp=None) -> list[float]:
    params = {"latest": str(latest)}
    if timestamp is not None:
        params["timestamp"] = repr(float(timestamp))
    r = session.post(f"{cg}/root_timestamps", params=params,
                     json={"node_ids": [int(i) for i in ids]})
    return ok(r)["timestamp"]


def leaves(session, cg, root) -> list[int]:
    return ok(session.get(f"{cg}/node/{int(root)}/leaves"))["leaf_ids"]


@pytest.fixture(scope="module")
def delta_since_v4(session, cg, version_time, now):
    delta = ok(session.get(f"{cg}/delta_roots", params={
        "timestamp_past": version_time[4], "timestamp_future": now}))
    assert delta["old_roots"] and delta["new_roots"]
    return delta


# --- service versions and info -------------------------------------------------------------------


def test_api_versions_and_server_version_need_a_token(session, demo_server):
    u = demo_server.url
    assert ok(session.get(f"{u}/segmentation/api/versions")) == [0, 1]
    assert ok(session.get(f"{u}/segmentation/api/version")) == "2.21.1"
    for path in ("/segmentation/api/versions", "/segmentation/api/version"):
        r = requests.get(u + path, timeout=TIMEOUT, allow_redirects=False)
        assert r.status_code == 401 and r.json()["error"] == "no_token"


def test_segmentation_info_matches_the_datastack_record(session, demo_server):
    record = ok(session.get(f"{demo_server.url}/info/api/v2/datastack/full/demo_local"))
    source = record["segmentation_source"]
    assert source.startswith("graphene://")
    pcg = source.rsplit("/", 1)[-1]
    assert pcg == catalog.PCG_TABLE
    info = ok(session.get(f"{source[len('graphene://'):]}/info"))
    assert info["scales"][0]["resolution"] == list(catalog.SEGMENTATION_RESOLUTION)
    assert info["graph"]["n_layers"] >= 2 and info["data_type"] == "uint64"
    assert 1 in info["app"]["supported_api_versions"]
    assert info["type"] == "segmentation"


def test_unknown_pcg_table_is_400_invalid_table_id(session, demo_server):
    r = session.post(f"{demo_server.url}/segmentation/api/v1/table/other/roots_binary",
                     data=b"\0" * 8)
    assert r.status_code == 400
    body = r.json()
    assert body["error"] == "invalid_table_id"
    assert body["data"] == {"table_id": "other", "resource_namespace": "pychunkedgraph"}
    r = session.get(f"{demo_server.url}/segmentation/table/other/info")
    assert r.status_code == 400 and r.json()["error"] == "invalid_table_id"


# --- supervoxels → roots -------------------------------------------------------------------------


@pytest.mark.parametrize("version", VALID)
def test_roots_at_version_timestamps_equal_the_materialized_root_ids(
    session, cg, full, version_time, version
):
    syn = full("synapses", version)
    nuc = full("nuclei", version)
    for svs, roots in (
        (syn["pre_pt_supervoxel_id"], syn["pre_pt_root_id"]),
        (syn["post_pt_supervoxel_id"], syn["post_pt_root_id"]),
        (nuc["pt_supervoxel_id"], nuc["pt_root_id"]),
    ):
        got = roots_binary(session, cg, svs.to_numpy(), version_time[version])
        np.testing.assert_array_equal(got.astype(np.int64), roots.to_numpy())


def test_roots_binary_is_little_endian_and_zero_for_unknown_ids(session, cg, full):
    """Reference §2.1 (PCG handle_roots): 0 and unknown ids below stop_layer → 0; ids whose
    layer bits are already ≥ stop_layer (2**64 - 1 has layer 255) are echoed unchanged."""
    nuc = full("nuclei", LATEST)
    known = nuc.loc[nuc["pt_supervoxel_id"] != 0, ["pt_supervoxel_id", "pt_root_id"]].iloc[:5]
    svs = [0, 12345, *known["pt_supervoxel_id"].tolist(), 2**64 - 1, (1 << 56) + 3]
    raw = np.asarray(svs, dtype="<u8").tobytes()
    r = session.post(f"{cg}/roots_binary", data=raw)  # no timestamp: now
    assert r.status_code == 200
    got = np.frombuffer(r.content, dtype="<u8")
    # Big-endian reading of the same bytes would give different (huge) numbers.
    assert got[2] < 2**63 and np.frombuffer(r.content, dtype=">u8")[2] != got[2]
    assert got[0] == 0 and got[1] == 0 and got[-1] == 0
    assert got[-2] == 2**64 - 1
    expected = roots_binary(session, cg, known["pt_supervoxel_id"].to_numpy())
    np.testing.assert_array_equal(got[2:-2], expected)
    assert (got[2:-2] > 0).all()
    # An empty body is an empty answer.
    empty = session.post(f"{cg}/roots_binary", data=b"")
    assert empty.status_code == 200 and empty.content == b""


def test_roots_json_and_node_root_agree_with_roots_binary(session, cg, full, version_time):
    svs = full("nuclei", LATEST)["pt_supervoxel_id"].iloc[:12].tolist()
    t = version_time[3]
    binary = roots_binary(session, cg, svs, t).tolist()
    as_json = ok(session.post(f"{cg}/roots", params={"timestamp": t}, json={"node_ids": svs}))
    assert as_json == {"root_ids": binary}
    for sv, root in zip(svs[:4], binary):
        assert ok(session.get(f"{cg}/node/{sv}/root", params={"timestamp": t})) == {"root_id": root}


def test_roots_before_the_oldest_timestamp_are_zero(session, cg, full):
    oldest = datetime.fromisoformat(ok(session.get(f"{cg}/oldest_timestamp"))["iso"])
    assert oldest.tzinfo is not None and oldest < datetime.now(timezone.utc)
    svs = full("nuclei", LATEST)["pt_supervoxel_id"]
    svs = svs[svs != 0].to_numpy()
    assert (roots_binary(session, cg, svs, oldest.timestamp() - 1) == 0).all()
    assert (roots_binary(session, cg, svs, oldest.timestamp() + 1) > 0).all()


# --- root validity, timestamps, delta ------------------------------------------------------------


def test_is_latest_roots_at_a_version_and_now(session, cg, full, version_time, now,
                                              delta_since_v4):
    roots = sorted(set(full("synapses", 4)["pre_pt_root_id"]))
    assert all(is_latest(session, cg, roots, version_time[4]))
    later = is_latest(session, cg, roots, now)
    retired = set(delta_since_v4["old_roots"])
    assert [not x for x in later] == [r in retired for r in roots]
    assert not all(later)
    assert is_latest(session, cg, [0, 12345]) == [False, False]


def test_delta_roots_agree_with_is_latest_and_with_root_lookups(
    session, cg, full, version_time, now, delta_since_v4
):
    old, new = delta_since_v4["old_roots"], delta_since_v4["new_roots"]
    assert not set(old) & set(new)
    assert all(is_latest(session, cg, old, version_time[4]))
    assert not any(is_latest(session, cg, old, now))
    assert all(is_latest(session, cg, new, now))
    assert not any(is_latest(session, cg, new, version_time[4]))
    # Completeness on the supervoxels we know: a root seen only then is old, only now is new.
    svs = np.concatenate([full("synapses", LATEST)[c].to_numpy()
                          for c in ("pre_pt_supervoxel_id", "post_pt_supervoxel_id")])
    then = set(roots_binary(session, cg, svs, version_time[4]).tolist())
    later = set(roots_binary(session, cg, svs, now).tolist())
    assert then - later <= set(old) and (then - later)
    assert later - then <= set(new) and (later - then)
    # An empty interval has no changes; a reversed one is refused.
    same = ok(session.get(f"{cg}/delta_roots", params={
        "timestamp_past": version_time[4], "timestamp_future": version_time[4]}))
    assert same == {"old_roots": [], "new_roots": []}
    r = session.get(f"{cg}/delta_roots", params={
        "timestamp_past": now, "timestamp_future": version_time[4]})
    assert r.status_code == 400 and "timestamp_past" in r.json()["message"]


def test_root_timestamps_created_and_latest(session, cg, version_time, now, delta_since_v4):
    new, old = delta_since_v4["new_roots"], delta_since_v4["old_roots"]
    created = root_timestamps(session, cg, new)
    assert all(version_time[4] < t <= now for t in created)
    # latest=True: when each root stopped being current, or the given time if it still is.
    assert root_timestamps(session, cg, new, latest=True, timestamp=now) == pytest.approx(
        [now] * len(new), abs=1e-3)
    retired = root_timestamps(session, cg, old, latest=True, timestamp=now)
    assert all(version_time[4] < t < now for t in retired)
    for root, t in zip(old, retired):
        assert is_latest(session, cg, [root], t - 0.01) == [True]
        assert is_latest(session, cg, [root], t + 0.01) == [False]
    r = session.post(f"{cg}/root_timestamps", json={"node_ids": [12345]})
    assert r.status_code == 400 and "12345" in r.json()["message"]


# --- id mapping and lineage -----------------------------------------------------------------------


def test_past_id_mapping_is_a_get_with_a_json_body(session, cg, version_time, now, delta_since_v4):
    new = delta_since_v4["new_roots"]
    past = version_time[4]
    r = session.get(f"{cg}/past_id_mapping",
                    params={"timestamp_past": past, "timestamp_future": now},
                    data=json.dumps({"root_ids": new}))
    body = ok(r)
    assert set(body["past_id_map"]) == {str(n) for n in new}
    for root in new:
        mapped = body["past_id_map"][str(root)]
        expected = set(roots_binary(session, cg, leaves(session, cg, root), past).tolist())
        assert set(mapped) == expected and root not in mapped
    # Reference §4.5: future_id_map[past] is the one current descendant, present only when it
    # is unambiguous (no split on the way, one sink); a past id whose supervoxels are spread
    # over several current roots is never a key.
    past_ids = {p for ps in body["past_id_map"].values() for p in ps}
    assert set(body["future_id_map"]) <= {str(p) for p in past_ids}
    assert body["future_id_map"], "some past id has an unambiguous current descendant"
    for p in past_ids:
        expected = set(roots_binary(session, cg, leaves(session, cg, p), now).tolist())
        if str(p) in body["future_id_map"]:
            assert isinstance(body["future_id_map"][str(p)], int)
            assert {body["future_id_map"][str(p)]} == expected
        if len(expected) > 1:
            assert str(p) not in body["future_id_map"]
    # A current root maps to itself.
    current = ok(session.get(f"{cg}/past_id_mapping", params={"timestamp_past": now},
                             data=json.dumps({"root_ids": new[:1]})))
    assert current["past_id_map"] == {str(new[0]): [new[0]]}


def test_leaves_of_a_root_are_its_supervoxels(session, cg, full):
    nuc = full("nuclei", LATEST)
    row = nuc[nuc["pt_root_id"] != 0].iloc[0]
    svs = leaves(session, cg, row["pt_root_id"])
    assert int(row["pt_supervoxel_id"]) in svs
    assert (roots_binary(session, cg, svs) == int(row["pt_root_id"])).all()


def check_node_link(graph: dict) -> tuple[dict, list[tuple[int, int]]]:
    assert graph["directed"] is True and graph["multigraph"] is False
    assert graph["graph"] == {}
    assert "links" in graph and "edges" not in graph
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert len(nodes) == len(graph["nodes"])
    links = [(link["source"], link["target"]) for link in graph["links"]]
    for source, target in links:
        assert source in nodes and target in nodes
        assert nodes[source]["timestamp"] < nodes[target]["timestamp"]  # old → new
    # Reference §4.4: operation_id only on superseded roots (the operation that retired them),
    # so every edge source carries one, the same on all its edges.
    for source in {s for s, _ in links}:
        assert isinstance(nodes[source].get("operation_id"), int)
    return nodes, links


def test_lineage_graph_multiple_edges_run_old_to_new(session, cg, version_time, now,
                                                     delta_since_v4):
    new = delta_since_v4["new_roots"]
    graph = ok(session.post(f"{cg}/lineage_graph_multiple",
                            params={"timestamp_past": version_time[4], "timestamp_future": now},
                            json={"root_ids": new}))
    nodes, links = check_node_link(graph)
    assert set(new) <= set(nodes)
    # Node timestamps are creation times; each edge's source retired when its target was made.
    ids = sorted(nodes)
    created = root_timestamps(session, cg, ids)
    assert [nodes[i]["timestamp"] for i in ids] == pytest.approx(created, abs=1e-6)
    retired = dict(zip(ids, root_timestamps(session, cg, ids, latest=True, timestamp=now)))
    for source, target in links:
        assert retired[source] == pytest.approx(nodes[target]["timestamp"], abs=1e-6)
    # The leaves of the graph (no outgoing edge) are exactly its current roots.
    has_child = {s for s, _ in links}
    assert is_latest(session, cg, ids, now) == [i not in has_child for i in ids]
    # Every retired root since v4 feeding these new ones shows up as an ancestor.
    assert set(delta_since_v4["old_roots"]) & set(nodes)


def test_single_root_lineage_graph_equals_the_multiple_form(session, cg, delta_since_v4):
    root = delta_since_v4["new_roots"][0]
    single = ok(session.get(f"{cg}/root/{root}/lineage_graph"))
    multiple = ok(session.post(f"{cg}/lineage_graph_multiple", json={"root_ids": [root]}))
    assert single == multiple
    nodes, links = check_node_link(single)
    assert links, "a root made by an edit has parents"
    assert any(t == root for _, t in links)


def test_latest_roots_via_lineage_match_a_root_lookup_now(session, cg, now, delta_since_v4):
    """caveclient's get_latest_roots: the leaves of the forward lineage graph."""
    old = delta_since_v4["old_roots"][0]
    graph = ok(session.post(f"{cg}/lineage_graph_multiple",
                            params={"timestamp_past": now, "timestamp_future": now,
                                    "name": "timestamp_future"},  # caveclient's stray parameter
                            json={"root_ids": [old]}))
    nodes, links = check_node_link(graph)
    has_child = {s for s, _ in links}
    latest = {i for i in nodes if i not in has_child}
    expected = set(roots_binary(session, cg, leaves(session, cg, old), now).tolist())
    assert latest == expected and old not in latest


# --- bad chunkedgraph input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "method, path, kwargs, words",
    [
        ("POST", "/roots_binary", {"data": b"\x01" * 7}, "uint64"),
        ("POST", "/roots_binary?timestamp=soon", {"data": b"\0" * 8}, "timestamp"),
        ("POST", "/roots_binary?timestamp=inf", {"data": b"\0" * 8}, "timestamp"),
        ("POST", "/roots", {"json": {"node_ids": ["1"]}}, "node_ids"),
        ("POST", "/roots", {"json": {"ids": [1]}}, "node_ids"),
        ("POST", "/is_latest_roots", {"data": "{not json"}, "JSON"),
        ("POST", "/is_latest_roots", {"json": {"node_ids": [1.5]}}, "node_ids"),
        ("POST", "/is_latest_roots", {"json": {"node_ids": [-1]}}, "node_ids"),
        ("POST", "/is_latest_roots", {"json": [1, 2]}, "node_ids"),
        ("POST", "/root_timestamps?latest=maybe", {"json": {"node_ids": []}}, "latest"),
        ("GET", "/past_id_mapping", {}, "root_ids"),
        ("GET", "/past_id_mapping", {"data": json.dumps({"root_ids": [5]})}, "5"),
        ("POST", "/lineage_graph_multiple", {"json": {"root_ids": [2**63]}}, "root_ids"),
        ("GET", "/root/123/lineage_graph", {}, "123"),
        ("GET", "/root/abc/lineage_graph", {}, "node_id"),
        ("GET", "/root/18446744073709551616/lineage_graph", {}, "18446744073709551616"),
        ("GET", "/node/abc/root", {}, "node_id"),
        ("GET", "/node/18446744073709551616/root", {}, "18446744073709551616"),
        ("GET", "/node/9223372036854775808/leaves", {}, "9223372036854775808"),
        ("GET", "/node/18446744073709551616/leaves", {}, "18446744073709551616"),
        ("GET", "/delta_roots?timestamp_past=nan", {}, "timestamp_past"),
    ],
)
def test_bad_chunkedgraph_requests_are_400_naming_the_problem(session, cg, method, path, kwargs,
                                                              words):
    r = session.request(method, cg + path, **kwargs)
    assert r.status_code == 400, r.text[:300]
    assert r.headers["Content-Type"] == "application/json"
    assert words in r.json()["message"]


def test_ids_beyond_int64_are_valid_uint64(session, cg):
    """Ids are uint64. 2**63 has layer bits 128, already ≥ stop_layer, so PCG's get_root walks
    no parents and echoes it (reference §2.1, §4.2); an unknown id below stop_layer has no
    parent chain (PCG: 500) and is a clean 400 here."""
    r = session.get(f"{cg}/node/{2**63}/root")
    assert r.status_code == 200 and r.json() == {"root_id": 2**63}
    r = session.get(f"{cg}/node/{2**64 - 1}/root")
    assert r.status_code == 200 and r.json() == {"root_id": 2**64 - 1}
    r = session.get(f"{cg}/node/12345/root")
    assert r.status_code == 400 and "12345" in r.json()["message"]
