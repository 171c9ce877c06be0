"""Query results on the wire: an Arrow IPC stream (buffers compressed as the client's
Accept-Encoding allows) or JSON records, with the headers caveclient reads."""

from __future__ import annotations

import json

import pyarrow as pa
from starlette.responses import Response

ARROW_CONTENT_TYPE = "data.arrow"  # exactly this: caveclient rejects anything else


# The real server builds its Arrow stream from a pandas frame with nullable dtypes, so
# `read_pandas()` on the client gives Int64/boolean columns. The same pandas metadata here
# gives the same frames.
_PANDAS_DTYPES = {
    pa.int64(): "Int64",
    pa.int32(): "Int32",
    pa.float32(): "Float32",
    pa.float64(): "Float64",
    pa.bool_(): "boolean",
}


def with_pandas_metadata(table: pa.Table) -> pa.Table:
    columns = [
        {
            "name": f.name,
            "field_name": f.name,
            "pandas_type": "unicode" if pa.types.is_string(f.type) else str(f.type),
            "numpy_type": _PANDAS_DTYPES.get(f.type, "object"),
            "metadata": None,
        }
        for f in table.schema
    ]
    meta = {"index_columns": [], "column_indexes": [], "columns": columns,
            "creator": {"library": "cave_widgets"}}
    return table.replace_schema_metadata({b"pandas": json.dumps(meta).encode()})


def ipc_stream(table: pa.Table, accept_encoding: str) -> bytes:
    table = with_pandas_metadata(table)
    accept = accept_encoding.lower()
    codec = "zstd" if "zstd" in accept else "lz4" if "lz4" in accept else None
    options = pa.ipc.IpcWriteOptions(compression=codec)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        # One record batch, as the real server sends; an empty result still has its schema.
        writer.write_table(table.combine_chunks(), max_chunksize=max(table.num_rows, 1))
    return sink.getvalue().to_pybytes()


def query_response(
    table: pa.Table,
    *,
    as_arrow: bool,
    accept_encoding: str,
    resolution,
    column_names: dict,
    warnings: list[str],
) -> Response:
    if as_arrow:
        response = Response(ipc_stream(table, accept_encoding), media_type=None)
        response.headers["Content-Type"] = ARROW_CONTENT_TYPE
    else:
        response = Response(
            json.dumps(table.to_pylist(), default=str), media_type="application/json"
        )
    response.headers["dataframe_resolution"] = ", ".join(str(float(r)) for r in resolution)
    response.headers["column_names"] = repr(column_names)
    for text in warnings:
        response.headers.append("Warning", " ".join(text.splitlines()))
    return response
