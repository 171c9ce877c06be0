"""A Skeleton in the SkeletonService's output formats (reference §4.3, §4.4, §4.6, §4.7) and
its skeleton versions: -1 → 4, 0 → 2; v2 has float compartments, versions below 4 no
lvl2_ids, v1 neither radius nor compartment."""

from __future__ import annotations

import gzip
import io
import json
import struct

import numpy as np

from ...wire import skeleton_rows
from .build import Skeleton

VERSIONS = [-1, 0, 1, 2, 3, 4]
HIGHEST = 4
NEUROGLANCER_VERSION = 2
#: formats this server writes; h5 and meshwork need h5py/meshparty, which it does not use
FORMATS = ("flatdict", "json", "jsoncompressed", "arrays", "arrayscompressed", "precomputed",
           "swc", "swccompressed")
NEEDS_PACKAGE = {"h5": "h5py", "meshwork": "meshparty", "meshwork_none": "meshparty"}
BULK_FORMATS = ("flatdict", "json", "swc", "jsoncompressed", "swccompressed")


def resolve(version: int) -> int:
    if version not in VERSIONS:
        raise ValueError(f"Unknown skeleton version: {version}. Valid options: {VERSIONS}")
    return {-1: HIGHEST, 0: NEUROGLANCER_VERSION}.get(version, version)


def info(version: int) -> dict:
    v = resolve(version)
    attrs = [] if v == 1 else [
        {"id": "radius", "data_type": "float32", "num_components": 1},
        {"id": "compartment", "data_type": "float32" if v == 2 else "uint8",
         "num_components": 1}]
    return {"@type": "neuroglancer_skeletons", "transform": [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0],
            "vertex_attributes": attrs}


def flatdict(sk: Skeleton, version: int) -> dict:
    v = resolve(version)
    out = {"meta": dict(sk.meta, skeleton_version=v), "edges": sk.edges.tolist(),
           "mesh_to_skel_map": sk.mesh_to_skel_map.tolist(), "root": int(sk.root),
           "vertices": sk.vertices.tolist()}
    if v >= 2:
        out["radius"] = sk.radius.tolist()
        out["compartment"] = (sk.compartment.astype(float).tolist() if v == 2
                              else sk.compartment.tolist())
    if v >= 4:
        out["lvl2_ids"] = [int(i) for i in sk.lvl2_ids.tolist()]
    return out


def full_json(sk: Skeleton, version: int) -> dict:
    """The meshparty JSON dump (the fields this skeleton has)."""
    flat = flatdict(sk, version)
    parent = sk.parents
    n = len(sk.vertices)
    kids = np.bincount(parent[parent >= 0], minlength=n)
    props = {k: flat.pop(k) for k in ("radius", "compartment") if k in flat}
    dist = _distance_to_root(sk, parent)
    out = dict(flat, jsonification_version="1.0",
               branch_points=np.flatnonzero(kids > 1).tolist(),
               end_points=np.flatnonzero(kids == 0).tolist(),
               distance_to_root=dist.tolist(),
               root_position=sk.vertices[sk.root].tolist(),
               mesh_index=np.arange(n).tolist(), unmasked_size=n,
               node_mask=[True] * n, indices_unmasked=np.arange(n).tolist(),
               voxel_scaling=None, vertex_properties=props)
    return {k: val for k, val in out.items() if val is not None}


def arrays(sk: Skeleton, version: int) -> dict:
    flat = flatdict(sk, version)
    return {"vertices": flat["vertices"], "edges": flat["edges"],
            "vertex_properties": {k: flat[k] for k in ("radius", "compartment") if k in flat}}


def _distance_to_root(sk: Skeleton, parent: np.ndarray) -> np.ndarray:
    n = len(sk.vertices)
    dist = np.full(n, np.nan)
    for v in range(n):
        path = []
        u = v
        while u >= 0 and np.isnan(dist[u]):
            path.append(u)
            u = parent[u]
        base = 0.0 if u < 0 else dist[u]
        for w in reversed(path):
            p = parent[w]
            base = base + (float(np.linalg.norm(sk.vertices[w] - sk.vertices[p]))
                           if p >= 0 else 0.0)
            dist[w] = base
    return dist


