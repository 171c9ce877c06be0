"""A root's skeleton from its level-2 graph (SkeletonService `_generate_v4_skeleton`, after
pcg_skel): one node per level-2 id at its `rep_coord_nm`, the graph's edges reduced to a
minimum spanning forest (lengths in nm), the level-2 nodes inside the soma collapsed onto one
root vertex at the soma centre (when the root owns a soma), edges oriented [child, parent]
toward the root, radii from the cache's volumes along unbranched segments.

What is left out of the real pipeline: TEASAR's pruning of short side paths
(`invalidation_d`) — every level-2 node outside the soma stays a vertex, so
`mesh_to_skel_map` is one to one there — and the synapse-based axon label (every vertex is
compartment 3, the soma vertex 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SOMA_RADIUS = 7500.0  # nm: L2 nodes this close to the soma centre collapse onto the root
INVALIDATION_D = 7500.0


@dataclass
class Skeleton:
    root_id: int
    vertices: np.ndarray  # (N, 3) float64 nm
    edges: np.ndarray  # (E, 2) int64, [child, parent]
    root: int  # index of the root vertex
    radius: np.ndarray  # (N,) nm
    compartment: np.ndarray  # (N,) uint8: 1 soma, 3 default
    mesh_to_skel_map: np.ndarray  # (M,) vertex of each level-2 node
    lvl2_ids: np.ndarray  # (M,) uint64, sorted
    meta: dict

    @property
    def parents(self) -> np.ndarray:
        parent = np.full(len(self.vertices), -1, np.int64)
        parent[self.edges[:, 0]] = self.edges[:, 1]
        return parent

    def cable_length(self) -> float:
        d = self.vertices[self.edges[:, 0]] - self.vertices[self.edges[:, 1]]
        return float(np.linalg.norm(d, axis=1).sum())


def _find(parent: list, i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def spanning_forest(points: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Kruskal's minimum spanning forest of the graph, weighted by Euclidean length."""
    if len(edges) == 0:
        return np.zeros((0, 2), np.int64)
    w = np.linalg.norm(points[edges[:, 0]] - points[edges[:, 1]], axis=1)
    uf = list(range(len(points)))
    kept = []
    for k in np.argsort(w, kind="stable").tolist():
        a, b = _find(uf, int(edges[k, 0])), _find(uf, int(edges[k, 1]))
        if a != b:
            uf[a] = b
            kept.append(k)
    return edges[np.sort(np.array(kept, np.int64))]


