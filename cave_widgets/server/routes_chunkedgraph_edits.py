"""Chunkedgraph edits (permission `edit`): merge, multicut split and its preview, undo and
redo, and the meshing service's remesh request. Each edit is applied by chunkedgraph/edits.py
and written through the store's one write path."""

from __future__ import annotations

import numpy as np
from starlette.responses import Response

from .chunkedgraph.cut import min_cut
from .chunkedgraph_http import cg, check_table, now, pcg_json
from .context import Call, route_options
from .errors import BadRequest

CHEBYSHEV = 3


def _points(call: Call, rows, what: str) -> list[tuple[int, list[float]]]:
    if not isinstance(rows, list) or not rows or not all(
        isinstance(r, list) and len(r) == 4 and isinstance(r[0], int) and r[0] >= 0
        and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in r[1:])
        for r in rows
    ):
        raise BadRequest(f"{what} must be a list of [id, x, y, z] with coordinates in nm")
    seg = call.ctx.segmentation
    t = now(call)
    out = []
    for node, *xyz in rows:
        sv = seg.supervoxel_near(node, xyz, t)
        if sv == 0:
            raise BadRequest(f"Could not determine supervoxel ID for coordinates {xyz}. "
                             "Lookup stage")
        out.append((sv, xyz))
    return out


def _voxels(call: Call, xyz) -> list[int]:
    res = np.asarray(call.ctx.segmentation.meta.resolution)
    return (np.asarray(xyz, float) / res).astype(int).tolist()


def _user(call: Call) -> str:
    return str(call.user.id) if call.user else ""


@route_options(permission="edit")
def merge(call: Call):
    seg = cg(call)
    g = seg.graph
    if not (isinstance(call.body, list) and len(call.body) == 2):
        raise BadRequest("a merge takes exactly two points [[id, x, y, z], [id, x, y, z]]")
    (a, pa), (b, pb) = _points(call, call.body, "the merge body")
    t = now(call)
    if a == b:
        raise BadRequest("Merge of a supervoxel with itself (self-loop).")
    roots = g.roots_of(np.array([a, b], np.uint64), t)
    if roots[0] == roots[1]:
        raise BadRequest("Supervoxels must belong to different objects.")
    ca, cb = g.meta.chunk(np.array([a, b], np.uint64))
    if np.abs(ca - cb).max() > CHEBYSHEV:
        raise BadRequest(f"Chebyshev distance between merge points exceeded allowed maximum "
                         f"({CHEBYSHEV} chunks).")
    log = seg.edit({"user": _user(call), "operation_status": 0, "operation_exception": "",
                    "source_coords": [_voxels(call, pa)], "sink_coords": [_voxels(call, pb)]},
                   t, add=[(a, b)])
    return pcg_json({"operation_id": max(g.operations), "new_root_ids": log["roots"]})


def _split_plan(call: Call):
    seg = cg(call)
    g = seg.graph
    body = call.body
    if not isinstance(body, dict) or "sources" not in body or "sinks" not in body:
        raise BadRequest("the split body must be {\"sources\": [[id, x, y, z], ...], "
                         "\"sinks\": [...]}")
    sources = _points(call, body["sources"], "sources")
    sinks = _points(call, body["sinks"], "sinks")
    src = [s for s, _ in sources]
    snk = [s for s, _ in sinks]
    if set(src) & set(snk):
        raise BadRequest("A supervoxel cannot be both a source and a sink.")
    t = now(call)
    roots = np.unique(g.roots_of(np.array(src + snk, np.uint64), t))
    if len(roots) != 1:
        raise BadRequest("Supervoxels must belong to the same object.")
    svs = g.members_of(int(roots[0]))
    a, b, aff, _ = g.edges.among(svs, t)
    if len(a) == 0:
        raise BadRequest("No local edges found.")
    if call.flag("mincut", True):
        cut = min_cut(a, b, aff, src, snk)
    else:
        cut = [tuple(sorted((x, y))) for x, y in zip(src, snk)]
    return seg, g, t, int(roots[0]), svs, (a, b), cut, sources, sinks


def _components_after(svs, edges, cut):
    from .chunkedgraph.edits import components

    a, b = edges
    gone = {tuple(e) for e in cut}
    keep = np.array([(int(x), int(y)) not in gone for x, y in zip(a, b)], bool)
    label = components(np.sort(svs), a[keep], b[keep])
    return np.sort(svs), label


