"""Skeletons as Arrow rows: the binary answer the embedded skeleton service gives our own
client (which asks for it with an Accept header) in place of flatdict JSON. The real
SkeletonService ignores the header and answers JSON, which the client reads as before.

One row per root, in the order the JSON answer has its keys; the schema's metadata states
how many rows there are (ROWS), so a reader checks it has them all:

- `root_id` (string): the JSON answer's key;
- `problem` (string, null for a skeleton): a bulk marker in place of a skeleton
  ("invalid_rid", "invalid_layer_rid", "async"), the other columns then null;
- then the flatdict's keys, in its order: `meta` (its JSON text, written exactly as the
  JSON answer writes it, so it reads back the same), `edges` (rows of 2 int64),
  `mesh_to_skel_map` (int64), `root` (int64), `vertices` (rows of 3 float64), and, by
  skeleton version, `radius` (float64), `compartment` (float64 at v2, else int64) and
  `lvl2_ids` (uint64).

float64, int64 and uint64 hold exactly what the JSON text holds (the JSON writes each float
as the shortest text that reads back to the same float64), so the decoded values equal the
JSON path's, and decoding gives the JSON path's types: plain lists for bulk answers, numpy
arrays for get_skeleton (the dtypes np.array gives those lists)."""

from __future__ import annotations

import gc
import json
import threading
from contextlib import contextmanager

import numpy as np

MEDIA_TYPE = "application/vnd.apache.arrow.stream"
#: what our client sends: Arrow first, anything else (a real server's answer) after it
ACCEPT = f"{MEDIA_TYPE}, */*;q=0.8"
KEY, PROBLEM = "root_id", "problem"
ROWS = b"cave_widgets.rows"  # schema metadata: the stream's row count, checked by the reader
WIDTH = {"vertices": 3, "edges": 2}


def schema(version: int, float_compartment: bool):
    """The columns of a resolved skeleton version (v1: no radius/compartment; below v4: no
    lvl2_ids)."""
    import pyarrow as pa

    def rows(t, k):
        return pa.list_(pa.list_(t, k))

    fields = [(KEY, pa.string()), (PROBLEM, pa.string()), ("meta", pa.string()),
              ("edges", rows(pa.int64(), 2)), ("mesh_to_skel_map", pa.list_(pa.int64())),
              ("root", pa.int64()), ("vertices", rows(pa.float64(), 3))]
    if version >= 2:
        fields += [("radius", pa.list_(pa.float64())),
                   ("compartment", pa.list_(pa.float64() if float_compartment
                                            else pa.int64()))]
    if version >= 4:
        fields.append(("lvl2_ids", pa.list_(pa.uint64())))
    return pa.schema(fields)


def batch(schema_, key: str, fields: dict | None = None, problem: str | None = None):
    """One row: a skeleton (`fields`: the flatdict's keys as numpy arrays, `meta` as its JSON
    text, `root` an int) or a `problem` marker."""
    import pyarrow as pa

    arrays = []
    for field in schema_:
        if field.name == KEY:
            arrays.append(pa.array([key], pa.string()))
        elif field.name == PROBLEM:
            arrays.append(pa.array([problem], pa.string()))
        elif fields is None:
            arrays.append(pa.nulls(1, field.type))
        elif field.name in ("meta", "root"):
            arrays.append(pa.array([fields[field.name]], field.type))
        else:
            arrays.append(_list_row(np.asarray(fields[field.name]), field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema_)


def _list_row(values: np.ndarray, list_type):
    import pyarrow as pa

    inner = list_type.value_type
    if pa.types.is_fixed_size_list(inner):
        k = inner.list_size
        flat = pa.array(values.reshape(-1).astype(inner.value_type.to_pandas_dtype()),
                        inner.value_type)
        child = pa.FixedSizeListArray.from_arrays(flat, k)
        n = len(flat) // k
    else:
        child = pa.array(values.reshape(-1).astype(inner.to_pandas_dtype()), inner)
        n = len(child)
    return pa.ListArray.from_arrays(pa.array([0, n], pa.int32()), child)


def stream(schema_, batches) -> bytes:
    """The Arrow IPC stream of `batches`: its schema states how many rows follow (ROWS), and
    it ends with the end-of-stream marker."""
    import pyarrow as pa

    batches = list(batches)
    rows = sum(b.num_rows for b in batches)
    schema_ = schema_.with_metadata({**(schema_.metadata or {}), ROWS: str(rows).encode()})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema_) as writer:
        for b in batches:
            writer.write_batch(b)
    return sink.getvalue().to_pybytes()


