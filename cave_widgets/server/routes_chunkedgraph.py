"""The chunkedgraph service: the subset of the PyChunkedGraph API v1 that caveclient's
materialization and lineage features use. Timestamps arrive as float seconds since the Unix
epoch (UTC)."""

from __future__ import annotations

import math

import numpy as np
from starlette.responses import Response

from .context import Call, route_options
from .demo import catalog
from .errors import BadRequest

SERVER_VERSION = "2.21.1"
API_VERSIONS = [0, 1]
N_LAYERS = 12


def epoch(call: Call, t: float) -> float:
    """Unix seconds of a store time (seconds since the store's anchor)."""
    return t + call.ctx.store.anchor.timestamp()


def time_param(call: Call, name: str, default: float) -> float:
    store = call.ctx.store
    value = call.query(name)
    if value is None:
        return default
    try:
        t = float(value)
    except ValueError:
        raise BadRequest(f"{name} must be seconds since the Unix epoch, got {value!r}") from None
    if not math.isfinite(t):
        raise BadRequest(f"{name} must be a finite number of seconds, got {value!r}")
    return min(t - store.anchor.timestamp(), store.now())


def check_table(call: Call) -> None:
    if call.path("table") != catalog.PCG_TABLE:
        raise BadRequest(
            "Invalid table_id for service",
            data={"table_id": call.path("table"), "resource_namespace": "pychunkedgraph"},
        ).with_error("invalid_table_id")


def id_list(call: Call, key: str) -> list[int]:
    body = call.body
    ids = body.get(key) if isinstance(body, dict) else None
    if not isinstance(ids, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) and 0 <= i < 2**63 for i in ids
    ):
        raise BadRequest(f"the body must be {{\"{key}\": [non-negative integer ids]}}")
    return ids


def node_path(call: Call) -> int:
    node = call.int_path("node_id")
    if not 0 <= node < 2**64:
        raise BadRequest(f"node_id must be an unsigned 64-bit id, got {node}")
    return node


def check_known_roots(call: Call, ids) -> None:
    # Root ids are below 2**63; larger ones cannot be known (nor fit the int64 index).
    in_range = [i for i in ids if 0 <= i < 2**63]
    known = dict(zip(in_range, call.ctx.segmentation.known(in_range))) if in_range else {}
    missing = [i for i in ids if not known.get(i, False)]
    if missing:
        raise BadRequest(f"these ids are not root ids of {catalog.PCG_TABLE}: {missing[:20]}")


def now(call: Call) -> float:
    return call.ctx.store.now()


def api_versions(call: Call):
    return API_VERSIONS


def server_version(call: Call):
    return SERVER_VERSION


@route_options(json_body=False)
def roots_binary(call: Call):
    check_table(call)
    raw = call.raw_body
    if len(raw) % 8:
        raise BadRequest("the body must be little-endian uint64 supervoxel ids (8 bytes each)")
    svs = np.frombuffer(raw, dtype="<u8").astype(np.int64)
    roots = call.ctx.segmentation.roots_of(svs, time_param(call, "timestamp", now(call)))
    return Response(roots.astype("<u8").tobytes(), media_type="application/octet-stream")


def roots_json(call: Call):
    check_table(call)
    ids = id_list(call, "node_ids")
    t = time_param(call, "timestamp", now(call))
    roots = call.ctx.segmentation.roots_of(np.array(ids, dtype=np.int64), t)
    return {"root_ids": roots.tolist()}


def node_root(call: Call):
    check_table(call)
    sv = np.array([node_path(call)], dtype=np.uint64).astype(np.int64)
    root = call.ctx.segmentation.roots_of(sv, time_param(call, "timestamp", now(call)))[0]
    return {"root_id": int(root)}


def leaves(call: Call):
    check_table(call)
    root = node_path(call)
    check_known_roots(call, [root])
    return {"leaf_ids": call.ctx.segmentation.leaves(root).tolist()}


def is_latest_roots(call: Call):
    check_table(call)
    ids = id_list(call, "node_ids")
    t = time_param(call, "timestamp", now(call))
    return {"is_latest": call.ctx.segmentation.is_latest(ids, t).tolist()}


