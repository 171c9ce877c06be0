"""What the chunkedgraph and L2-cache routes share: the table check, times (float seconds on
the wire, relative to the store's anchor inside), uint64 ids from paths, binary and JSON
bodies, bounds, and PCG's JSON style (compact, keys sorted) and error bodies."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import numpy as np
from starlette.responses import Response

from .chunkedgraph.meta import parse_bounds
from .context import Call, parse_json, parse_unix_seconds
from .demo import catalog
from .errors import BadRequest

U64 = 2**64


def check_table(call: Call) -> None:
    if call.path("table") != catalog.PCG_TABLE:
        raise BadRequest(
            "Invalid table_id for service",
            data={"table_id": call.path("table"), "resource_namespace": "pychunkedgraph"},
        ).with_error("invalid_table_id")


def cg(call: Call):
    check_table(call)
    return call.ctx.segmentation


def now(call: Call) -> float:
    return call.ctx.store.now()


def epoch(call: Call, t: float) -> float:
    """Unix seconds of a store time."""
    return t + call.ctx.store.anchor.timestamp()


def time_param(call: Call, name: str, default: float | None) -> float | None:
    value = call.query(name)
    if value is None:
        return default
    t = parse_unix_seconds(value, name)
    store = call.ctx.store
    return min(t - store.anchor.timestamp(), store.now())


def ms(call: Call, t: float) -> int:
    return int(round(epoch(call, t) * 1000))


def iso_space(call: Call, t: float) -> str:
    """str(datetime) as PCG sends it: 'YYYY-MM-DD HH:MM:SS.ffffff+00:00'."""
    return str(datetime.fromtimestamp(epoch(call, t), timezone.utc))


def node_path(call: Call, name: str = "node_id") -> int:
    node = call.int_path(name)
    if not 0 <= node < U64:
        raise BadRequest(f"{name} must be an unsigned 64-bit id, got {node}")
    return node


def ids_from(value, key: str) -> np.ndarray:
    """uint64 ids from a JSON list of integers (the full uint64 range, never floats)."""
    if not isinstance(value, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) and 0 <= i < U64 for i in value
    ):
        raise BadRequest(f"the body must be {{\"{key}\": [non-negative integer ids]}}")
    return np.array(value, dtype=np.uint64)


def body_ids(call: Call, key: str) -> np.ndarray:
    body = call.body if call.body is not None else parse_json(call.raw_body)
    ids = body.get(key) if isinstance(body, dict) else None
    return ids_from(ids, key)


def stop_layer(call: Call, default: int | None) -> int | None:
    value = call.query("stop_layer")
    if value is None:
        return default
    try:
        layer = int(value)
    except ValueError:
        raise BadRequest(f"stop_layer must be an integer layer, got {value!r}") from None
    n = call.ctx.segmentation.meta.n_layers
    if not 1 <= layer <= n:
        raise BadRequest(f"stop_layer must be between 1 and {n}, got {layer}")
    return layer


def bounds(call: Call):
    text = call.query("bounds")
    if text is None:
        return None, None
    try:
        return parse_bounds(text, call.ctx.segmentation.meta)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


def pcg_json(obj, status: int = 200, headers: dict | None = None) -> Response:
    """JSON the way PCG writes it: compact, keys sorted, a trailing newline."""
    text = json.dumps(obj, separators=(",", ":"), sort_keys=True, default=_default) + "\n"
    return Response(text, status_code=status, media_type="application/json", headers=headers)


def _default(o):
    if hasattr(o, "tolist"):
        return o.tolist()
    raise TypeError(f"cannot encode {type(o).__name__}")


def binary(ids) -> Response:
    return Response(np.asarray(ids, dtype="<u8").tobytes(), media_type="application/octet-stream")


def wants_binary(call: Call) -> bool:
    """Our own client asks for raw little-endian uint64 where PCG answers JSON id lists."""
    return "application/octet-stream" in call.request.headers.get("accept", "")


def check_roots(call: Call, ids, key: str | None = None) -> None:
    """400 naming the unknown ids (and the body field they came in, if any); PCG answers 500."""
    ids = np.asarray(ids, dtype=np.uint64)
    known = call.ctx.segmentation.known(ids)
    if not known.all():
        missing = ids[~known].tolist()
        where = f"{key}: " if key else ""
        raise BadRequest(
            f"{where}these ids are not root ids of {catalog.PCG_TABLE}: {missing[:20]}")
