"""In-memory answers to chunkedgraph questions (roots of supervoxels at a time, lineage,
id mapping between times) over the demo's proofreading history.

Times here are seconds relative to the store's anchor, like everywhere in the store.
"""

from __future__ import annotations

from collections import defaultdict, deque

import numpy as np


class SegmentationIndex:
    def __init__(self, cursor):
        spans = cursor.execute(
            "SELECT sv, root, t_from, coalesce(t_to, 'inf'::DOUBLE) AS t_to FROM demo.sv_spans "
            "ORDER BY sv, t_from"
        ).fetchnumpy()
        self.span_sv, self.span_root, self.span_from, self.span_to = (
            spans[k] for k in ("sv", "root", "t_from", "t_to")
        )
        roots = cursor.execute(
            "SELECT root, created, coalesce(retired, 'inf'::DOUBLE) AS retired, operation "
            "FROM demo.roots ORDER BY root"
        ).fetchnumpy()
        self.root_id = roots["root"]
        self.root_created = roots["created"]
        self.root_retired = roots["retired"]
        self.root_operation = roots["operation"]
        lineage = cursor.execute("SELECT parent, child, operation, t FROM demo.lineage").fetchall()
        self.parents: dict[int, list[int]] = defaultdict(list)
        self.children: dict[int, list[int]] = defaultdict(list)
        for parent, child, _, _ in lineage:
            self.parents[child].append(parent)
            self.children[parent].append(child)
        self.oldest = float(self.span_from.min())

    # --- supervoxels → roots ----------------------------------------------------------

    def roots_of(self, svs: np.ndarray, t: float) -> np.ndarray:
        """Root of each supervoxel at time t; 0 for 0, unknown ids and times before history."""
        svs = np.asarray(svs, dtype=np.int64)
        lo = np.searchsorted(self.span_sv, svs, "left")
        cand = np.searchsorted(self.span_sv, svs, "right") - 1
        # Step back from each supervoxel's newest span to the one in force at t.
        while True:
            later = (cand >= lo) & (self.span_from[np.maximum(cand, 0)] > t)
            if not later.any():
                break
            cand = cand - later
        found = cand >= lo
        out = np.zeros(len(svs), dtype=np.int64)
        out[found] = self.span_root[cand[found]]
        return out

    def leaves(self, root: int) -> np.ndarray:
        return np.unique(self.span_sv[self.span_root == root])

    # --- roots --------------------------------------------------------------------------

    def _index(self, roots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        roots = np.asarray(roots, dtype=np.int64)
        idx = np.clip(np.searchsorted(self.root_id, roots), 0, len(self.root_id) - 1)
        return idx, self.root_id[idx] == roots

    def known(self, roots) -> np.ndarray:
        return self._index(roots)[1]

    def is_latest(self, roots, t: float) -> np.ndarray:
        idx, known = self._index(roots)
        return known & (self.root_created[idx] <= t) & (self.root_retired[idx] > t)

    def created(self, roots) -> np.ndarray:
        idx, _ = self._index(roots)
        return self.root_created[idx]

    def retired(self, roots) -> np.ndarray:
        idx, _ = self._index(roots)
        return self.root_retired[idx]

    def operation(self, root: int) -> int:
        idx, _ = self._index([root])
        return int(self.root_operation[idx[0]])

    # --- lineage ------------------------------------------------------------------------

    def _walk(self, start: int, edges: dict[int, list[int]], keep) -> set[int]:
        seen, queue = {start}, deque([start])
        while queue:
            for nxt in edges.get(queue.popleft(), ()):
                if nxt not in seen and keep(nxt):
                    seen.add(nxt)
                    queue.append(nxt)
        return seen

    def ids_at(self, root: int, t: float) -> list[int]:
        """The roots alive at time t that share supervoxels with `root` via lineage."""
        if self.is_latest([root], t)[0]:
            return [root]
        created = float(self.created([root])[0])
        edges = self.parents if t < created else self.children
        related = self._walk(root, edges, lambda _: True)
        alive = [r for r in related if self.is_latest([r], t)[0]]
        return sorted(alive)

    def lineage_graph(self, roots, past: float, future: float) -> dict:
        nodes: set[int] = set()
        for root in roots:
            nodes |= self._walk(root, self.parents, lambda r: self.retired([r])[0] > past)
            nodes |= self._walk(root, self.children, lambda r: self.created([r])[0] <= future)
        links = [
            {"source": parent, "target": child}
            for child in sorted(nodes)
            for parent in self.parents.get(child, ())
            if parent in nodes
        ]
        node_list = []
        for r in sorted(nodes):
            node = {"id": r, "timestamp": float(self.created([r])[0])}
            op = self.operation(r)
            if op:
                node["operation_id"] = op
            node_list.append(node)
        return {"directed": True, "multigraph": False, "graph": {}, "nodes": node_list,
                "links": links}

    def delta_roots(self, past: float, future: float) -> tuple[np.ndarray, np.ndarray]:
        c, r = self.root_created, self.root_retired
        new = (c > past) & (c <= future) & (r > future)
        old = (r > past) & (r <= future) & (c <= past)
        return self.root_id[old], self.root_id[new]