def root_timestamps(call: Call):
    seg = call.ctx.segmentation
    check_table(call)
    ids = id_list(call, "node_ids")
    check_known_roots(call, ids)
    t = time_param(call, "timestamp", now(call))
    if call.flag("latest", False):
        stamps = np.minimum(seg.retired(ids), t)
    else:
        stamps = seg.created(ids)
    return {"timestamp": [epoch(call, float(s)) for s in stamps]}


def past_id_mapping(call: Call):
    seg = call.ctx.segmentation
    check_table(call)
    ids = id_list(call, "root_ids")
    check_known_roots(call, ids)
    past = time_param(call, "timestamp_past", catalog.HISTORY_START)
    future = time_param(call, "timestamp_future", now(call))
    past_map = {str(r): seg.ids_at(r, past) for r in ids}
    past_ids = sorted({p for ps in past_map.values() for p in ps})
    future_map = {str(p): seg.ids_at(p, future) for p in past_ids}
    return {"past_id_map": past_map, "future_id_map": future_map}


def lineage(call: Call, ids: list[int]):
    check_known_roots(call, ids)
    past = time_param(call, "timestamp_past", catalog.HISTORY_START)
    future = time_param(call, "timestamp_future", now(call))
    graph = call.ctx.segmentation.lineage_graph(ids, past, future)
    for node in graph["nodes"]:
        node["timestamp"] = epoch(call, node["timestamp"])
    return graph


def lineage_graph_multiple(call: Call):
    check_table(call)
    return lineage(call, id_list(call, "root_ids"))


def lineage_graph_one(call: Call):
    check_table(call)
    return lineage(call, [node_path(call)])


def delta_roots(call: Call):
    check_table(call)
    past = time_param(call, "timestamp_past", catalog.HISTORY_START)
    future = time_param(call, "timestamp_future", now(call))
    if past > future:
        raise BadRequest("timestamp_past must not be after timestamp_future")
    old, new = call.ctx.segmentation.delta_roots(past, future)
    return {"old_roots": old.tolist(), "new_roots": new.tolist()}


def oldest_timestamp(call: Call):
    check_table(call)
    store = call.ctx.store
    return {"iso": str(store.to_datetime(call.ctx.segmentation.oldest))}


def info(call: Call):
    check_table(call)
    res = list(catalog.SEGMENTATION_RESOLUTION)
    return {
        "app": {"supported_api_versions": API_VERSIONS},
        "chunks_start_at_voxel_offset": True,
        "data_dir": f"{call.base_url}/segmentation/data/{catalog.PCG_TABLE}",
        "data_type": "uint64",
        "graph": {
            "chunk_size": [256, 256, 512],
            "bounding_box": [2048, 2048, 512],
            "n_layers": N_LAYERS,
            "spatial_bit_masks": {str(i): 10 for i in range(1, N_LAYERS + 1)},
            "n_bits_for_layer_id": 8,
            "cv_mip": 0,
        },
        "mesh": "graphene_meshes",
        "num_channels": 1,
        "scales": [
            {
                "key": "8_8_40",
                "resolution": res,
                "size": [37_500, 25_000, 1_200],
                "voxel_offset": [50_000, 50_000, 15_000],
                "chunk_sizes": [[256, 256, 32]],
                "encoding": "compressed_segmentation",
            }
        ],
        "type": "segmentation",
        "verify_mesh": False,
    }


TABLE = "/segmentation/api/v1/table/{table}"
ROUTES = (
    ("GET", "/segmentation/api/versions", api_versions),
    ("GET", "/segmentation/api/version", server_version),
    ("GET", "/segmentation/table/{table}/info", info),
    ("POST", TABLE + "/roots_binary", roots_binary),
    ("POST", TABLE + "/roots", roots_json),
    ("GET", TABLE + "/node/{node_id}/root", node_root),
    ("GET", TABLE + "/node/{node_id}/leaves", leaves),
    ("POST", TABLE + "/is_latest_roots", is_latest_roots),
    ("POST", TABLE + "/root_timestamps", root_timestamps),
    ("GET POST", TABLE + "/past_id_mapping", past_id_mapping),
    ("POST", TABLE + "/lineage_graph_multiple", lineage_graph_multiple),
    ("GET", TABLE + "/root/{node_id}/lineage_graph", lineage_graph_one),
    ("GET", TABLE + "/delta_roots", delta_roots),
    ("GET", TABLE + "/oldest_timestamp", oldest_timestamp),
)
