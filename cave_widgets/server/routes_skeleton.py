"""The SkeletonService (0.23.11 wire, reference skeleton-state-neuroglancer.md §4): skeletons of
the demo's roots made from the level-2 graph and the L2 cache (server/skeletons/), in every
format that needs no optional package, single and bulk, with the cache listing, existence
and the (empty) refusal list. Errors are {"Error": msg}: 400 for bad ids/versions/formats,
500 for formats this server cannot write (h5, meshwork: h5py/meshparty)."""

from __future__ import annotations

import math

import numpy as np
from starlette.responses import JSONResponse, Response

from ..wire import skeleton_rows
from .chunkedgraph_http import U64
from .context import Call, check_datastack, parse_bool, parse_int, route_options
from .skeletons import formats
from .skeletons.cache import cache_of

SERVER_VERSION = "0.23.11"
BULK_MAX = 10
CACHED_MAX = 500
WORKERS = 15
REFUSED: list[int] = []  # the demo refuses no root


class SkeletonError(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def _fail(exc: SkeletonError) -> JSONResponse:
    return JSONResponse({"Error": str(exc)}, status_code=exc.status)


def _guard(handler):
    """Answer SkeletonErrors in the service's shape; keep the handler's name for the app."""
    def run(call: Call):
        try:
            return handler(call)
        except SkeletonError as exc:
            return _fail(exc)
    run.__name__ = handler.__name__
    run.__dict__.update(handler.__dict__)  # route options
    return run


def _ds(call: Call) -> str:
    name = call.path("datastack")
    check_datastack(name)
    return name


def _version(call: Call, name: str = "skvn", default: int = 0) -> int:
    text = call.request.path_params.get(name)
    v = default if text is None else parse_int(text, "skeleton_version")
    try:
        return formats.resolve(v)
    except ValueError as exc:
        raise SkeletonError(str(exc)) from None


def _root_id(value) -> int:
    try:
        rid = int(value)
    except (TypeError, ValueError):
        raise SkeletonError(f"Invalid root id: {value!r} (not an integer)") from None
    if not 0 <= rid < U64:
        raise SkeletonError(f"Invalid root id: {rid} (not an unsigned 64-bit id)")
    return rid


def _ids_text(text: str) -> list[int]:
    return [_root_id(t) for t in text.split(",") if t.strip()]


def _ids_body(call: Call) -> list[int]:
    body = call.body if isinstance(call.body, dict) else {}
    ids = body.get("root_ids")
    if isinstance(ids, (int, str)) and not isinstance(ids, bool):
        ids = [ids]
    if not isinstance(ids, list):
        raise SkeletonError('the body must be {"root_ids": [root ids], ...}')
    return [_root_id(i) for i in ids]


def _problem(call: Call, rid: int) -> str | None:
    """None for a valid root, else the bulk marker: invalid_layer_rid / invalid_rid."""
    seg = call.ctx.segmentation
    if int(seg.meta.layer(np.array([rid], np.uint64))[0]) != seg.meta.n_layers:
        return "invalid_layer_rid"
    if not seg.known(np.array([rid], np.uint64))[0]:
        return "invalid_rid"
    return None


def _check_root(call: Call, rid: int) -> None:
    if rid in REFUSED:
        raise SkeletonError(f"Problematic root id: {rid} is in the refusal list")
    problem = _problem(call, rid)
    if problem == "invalid_layer_rid":
        raise SkeletonError(f"Invalid root id: {rid} (perhaps this is an id corresponding to a "
                            "different level of the PCG, e.g., a supervoxel id)")
    if problem == "invalid_rid":
        raise SkeletonError(f"Invalid root id: {rid} (perhaps it doesn't exist; the error is "
                            "unclear)")


def _wants_arrow(call: Call, fmt: str) -> bool:
    """Our own client asks for flatdict skeletons in Arrow (wire/skeleton_rows.py); the real
    service ignores the header, and so does this one for anyone else."""
    return fmt == "flatdict" and skeleton_rows.MEDIA_TYPE in call.request.headers.get(
        "accept", "")


def _arrow_response(v: int, rows: list) -> Response:
    body = skeleton_rows.stream(formats.arrow_schema(v), rows)
    return Response(body, media_type=skeleton_rows.MEDIA_TYPE)


def _encoded(call: Call, rid: int, key, encode):
    """encode(skeleton), kept with the skeleton (a skeleton changes only with its root id)."""
    return cache_of(call.ctx.segmentation).encoded(rid, key,
                                                   lambda: encode(_skeleton(call, rid)))


def _skeleton(call: Call, rid: int):
    cache = cache_of(call.ctx.segmentation)
    try:
        return cache.get(rid, call.ctx.store.anchor.timestamp())
    except ValueError as exc:
        raise SkeletonError(str(exc), 500) from None


# --- versions and infos ---------------------------------------------------------------------


@route_options(auth=False)
def version(call: Call):
    return SERVER_VERSION


@route_options(auth=False)
def versions(call: Call):
    return formats.VERSIONS


@route_options(auth=False)
def health(call: Call):
    return "healthy"


def skeletons(call: Call):
    return []


def precomputed_root(call: Call):
    return {"datastack_name": _ds(call)}


@_guard
def skeleton_info(call: Call):
    _ds(call)
    return formats.info(_version(call, default=formats.NEUROGLANCER_VERSION))


def bulk_info(call: Call):
    _ds(call)
    return {"bulk skeletons": "GET .../bulk/get_skeletons/{skvn}/{fmt}/{gen}/{root_ids}"}


def refusal_list(call: Call):
    ds = _ds(call)
    return Response(formats.refusal_csv(ds, REFUSED), media_type="application/octet-stream")


@_guard
def query_cache(call: Call):
    ds = _ds(call)
    v = _version(call, default=formats.NEUROGLANCER_VERSION)
    prefixes = [p.strip() for p in call.path("prefixes").split(",") if p.strip()]
    limit = parse_int(call.path("limit"), "limit")
    roots = [r for r in cache_of(call.ctx.segmentation).roots()
             if not prefixes or any(str(r).startswith(p) for p in prefixes if p != "0")
             or "0" in prefixes]
    files = [f"skeleton__v{v}__rid-{r}__ds-{ds}__res-1x1x1__cs-True__cr-7500.h5.gz"
             for r in roots]
    if limit > 0:
        files = files[:limit]
    return {"num_found": len(files), "files": files}


# --- existence ------------------------------------------------------------------------------


def _exists(call: Call, ids: list[int]):
    cache = cache_of(call.ctx.segmentation)
    if len(ids) == 1:
        return cache.has(ids[0])
    return {str(r): cache.has(r) for r in ids}


@_guard
def exists_get(call: Call):
    _ds(call)
    _version(call, default=formats.NEUROGLANCER_VERSION)
    return _exists(call, _ids_text(call.path("rids")))


@_guard
def exists_post(call: Call):
    _ds(call)
    return _exists(call, _ids_body(call))


# --- one skeleton ---------------------------------------------------------------------------


def _one(call: Call, fmt: str, default_version: int):
    _ds(call)
    v = _version(call, default=default_version)
    rid = _root_id(call.path("rid"))
    if fmt in formats.NEEDS_PACKAGE:
        raise SkeletonError(f"output format {fmt!r} needs {formats.NEEDS_PACKAGE[fmt]}, which "
                            "this server does not have", 500)
    if fmt == "none":
        _check_root(call, rid)
        _skeleton(call, rid)
        return Response(f"Skeleton {rid} generated (version {v})", media_type="text/plain")
    if fmt not in formats.FORMATS:
        raise SkeletonError(f"Unknown output format: {fmt}. Valid options: "
                            f"{list(formats.FORMATS) + list(formats.NEEDS_PACKAGE) + ['none']}")
    _check_root(call, rid)
    if _wants_arrow(call, fmt):
        row = _encoded(call, rid, (v, "arrow"), lambda sk: formats.arrow_row(sk, v, str(rid)))
        return _arrow_response(v, [row])
    body, media = _encoded(call, rid, (v, fmt), lambda sk: formats.encode(sk, v, fmt))
    return Response(body, media_type=media, headers={"Content-Disposition": "attachment"})


@_guard
def skeleton_fmt(call: Call):
    return _one(call, call.path("fmt"), 4)


@_guard
def skeleton_precomputed(call: Call):
    return _one(call, "precomputed", formats.NEUROGLANCER_VERSION)


@_guard
def meshwork(call: Call):
    _ds(call)
    raise SkeletonError("meshworks need meshparty, which this server does not have", 500)


# --- bulk -----------------------------------------------------------------------------------


def _bulk_answer(call: Call, fmt: str, v: int, rows: list[tuple[int, str | None]]):
    """{"<rid>": hex value or problem marker} for (root, problem or None) pairs, or the same
    rows in Arrow for our own client."""
    if _wants_arrow(call, fmt):
        return _arrow_response(v, [
            formats.arrow_problem(v, str(rid), problem) if problem else
            _encoded(call, rid, (v, "arrow"), lambda sk, r=rid: formats.arrow_row(sk, v, str(r)))
            for rid, problem in rows])
    return {str(rid): problem or _encoded(call, rid, (v, "bulk", fmt),
                                          lambda sk: formats.bulk_value(sk, v, fmt))
            for rid, problem in rows}


def _bulk(call: Call, fmt: str, ids: list[int], v: int):
    if fmt not in formats.BULK_FORMATS:
        raise SkeletonError(f"Unknown output format: {fmt}. Valid options: "
                            f"{list(formats.BULK_FORMATS)}")
    rows = {rid: _problem(call, rid) for rid in ids[:BULK_MAX] if rid not in REFUSED}
    return _bulk_answer(call, fmt, v, list(rows.items()))


@_guard
def bulk_get(call: Call):
    _ds(call)
    parse_bool(call.path("gms"), "generate_missing_skeletons", False)
    return _bulk(call, call.path("fmt"), _ids_text(call.path("rids")), _version(call))


def _generate(call: Call, ids: list[int]) -> float:
    cache = cache_of(call.ctx.segmentation)
    todo = [r for r in ids if r not in REFUSED and _problem(call, r) is None
            and not cache.has(r)]
    for rid in todo:
        _skeleton(call, rid)
    return float(math.ceil(len(todo) / WORKERS) * 60)


@_guard
def gen_get(call: Call):
    _ds(call)
    _version(call)
    return _generate(call, _ids_text(call.path("rids")))


@_guard
def gen_post(call: Call):
    _ds(call)
    return _generate(call, _ids_body(call))


@_guard
def cached_bulk(call: Call):
    _ds(call)
    v = _version(call)
    fmt = call.path("fmt")
    ids = _ids_body(call)
    if len(ids) > CACHED_MAX:
        raise SkeletonError(f"Too many root IDs requested: {len(ids)}. Maximum allowed is "
                            f"{CACHED_MAX}.")
    if fmt not in formats.BULK_FORMATS:
        raise SkeletonError(f"Unknown output format: {fmt}. Valid options: "
                            f"{list(formats.BULK_FORMATS)}")
    cache = cache_of(call.ctx.segmentation)
    held = [r for r in ids if cache.has(r)]
    out = _bulk_answer(call, fmt, v, [(r, None) for r in dict.fromkeys(held)])
    if isinstance(call.body, dict) and call.body.get("generate_missing"):
        _generate(call, [r for r in ids if r not in held])  # ready for the next call
    return out


@_guard
def skeleton_token(call: Call):
    _ds(call)
    raise SkeletonError("this server keeps its skeletons in memory, not in a bucket: use "
                        "fetch_skeletons(method='server')", 501)


V = "/skeletoncache/api/v1"
D = V + "/{datastack}"
P = D + "/precomputed/skeleton"
ROUTES = (
    ("GET", "/skeletoncache/api/version", version),
    ("GET", "/skeletoncache/api/versions", versions),
    ("GET", "/skeletoncache/health", health),
    ("GET", V + "/skeletons", skeletons),
    ("GET", D + "/precomputed", precomputed_root),
    ("GET", P + "/info", skeleton_info),
    ("GET", P + "/get_refusal_list", refusal_list),
    ("GET", P + "/query_cache/{prefixes}/{limit}", query_cache),
    ("GET", P + "/query_cache/{skvn}/{prefixes}/{limit}", query_cache),
    ("POST", P + "/exists", exists_post),
    ("GET", P + "/exists/{rids}", exists_get),
    ("GET", P + "/exists/{skvn}/{rids}", exists_get),
    ("GET", P + "/{skvn}/info", skeleton_info),
    ("GET", P + "/{rid}", skeleton_precomputed),
    ("GET", P + "/{skvn}/{rid}", skeleton_precomputed),
    ("GET", P + "/{skvn}/{rid}/{fmt}", skeleton_fmt),
    ("GET", D + "/precomputed/meshwork/{rid}", meshwork),
    ("GET", D + "/async/get_skeleton/{rid}", skeleton_precomputed),
    ("GET", D + "/async/get_skeleton/{skvn}/{rid}", skeleton_precomputed),
    ("GET", D + "/async/get_skeleton/{skvn}/{rid}/{fmt}", skeleton_fmt),
    ("GET", D + "/bulk/skeleton/info", bulk_info),
    ("GET", D + "/bulk/get_skeletons/{fmt}/{gms}/{rids}", bulk_get),
    ("GET", D + "/bulk/get_skeletons/{skvn}/{fmt}/{gms}/{rids}", bulk_get),
    ("GET", D + "/bulk/gen_skeletons/{rids}", gen_get),
    ("GET", D + "/bulk/gen_skeletons/{skvn}/{rids}", gen_get),
    ("POST", D + "/bulk/gen_skeletons", gen_post),
    ("POST", D + "/bulk/get_cached_skeletons/{skvn}/{fmt}", cached_bulk),
    ("POST", D + "/bulk/get_skeleton_token/{skvn}", skeleton_token),
    ("POST", D + "/bulk/gen_meshworks", meshwork),
)