def swc(sk: Skeleton, version: int) -> str:
    """`id type x y z radius parent`, µm, root first, parents before children."""
    parent = sk.parents
    n = len(sk.vertices)
    children: list[list[int]] = [[] for _ in range(n)]
    for c, p in sk.edges.tolist():
        children[p].append(c)
    order: list[int] = []
    roots = [sk.root] + [v for v in range(n) if parent[v] < 0 and v != sk.root]
    for r in roots:
        stack = [r]
        while stack:
            v = stack.pop()
            order.append(v)
            stack.extend(reversed(children[v]))
    new = np.empty(n, np.int64)
    new[order] = np.arange(n)
    lines = []
    radius = sk.radius if resolve(version) >= 2 else np.ones(n)
    for v in order:
        x, y, z = sk.vertices[v] / 1000
        p = parent[v]
        lines.append(f"{new[v]} {int(sk.compartment[v])} {x:.3f} {y:.3f} {z:.3f} "
                     f"{radius[v] / 1000:.3f} {-1 if p < 0 else new[p]}")
    return "\n".join(lines) + "\n"


def precomputed(sk: Skeleton, version: int) -> bytes:
    """The neuroglancer encoded skeleton, exactly the attributes `info(version)` lists."""
    n, e = len(sk.vertices), len(sk.edges)
    parts = [struct.pack("<II", n, e), sk.vertices.astype("<f4").tobytes(),
             sk.edges.astype("<u4").tobytes()]
    for attr in info(version)["vertex_attributes"]:
        values = sk.radius if attr["id"] == "radius" else sk.compartment
        parts.append(np.asarray(values).astype("<f4" if attr["data_type"] == "float32"
                                              else "u1").tobytes())
    return b"".join(parts)


#: gzip level of the compressed formats: 6 (zlib's default) writes them about twice as fast
#: as 9 for a few percent more bytes; any level reads the same
GZIP_LEVEL = 6


def compress_json(obj) -> bytes:
    """gzip of JSON with every space removed (caveclient's compressDictToBytes)."""
    return gzip.compress(json.dumps(obj).replace(" ", "").encode(), compresslevel=GZIP_LEVEL,
                         mtime=0)


def encode(sk: Skeleton, version: int, fmt: str) -> tuple[bytes, str]:
    """(body, media type) of one skeleton in `fmt`."""
    if fmt == "flatdict":
        return compress_json(flatdict(sk, version)), "application/octet-stream"
    if fmt == "json":
        return json.dumps(full_json(sk, version)).encode(), "application/json"
    if fmt == "jsoncompressed":
        return compress_json(full_json(sk, version)), "application/octet-stream"
    if fmt == "arrays":
        return json.dumps(arrays(sk, version)).encode(), "application/json"
    if fmt == "arrayscompressed":
        return compress_json(arrays(sk, version)), "application/octet-stream"
    if fmt == "precomputed":
        return precomputed(sk, version), "application/octet-stream"
    if fmt == "swc":
        return swc(sk, version).encode(), "application/octet-stream"
    if fmt == "swccompressed":
        return (gzip.compress(swc(sk, version).encode(), compresslevel=GZIP_LEVEL, mtime=0),
                "application/octet-stream")
    raise KeyError(fmt)


def bulk_value(sk: Skeleton, version: int, fmt: str) -> str:
    """Bulk answers: hex(gzip JSON) for the dicts, hex(plain SWC text) for swc."""
    if fmt in ("swc", "swccompressed"):
        return swc(sk, version).encode().hex()
    if fmt == "jsoncompressed" or fmt == "json":
        return compress_json(full_json(sk, version)).hex()
    return compress_json(flatdict(sk, version)).hex()


def arrow_schema(version: int):
    """The Arrow columns of flatdict skeletons of `version` (wire/skeleton_rows.py)."""
    v = resolve(version)
    return skeleton_rows.schema(v, float_compartment=v == 2)


def arrow_row(sk: Skeleton, version: int, key: str):
    """One root's flatdict as an Arrow row: the same values as flatdict()'s JSON (meta as
    the very JSON text the flatdict answer holds)."""
    v = resolve(version)
    meta = json.dumps(dict(sk.meta, skeleton_version=v)).replace(" ", "")
    fields = {"meta": meta, "edges": sk.edges, "mesh_to_skel_map": sk.mesh_to_skel_map,
              "root": int(sk.root), "vertices": sk.vertices, "radius": sk.radius,
              "compartment": sk.compartment, "lvl2_ids": sk.lvl2_ids}
    return skeleton_rows.batch(arrow_schema(v), key, fields)


def arrow_problem(version: int, key: str, problem: str):
    """A bulk marker ("invalid_rid", ...) in place of a skeleton, as an Arrow row."""
    return skeleton_rows.batch(arrow_schema(version), key, problem=problem)


def refusal_csv(datastack: str, roots: list[int]) -> bytes:
    buf = io.StringIO()
    buf.write("DATASTACK_NAME,ROOT_ID\n")
    for r in roots:
        buf.write(f"{datastack},{r}\n")
    return gzip.compress(buf.getvalue().encode(), mtime=0)