def missing_rows(table) -> str | None:
    """Why the table is not the whole answer (fewer or more rows than its schema states, or
    no count stated), or None when it is."""
    stated = (table.schema.metadata or {}).get(ROWS)
    if stated is None:
        return "the Arrow answer does not state how many rows it holds"
    if int(stated) != table.num_rows:
        return f"the Arrow answer states {int(stated)} rows but holds {table.num_rows}"
    return None


# --- reading ----------------------------------------------------------------------------------


def _columns(table) -> tuple[list[str], list[str | None], dict]:
    """(keys, problems, {column: per-row reader}) of a table, column by column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    keys = [str(k) for k in table.column(KEY).to_pylist()]
    problems = (table.column(PROBLEM).to_pylist() if PROBLEM in table.column_names
                else [None] * table.num_rows)
    columns = {}
    for name in table.column_names:
        if name in (KEY, PROBLEM):
            continue
        column = table.column(name).combine_chunks()
        if not pa.types.is_list(column.type) and not pa.types.is_large_list(column.type):
            columns[name] = ("scalar", column.to_pylist())
            continue
        lengths = pc.list_value_length(column).fill_null(0).to_numpy(zero_copy_only=False)
        flat = pc.list_flatten(column)
        width = 1
        if pa.types.is_fixed_size_list(flat.type):
            width = flat.type.list_size
            flat = pc.list_flatten(flat)
        values = flat.to_numpy(zero_copy_only=False)
        bounds = np.zeros(len(lengths) + 1, np.int64)
        np.cumsum(lengths, out=bounds[1:])
        columns[name] = ("list", (values, bounds, width))
    return keys, problems, columns


def _row_values(kind, data, i: int):
    if kind == "scalar":
        return data[i]
    values, bounds, width = data
    part = values[bounds[i] * width:bounds[i + 1] * width]
    return part.reshape(-1, width) if width > 1 else part


_PAUSES = {"depth": 0, "was_enabled": False}
_PAUSE_LOCK = threading.Lock()


@contextmanager
def _gc_paused():
    """No cyclic garbage collection while plain lists are made: they hold no cycles, and the
    collector, woken every few hundred new lists, would otherwise scan every live object
    again and again (it took over half the time). Nested and concurrent uses (batches
    decoded in threads) restore the collector once, as they found it."""
    with _PAUSE_LOCK:
        if _PAUSES["depth"] == 0:
            _PAUSES["was_enabled"] = gc.isenabled()
            gc.disable()
        _PAUSES["depth"] += 1
    try:
        yield
    finally:
        with _PAUSE_LOCK:
            _PAUSES["depth"] -= 1
            if _PAUSES["depth"] == 0 and _PAUSES["was_enabled"]:
                gc.enable()


def as_plain(table) -> dict:
    """{root id string: flatdict of plain lists | problem marker string}, as the bulk JSON
    answer decodes: what json.loads gives for each hex(gzip(JSON)) value."""
    with _gc_paused():
        return _plain(table)


def _plain(table) -> dict:
    keys, problems, columns = _columns(table)
    out = {}
    for i, key in enumerate(keys):
        if problems[i] is not None:
            out[key] = problems[i]
            continue
        sk = {}
        for name, (kind, data) in columns.items():
            value = _row_values(kind, data, i)
            if name == "meta":
                value = json.loads(value)
            elif kind == "list":
                value = value.tolist()
            sk[name] = value
        out[key] = sk
    return out


def as_arrays(table) -> dict:
    """The one skeleton of a get_skeleton answer as get_skeleton's JSON path gives it: numpy
    arrays for the list keys (the dtypes np.array gives the JSON lists: float64, int64;
    lvl2_ids uint64; an empty list float64), `meta` a dict, `root` an int."""
    keys, problems, columns = _columns(table)
    if len(keys) != 1 or problems[0] is not None:
        raise ValueError(f"expected one skeleton, got {len(keys)} rows ({problems})")
    sk = {}
    for name, (kind, data) in columns.items():
        value = _row_values(kind, data, 0)
        if name == "meta":
            value = json.loads(value)
        elif kind == "list":
            if name == "lvl2_ids":
                value = np.array(value, dtype=np.uint64)
            elif value.size == 0:
                value = np.array([])  # np.array([]): what an empty JSON list gives
            else:
                value = np.array(value, dtype=np.float64 if value.dtype.kind == "f"
                                 else np.int64)
        sk[name] = value
    return sk
