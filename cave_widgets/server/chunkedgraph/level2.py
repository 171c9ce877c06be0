"""A root's level-2 graph (PCG's lvl2_graph): its cross-chunk supervoxel edges mapped to the
level-2 nodes at their ends, one row per adjacent pair (smaller id first), rows sorted.

A root never changes once made (an edit makes new roots), so its graph is computed once and
kept in a small cache bounded by bytes: pcg_skel, the skeleton service and a viewer ask for
the same neuron again and again. A bounding box filters the cached graph (a pair is kept
when both its nodes pass PCG's box test), which is what filtering the pairs before making
them unique gives.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from .graph import Graph
from .meta import in_bounds
from .spans import _member

CACHE_BYTES = 64 * 2**20


def unique_pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rows (a, b) sorted by a then b, duplicates dropped: an (n, 2) uint64 array."""
    order = np.lexsort((b, a))
    a, b = a[order], b[order]
    keep = np.ones(len(a), bool)
    keep[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    return np.stack([a[keep], b[keep]], axis=1)


def compute(graph: Graph, root: int) -> np.ndarray:
    """The whole level-2 graph of `root` as it was made (at its creation time)."""
    t = float(graph.created([root])[0])
    svs = np.sort(graph.members_of(root))
    rows = graph.edges.rows_of(svs)
    e = graph.edges
    rows = rows[(e.a[rows] < e.b[rows]) & (e.t_from[rows] <= t) & (e.t_to[rows] > t)]
    a, b = e.a[rows], e.b[rows]
    inside = _member(b, svs)
    a, b = a[inside], b[inside]
    # One parent lookup per supervoxel (not per edge end), then a binary search per end.
    l2 = graph.parent.at(svs, t)
    la, lb = l2[np.searchsorted(svs, a)], l2[np.searchsorted(svs, b)]
    cross = la != lb
    la, lb = la[cross], lb[cross]
    if not len(la):
        return np.zeros((0, 2), np.uint64)
    return unique_pairs(np.minimum(la, lb), np.maximum(la, lb))


class Level2Graphs:
    """Level-2 graphs of roots, computed on first request and kept (LRU, byte-bounded)."""

    def __init__(self, graph: Graph, max_bytes: int = CACHE_BYTES):
        self.graph = graph
        self.max_bytes = max_bytes
        self._held: OrderedDict[int, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def edges(self, root: int, lo=None, hi=None) -> np.ndarray:
        root = int(root)
        with self._lock:
            found = self._held.get(root)
            if found is not None:
                self._held.move_to_end(root)
        if found is None:
            found = compute(self.graph, root)
            found.setflags(write=False)  # shared by every request that asks
            self._keep(root, found)
        if lo is None or not len(found):
            return found
        keep = (in_bounds(self.graph.meta, found[:, 0], lo, hi)
                & in_bounds(self.graph.meta, found[:, 1], lo, hi))
        return found[keep]

    def _keep(self, root: int, edges: np.ndarray) -> None:
        if edges.nbytes > self.max_bytes:
            return
        with self._lock:
            if root in self._held:
                return
            self._held[root] = edges
            self._bytes += edges.nbytes
            while self._bytes > self.max_bytes:
                _, dropped = self._held.popitem(last=False)
                self._bytes -= dropped.nbytes
