"""Level-2 cache rows (an Arrow table: `l2` and one column per attribute) as the dicts the
PCGL2Cache JSON answer holds: {attribute: value}, list attributes as nested lists (pca 3×3,
chunk_intersect_count 2×3), a null meaning the key is left out. Shared by the embedded
server (which writes these dicts as JSON) and the client (which reads the Arrow answer the
embedded server gives it instead), so both give the same values: Python ints, and floats
that are the stored float32/float64 values exactly."""

from __future__ import annotations

import numpy as np

SHAPES = {"pca": (3, 3), "chunk_intersect_count": (2, 3)}


def rows_as_dicts(table) -> list[dict]:
    """One dict per row ({attribute: value}, keys in column order, nulls left out), built
    column-wise: numpy turns whole columns into Python values at C speed."""
    names = [n for n in table.column_names if n != "l2"]
    values, nulls = [], []
    for name in names:
        column = table.column(name).combine_chunks()
        nulls.append(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))
                     if column.null_count else None)
        array = _numpy(column, SHAPES.get(name))
        if array is None:  # lists of uneven length: slow but exact
            values.append([_shaped(v, SHAPES.get(name)) for v in column.to_pylist()])
            continue
        if array.dtype == np.float32:
            array = array.astype(np.float64)  # what to_pylist would give: exact float32 values
        values.append(array.tolist())
    rows = [dict(zip(names, row)) for row in zip(*values)] if names else \
        [{} for _ in range(table.num_rows)]
    for name, missing in zip(names, nulls):
        if missing is not None:
            for i in missing.tolist():
                del rows[i][name]
    return rows


def _numpy(column, shape):
    """The column as one numpy array (n,) or (n, *shape); None if its lists are uneven.
    Null slots hold arbitrary values (the caller drops them)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(column)
    if pa.types.is_fixed_size_list(column.type):
        k = column.type.list_size
        flat = column.values.slice(column.offset * k, n * k)
    elif pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
        if column.null_count:
            return None
        lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)
        if n and (lengths != lengths[0]).any():
            return None
        k = int(lengths[0]) if n else 0
        flat = column.flatten()
    else:
        if column.null_count:
            column = column.fill_null(0)
        return column.to_numpy(zero_copy_only=False)
    return flat.to_numpy(zero_copy_only=False).reshape((n, *(shape or (k,))))


def _shaped(value, shape):
    if value is None or shape is None:
        return value
    rows, cols = shape
    return [value[i * cols:(i + 1) * cols] for i in range(rows)]
