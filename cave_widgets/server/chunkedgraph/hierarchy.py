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

# allocate(layer, chunk coords (k, 3), children per group) -> k new ids (uint64)
Allocator = Callable[[int, np.ndarray, list], np.ndarray]


def build(meta: GraphMeta, obj: np.ndarray, l2_ids: np.ndarray, allocate: Allocator):
    """Parents for the level-2 nodes `l2_ids` of objects `obj` (object index per node).

    Returns (child ids, parent node ids or -1 for "the object's root", object of each
    row) for every parent pointer below the root, and the created nodes' layers."""
    ids = np.asarray(l2_ids, dtype=np.uint64)
    obj = np.asarray(obj, dtype=np.int64)
    c2 = meta.chunk(ids)  # level-2 scale coordinates
    layer_of = np.full(len(ids), 2)
    children_out, parents_out, obj_out = [], [], []
    for layer in range(3, meta.n_layers):
        shift = layer - 2
        cl = c2 >> shift
        order = np.lexsort((ids, cl[:, 2], cl[:, 1], cl[:, 0], obj))
        ids, obj, c2, cl, layer_of = ids[order], obj[order], c2[order], cl[order], \
            layer_of[order]
        new_group = np.r_[True, (obj[1:] != obj[:-1]) | np.any(cl[1:] != cl[:-1], axis=1)]
        group = np.cumsum(new_group) - 1
        size = np.bincount(group)
        multi = size[group] >= 2
        if not multi.any():
            continue
        starts = np.flatnonzero(new_group)
        groups = np.flatnonzero(size >= 2)
        members = ([ids[starts[g]:starts[g] + size[g]] for g in groups]
                   if getattr(allocate, "needs_members", True) else None)
        new_ids = allocate(layer, cl[starts[groups]], members)
        parent = new_ids[np.searchsorted(groups, group[multi])]
        children_out.append(ids[multi])
        parents_out.append(parent)
        obj_out.append(obj[multi])
        # the frontier: nodes left alone, and the new nodes
        keep = ~multi
        ids = np.concatenate([ids[keep], new_ids])
        obj = np.concatenate([obj[keep], obj[starts[groups]]])
        c2 = np.concatenate([c2[keep], cl[starts[groups]] << shift])
        layer_of = np.concatenate([layer_of[keep], np.full(len(groups), layer)])
    children_out.append(ids)
    parents_out.append(np.full(len(ids), -1, dtype=np.int64).astype(np.uint64))
    obj_out.append(obj)
    return (np.concatenate(children_out).astype(np.uint64),
            np.concatenate(parents_out).astype(np.uint64), np.concatenate(obj_out))


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
