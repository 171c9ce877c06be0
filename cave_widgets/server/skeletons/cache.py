"""Skeletons per root, made on first request and kept in memory for the server's life, with
their encoded answers (per skeleton version and format: encoding costs more than sending);
an edit that retires a root drops both (ChunkedGraph.retire_listeners)."""

from __future__ import annotations

import threading
import weakref
from collections import Counter

import numpy as np

from ..demo import catalog
from .build import Skeleton, build

_CACHES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


class SkeletonCache:
    def __init__(self, seg):
        self.seg = seg
        self._held: dict[int, Skeleton] = {}
        self._encoded: dict[int, dict] = {}  # root → {(version, format): encoded answer}
        self._lock = threading.Lock()
        self.built = 0  # how many skeletons were computed (tests read it)
        seg.retire_listeners.append(self.drop)

    def drop(self, roots) -> None:
        with self._lock:
            for r in roots:
                self._held.pop(int(r), None)
                self._encoded.pop(int(r), None)

    def has(self, root: int) -> bool:
        with self._lock:
            return int(root) in self._held

    def roots(self) -> list[int]:
        with self._lock:
            return sorted(self._held)

    def get(self, root: int, anchor_epoch: float = 0.0) -> Skeleton:
        root = int(root)
        with self._lock:
            found = self._held.get(root)
        if found is not None:
            return found
        sk = self._make(root, anchor_epoch)
        with self._lock:
            self.built += 1
            # an edit may have retired the root meanwhile: keep only latest roots
            if self.seg.is_latest([root], self.seg.store.now())[0]:
                self._held[root] = sk
        return sk

    def encoded(self, root: int, key, make):
        """`make()` (an encoding of the root's skeleton, which it may build), kept under `key`
        while the skeleton is kept: a root not kept (not latest, or retired meanwhile) is
        encoded afresh each time."""
        root = int(root)
        with self._lock:
            found = self._encoded.get(root, {}).get(key)
        if found is not None:
            return found
        value = make()
        with self._lock:
            if root in self._held:
                self._encoded.setdefault(root, {})[key] = value
        return value

    def encoded_keys(self, root: int) -> list:
        """The (version, format) keys of the root's kept encodings (tests read it)."""
        with self._lock:
            return list(self._encoded.get(int(root), {}))

    def compute(self, root: int, anchor_epoch: float = 0.0) -> Skeleton:
        """The skeleton, made now and not kept: for readers other than the skeleton service
        (the precomputed mirror), whose requests must not change what the service's cache
        listing and skeletons_exist report."""
        with self._lock:
            found = self._held.get(int(root))
        return found if found is not None else self._make(int(root), anchor_epoch)

    def _make(self, root: int, anchor_epoch: float) -> Skeleton:
        g = self.seg.graph
        l2 = g.leaves(root, 2)
        edges = self.seg.level2.edges(root)
        table = self.seg.l2_rows(l2)
        cols = {n: table.column(n).to_pylist() for n in ("l2", "rep_coord_nm", "size_nm3")}
        attrs = {int(i): {"rep_coord_nm": c, "size_nm3": s}
                 for i, c, s in zip(cols["l2"], cols["rep_coord_nm"], cols["size_nm3"])}
        created = float(g.created(np.array([root], np.uint64))[0])
        return build(root, l2, edges, attrs, self._soma(root), catalog.DATASTACK,
                     created + anchor_epoch)

    def _soma(self, root: int):
        """The centre of the soma the root's supervoxels cover most, if any."""
        geo = self.seg.geometry
        svs = self.seg.graph.members_of(root)
        if len(svs) == 0:
            return None
        pieces = geo.pieces_of(svs)
        cells = geo.piece_ref[pieces[geo.piece_kind[pieces] == 1]]
        if len(cells) == 0:
            return None
        cell = Counter(cells.tolist()).most_common(1)[0][0]
        return np.asarray(geo.soma_centre[cell], float)


def cache_of(seg) -> SkeletonCache:
    with _LOCK:
        found = _CACHES.get(seg)
        if found is None:
            found = _CACHES[seg] = SkeletonCache(seg)
        return found
