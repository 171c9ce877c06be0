"""The level-2 cache (PCGL2Cache v1): attributes of level-2 nodes, computed from the demo's
neuron geometry. Every requested id gets a key; unknown ids get {}."""

from __future__ import annotations

import numpy as np
from starlette.responses import Response

from ..wire.l2rows import rows_as_dicts
from .chunkedgraph.l2stats import L2_ATTRIBUTES
from .chunkedgraph_http import body_ids, check_table, pcg_json
from .context import Call, route_options
from .demo import catalog
from .errors import BadRequest

METADATA = {
    "area_nm2": "<class 'numpy.uint32'>",
    "chunk_intersect_count": "<class 'numpy.uint16'>",
    "max_dt_nm": "<class 'numpy.uint16'>",
    "mean_dt_nm": "<class 'numpy.float16'>",
    "pca": "<class 'numpy.float16'>",
    "pca_val": "<class 'numpy.float32'>",
    "rep_coord_nm": "<class 'numpy.uint16'>",
    "size_nm3": "<class 'numpy.uint32'>",
}
PCA_MIN_VOLUME = 1e7


@route_options(auth=False)
def index(call: Call):
    return Response("PCGL2Cache v1.3.1", media_type="text/plain")


@route_options(auth=False)
def attribute_metadata(call: Call):
    return pcg_json(METADATA)


@route_options(auth=False)
def table_mapping(call: Call):
    return pcg_json({catalog.PCG_TABLE: {
        "cv_path": f"graphene://{call.base_url}/segmentation/table/{catalog.PCG_TABLE}",
        "l2cache_id": f"{catalog.PCG_TABLE}_l2cache"}})


def attributes(call: Call):
    check_table(call)
    ids = body_ids(call, "l2_ids")
    names = call.query("attribute_names")
    wanted = ([n.strip() for n in names.split(",") if n.strip()] if names else
              list(L2_ATTRIBUTES))
    unknown = [n for n in wanted if n not in L2_ATTRIBUTES]
    if unknown:
        raise BadRequest(f"unknown attribute names {unknown}; known: {list(L2_ATTRIBUTES)}")
    table = _served(call.ctx.segmentation.l2_rows(ids), sorted(set(wanted)))
    if "application/vnd.apache.arrow.stream" in call.request.headers.get("accept", ""):
        # Our own client's format: the same rows, a null where the JSON leaves a key out;
        # ids without a row are absent (the client gives them {}).
        import pyarrow as pa

        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return Response(sink.getvalue().to_pybytes(),
                        media_type="application/vnd.apache.arrow.stream")
    rows = dict(zip(table.column("l2").to_numpy().tolist(), rows_as_dicts(table)))
    as_str = call.flag("int64_as_str", False)
    out = {str(i): rows.get(i, {}) for i in np.unique(ids).tolist()}
    if as_str:
        out = {k: {a: str(v) if isinstance(v, int) else v for a, v in d.items()}
               for k, d in out.items()}
    return pcg_json(out)


def _served(table, wanted: list[str]):
    """`l2` and the `wanted` columns, in name order, with pca/pca_val null for tiny nodes
    (the real cache leaves them out there)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    tiny = pc.less(table.column("size_nm3"), PCA_MIN_VOLUME)
    columns = {"l2": table.column("l2")}
    for name in wanted:
        column = table.column(name)
        if name in ("pca", "pca_val"):
            column = pc.if_else(tiny, pa.scalar(None, column.type), column)
        columns[name] = column
    return pa.table(columns)


L2 = "/l2cache/api/v1"
ROUTES = (
    ("GET", "/l2cache/", index),
    ("GET", L2 + "/", index),
    ("GET", L2 + "/attribute_metadata", attribute_metadata),
    ("GET", L2 + "/table_mapping", table_mapping),
    ("POST", L2 + "/table/{table}/attributes", attributes),
)
