"""One page of rows as the browser gets it: an Arrow IPC stream where every 64-bit integer
column (ids exceed 2^53) is text, positions are [x, y, z] lists and times are ISO text."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa


def _column(series: pd.Series) -> tuple[pa.Array, str]:
    """(Arrow array, kind) for one column of a query result."""
    dtype = series.dtype
    if str(dtype) == "position":
        xyz = np.asarray(series.array._data)
        flat = xyz.reshape(-1)
        if flat.dtype.kind in "iu" and (flat.size == 0 or np.abs(flat).max() < 2**31):
            values = pa.array(flat.astype(np.int32))
        else:
            values = pa.array(flat.astype(np.float64))
        return pa.FixedSizeListArray.from_arrays(values, 3), "position"
    if pd.api.types.is_bool_dtype(dtype):
        return pa.array(series, type=pa.bool_(), from_pandas=True), "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        if dtype.itemsize >= 8 or str(dtype).lower().startswith("uint32"):
            # exact decimal text; missing values stay missing
            text = [None if pd.isna(v) else str(int(v)) for v in series.array]
            return pa.array(text, type=pa.string()), "integer"
        return pa.array(series, type=pa.int32(), from_pandas=True), "integer"
    if pd.api.types.is_float_dtype(dtype):
        return pa.array(series, type=pa.float64(), from_pandas=True), "float"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        text = [None if pd.isna(v) else v.isoformat() for v in series]
        return pa.array(text, type=pa.string()), "time"
    text = [None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
            for v in series.array]
    return pa.array(text, type=pa.string()), "string"


def page_ipc(df: pd.DataFrame, kinds: dict | None = None) -> tuple[bytes, list[dict]]:
    """(IPC stream bytes, [{name, kind}]) for a page. `kinds` (column → schema kind) wins
    over what the data types say, so an id column is "integer" even though it travels as
    text."""
    arrays, fields, described = [], [], []
    for name in df.columns:
        array, kind = _column(df[name])
        arrays.append(array)
        fields.append(pa.field(str(name), array.type))
        described.append({"name": str(name), "kind": (kinds or {}).get(name, kind)})
    table = pa.Table.from_arrays(arrays, schema=pa.schema(fields))
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes(), described

