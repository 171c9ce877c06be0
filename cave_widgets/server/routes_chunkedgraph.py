"""The chunkedgraph service (PyChunkedGraph API v1): id lookups at any layer and time,
leaves and children, the level-2 graph, and the service's metadata. History routes are in
routes_chunkedgraph_history.py, edits in routes_chunkedgraph_edits.py."""

from __future__ import annotations

import numpy as np
from starlette.responses import Response

from .chunkedgraph_http import (
    binary,
    body_ids,
    bounds,
    cg,
    check_roots,
    epoch,
    node_path,
    now,
    pcg_json,
    stop_layer,
    time_param,
    wants_binary,
)
from .context import Call, route_options
from .demo import catalog
from .errors import BadRequest

SERVER_VERSION = "2.21.1"
API_VERSIONS = [0, 1]


def api_versions(call: Call):
    return API_VERSIONS


def server_version(call: Call):
    return SERVER_VERSION


def info(call: Call):
    seg = cg(call)
    meta = seg.meta
    return {
        "app": {"supported_api_versions": API_VERSIONS},
        "chunks_start_at_voxel_offset": True,
        "data_dir": f"{call.base_url}/segmentation/data/{catalog.PCG_TABLE}",
        "data_type": "uint64",
        "graph": meta.info_graph(),
        "num_channels": 1,
        "scales": [{
            "key": "_".join(str(int(r)) for r in meta.resolution),
            "resolution": list(meta.resolution),
            "size": list(meta.size),
            "voxel_offset": list(meta.voxel_offset),
            "chunk_sizes": [[256, 256, 32]],
            "encoding": "compressed_segmentation",
        }],
        "type": "segmentation",
        "verify_mesh": False,
    }


# --- ids upwards ----------------------------------------------------------------------------


@route_options(json_body=False)
def roots_binary(call: Call):
    seg = cg(call)
    raw = call.raw_body
    if len(raw) % 8:
        raise BadRequest("the body must be little-endian uint64 supervoxel ids (8 bytes each)")
    ids = np.frombuffer(raw, dtype="<u8").astype(np.uint64)
    t = time_param(call, "timestamp", now(call))
    return binary(seg.graph.roots_of(ids, t, stop_layer(call, None)))


def roots_json(call: Call):
    seg = cg(call)
    ids = body_ids(call, "node_ids")
    t = time_param(call, "timestamp", now(call))
    return pcg_json({"root_ids": seg.graph.roots_of(ids, t, stop_layer(call, None))})


def node_root(call: Call):
    seg = cg(call)
    node = np.array([node_path(call)], dtype=np.uint64)
    t = time_param(call, "timestamp", now(call))
    root = int(seg.graph.roots_of(node, t, stop_layer(call, None))[0])
    if root == 0:
        # No parent chain at that time: PCG fails (500); ids already at or above stop_layer
        # never get here, they are echoed as they are.
        raise BadRequest(f"{int(node[0])} has no root in {catalog.PCG_TABLE} at that time")
    return pcg_json({"root_id": root})


def minimal_covering_nodes(call: Call):
    seg = cg(call)
    g = seg.graph
    ids = np.unique(body_ids(call, "node_ids"))
    t = time_param(call, "timestamp", now(call))
    if len(ids) == 0:
        raise BadRequest("node_ids is empty")
    out = g.minimal_covering(ids, t)
    if call.flag("as_array", False):
        return binary(out)
    return pcg_json(out)


# --- ids downwards --------------------------------------------------------------------------


def _known_node(call: Call, node: int) -> None:
    g = call.ctx.segmentation.graph
    if not np.isfinite(g.created(np.array([node], np.uint64))[0]):
        raise BadRequest(f"{node} is not a node of {catalog.PCG_TABLE}")


def children(call: Call):
    g = cg(call).graph
    node = node_path(call)
    _known_node(call, node)
    kids = np.sort(g.children_of(node))
    return binary(kids) if wants_binary(call) else pcg_json({"children_ids": kids})


