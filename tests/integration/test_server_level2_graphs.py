"""The server's level-2 graphs (chunkedgraph/level2.py), kept per root once computed, against
a plain recomputation from the graph's own primitives for every root of the demo: same
pairs, same order, bounds applied as PCG applies them, and the kept copy never writable."""

from __future__ import annotations

import numpy as np
import pytest

from cave_widgets.server.chunkedgraph.level2 import Level2Graphs, unique_pairs
from cave_widgets.server.chunkedgraph.meta import in_bounds


def reference(graph, root: int, lo=None, hi=None) -> np.ndarray:
    """Edges active when the root was made, both ends among its supervoxels, mapped to
    their level-2 parents then; cross-chunk pairs only, boxed, sorted, unique."""
    t = float(graph.created([root])[0])
    a, b, _, _ = graph.edges.among(graph.members_of(root), t)
    la, lb = graph.parent.at(a, t), graph.parent.at(b, t)
    cross = la != lb
    pairs = np.sort(np.stack([la[cross], lb[cross]], axis=1), axis=1)
    if lo is not None:
        pairs = pairs[in_bounds(graph.meta, pairs[:, 0], lo, hi)
                      & in_bounds(graph.meta, pairs[:, 1], lo, hi)]
    return np.unique(pairs, axis=0) if len(pairs) else np.zeros((0, 2), np.uint64)


@pytest.fixture(scope="module")
def graph(demo_server):
    return demo_server.context.segmentation.graph


def test_every_roots_graph_matches_a_recomputation(graph):
    graphs = Level2Graphs(graph)
    roots = graph.roots.ids.tolist()
    assert len(roots) > 100
    wrong = [r for r in roots if not np.array_equal(graphs.edges(r), reference(graph, r))]
    assert not wrong, f"{len(wrong)} roots differ, e.g. {wrong[:5]}"


def test_kept_graphs_are_shared_read_only_and_bounded(graph):
    graphs = Level2Graphs(graph, max_bytes=64 * 1024)
    roots = graph.roots.ids.tolist()[:200]
    first = graphs.edges(roots[0])
    assert graphs.edges(roots[0]) is first and not first.flags.writeable
    for r in roots:
        graphs.edges(r)
    assert graphs._bytes <= 64 * 1024 and len(graphs._held) < len(roots)


def test_boxes_filter_as_pcg_does(graph):
    graphs = Level2Graphs(graph)
    root = max(graph.roots.ids.tolist(), key=lambda r: len(graphs.edges(r)))
    chunks = graph.meta.chunk(graphs.edges(root)[:, 0])
    lo, hi = chunks.min(0), chunks.max(0)
    mid = (lo + hi) // 2 + 1
    for box in ((lo, mid), (mid - 1, hi + 1), (lo, hi + 1)):
        got = graphs.edges(root, *box)
        assert np.array_equal(got, reference(graph, root, *box))
    assert 0 < len(graphs.edges(root, lo, mid)) < len(graphs.edges(root))


def test_unique_pairs_sorts_and_drops_repeats():
    a = np.array([5, 1, 5, 1, 3], np.uint64)
    b = np.array([9, 2, 9, 4, 3], np.uint64)
    assert unique_pairs(a, b).tolist() == [[1, 2], [1, 4], [3, 3], [5, 9]]
