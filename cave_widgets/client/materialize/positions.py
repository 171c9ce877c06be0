"""A pandas column of [x, y, z] positions that holds one (n, 3) array instead of n small ones.

caveclient's default layout (`split_positions=False`) puts a 3-element numpy array in every
row, and building a million of those is most of what that layout costs. `PositionArray`
keeps the block and hands out each row as a view when asked, so rows still behave as arrays:
`df.pt_position.iloc[0]` is `array([x, y, z])`, `np.vstack(df.pt_position)` and
`df.pt_position.tolist()` give what they gave before, and `.to_numpy()` is the object array
of row arrays caveclient returns.
"""

from __future__ import annotations

import numpy as np
from pandas.api.extensions import ExtensionArray, ExtensionDtype, register_extension_dtype


@register_extension_dtype
class PositionDtype(ExtensionDtype):
    name = "position"
    type = np.ndarray
    kind = "O"
    na_value = None

    @classmethod
    def construct_array_type(cls):
        return PositionArray


class PositionArray(ExtensionArray):
    def __init__(self, values: np.ndarray):
        values = np.asarray(values)
        if values.ndim != 2 or values.shape[1] != 3:
            raise ValueError(f"positions are an (n, 3) array, got shape {values.shape}")
        self._data = values

    # --- construction ---------------------------------------------------------------------

    @classmethod
    def _from_sequence(cls, scalars, *, dtype=None, copy=False):
        if isinstance(scalars, PositionArray):
            return scalars.copy() if copy else scalars
        rows = [np.asarray(s) for s in scalars]
        return cls(np.stack(rows) if rows else np.empty((0, 3), dtype=np.int64))

    @classmethod
    def _from_factorized(cls, uniques, original):
        return cls._from_sequence(uniques)

    @classmethod
    def _concat_same_type(cls, to_concat):
        return cls(np.concatenate([a._data for a in to_concat]))

    # --- the array protocol -----------------------------------------------------------------

    @property
    def dtype(self) -> PositionDtype:
        return PositionDtype()

    def __len__(self) -> int:
        return len(self._data)

    def __getitem__(self, item):
        if isinstance(item, (int, np.integer)):
            return self._data[item]
        return PositionArray(self._data[item])

    def __iter__(self):
        return iter(self._data)

    def __array__(self, dtype=None, copy=None):
        if dtype is not None and np.dtype(dtype) != np.dtype(object):
            return np.asarray(self._data, dtype=dtype)
        out = np.empty(len(self._data), dtype=object)
        out[:] = list(self._data)
        return out

    @property
    def nbytes(self) -> int:
        return self._data.nbytes

    def isna(self) -> np.ndarray:
        if self._data.dtype.kind == "f":
            return np.isnan(self._data).any(axis=1)
        return np.zeros(len(self._data), dtype=bool)

    def take(self, indices, allow_fill=False, fill_value=None):
        indices = np.asarray(indices, dtype=np.intp)
        if allow_fill:
            missing = indices == -1
            if missing.any():  # rows that don't exist (e.g. from a join) become NaN positions
                out = self._data.astype(np.float64)[np.where(missing, 0, indices)]
                out[missing] = np.nan
                return PositionArray(out)
        return PositionArray(self._data[indices])

    def copy(self):
        return PositionArray(self._data.copy())

    def _values_for_factorize(self):
        as_tuples = np.empty(len(self._data), dtype=object)
        as_tuples[:] = [tuple(r) for r in self._data.tolist()]
        return as_tuples, None

    def __eq__(self, other):
        other = np.asarray(other.to_numpy() if hasattr(other, "to_numpy") else other)
        if other.dtype == object:
            other = np.stack(other) if len(other) else np.empty((0, 3))
        return (self._data == other).all(axis=-1)

    def _formatter(self, boxed: bool = False):
        return lambda row: "[" + ", ".join(str(v) for v in row) + "]"

    def __arrow_array__(self, type=None):
        import pyarrow as pa

        return pa.FixedSizeListArray.from_arrays(pa.array(self._data.ravel()), 3)

    @property
    def xyz(self) -> np.ndarray:
        """All positions as one (n, 3) array (no copy)."""
        return self._data