def leaves(call: Call):
    g = cg(call).graph
    node = node_path(call)
    _known_node(call, node)
    lo, hi = bounds(call)
    found = g.leaves(node, stop_layer(call, 1), lo, hi)
    return binary(found) if wants_binary(call) else pcg_json({"leaf_ids": found})


def leaves_many(call: Call):
    g = cg(call).graph
    ids = body_ids(call, "node_ids")
    for node in ids.tolist():
        _known_node(call, node)
    lo, hi = bounds(call)
    owner, found = g.descendants(ids, stop_layer(call, 1), lo, hi)
    order = np.lexsort((found, owner))
    owner, found = owner[order], found[order]
    cut = np.searchsorted(owner, np.arange(len(ids) + 1))
    return pcg_json({str(n): found[cut[i]:cut[i + 1]] for i, n in enumerate(ids.tolist())})


@route_options(inline=True)  # in memory, and each root's graph is kept once computed
def lvl2_graph(call: Call):
    seg = cg(call)
    g = seg.graph
    node = node_path(call)
    _known_node(call, node)
    lo, hi = bounds(call)
    root = node if g.layer([node])[0] == g.meta.n_layers else None
    if root is None:  # a lower node: the graph of its level-2 descendants within its root
        t = float(g.created([node])[0])
        root = g.root_at(node, t)
    edges = seg.level2.edges(root, lo, hi)
    if g.layer([node])[0] != g.meta.n_layers:
        mine = g.leaves(node, 2)
        edges = edges[np.isin(edges[:, 0], mine) & np.isin(edges[:, 1], mine)]
    headers = {"Used-Bounds": "True" if call.query("bounds") is not None else "False"}
    if wants_binary(call):
        return Response(edges.astype("<u8").tobytes(), media_type="application/octet-stream",
                        headers=headers)
    return pcg_json({"edge_graph": edges}, headers=headers)


def subgraph(call: Call):
    g = cg(call).graph
    node = node_path(call)
    _known_node(call, node)
    lo, hi = bounds(call)
    t = float(g.created([node])[0]) if g.layer([node])[0] == g.meta.n_layers else now(call)
    svs = g.leaves(node, 1, lo, hi)
    a, b, aff, area = g.edges.among(svs, t)
    return pcg_json({"nodes": np.stack([a, b], 1) if len(a) else [], "affinities": aff,
                     "areas": area})


def valid_nodes(call: Call):
    g = cg(call).graph
    ids = body_ids(call, "node_ids")
    start = time_param(call, "start_timestamp", float("-inf"))
    end = time_param(call, "end_timestamp", float("inf"))
    created = g.created(ids)
    ok = np.isfinite(created) & (created < end)
    ok &= (created >= start) | ok  # existing before the window counts: its cells are kept
    return pcg_json({"valid_roots": ids[ok]})


def is_latest_roots(call: Call):
    seg = cg(call)
    ids = body_ids(call, "node_ids")
    t = time_param(call, "timestamp", now(call))
    return pcg_json({"is_latest": seg.is_latest(ids, t)})


def root_timestamps(call: Call):
    seg = cg(call)
    g = seg.graph
    ids = body_ids(call, "node_ids")
    check_roots(call, ids, "node_ids")
    t = time_param(call, "timestamp", now(call))
    idx, _ = g.roots.index(ids)
    stamps = (np.minimum(g.roots.retired[idx], t) if call.flag("latest", False)
              else g.roots.created[idx])
    return pcg_json({"timestamp": [epoch(call, float(s)) for s in stamps]})


