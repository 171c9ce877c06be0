"""ChunkedGraphClient against the embedded demo server: every method, checked against the
server's own truth (roots of a root's leaves are that root, lineage agrees with id maps and
root timestamps). Edits run on a server of their own so the shared one never changes."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from helpers.client_wire import client, home  # noqa: F401  (fixtures)

from cave_widgets.client import errors

LAYER = 56


@pytest.fixture()
def cg(client):
    return client.chunkedgraph


@pytest.fixture()
def history(cg):
    """A root made by edits, one of its past ids and the time before its history."""
    oldest = cg.get_oldest_timestamp()
    old, new = cg.get_delta_roots(oldest)
    assert len(old) and len(new)
    for root in new[:50]:
        log = cg.get_change_log(root)
        if log["past_ids"] and cg.is_latest_roots([root])[0]:
            return int(root), log, oldest
    pytest.fail("no latest root with a history in the demo")


def test_metadata(cg, client):
    source = client.info.get_datastack_info()["segmentation_source"]
    assert cg.table_name == source.rsplit("/", 1)[-1]
    assert str(cg.server_version) == "2.21.1" and cg.api_version == 1
    assert cg.cloudvolume_path.endswith(f"/segmentation/api/v1/{cg.table_name}")
    assert cg.segmentation_info["graph"]["n_layers"] >= 3
    assert len(cg.base_resolution) == 3


def test_roots_of_leaves_are_the_root(cg, history):
    root = history[0]
    leaves = cg.get_leaves(root)
    assert leaves.dtype == np.int64 and len(leaves)
    roots = cg.get_roots(leaves)
    assert roots.dtype == np.uint64 and set(roots.tolist()) == {root}
    assert cg.get_root_id(int(leaves[0])) == root
    l2 = cg.get_root_id(leaves[0], level2=True)
    assert int(l2) >> LAYER == 2
    assert int(cg.get_roots([leaves[0]], stop_layer=2)[0]) == int(l2)
    assert int(l2) in cg.get_leaves(root, stop_layer=2).tolist()
    many = cg.get_leaves_many([root])
    assert set(many) == {root} and sorted(many[root]) == sorted(leaves)
    children = cg.get_children(root)
    assert len(children) and all(int(c) >> LAYER < int(root) >> LAYER for c in children)
    covering = cg.get_minimal_covering_nodes(leaves)
    assert covering.dtype == np.uint64 and set(cg.get_roots(covering).tolist()) == {root}


def test_validity_latest_and_timestamps(cg, history):
    root, log, oldest = history
    past = int(log["past_ids"][0])
    assert cg.is_valid_nodes([root, past, 0]).tolist() == [True, True, False]
    assert cg.is_latest_roots([root, past]).tolist() == [True, False]
    born, = cg.get_root_timestamps([root])
    assert born > oldest
    ended, = cg.get_root_timestamps([past], latest=True)
    assert ended <= born
    assert cg.is_latest_roots([past], timestamp=ended).tolist() == [True]


def test_lineage_and_id_maps_agree(cg, history):
    root, log, oldest = history
    graph = cg.get_lineage_graph(root)
    ids = {n["id"] for n in graph["nodes"]}
    assert root in ids and set(log["past_ids"]) <= ids
    originals = cg.get_original_roots(root)
    assert len(originals) and all(cg.get_root_timestamps(originals) <= cg.get_root_timestamps(
        [root])[0])
    assert cg.get_latest_roots(int(originals[0])).tolist().count(root) in (0, 1)
    assert root in cg.get_latest_roots(int(log["past_ids"][0])).tolist()
    maps = cg.get_past_ids([root], timestamp_past=oldest + timedelta(seconds=1))
    past = maps["past_id_map"][root]
    assert past and set(past) <= ids
    # the past ids are the roots of the root's leaves at that time
    at_past = cg.get_roots(cg.get_leaves(root), timestamp=oldest + timedelta(seconds=1))
    assert set(at_past.tolist()) - {0} == set(past)
    assert cg.suggest_latest_roots(int(log["past_ids"][0])) in cg.get_latest_roots(
        int(log["past_ids"][0])).tolist()
    old, new = cg.get_delta_roots(oldest)
    assert root in new.tolist() and root not in old.tolist()


def test_history(cg, history):
    root, log, _ = history
    assert log["n_mergers"] + log["n_splits"] == len(log["operations_ids"])
    table = cg.get_tabular_change_log([root])[root]
    assert sorted(table["operation_id"]) == sorted(log["operations_ids"])
    details = cg.get_operation_details(log["operations_ids"])
    assert set(details) == {str(o) for o in log["operations_ids"]}
    merges = cg.get_merge_log(root)
    assert len(merges["merge_edges"]) == log["n_mergers"]
    ops = cg.get_user_operations(0, None)
    assert list(ops.columns)[:2] == ["operation_id", "timestamp"]


def test_graph_structure(cg, history):
    root = history[0]
    l2 = set(cg.get_leaves(root, stop_layer=2).tolist())
    edges = cg.level2_chunk_graph(root)
    assert {a for e in edges for a in e} <= l2
    # Our client reads the embedded server's binary answer: the same list as PCG's JSON.
    r = cg.session.get(f"{cg._v1}/node/{root}/lvl2_graph")
    assert r.headers["Content-Type"].startswith("application/json")
    assert edges == r.json()["edge_graph"] and len(edges) > 0
    assert all(type(a) is int for e in edges for a in e)
    bounded = cg.level2_chunk_graph(root, bounds=np.array([[0, 10**6]] * 3))
    assert bounded == edges
    nodes, affinities, areas = cg.get_subgraph(root, None)
    assert nodes.shape[1] == 2 and len(affinities) == len(areas) == len(nodes)
    assert set(nodes.ravel().tolist()) <= set(cg.get_leaves(root).tolist())
    sites = cg.get_contact_sites(root, np.array([[0, 10**6]] * 3))
    assert all(isinstance(k, int) for k in sites)


def test_typed_errors(cg):
    with pytest.raises(errors.QueryValidationError):
        cg.get_roots([1.5])
    with pytest.raises(errors.CAVEHTTPError):
        cg.get_change_log(5)
