"""Node ids, bounds and times as the chunkedgraph wire wants them.

Ids are uint64 end to end: Python ints, numpy integer scalars and arrays, lists and pandas
Series are accepted; floats, bools, negatives and values of 2**64 or more are refused with a
QueryValidationError before anything is sent. Nothing goes through float64 (a float64 holds
53 bits; real ids are 60).
"""

from __future__ import annotations

import numbers
from datetime import datetime

import numpy as np

from ..errors import QueryValidationError
from ..times import to_utc

UINT64_LIMIT = 2**64
LAYER_SHIFT = 56


def _refuse(name: str, value, why: str) -> QueryValidationError:
    return QueryValidationError(
        f"{name} must be non-negative integer ids below 2**64 (uint64); {value!r} {why}. "
        "Nothing was sent.")


def as_id(value, name: str = "node_id") -> int:
    """One id as a Python int (exact), or a QueryValidationError."""
    if isinstance(value, (bool, np.bool_)):
        raise _refuse(name, value, "is a bool")
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, str):
        text = value.strip()
        if not text.isdigit():
            raise _refuse(name, value, "is not a number")
        value = int(text)
    if not isinstance(value, numbers.Integral):
        raise _refuse(name, value, f"is a {type(value).__name__}")
    number = int(value)
    if number < 0:
        raise _refuse(name, value, "is negative")
    if number >= UINT64_LIMIT:
        raise _refuse(name, value, "does not fit in 64 bits")
    return number


def as_ids(values, name: str = "node_ids") -> np.ndarray:
    """A 1-d uint64 array of ids (a scalar becomes one id), or a QueryValidationError."""
    if hasattr(values, "to_numpy"):  # pandas Series / Index
        values = values.to_numpy()
    if isinstance(values, (numbers.Integral, str, np.integer, np.bool_, bool)):
        return np.array([as_id(values, name)], dtype=np.uint64)
    if isinstance(values, (set, frozenset)):
        values = sorted(values)
    if not isinstance(values, np.ndarray):
        if isinstance(values, float) or not hasattr(values, "__iter__"):
            raise _refuse(name, values, f"is a {type(values).__name__}")
        values = list(values)
        if not values:
            return np.zeros(0, dtype=np.uint64)
        # Python ints (may exceed int64): check one by one, exactly.
        return np.array([as_id(v, name) for v in values], dtype=np.uint64)
    array = values.reshape(-1) if values.ndim else values.reshape(1)
    kind = array.dtype.kind
    if kind == "u":
        return array.astype(np.uint64, copy=False)
    if kind == "i":
        if array.size and array.min() < 0:
            raise _refuse(name, array[array < 0][0], "is negative")
        return array.astype(np.uint64)
    if kind == "O":
        return np.array([as_id(v, name) for v in array], dtype=np.uint64)
    if array.size == 0:
        return np.zeros(0, dtype=np.uint64)
    raise _refuse(name, f"an array of {array.dtype}", "is not integer")


def id_list(values, name: str = "node_ids") -> list[int]:
    """Ids as a list of exact Python ints, for JSON bodies."""
    return [int(v) for v in as_ids(values, name)]


def encode_ids(ids: np.ndarray) -> bytes:
    """The binary body: little-endian uint64, 8 bytes each, no header."""
    return np.ascontiguousarray(ids, dtype="<u8").tobytes()


def decode_ids(body: bytes) -> np.ndarray:
    if len(body) % 8:
        raise ValueError(f"a binary id array has a multiple of 8 bytes, got {len(body)}")
    return np.frombuffer(body, dtype="<u8").astype(np.uint64)


def layer_of(ids) -> np.ndarray:
    return (as_ids(ids) >> np.uint64(LAYER_SHIFT)).astype(int)


def epoch(when: datetime | None):
    """POSIX seconds as Python renders a float (what caveclient sends), or None."""
    return None if when is None else repr(to_utc(when).timestamp())


def package_bounds(bounds) -> str | None:
    """`x0-x1_y0-y1_z0-z1` from a 3×2 array of non-negative integer voxel coordinates."""
    if bounds is None:
        return None
    array = np.asarray(bounds)
    if array.shape != (3, 2):
        raise QueryValidationError(
            f"bounds must be a 3x2 array [[xmin, xmax], [ymin, ymax], [zmin, zmax]], got "
            f"shape {array.shape}")
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
            raise QueryValidationError(f"bounds must be whole voxels, got {array.tolist()}")
        array = array.astype(np.int64)
    if array.dtype.kind not in "iu" or np.any(array < 0):
        raise QueryValidationError(
            f"bounds must be non-negative integer voxels, got {array.tolist()}")
    return "_".join(f"{int(lo)}-{int(hi)}" for lo, hi in array)