def find_path(call: Call):
    """Rough mode: a shortest path on the level-2 graph between the level-2 nodes nearest
    the two points; centroids are level-2 representative points."""
    seg = cg(call)
    g = seg.graph
    body = call.body
    if not (isinstance(body, list) and len(body) == 2 and all(
            isinstance(p, list) and len(p) == 4 for p in body)):
        raise BadRequest("the body must be [[root_id, x, y, z], [root_id, x, y, z]] in nm")
    t = now(call)
    svs = [seg.supervoxel_near(int(p[0]), p[1:], t) for p in body]
    if 0 in svs:
        raise BadRequest("Could not determine supervoxel ID for coordinates")
    roots = g.roots_of(np.array(svs, np.uint64), t)
    if roots[0] != roots[1]:
        raise BadRequest("Both points must be on the same object")
    l2 = g.roots_of(np.array(svs, np.uint64), t, stop_layer=2)
    edges = seg.level2.edges(int(roots[0]))
    path = _shortest_path(edges, int(l2[0]), int(l2[1]))
    rows = seg.l2_rows(np.array(path, np.uint64)).to_pydict()
    rep = dict(zip(rows["l2"], rows["rep_coord_nm"]))
    return pcg_json({"centroids_list": [rep.get(n) for n in path], "l2_path": path,
                     "failed_l2_ids": []})


def _shortest_path(edges: np.ndarray, a: int, b: int) -> list[int]:
    from collections import deque

    nbrs: dict[int, list[int]] = {}
    for x, y in edges.tolist():
        nbrs.setdefault(x, []).append(y)
        nbrs.setdefault(y, []).append(x)
    prev, queue = {a: None}, deque([a])
    while queue:
        u = queue.popleft()
        if u == b:
            break
        for v in nbrs.get(u, ()):
            if v not in prev:
                prev[v] = u
                queue.append(v)
    if b not in prev:
        return [a] if a == b else []
    path, v = [], b
    while v is not None:
        path.append(v)
        v = prev[v]
    return path[::-1]


def contact_sites(call: Call):
    """The intended shape (PCG 2.21.1's own route is broken): partner root (or component
    index) → contact areas, from the partner supervoxels sharing chunks with this object."""
    seg = cg(call)
    g = seg.graph
    node = node_path(call)
    check_roots(call, [node])
    lo, hi = bounds(call)
    if lo is None:
        raise BadRequest("contact_sites needs bounds")
    t = now(call)
    mine = g.leaves(node, 2, lo, hi)
    geo = seg.geometry
    from .chunkedgraph.geometry import chunk_key

    keys = np.unique(chunk_key(g.meta.chunk(mine)))
    near = geo.piece_sv[np.isin(geo.piece_key, keys)]
    others = g.roots_of(np.unique(near), t)
    partners, counts = np.unique(others[(others != node) & (others != 0)], return_counts=True)
    if call.flag("partners", True):
        return pcg_json({str(p): [int(c)] for p, c in zip(partners.tolist(), counts.tolist())})
    return pcg_json({str(i): [int(c)] for i, c in enumerate(counts.tolist())})


TABLE = "/segmentation/api/v1/table/{table}"
ROUTES = (
    ("GET", "/segmentation/api/versions", api_versions),
    ("GET", "/segmentation/api/version", server_version),
    ("GET", "/segmentation/table/{table}/info", info),
    ("POST", TABLE + "/roots_binary", roots_binary),
    ("POST", TABLE + "/roots", roots_json),
    ("GET", TABLE + "/node/{node_id}/root", node_root),
    ("POST", TABLE + "/minimal_covering_nodes", minimal_covering_nodes),
    ("GET", TABLE + "/node/{node_id}/children", children),
    ("GET", TABLE + "/node/{node_id}/leaves", leaves),
    ("POST", TABLE + "/node/leaves_many", leaves_many),
    ("POST", TABLE + "/leaves_many", leaves_many),
    ("GET", TABLE + "/node/{node_id}/lvl2_graph", lvl2_graph),
    ("GET", TABLE + "/node/{node_id}/subgraph", subgraph),
    ("GET", TABLE + "/node/{node_id}/contact_sites", contact_sites),
    ("GET POST", TABLE + "/valid_nodes", valid_nodes),
    ("POST", TABLE + "/is_latest_roots", is_latest_roots),
    ("POST", TABLE + "/root_timestamps", root_timestamps),
    ("POST", TABLE + "/graph/find_path", find_path),
)
