"""The chunkedgraph's state over time, in memory: supervoxels and their edges, parent pointers
at every layer, roots with their lineage, and the operation log.

Nodes never change their children; what changes at an edit is parent pointers (new spans in
``parent``), supervoxel → root spans (``sv_root``, the fast path for root lookups), the
activity interval of supervoxel edges, and the roots table. Times are seconds relative to
the store's anchor. Loading and saving live in tables.py, edits in edits.py.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from .meta import GraphMeta
from .spans import Grouped, SpanIndex, _member

INF = float("inf")


@dataclass
class Edges:
    """Supervoxel edges, each stored in both directions, sorted by `a`; a base edge's
    activity ends (t_to) when a split removes it, edges added by merges are appended."""

    a: np.ndarray
    b: np.ndarray
    t_from: np.ndarray
    t_to: np.ndarray
    affinity: np.ndarray
    area: np.ndarray

    @classmethod
    def undirected(cls, a, b, t_from, t_to, affinity, area) -> Edges:
        both = [np.concatenate([x, y]) for x, y in ((a, b), (b, a))]
        twice = [np.concatenate([x, x]) for x in (t_from, t_to, affinity, area)]
        order = np.argsort(both[0], kind="stable")
        return cls(both[0][order].astype(np.uint64), both[1][order].astype(np.uint64),
                   *(x[order] for x in twice))

    def rows_of(self, svs: np.ndarray) -> np.ndarray:
        lo = np.searchsorted(self.a, svs, "left")
        count = np.searchsorted(self.a, svs, "right") - lo
        return np.repeat(lo, count) + np.arange(count.sum()) - np.repeat(np.cumsum(count) - count,
                                                                          count)

    def among(self, svs, t: float):
        """Edges active at t with both ends in `svs`, once each (a < b): (a, b, affinity,
        area)."""
        svs = np.unique(np.asarray(svs, dtype=np.uint64))
        rows = self.rows_of(svs)
        rows = rows[(self.a[rows] < self.b[rows]) & (self.t_from[rows] <= t)
                    & (self.t_to[rows] > t)]
        rows = rows[_member(self.b[rows], svs)]
        return self.a[rows], self.b[rows], self.affinity[rows], self.area[rows]

    def find(self, a: int, b: int) -> np.ndarray:
        rows = self.rows_of(np.array([a], dtype=np.uint64))
        return rows[self.b[rows] == np.uint64(b)]

    def add(self, a, b, t, affinity=1.0, area=0) -> Edges:
        new = Edges.undirected(np.array([a], np.uint64), np.array([b], np.uint64),
                               np.array([t]), np.array([INF]), np.array([affinity]),
                               np.array([area], np.int64))
        return Edges(*(np.concatenate([getattr(self, f), getattr(new, f)])
                       for f in ("a", "b", "t_from", "t_to", "affinity", "area"))).sorted()

    def sorted(self) -> Edges:
        order = np.argsort(self.a, kind="stable")
        return Edges(*(getattr(self, f)[order]
                       for f in ("a", "b", "t_from", "t_to", "affinity", "area")))


@dataclass
class Roots:
    """Every root ever made. retired is inf while current; `former`/`successors` hold the
    lineage; op_created/op_retired the operations on either side (0 for initial roots)."""

    ids: np.ndarray
    created: np.ndarray
    retired: np.ndarray
    op_created: np.ndarray
    op_retired: np.ndarray
    former: dict[int, list[int]] = field(default_factory=dict)
    successors: dict[int, list[int]] = field(default_factory=dict)

    def index(self, roots) -> tuple[np.ndarray, np.ndarray]:
        roots = np.asarray(roots, dtype=np.uint64)
        if len(self.ids) == 0:
            return np.zeros(len(roots), np.int64), np.zeros(len(roots), bool)
        idx = np.clip(np.searchsorted(self.ids, roots), 0, len(self.ids) - 1)
        return idx, self.ids[idx] == roots

    def add(self, roots, t: float, op: int) -> None:
        n = len(roots)
        ids = np.concatenate([self.ids, np.asarray(roots, np.uint64)])
        order = np.argsort(ids, kind="stable")
        self.ids = ids[order]
        self.created = np.concatenate([self.created, np.full(n, t)])[order]
        self.retired = np.concatenate([self.retired, np.full(n, INF)])[order]
        self.op_created = np.concatenate([self.op_created, np.full(n, op)])[order]
        self.op_retired = np.concatenate([self.op_retired, np.zeros(n, np.int64)])[order]

    def retire(self, roots, t: float, op: int) -> None:
        idx, _ = self.index(roots)
        self.retired[idx] = t
        self.op_retired[idx] = op


class Graph:
    def __init__(self, meta: GraphMeta, sv_ids: np.ndarray, edges: Edges, sv_root: SpanIndex,
                 parent: SpanIndex, children: Grouped, roots: Roots, operations: dict,
                 history_start: float):
        self.meta = meta
        self.sv_ids = np.asarray(sv_ids, dtype=np.uint64)
        self.edges = edges
        self.sv_root = sv_root
        self.parent = parent
        self.children = children
        self.roots = roots
        self.operations = operations  # op id -> log record (see edits.py)
        self.history_start = history_start
        keys, members = sv_root.keys, sv_root.keys
        self.members = Grouped(sv_root.values, members)
        del keys
        self.lock = threading.RLock()  # one writer at a time; readers take no lock
        self._creation = None

    def _node_creation(self) -> tuple[np.ndarray, np.ndarray]:
        """(node, when it first became a parent), sorted by node; made on first use (the
        demo build never asks), under the writers' lock so no edit runs meanwhile. Nodes that
        edits make later are noted by note_created."""
        if self._creation is None:
            with self.lock:
                if self._creation is None:
                    keys, t, values = self.parent.rows()
                    order = np.lexsort((t, values))
                    v, tt = values[order], t[order]
                    first = np.r_[True, v[1:] != v[:-1]]
                    self._creation = v[first], tt[first]
        return self._creation

    # --- what kind of id ----------------------------------------------------------------

    def layer(self, ids) -> np.ndarray:
        return self.meta.layer(ids)

    def is_root_layer(self, ids) -> np.ndarray:
        return self.layer(ids) == self.meta.n_layers

    def known_sv(self, ids) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.uint64)
        i = np.clip(np.searchsorted(self.sv_ids, ids), 0, len(self.sv_ids) - 1)
        return self.sv_ids[i] == ids

    def created(self, ids) -> np.ndarray:
        """When each node came to be (inf if it never did)."""
        ids = np.asarray(ids, dtype=np.uint64)
        out = np.full(len(ids), INF)
        layer = self.layer(ids)
        sv = layer == 1
        out[sv & self.known_sv(ids)] = self.history_start
        root = layer == self.meta.n_layers
        if root.any():
            idx, known = self.roots.index(ids[root])
            out[np.flatnonzero(root)[known]] = self.roots.created[idx[known]]
        mid = ~sv & ~root
        if mid.any():
            created_keys, created_t = self._node_creation()
            i = np.clip(np.searchsorted(created_keys, ids[mid]), 0,
                        max(len(created_keys) - 1, 0))
            ok = created_keys[i] == ids[mid]
            out[np.flatnonzero(mid)[ok]] = created_t[i[ok]]
            for j in np.flatnonzero(mid)[~ok]:
                extra = self._new_nodes.get(int(ids[j])) if hasattr(self, "_new_nodes") else None
                if extra is not None:
                    out[j] = extra
        return out

    def note_created(self, nodes, t: float) -> None:
        if not hasattr(self, "_new_nodes"):
            self._new_nodes: dict[int, float] = {}
        for n in np.asarray(nodes, dtype=np.uint64).tolist():
            self._new_nodes.setdefault(n, t)

    # --- going up -----------------------------------------------------------------------

    def roots_of(self, ids, t: float, stop_layer: int | None = None) -> np.ndarray:
        """The ancestor at layer ≥ stop_layer (default: the root) of each id at time t;
        ids already at or above stop_layer are echoed; 0 where there is none."""
        stop = self.meta.n_layers if stop_layer is None else int(stop_layer)
        ids = np.asarray(ids, dtype=np.uint64)
        out = ids.copy()
        layer = self.layer(ids)
        todo = (layer < stop) & (ids != 0)
        if stop >= self.meta.n_layers:  # supervoxels straight to their root
            sv = todo & (layer == 1)
            out[sv] = self.sv_root.at(ids[sv], t)
            todo &= ~sv
        out[(layer < stop) & ~todo] = np.where(ids[(layer < stop) & ~todo] == 0, 0,
                                               out[(layer < stop) & ~todo])
        while todo.any():
            up = self.parent.at(out[todo], t)
            out[todo] = up
            still = np.zeros_like(todo)
            still[todo] = (up != 0) & (self.layer(up) < stop)
            todo = still
        return out

    def root_at(self, node: int, t: float) -> int:
        return int(self.roots_of(np.array([node], np.uint64), t)[0])

    def minimal_covering(self, ids, t: float) -> np.ndarray:
        """The fewest nodes whose descendants at the lowest input layer are exactly those
        of `ids` (PCG's minimal covering nodes). Layer by layer from the bottom, a node's
        parent at t takes its place when every one of the parent's descendants at that layer
        is covered; otherwise the node is emitted. A parent is judged once for all its
        children in the queue, so no emitted node lies under another. The root is never
        climbed to: a whole object is covered by the root's children."""
        ids = np.unique(np.asarray(ids, dtype=np.uint64))
        if len(ids) == 0:
            return ids
        base = int(self.layer(ids).min())
        covered = set(ids.tolist())
        queue: dict[int, set[int]] = {}
        for node, layer in zip(ids.tolist(), self.layer(ids).tolist()):
            queue.setdefault(int(layer), set()).add(node)
        judged: dict[int, bool] = {}  # node -> all its base-layer descendants covered
        layer_of = lambda n: int(n) >> 56  # the id layout puts the layer in the top 8 bits

        def whole(node: int) -> bool:
            if node in judged:
                return judged[node]
            stack, order = [node], []
            while stack:  # children before parents, without recursion
                n = stack.pop()
                if n in judged or layer_of(n) <= base:
                    continue
                order.append(n)
                stack.extend(self.children_of(n).tolist())
            for n in reversed(order):
                kids = [k for k in self.children_of(n).tolist() if layer_of(k) >= base]
                judged[n] = bool(kids) and all(
                    (k in covered) if layer_of(k) == base else judged[k] for k in kids)
            return judged.get(node, node in covered)

        out: set[int] = set()
        while queue:
            layer = min(queue)
            nodes = np.array(sorted(queue.pop(layer)), dtype=np.uint64)
            parents = self.parent.at(nodes, t)
            for node, parent in zip(nodes.tolist(), parents.tolist()):
                if parent == 0 or self.layer([parent])[0] >= self.meta.n_layers:
                    out.add(node)
                    continue
                if whole(parent):
                    queue.setdefault(int(self.layer([parent])[0]), set()).add(parent)
                else:
                    out.add(node)
        return np.array(sorted(out), dtype=np.uint64)

    # --- going down ---------------------------------------------------------------------

    def children_of(self, node: int) -> np.ndarray:
        found = self.children.get(node)
        return np.zeros(0, np.uint64) if found is None else found

    def descendants(self, nodes, stop_layer: int, lo=None, hi=None) -> tuple[np.ndarray,
                                                                              np.ndarray]:
        """(owner index, descendant) at exactly `stop_layer` under each node; with a box
        (level-2 chunk space), children above layer 2 outside it are dropped (as PCG)."""
        from .meta import in_bounds

        nodes = np.asarray(nodes, dtype=np.uint64)
        owner = np.arange(len(nodes))
        frontier = nodes
        found_owner, found = [], []
        while len(frontier):
            layer = self.layer(frontier)
            here = layer == stop_layer
            found_owner.append(owner[here])
            found.append(frontier[here])
            down = layer > stop_layer
            if not down.any():
                break
            filter_box = lo is not None and stop_layer >= 1
            o, kids = self.children.many(frontier[down])
            owner_next = owner[down][o]
            if filter_box:
                parent_layer = self.layer(frontier[down])[o]
                keep = (parent_layer <= 2) | in_bounds(self.meta, kids, lo, hi)
                kids, owner_next = kids[keep], owner_next[keep]
            frontier, owner = kids, owner_next
        return (np.concatenate(found_owner) if found_owner else np.zeros(0, np.int64),
                np.concatenate(found).astype(np.uint64) if found else np.zeros(0, np.uint64))

    def leaves(self, node: int, stop_layer: int = 1, lo=None, hi=None) -> np.ndarray:
        return np.sort(self.descendants([node], stop_layer, lo, hi)[1])

    def members_of(self, root: int) -> np.ndarray:
        found = self.members.get(root)
        return np.zeros(0, np.uint64) if found is None else found

    # --- roots over time ----------------------------------------------------------------

    def is_latest(self, roots, t: float) -> np.ndarray:
        idx, known = self.roots.index(roots)
        return known & (self.roots.created[idx] <= t) & (self.roots.retired[idx] > t)

    def known_roots(self, roots) -> np.ndarray:
        return self.roots.index(roots)[1]

    def history_end(self) -> float:
        return max([self.history_start] + [r["t"] for r in self.operations.values()])