def build(root_id: int, l2_ids: np.ndarray, l2_edges: np.ndarray, attrs: dict,
          soma_pt: np.ndarray | None, datastack: str, timestamp: float) -> Skeleton:
    """`l2_ids` the root's level-2 nodes, `l2_edges` its level-2 graph (pairs of ids),
    `attrs` {l2 id: cache row} (rep_coord_nm, size_nm3 needed), `soma_pt` nm or None."""
    ids = np.unique(np.asarray(l2_ids, np.uint64))
    m = len(ids)
    missing = [int(i) for i in ids.tolist() if "rep_coord_nm" not in attrs.get(int(i), {})]
    if missing:
        raise ValueError(f"Some chunk indices are not yet computed: level-2 ids {missing[:10]} "
                         "have no rep_coord_nm in the L2 cache")
    pos = np.array([attrs[int(i)]["rep_coord_nm"] for i in ids.tolist()], float)
    vol = np.array([float(attrs[int(i)].get("size_nm3") or 0) for i in ids.tolist()])
    e = np.searchsorted(ids, np.asarray(l2_edges, np.uint64).reshape(-1, 2)) if len(
        l2_edges) else np.zeros((0, 2), np.int64)
    e = e.astype(np.int64)
    # Soma: the nodes near its centre become one vertex (index 0) at the centre.
    if soma_pt is not None:
        near = np.linalg.norm(pos - soma_pt, axis=1) < SOMA_RADIUS
        if not near.any():
            near[np.argmin(np.linalg.norm(pos - soma_pt, axis=1))] = True
    else:
        near = np.zeros(m, bool)
    if near.any():
        rest = np.flatnonzero(~near)
        mesh_to_skel = np.zeros(m, np.int64)
        mesh_to_skel[rest] = np.arange(1, len(rest) + 1)
        verts = np.vstack([np.asarray(soma_pt, float)[None], pos[rest]])
    else:
        mesh_to_skel = np.arange(m, dtype=np.int64)
        verts = pos.copy()
    n = len(verts)
    se = mesh_to_skel[e] if len(e) else np.zeros((0, 2), np.int64)
    se = se[se[:, 0] != se[:, 1]]
    if len(se):
        se = np.unique(np.sort(se, axis=1), axis=0)
    tree = spanning_forest(verts, se)
    # Orient toward the root: BFS from vertex 0 (soma or the first node), then from the
    # first unvisited vertex of each other component.
    adj: list[list[int]] = [[] for _ in range(n)]
    for a, b in tree.tolist():
        adj[a].append(b)
        adj[b].append(a)
    parent = np.full(n, -1, np.int64)
    seen = np.zeros(n, bool)
    order: list[int] = []
    if soma_pt is None and n:  # no soma: root at an end of the longest path (a tip)
        start = _farthest(adj, verts, 0)
    else:
        start = 0
    for s in [start] + list(range(n)):
        if seen[s]:
            continue
        seen[s] = True
        queue = [s]
        while queue:
            v = queue.pop()
            order.append(v)
            for w in adj[v]:
                if not seen[w]:
                    seen[w] = True
                    parent[w] = v
                    queue.append(w)
    child = np.flatnonzero(parent >= 0)
    edges = np.stack([child, parent[child]], 1) if len(child) else np.zeros((0, 2), np.int64)
    if n == 1:  # a single node: two identical vertices joined by one edge (meshparty)
        verts = np.vstack([verts, verts])
        edges = np.array([[1, 0]], np.int64)
        parent = np.array([-1, 0])
        mesh_to_skel = np.zeros(m, np.int64)
        n = 2
    # Radius: per unbranched segment sqrt(V / (pi * L)); the soma as a sphere.
    vvol = np.bincount(mesh_to_skel, vol, n)
    radius = _segment_radius(verts, parent, vvol)
    if near.any():
        radius[0] = (vvol[0] * 3 / (4 * math.pi)) ** (1 / 3)
    compartment = np.full(n, 3, np.uint8)
    if near.any():
        compartment[0] = 1
    meta = {
        "root_id": int(root_id),
        "soma_pt_x": None if soma_pt is None else float(soma_pt[0]),
        "soma_pt_y": None if soma_pt is None else float(soma_pt[1]),
        "soma_pt_z": None if soma_pt is None else float(soma_pt[2]),
        "soma_radius": SOMA_RADIUS, "collapse_soma": True, "collapse_function": "sphere",
        "invalidation_d": INVALIDATION_D, "smooth_vertices": False, "compute_radius": False,
        "shape_function": "single", "smooth_iterations": 12, "smooth_neighborhood": 2,
        "smooth_r": 0.1, "cc_vertex_thresh": 0, "remove_zero_length_edges": True,
        "collapse_params": {}, "timestamp": timestamp, "skeleton_type": "pcg_skel",
        "meta": {"datastack": datastack, "space": "l2cache"},
    }
    return Skeleton(int(root_id), verts, edges.astype(np.int64), 0 if soma_pt is not None
                    else int(start), radius, compartment, mesh_to_skel, ids, meta)


def _farthest(adj, verts, s: int) -> int:
    dist = {s: 0.0}
    stack = [s]
    while stack:
        v = stack.pop()
        for w in adj[v]:
            if w not in dist:
                dist[w] = dist[v] + float(np.linalg.norm(verts[v] - verts[w]))
                stack.append(w)
    return max(dist, key=dist.get)


def _segment_radius(verts, parent, vvol) -> np.ndarray:
    """Cut the tree at branch points and tips; each run of vertices gets r = sqrt(V/(pi L))."""
    n = len(verts)
    kids = np.bincount(parent[parent >= 0], minlength=n)
    seg = np.full(n, -1, np.int64)
    nseg = 0
    for v in range(n):
        if seg[v] >= 0:
            continue
        # walk up from v while the chain stays unbranched
        chain = [v]
        u = parent[v]
        while u >= 0 and kids[u] == 1 and seg[u] < 0:
            chain.append(int(u))
            u = parent[u]
        seg[chain] = nseg if not (u >= 0 and kids[u] == 1 and seg[u] >= 0) else seg[u]
        if seg[chain[0]] == nseg:
            nseg += 1
    radius = np.ones(n)
    for s in range(nseg):
        members = np.flatnonzero(seg == s)
        length = sum(float(np.linalg.norm(verts[v] - verts[parent[v]]))
                     for v in members if parent[v] >= 0)
        volume = float(vvol[members].sum())
        if length > 0 and volume > 0:
            radius[members] = math.sqrt(volume / (math.pi * length))
        elif volume > 0:
            radius[members] = (volume * 3 / (4 * math.pi)) ** (1 / 3)
    return radius