@route_options(permission="edit")
def split(call: Call):
    seg, g, t, root, svs, edges, cut, sources, sinks = _split_plan(call)
    nodes, label = _components_after(svs, edges, cut)
    src = np.searchsorted(nodes, [s for s, _ in sources])
    snk = np.searchsorted(nodes, [s for s, _ in sinks])
    if call.flag("mincut", True) and (not cut or set(label[src]) & set(label[snk])):
        raise BadRequest("Mincut failed. Try with a different set of points.")
    log = seg.edit({"user": _user(call), "operation_status": 0, "operation_exception": "",
                    "source_ids": [s for s, _ in sources], "sink_ids": [s for s, _ in sinks],
                    "source_coords": [_voxels(call, p) for _, p in sources],
                    "sink_coords": [_voxels(call, p) for _, p in sinks],
                    "bb_offset": [240, 240, 24]}, t, remove=cut)
    return pcg_json({"operation_id": max(g.operations), "new_root_ids": log["roots"]})


def split_preview(call: Call):
    _, _, _, _, svs, edges, cut, sources, sinks = _split_plan(call)
    nodes, label = _components_after(svs, edges, cut)
    src = label[np.searchsorted(nodes, [s for s, _ in sources])]
    snk = label[np.searchsorted(nodes, [s for s, _ in sinks])]
    groups = {lab: nodes[label == lab].tolist() for lab in np.unique(label).tolist()}
    first = max(set(src.tolist()), key=src.tolist().count)
    second = max(set(snk.tolist()), key=snk.tolist().count)
    illegal = first == second or bool(set(src.tolist()) & set(snk.tolist()))
    rest = [v for k, v in groups.items() if k not in (first, second)]
    ccs = [groups[first], groups[second] if second != first else []] + rest
    return pcg_json({"supervoxel_connected_components": ccs, "illegal_split": illegal})


def _replay(call: Call, key: str):
    seg = cg(call)
    g = seg.graph
    body = call.body
    op = body.get("operation_id") if isinstance(body, dict) else None
    if not isinstance(op, int) or isinstance(op, bool):
        raise BadRequest("the body must be {\"operation_id\": <int>}")
    logs = g.operations
    # unroll chains of undo/redo to the original operation
    while op in logs and ("undo_operation_id" in logs[op] or "redo_operation_id" in logs[op]):
        op = logs[op].get("undo_operation_id", logs[op].get("redo_operation_id"))
    if op not in logs:
        raise BadRequest(f"operation {op} does not exist")
    from .routes_chunkedgraph_history import _undone

    undone = op in _undone(logs)
    if (key == "undo_operation_id") == undone:
        return pcg_json({"operation_id": None, "new_root_ids": []})
    log = logs[op]
    merge = "added_edges" in log
    forward = key == "redo_operation_id"
    add = log.get("added_edges" if merge else "removed_edges", [])
    t = now(call)
    record = {"user": _user(call), "operation_status": 0, "operation_exception": "", key: op}
    if merge == forward:
        live = [e for e in add if g.roots_of(np.array(e, np.uint64), t)[0]
                != g.roots_of(np.array(e, np.uint64), t)[1]]
        if not live:
            return pcg_json({"operation_id": None, "new_root_ids": []})
        new = seg.edit(record, t, add=live)
    else:
        new = seg.edit(record, t, remove=add)
    return pcg_json({"operation_id": max(g.operations), "new_root_ids": new["roots"]})


@route_options(permission="edit")
def undo(call: Call):
    return _replay(call, "undo_operation_id")


@route_options(permission="edit")
def redo(call: Call):
    return _replay(call, "redo_operation_id")


@route_options(permission="edit")
def remeshing(call: Call):
    check_table(call)
    body = call.body
    if not isinstance(body, dict) or not isinstance(body.get("new_lvl2_ids"), list):
        raise BadRequest("the body must be {\"new_lvl2_ids\": [ids]}")
    return Response(b"", status_code=202)


TABLE = "/segmentation/api/v1/table/{table}"
ROUTES = (
    ("POST", TABLE + "/merge", merge),
    ("POST", TABLE + "/split", split),
    ("POST", TABLE + "/graph/split_preview", split_preview),
    ("POST", TABLE + "/undo", undo),
    ("POST", TABLE + "/redo", redo),
    ("POST", "/meshing/api/v1/table/{table}/remeshing", remeshing),
)
