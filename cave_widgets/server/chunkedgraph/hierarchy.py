"""The layers above level 2, as one deterministic rule over an object's level-2 nodes.

Going up from layer 3 to the layer below the root, the object's nodes still without a parent
(the "frontier") are grouped by the layer-L chunk they lie in; a group of two or more gets a
layer-L parent, a node alone in its chunk waits for a higher layer (PyChunkedGraph's skip
connections). What is left at the top are the root's children. The same rule builds every
object at once when the demo is generated and one object at a time after an edit, where a
node whose (layer, children) are unchanged keeps its id, so only the path from the edited
level-2 nodes to the root gets new ids.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .meta import GraphMeta
from .sorting import inverse, stable_argsort

# allocate(layer, chunk coords (k, 3), children per group) -> k new ids (uint64)
Allocator = Callable[[int, np.ndarray, list], np.ndarray]


def build(meta: GraphMeta, obj: np.ndarray, l2_ids: np.ndarray, allocate: Allocator):
    """Parents for the level-2 nodes `l2_ids` of objects `obj` (object index per node).

    Returns (child ids, parent node ids or -1 for "the object's root", object of each
    row) for every parent pointer below the root, and the created nodes' layers."""
    ids = np.asarray(l2_ids, dtype=np.uint64)
    obj = np.asarray(obj, dtype=np.int64)
    # The frontier is kept sorted by id (a new node's layer, in the id's top bits, is above
    # every frontier node's), so a stable sort by (object, chunk) orders it as
    # (object, chunk, id) without sorting the ids again.
    last = ids, obj  # the frontier as the layer that last made nodes left it (roots' children)
    by_id = np.argsort(ids, kind="stable")
    ids, obj = ids[by_id], obj[by_id]
    c2 = meta.chunk(ids)  # level-2 scale coordinates
    children_out, parents_out, obj_out = [], [], []
    for layer in range(3, meta.n_layers):
        shift = layer - 2
        cl = c2 >> shift
        key = _group_key(obj, cl)
        order = stable_argsort(key)
        skey = key[order]
        new_group = np.r_[True, skey[1:] != skey[:-1]]
        group = np.cumsum(new_group) - 1
        size = np.bincount(group)
        multi = size[group] >= 2
        if not multi.any():
            continue
        starts = np.flatnonzero(new_group)
        groups = np.flatnonzero(size >= 2)
        first = order[starts[groups]]  # one member of each new node's group
        members = ([ids[order[starts[g]:starts[g] + size[g]]] for g in groups]
                   if getattr(allocate, "needs_members", True) else None)
        new_ids = allocate(layer, cl[first], members)
        moved = order[multi]  # in (object, chunk, id) order, each group's rows together
        children_out.append(ids[moved])
        parents_out.append(np.repeat(new_ids, size[groups]))
        obj_out.append(obj[moved])
        alone = order[~multi]
        last = np.concatenate([ids[alone], new_ids]), np.concatenate([obj[alone], obj[first]])
        # the frontier: nodes left alone (still in id order), and the new nodes
        keep = np.ones(len(ids), bool)
        keep[moved] = False
        fresh = first[np.argsort(new_ids, kind="stable")]
        new_sorted = np.sort(new_ids)
        ids = np.concatenate([ids[keep], new_sorted])
        obj = np.concatenate([obj[keep], obj[fresh]])
        c2 = np.concatenate([c2[keep], cl[fresh] << shift])
    children_out.append(last[0])
    parents_out.append(np.full(len(last[0]), -1, dtype=np.int64).astype(np.uint64))
    obj_out.append(last[1])
    return (np.concatenate(children_out).astype(np.uint64),
            np.concatenate(parents_out).astype(np.uint64), np.concatenate(obj_out))


def _group_key(obj: np.ndarray, cl: np.ndarray) -> np.ndarray:
    """(object, chunk x, y, z) as one integer, ordered as the tuples are."""
    if len(obj) == 0:
        return np.zeros(0, np.int64)
    bits = [max(int(v).bit_length(), 1) for v in cl.max(0)]
    if int(obj.max()).bit_length() + sum(bits) > 62:  # too wide: the rank of each tuple
        order = np.lexsort((cl[:, 2], cl[:, 1], cl[:, 0], obj))
        o, c = obj[order], cl[order]
        rank = np.cumsum(np.r_[False, (o[1:] != o[:-1]) | np.any(c[1:] != c[:-1], axis=1)])
        return rank[inverse(order)]
    key = obj.astype(np.int64)
    for axis in range(3):
        key = (key << bits[axis]) | cl[:, axis]
    return key


ROOT = np.uint64(2**64 - 1)  # the placeholder build() returns for "the object's root"


class SequentialAllocator:
    """Fresh ids: per (layer, chunk), segment ids counting up from the chunk's highest."""

    def __init__(self, meta: GraphMeta, highest: Callable[[int, np.ndarray], np.ndarray]):
        self.meta = meta
        self.highest = highest  # (layer, chunk ids) -> highest segment id in use there
        self.used: dict[tuple[int, int], int] = {}

    def __call__(self, layer: int, chunks: np.ndarray, members: list) -> np.ndarray:
        chunk_ids = self.meta.chunk_id(layer, chunks)
        out = np.empty(len(chunks), dtype=np.uint64)
        unknown = [i for i, c in enumerate(chunk_ids.tolist()) if (layer, c) not in self.used]
        if unknown:
            top = self.highest(layer, chunk_ids[unknown])
            for i, h in zip(unknown, top.tolist()):
                self.used.setdefault((layer, int(chunk_ids[i])), int(h))
        for i, c in enumerate(chunk_ids.tolist()):
            seg = self.used[(layer, c)] + 1
            self.used[(layer, c)] = seg
            out[i] = np.uint64(c) | np.uint64(seg)
        return out


class ReusingAllocator:
    """For an edit: a group whose (layer, children) match a node of the old objects keeps
    that node's id; others get fresh ids."""

    def __init__(self, fresh: SequentialAllocator, old: dict[tuple[int, frozenset], int]):
        self.fresh = fresh
        self.old = old
        self.created: list[int] = []

    def __call__(self, layer: int, chunks: np.ndarray, members: list) -> np.ndarray:
        out = np.empty(len(chunks), dtype=np.uint64)
        missing = []
        for i, m in enumerate(members):
            known = self.old.get((layer, frozenset(m.tolist())))
            if known is None:
                missing.append(i)
            else:
                out[i] = known
        if missing:
            new = self.fresh(layer, chunks[missing], [members[i] for i in missing])
            out[missing] = new
            self.created += new.tolist()
        return out


def bulk_allocate(meta: GraphMeta) -> Allocator:
    """Fresh ids for a whole new graph: each call is one layer, numbered per chunk from 1."""

    def allocate(layer: int, chunks: np.ndarray, members: list) -> np.ndarray:
        chunk_ids = meta.chunk_id(layer, chunks)
        order = np.argsort(chunk_ids, kind="stable")
        sorted_ids = chunk_ids[order]
        start = np.r_[True, sorted_ids[1:] != sorted_ids[:-1]]
        run_start = np.maximum.accumulate(np.where(start, np.arange(len(order)), 0))
        seg = np.empty(len(order), dtype=np.uint64)
        seg[order] = (np.arange(len(order)) - run_start + 1).astype(np.uint64)
        return chunk_ids | seg

    allocate.needs_members = False
    return allocate
