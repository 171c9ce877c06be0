"""Edits as PyChunkedGraph makes them: supervoxel edges are added (merge) or removed (split);
the objects touched get new roots; level-2 nodes get new ids only in the chunks where an
edited edge ends (a component holding an edited supervoxel), and the layers above only along
the way from there to the root. Untouched nodes keep their ids and get new parents.

The demo generator replays its proofreading history through `apply`, and the server applies
users' edits through it, so both obey the same rules.
"""

from __future__ import annotations

import numpy as np

from . import hierarchy
from .geometry import chunk_key
from .graph import Graph
from .spans import _member

ROOT_STEP = 1_009


def components(nodes: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected-component label (an index into nodes) of each node, for edges a–b: the
    smallest index in the node's component. Rounds of hooking (every root with an edge to a
    smaller root points at the smallest such root), pointer jumping to the roots, and
    contracting the edges onto the roots; pointers only go down, so a root is its tree's
    smallest index."""
    nodes = np.asarray(nodes, dtype=np.uint64)
    label = np.arange(len(nodes))
    ea, eb = np.searchsorted(nodes, a), np.searchsorted(nodes, b)
    while len(ea):
        la, lb = label[ea], label[eb]
        cross = la != lb
        if not cross.any():
            break
        ea, eb = np.minimum(la[cross], lb[cross]), np.maximum(la[cross], lb[cross])
        np.minimum.at(label, eb, ea)
        while True:
            up = label[label]
            if np.array_equal(up, label):
                break
            label = up
    return label


class Allocators:
    """Fresh ids for one graph: per-chunk counters for nodes, and increasing root ids."""

    def __init__(self, graph: Graph, next_root: int):
        self.graph = graph
        self.nodes = hierarchy.SequentialAllocator(graph.meta, self._highest)
        self.next_root = next_root

    def _highest(self, layer: int, chunk_ids: np.ndarray) -> np.ndarray:
        keys = self.graph.children.keys
        mask = np.uint64((1 << self.graph.meta.segment_bits(layer)) - 1)
        out = np.zeros(len(chunk_ids), dtype=np.uint64)
        if len(keys):
            i = np.searchsorted(keys, chunk_ids | mask, "right") - 1
            ok = (i >= 0) & ((keys[np.maximum(i, 0)] & ~mask) == chunk_ids)
            out[ok] = keys[i[ok]] & mask
        # nodes added since the graph was loaded were all numbered by this allocator, whose
        # counters already start above them
        return out

    def roots(self, n: int, salt: int) -> np.ndarray:
        out = []
        for k in range(n):
            self.next_root += ROOT_STEP + (salt * 7 + k * 13) % 997
            out.append(self.next_root)
        return np.array(out, dtype=np.uint64)


def _old_internal_nodes(graph: Graph, roots) -> dict:
    """(layer, children) → id for the nodes above level 2 of `roots`."""
    meta = graph.meta
    known = {}
    frontier = np.asarray(roots, dtype=np.uint64)
    while len(frontier):
        owner, kids = graph.children.many(frontier)
        layer = meta.layer(frontier)
        inner = (layer >= 3) & (layer < meta.n_layers)
        if inner.any():
            order = np.argsort(owner, kind="stable")
            owner_s, kids_s = owner[order], kids[order]
            bounds = np.searchsorted(owner_s, np.arange(len(frontier) + 1))
            for i in np.flatnonzero(inner).tolist():
                members = frozenset(kids_s[bounds[i]:bounds[i + 1]].tolist())
                known[(int(layer[i]), members)] = int(frontier[i])
        frontier = kids[meta.layer(kids) >= 3]
    return known


def apply(graph: Graph, alloc: Allocators, op: int, t: float, *, add=(), remove=(),
          record: dict) -> dict:
    """Apply one operation at time t: add/remove supervoxel edges [(a, b), ...]; returns the
    operation's log record (record plus roots, old roots, new level-2 ids)."""
    meta = graph.meta
    add = [(int(a), int(b)) for a, b in add]
    remove = [(int(a), int(b)) for a, b in remove]
    ends = np.unique(np.array([x for e in add + remove for x in e], dtype=np.uint64))
    old_roots = np.unique(graph.sv_root.at(ends, t))
    old_roots = old_roots[old_roots != 0]
    svs = np.unique(np.concatenate([graph.members_of(r) for r in old_roots.tolist()]))
    for a, b in remove:
        for x, y in ((a, b), (b, a)):
            rows = graph.edges.find(x, y)
            rows = rows[graph.edges.t_to[rows] > t]
            graph.edges.t_to[rows] = t
    for a, b in add:
        rows = np.concatenate([graph.edges.find(a, b), graph.edges.find(b, a)])
        pending = rows[graph.edges.t_from[rows] > t]  # an edge the history adds here
        if len(pending):
            graph.edges.t_from[pending] = t
        else:
            graph.edges = graph.edges.add(a, b, t)
    ea, eb, _, _ = graph.edges.among(svs, t)
    label = components(svs, ea, eb)

    # Level 2: new nodes for the components (within a chunk) that hold an edited supervoxel.
    l2 = graph.parent.at(svs, t)
    key = chunk_key(meta.chunk(svs))
    dirty = _member(key, np.unique(chunk_key(meta.chunk(ends))))
    sub = svs[dirty]
    ia, ib = np.searchsorted(svs, ea), np.searchsorted(svs, eb)
    inside = dirty[ia] & dirty[ib] & (key[ia] == key[ib])
    sub_label = components(sub, ea[inside], eb[inside])
    touched = np.unique(sub_label[_member(sub, ends)])
    new_l2 = []
    for lab in touched.tolist():
        group = sub[sub_label == lab]
        [node] = alloc.nodes(2, meta.chunk(group[:1]), [group])
        graph.parent.set(group, t, node)
        graph.children.add(node, group)
        l2[np.searchsorted(svs, group)] = node
        new_l2.append(int(node))

    # The layers above, one object per connected component, reusing unchanged nodes.
    objects, obj = np.unique(label, return_inverse=True)
    pairs = np.unique(np.stack([obj, l2.astype(np.int64).view(np.int64)], axis=1), axis=0)
    reuse = hierarchy.ReusingAllocator(alloc.nodes, _old_internal_nodes(graph, old_roots))
    child, parent, owner = hierarchy.build(meta, pairs[:, 0], pairs[:, 1].view(np.uint64),
                                           reuse)
    new_roots = alloc.roots(len(objects), op)
    parent = np.where(parent == hierarchy.ROOT, new_roots[owner], parent)
    current = graph.parent.at(child, t)
    moved = current != parent
    graph.parent.set(child[moved], t, parent[moved])
    for node in reuse.created + new_roots.tolist():
        graph.children.add(node, child[parent == np.uint64(node)])
    graph.note_created(np.array(reuse.created + new_l2 + new_roots.tolist(), np.uint64), t)
    for k, root in enumerate(new_roots.tolist()):
        mine = svs[obj == k]
        graph.sv_root.set(mine, t, root)
        graph.members.add(root, mine)
    graph.roots.retire(old_roots, t, op)
    graph.roots.add(new_roots, t, op)
    for r in old_roots.tolist():
        graph.roots.successors[r] = new_roots.tolist()
    for r in new_roots.tolist():
        graph.roots.former[r] = old_roots.tolist()
    log = dict(record, t=t, roots=new_roots.tolist(), old_roots=old_roots.tolist(),
               new_l2_ids=new_l2)
    if add:
        log["added_edges"] = [list(e) for e in add]
    if remove:
        log["removed_edges"] = [list(e) for e in remove]
    graph.operations[op] = log
    return log
