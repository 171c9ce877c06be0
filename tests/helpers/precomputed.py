"""Readers of neuroglancer's precomputed formats, written from the format descriptions
(shared/reference/skeleton-state-neuroglancer.md §8.6 and neuroglancer's
`compressed_segmentation` description), independently of the server's writers: the tests
parse what the server sends back with these."""

from __future__ import annotations

import struct

import numpy as np


def decode_compressed_segmentation(data: bytes, shape_xyz, block_xyz,
                                   data_type: str = "uint64") -> np.ndarray:
    """One channel of a compressed_segmentation chunk as a (z, y, x) array."""
    words = np.frombuffer(data, dtype="<u4")
    base = int(words[0])  # where channel 0 starts, in words
    sx, sy, sz = (int(v) for v in shape_xyz)
    bx, by, bz = (int(v) for v in block_xyz)
    gx, gy, gz = -(-sx // bx), -(-sy // by), -(-sz // bz)
    wide = data_type == "uint64"
    out = np.zeros((sz, sy, sx), dtype=np.uint64 if wide else np.uint32)
    v = np.arange(bx * by * bz)
    vx, vy, vz = v % bx, (v // bx) % by, v // (bx * by)
    for z in range(gz):
        for y in range(gy):
            for x in range(gx):
                header = base + 2 * (x + gx * (y + gy * z))
                table = base + int(words[header] & 0xFFFFFF)
                bits = int(words[header] >> 24)
                values = base + int(words[header + 1])
                if bits:
                    position = v * bits
                    word = words[values + position // 32].astype(np.uint64)
                    index = (word >> (position % 32).astype(np.uint64)) & np.uint64(
                        (1 << bits) - 1)
                    index = index.astype(np.int64)
                else:
                    index = np.zeros(len(v), np.int64)
                if wide:
                    label = (words[table + 2 * index].astype(np.uint64)
                             | (words[table + 2 * index + 1].astype(np.uint64) << np.uint64(32)))
                else:
                    label = words[table + index]
                ax, ay, az = x * bx + vx, y * by + vy, z * bz + vz
                inside = (ax < sx) & (ay < sy) & (az < sz)
                out[az[inside], ay[inside], ax[inside]] = label[inside]
    return out


def parse_legacy_mesh(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(vertices (n, 3) float32 nm, triangles (m, 3) uint32) of a legacy mesh fragment."""
    (n,) = struct.unpack_from("<I", data, 0)
    vertices = np.frombuffer(data, dtype="<f4", count=3 * n, offset=4).reshape(n, 3)
    rest = data[4 + 12 * n:]
    assert len(rest) % 12 == 0, "triangles are uint32 triples"
    return vertices, np.frombuffer(rest, dtype="<u4").reshape(-1, 3)


_TYPES = {"float32": "<f4", "int8": "i1", "uint8": "u1", "int16": "<i2", "uint16": "<u2",
          "int32": "<i4", "uint32": "<u4"}


def parse_skeleton(data: bytes, info: dict) -> dict:
    """A precomputed skeleton: vertices, edges and each vertex attribute the info lists;
    `unread` counts bytes after the last attribute."""
    n, e = struct.unpack_from("<II", data, 0)
    offset = 8
    vertices = np.frombuffer(data, "<f4", 3 * n, offset).reshape(n, 3)
    offset += 12 * n
    edges = np.frombuffer(data, "<u4", 2 * e, offset).reshape(e, 2)
    offset += 8 * e
    out = {"vertices": vertices, "edges": edges}
    for attribute in info.get("vertex_attributes", []):
        dtype = np.dtype(_TYPES[attribute["data_type"]])
        count = n * attribute["num_components"]
        out[attribute["id"]] = np.frombuffer(data, dtype, count, offset)
        offset += count * dtype.itemsize
    out["unread"] = len(data) - offset
    return out


def chunk_name(scale: dict, point_voxels) -> str:
    """The name of the chunk of `scale` (a volume info scale) holding a voxel."""
    offset = np.array(scale["voxel_offset"])
    size = np.array(scale["size"])
    chunk = np.array(scale["chunk_sizes"][0])
    cell = (np.asarray(point_voxels, dtype=np.int64) - offset) // chunk
    start = offset + cell * chunk
    end = np.minimum(start + chunk, offset + size)
    return "_".join(f"{a}-{b}" for a, b in zip(start.tolist(), end.tolist()))


def chunk_shape(name: str) -> tuple[int, int, int]:
    return tuple(int(b) - int(a) for a, b in (part.split("-") for part in name.split("_")))
