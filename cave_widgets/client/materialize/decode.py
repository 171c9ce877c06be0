"""Query responses → DataFrames: Arrow IPC decoding, position columns, df.attrs."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pyarrow as pa

from .. import complete
from ..errors import ServerError
from .positions import PositionArray

_LIMIT = re.compile(r'Limited query to (\d+) rows')
_NULLABLE = {"Int64": pd.Int64Dtype(), "Int32": pd.Int32Dtype(), "Float32": pd.Float32Dtype(),
             "Float64": pd.Float64Dtype(), "boolean": pd.BooleanDtype()}


def arrow_table(response) -> pa.Table:
    kind = response.headers.get("Content-Type", "")
    if kind != "data.arrow":
        raise ServerError(
            f"{response.url.split('?')[0]} answered with {kind!r} instead of an Arrow stream "
            "(data.arrow); is this a CAVE materialization server?")
    table = getattr(response, "cave_arrow", None)  # read (and proven whole) on arrival
    if table is None:
        complete.arrow_stream(response)
        table = response.cave_arrow
    return table


def _pandas_dtypes(table: pa.Table) -> dict:
    """Column → nullable pandas dtype, from the pandas metadata the server wrote."""
    raw = (table.schema.metadata or {}).get(b"pandas")
    if not raw:
        return {}
    meta = json.loads(raw)
    return {c["name"]: _NULLABLE[c["numpy_type"]] for c in meta.get("columns", [])
            if c.get("numpy_type") in _NULLABLE}


def position_triples(names: list[str]) -> list[str]:
    """Bases of adjacent <base>_x, <base>_y, <base>_z column runs."""
    return [names[i][:-2] for i in range(len(names) - 2)
            if names[i].endswith("_x") and names[i + 1] == names[i][:-2] + "_y"
            and names[i + 2] == names[i][:-2] + "_z"]


def to_dataframe(table: pa.Table, split_positions: bool) -> pd.DataFrame:
    """Decode to pandas with the server's nullable dtypes. Unless split_positions, each x/y/z
    triple becomes one column of 3-element arrays, appended at the end as caveclient does.

    The recombined columns are PositionArrays: one (n, 3) block whose rows come out as
    arrays, instead of n separate arrays built up front."""
    dtypes = _pandas_dtypes(table)
    table = table.replace_schema_metadata(None)
    combined = {}
    if not split_positions:
        for base in position_triples(table.column_names):
            xyz = np.column_stack([table.column(f"{base}_{a}").to_numpy() for a in "xyz"])
            if xyz.dtype.kind in "iu":
                # as caveclient (whose per-row arrays come from Python ints): int64, so
                # arithmetic on nanometre coordinates cannot overflow int32
                xyz = xyz.astype(np.int64)
            combined[base] = PositionArray(xyz)
            for a in "xyz":
                table = table.drop_columns(f"{base}_{a}")
    # Each column's dtype from the server's metadata, where it fits the column's Arrow type:
    # positions the client rescaled itself (float now, Int32 in the metadata) become Float64.
    wanted = {}
    for name in table.column_names:
        dtype, kind = dtypes.get(name), table.schema.field(name).type
        if dtype is not None and pa.types.is_floating(kind) and dtype.kind in "iu":
            dtype = pd.Float64Dtype()
        wanted[name] = dtype
    # pyarrow maps dtypes per Arrow type: use that where all columns of a type agree, and
    # convert the others column by column.
    by_type, mixed = {}, set()
    for name, dtype in wanted.items():
        kind = table.schema.field(name).type
        if by_type.setdefault(kind, dtype) != dtype:
            mixed.add(kind)
    mapper = {k: d for k, d in by_type.items() if d is not None and k not in mixed}
    df = table.to_pandas(types_mapper=mapper.get)
    for name, dtype in wanted.items():
        if dtype is not None and table.schema.field(name).type in mixed:
            df[name] = table.column(name).to_pandas(types_mapper={
                table.schema.field(name).type: dtype}.get)
    for base, positions in combined.items():
        df[base] = positions
    return df


def scale_positions(table: pa.Table, given, desired) -> pa.Table:
    """Rescale position columns from `given` to `desired` nm/voxel (the client-side fallback
    for servers that do not scale and say so in dataframe_resolution)."""
    import pyarrow.compute as pc

    factors = np.asarray(given, dtype=float) / np.asarray(desired, dtype=float)
    if np.allclose(factors, 1):
        return table
    for base in position_triples(table.column_names):
        for axis, f in zip("xyz", factors):
            name = f"{base}_{axis}"
            i = table.column_names.index(name)
            scaled = pc.multiply(pc.cast(table.column(name), pa.float64()), float(f))
            table = table.set_column(i, pa.field(name, pa.float64()), scaled)
    return table


def limited_to(response) -> int | None:
    """The row count the server says it truncated the result to, if it did."""
    match = _LIMIT.search(response.headers.get("Warning", ""))
    return int(match.group(1)) if match else None


def resolution_header(response) -> list[float] | None:
    text = response.headers.get("dataframe_resolution")
    if not text:
        return None
    return [float(v) for v in text.split(", ")]


def table_attrs(metadata: dict) -> dict:
    """Table metadata as caveclient puts it in df.attrs: table_ prefixes, voxel_resolution."""
    out = {}
    for key, value in metadata.items():
        out[key if key.startswith("table") else f"table_{key}"] = value
    if "id" in metadata:
        out["table_id"] = metadata["id"]
    return out


def json_safe(attrs: dict) -> dict:
    """df.attrs holds only JSON types (caveclient round-trips them through JSON)."""
    return json.loads(json.dumps(attrs, default=str))
