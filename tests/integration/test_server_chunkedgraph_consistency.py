"""Whole-graph consistency of the demo chunkedgraph and its level-2 cache, over every root:
the invariants pcg_skel and caveclient's helpers rely on (reference §4.8, §5).

Regressions: minimal covering nodes used to emit a node and its ancestor together (their
leaves counted twice), and the level-2 cache had empty rows for level-2 ids whose supervoxels
also belonged to another level-2 id (the generator gave each supervoxel's pieces to one of
them only)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.client_wire import client, home  # noqa: F401  (fixtures)

LAYER = 56


@pytest.fixture(scope="module")
def graph(demo_server):
    return demo_server.context.segmentation.graph


def _roots(graph, current: bool) -> list[int]:
    live = np.isinf(graph.roots.retired)
    return graph.roots.ids[live if current else ~live].tolist()


def test_minimal_covering_nodes_cover_exactly_the_leaves(client, graph):
    cg = client.chunkedgraph
    bad = []
    for root in _roots(graph, current=True):
        leaves = sorted(int(x) for x in cg.get_leaves(root))
        for part in (leaves, leaves[: max(1, len(leaves) // 2)]):
            cover = cg.get_minimal_covering_nodes(part)
            assert len(cover), root
            got = sorted(int(x) for v in cg.get_leaves_many(cover).values() for x in v)
            if got != part or set(cg.get_roots(cover).tolist()) != {root}:
                bad.append((root, len(part), len(got)))
    assert not bad, f"{len(bad)} covers wrong, e.g. (root, leaves, covered) {bad[:5]}"


def test_level2_covering_nodes_are_disjoint(client, graph):
    cg = client.chunkedgraph
    for root in _roots(graph, current=True)[:60]:
        l2s = sorted(int(x) for x in cg.get_leaves(root, stop_layer=2))
        cover = cg.get_minimal_covering_nodes(l2s)
        got = [int(x) for v in cg.get_leaves_many(cover, stop_layer=2).values() for x in v]
        assert sorted(got) == l2s, root  # no level-2 node twice


def test_every_level2_node_has_geometry(client, graph):
    """Current and retired roots alike: every level-2 id has a non-empty cache row with its
    rep_coord inside its chunk."""
    cg, l2c = client.chunkedgraph, client.l2cache
    l2s = set()
    for root in _roots(graph, current=True) + _roots(graph, current=False):
        l2s.update(int(x) for x in cg.get_leaves(root, stop_layer=2))
    l2s = sorted(l2s)
    meta = graph.meta
    empty = []
    for lo in range(0, len(l2s), 5000):
        part = l2s[lo:lo + 5000]
        data = l2c.get_l2data(part, attributes=["size_nm3", "area_nm2", "rep_coord_nm"])
        assert set(data) == {str(x) for x in part}
        for key, row in data.items():
            if not row or row["size_nm3"] <= 0 or row["area_nm2"] <= 0 \
                    or not any(row["rep_coord_nm"]):
                empty.append(int(key))
    assert not empty, f"{len(empty)} of {len(l2s)} level-2 nodes are empty, e.g. {empty[:5]}"
    assert meta.n_layers > 2


def test_unknown_level2_id_is_an_empty_entry(client, graph):
    l2 = max(_l2 for _l2 in graph.children.keys.tolist() if _l2 >> LAYER == 2)
    fake = l2 + 7_000_000
    data = client.l2cache.get_l2data([fake])
    assert data == {str(fake): {}}
