"""Values that change over time, per key: base arrays (sorted by key, then time) plus a small
overlay of later changes. Used for supervoxel → root and node → parent pointers.

A key's value at time t is the value of its last span starting at or before t; before its
first span it has none (0). Changes only ever append spans later than every existing one
(edits happen in time order), so the overlay is a list per key.
"""

from __future__ import annotations

import numpy as np

DEDUP_ABOVE = 4096  # ids per lookup above which `at` sorts and de-duplicates first


class SpanIndex:
    def __init__(self, keys: np.ndarray, t_from: np.ndarray, values: np.ndarray):
        keys = np.asarray(keys, dtype=np.uint64)
        t_from = np.asarray(t_from, dtype=float)
        values = np.asarray(values, dtype=np.uint64)
        if len(keys) > 1 and not _by_key_then_time(keys, t_from):
            order = (np.argsort(keys, kind="stable") if (t_from == t_from[0]).all()
                     else np.lexsort((t_from, keys)))
            keys, t_from, values = keys[order], t_from[order], values[order]
        self.keys, self.t_from, self.values = keys, t_from, values
        self.overlay: dict[int, list[tuple[float, int]]] = {}
        self._overlay_sorted = None

    def __len__(self) -> int:
        return len(self.keys) + sum(len(v) for v in self.overlay.values())

    def at(self, keys, t: float) -> np.ndarray:
        keys = np.asarray(keys, dtype=np.uint64)
        if len(keys) > DEDUP_ABOVE:
            # Long lists repeat ids and come unordered: searching the sorted distinct ids
            # once each is several times faster than binary searches in random order.
            distinct, where = np.unique(keys, return_inverse=True)
            return self._at(distinct, t)[where]
        return self._at(keys, t)

    def _at(self, keys: np.ndarray, t: float) -> np.ndarray:
        lo = np.searchsorted(self.keys, keys, "left")
        cand = np.searchsorted(self.keys, keys, "right") - 1
        while True:  # step back from each key's newest span to the one in force at t
            later = (cand >= lo) & (self.t_from[np.maximum(cand, 0)] > t)
            if not later.any():
                break
            cand = cand - later
        found = cand >= lo
        out = np.zeros(len(keys), dtype=np.uint64)
        out[found] = self.values[cand[found]]
        if self.overlay:
            hit = np.flatnonzero(_member(keys, self._overlay_keys))
            for i in hit.tolist():
                for when, value in reversed(self.overlay[int(keys[i])]):
                    if when <= t:
                        out[i] = value
                        break
        return out

    def first_time(self, keys) -> np.ndarray:
        """When each key got its first value (inf if never)."""
        keys = np.asarray(keys, dtype=np.uint64)
        lo = np.searchsorted(self.keys, keys, "left")
        ok = (lo < len(self.keys)) & (self.keys[np.minimum(lo, len(self.keys) - 1)] == keys)
        out = np.where(ok, self.t_from[np.minimum(lo, len(self.keys) - 1)], np.inf)
        for i in np.flatnonzero(~ok & _member(keys, self._overlay_keys)):
            out[i] = self.overlay[int(keys[i])][0][0]
        return out

    def history(self, key: int) -> list[tuple[float, int]]:
        lo = np.searchsorted(self.keys, np.uint64(key), "left")
        hi = np.searchsorted(self.keys, np.uint64(key), "right")
        rows = [(float(t), int(v)) for t, v in zip(self.t_from[lo:hi], self.values[lo:hi])]
        return rows + self.overlay.get(int(key), [])

    def set(self, keys, t: float, values) -> None:
        keys = np.asarray(keys, dtype=np.uint64)
        fresh = []
        for k, v in zip(keys.tolist(), np.broadcast_to(np.asarray(values, dtype=np.uint64),
                                                       np.shape(keys)).tolist()):
            spans = self.overlay.get(k)
            if spans is None:
                self.overlay[k] = [(t, v)]
                fresh.append(k)
            else:
                spans.append((t, v))
        if fresh:
            if getattr(self, "_overlay_pending", None) is None:
                self._overlay_pending = []
            self._overlay_pending += fresh

    @property
    def _overlay_keys(self) -> np.ndarray:
        if getattr(self, "_overlay_sorted", None) is None:
            self._overlay_sorted = np.array(sorted(self.overlay), dtype=np.uint64)
            self._overlay_pending = None
        elif getattr(self, "_overlay_pending", None):
            # keys new since the last read: insert them (not a re-sort of the whole dict)
            fresh = np.sort(np.array(self._overlay_pending, dtype=np.uint64))
            at = np.searchsorted(self._overlay_sorted, fresh)
            self._overlay_sorted = np.insert(self._overlay_sorted, at, fresh)
            self._overlay_pending = None
        return self._overlay_sorted

    def rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every span as (key, t_from, value), base and overlay, sorted."""
        ok, ot, ov = [], [], []
        for k, spans in self.overlay.items():
            for t, v in spans:
                ok.append(k)
                ot.append(t)
                ov.append(v)
        keys = np.concatenate([self.keys, np.array(ok, dtype=np.uint64)])
        t_from = np.concatenate([self.t_from, np.array(ot, dtype=float)])
        values = np.concatenate([self.values, np.array(ov, dtype=np.uint64)])
        order = np.lexsort((t_from, keys))
        return keys[order], t_from[order], values[order]


def _by_key_then_time(keys: np.ndarray, t: np.ndarray) -> bool:
    """Whether rows are already sorted by key, then time."""
    step = keys[1:] > keys[:-1]
    return bool((step | ((keys[1:] == keys[:-1]) & (t[1:] >= t[:-1]))).all())


def _member(keys: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """keys ∈ sorted_set, by binary search (no hashing or sorting of keys)."""
    if len(sorted_set) == 0:
        return np.zeros(len(keys), bool)
    i = np.minimum(np.searchsorted(sorted_set, keys), len(sorted_set) - 1)
    return sorted_set[i] == keys


class Grouped:
    """An immutable mapping key → array of ids (children of a node, supervoxels of a root),
    base CSR plus added keys."""

    def __init__(self, keys: np.ndarray, members: np.ndarray):
        keys = np.asarray(keys, dtype=np.uint64)
        members = np.asarray(members, dtype=np.uint64)
        if len(keys) > 1 and (keys[1:] < keys[:-1]).any():
            order = np.argsort(keys, kind="stable")
            keys, members = keys[order], members[order]
        self.members = members
        start = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else \
            np.zeros(0, np.int64)
        self.keys = keys[start]
        self.offsets = np.append(start, len(keys)).astype(np.int64)
        self.added: dict[int, np.ndarray] = {}

    def get(self, key: int) -> np.ndarray | None:
        key = int(key)
        if key in self.added:
            return self.added[key]
        i = np.searchsorted(self.keys, np.uint64(key))
        if i < len(self.keys) and self.keys[i] == np.uint64(key):
            return self.members[self.offsets[i]:self.offsets[i + 1]]
        return None

    def many(self, keys) -> tuple[np.ndarray, np.ndarray]:
        """(owner index, member) pairs for keys (unknown keys contribute nothing)."""
        keys = np.asarray(keys, dtype=np.uint64)
        i = np.clip(np.searchsorted(self.keys, keys), 0, max(len(self.keys) - 1, 0))
        known = (len(self.keys) > 0) & (self.keys[i] == keys) if len(self.keys) else \
            np.zeros(len(keys), bool)
        count = np.where(known, self.offsets[i + 1] - self.offsets[i], 0) if len(self.keys) \
            else np.zeros(len(keys), np.int64)
        owner = np.repeat(np.arange(len(keys)), count)
        idx = np.repeat(self.offsets[i] if len(self.keys) else np.zeros(len(keys), np.int64),
                        count) + np.arange(count.sum()) - np.repeat(np.cumsum(count) - count,
                                                                    count)
        out_owner, out_member = [owner], [self.members[idx]]
        if self.added:
            for j in np.flatnonzero(~known):
                extra = self.added.get(int(keys[j]))
                if extra is not None:
                    out_owner.append(np.full(len(extra), j))
                    out_member.append(extra)
        return np.concatenate(out_owner), np.concatenate(out_member).astype(np.uint64)

    def __contains__(self, key) -> bool:
        return self.get(key) is not None

    def add(self, key: int, members) -> None:
        self.added[int(key)] = np.asarray(members, dtype=np.uint64)

    def rows(self) -> tuple[np.ndarray, np.ndarray]:
        keys = np.repeat(self.keys, np.diff(self.offsets))
        extra_k = [np.full(len(v), k, dtype=np.uint64) for k, v in self.added.items()]
        extra_m = list(self.added.values())
        return (np.concatenate([keys, *extra_k]).astype(np.uint64),
                np.concatenate([self.members, *extra_m]).astype(np.uint64))
