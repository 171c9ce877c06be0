"""Sorting helpers for arrays of millions of ids. numpy sorts integer and float *values* with
vectorised kernels, several times faster than it computes an argsort (and its hashing
np.unique is slower still), so these find orders by sorting values: a stable argsort of
small non-negative integer keys sorts (key, position) packed into one uint64.
"""

from __future__ import annotations

import numpy as np


def distinct(values) -> np.ndarray:
    """np.unique of a 1-d array, by one sort."""
    s = np.sort(np.asarray(values).ravel())
    return s[np.r_[True, s[1:] != s[:-1]]] if len(s) else s


def stable_argsort(keys) -> np.ndarray:
    """np.argsort(keys, kind="stable") for non-negative integer keys; by a sort of packed
    (key, position) words when both fit in 63 bits."""
    keys = np.asarray(keys)
    n = len(keys)
    if n == 0:
        return np.zeros(0, np.int64)
    bits = max(int(n - 1).bit_length(), 1)
    top = int(keys.max())
    if keys.dtype.kind not in "iu" or int(keys.min()) < 0 or top.bit_length() + bits > 63:
        return np.argsort(keys, kind="stable")
    packed = (keys.astype(np.uint64) << np.uint64(bits)) | np.arange(n, dtype=np.uint64)
    packed.sort()
    return (packed & np.uint64((1 << bits) - 1)).astype(np.int64)


def inverse(order: np.ndarray) -> np.ndarray:
    """The inverse permutation: inverse(order)[order[i]] == i."""
    out = np.empty(len(order), np.int64)
    out[order] = np.arange(len(order))
    return out


def lexsort2(minor: np.ndarray, major: np.ndarray) -> np.ndarray:
    """np.lexsort((minor, major)) for a non-negative integer `major` and a float `minor` in
    [0, 1]: an argsort of major·4 + minor, checked to be exact (else np.lexsort)."""
    major = np.asarray(major)
    minor = np.asarray(minor, float)
    if len(major) and (
        major.min() < 0 or minor.min() < 0 or minor.max() > 1 or major.max() > 2**40
    ):
        return np.lexsort((minor, major))
    order = np.argsort(major * 4.0 + minor)
    a, t = major[order], minor[order]
    same = a[1:] == a[:-1]
    # equal keys (ties, or close values rounding alike) may come in any order: exact only if
    # they came as lexsort orders them
    ok = (a[1:] >= a[:-1]).all() and not (
        same & ((t[1:] < t[:-1]) | ((t[1:] == t[:-1]) & (order[1:] < order[:-1])))
    ).any()
    return order if ok else np.lexsort((minor, major))
