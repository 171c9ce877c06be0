"""How PyChunkedGraph packs node ids, for one graph's metadata.

A node id is 64 bits, most significant first: the layer (8 bits; 1 = supervoxel, 2 = level 2,
``n_layers`` = root), the chunk coordinates x, y, z (``bits(layer)`` bits each) and a segment
id (the rest). A layer-L chunk is ``2**(L-2)`` level-2 chunks wide on each axis; the root
layer has the single chunk (0, 0, 0). Level-2 chunk ``c`` spans voxels
``voxel_offset + c * chunk_size`` (watershed mip 0) up to the next chunk. This is what the
``info`` route's ``graph`` section advertises and what CloudVolume decodes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

LAYER_BITS = 8
SPATIAL_BITS = 10  # PCG's default width for layers 1 and 2


@dataclass(frozen=True)
class GraphMeta:
    chunk_size: tuple[int, int, int]  # level-2 chunk, in segmentation voxels
    resolution: tuple[float, float, float]  # nm per segmentation voxel
    voxel_offset: tuple[int, int, int]
    size: tuple[int, int, int]  # volume size in voxels
    n_layers: int = field(default=0)

    def __post_init__(self):
        for name in ("chunk_size", "voxel_offset", "size"):
            object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))
        object.__setattr__(self, "resolution", tuple(float(v) for v in self.resolution))
        if not self.n_layers:
            chunks = max(math.ceil(s / c) for s, c in zip(self.size, self.chunk_size))
            object.__setattr__(self, "n_layers", math.ceil(math.log2(chunks)) + 2)

    # --- bit widths -----------------------------------------------------------------------

    def bits(self, layer: int) -> int:
        """Bits per chunk coordinate at `layer` (PCG's compute_bitmasks)."""
        if layer <= 2:
            return max(SPATIAL_BITS, self.n_layers - 2)
        return max(1, self.n_layers - layer)

    def spatial_bit_masks(self) -> dict[str, int]:
        return {str(layer): self.bits(layer) for layer in range(1, self.n_layers + 1)}

    def segment_bits(self, layer: int) -> int:
        return 64 - LAYER_BITS - 3 * self.bits(layer)

    # --- packing --------------------------------------------------------------------------

    def pack(self, layer: int, chunk, segment) -> np.ndarray:
        """Node ids (uint64) of `segment` ids in chunk coordinates `chunk` (…, 3) at `layer`."""
        b = self.bits(layer)
        chunk = np.asarray(chunk, dtype=np.uint64)
        segment = np.asarray(segment, dtype=np.uint64)
        if np.any(chunk >= np.uint64(1 << b)):
            raise ValueError(f"chunk coordinate out of range for layer {layer}")
        if np.any(segment >= np.uint64(1 << self.segment_bits(layer))):
            raise ValueError(f"segment id out of range for layer {layer}")
        s = 64 - LAYER_BITS
        return (np.uint64(layer) << np.uint64(s)
                | chunk[..., 0] << np.uint64(s - b)
                | chunk[..., 1] << np.uint64(s - 2 * b)
                | chunk[..., 2] << np.uint64(s - 3 * b)
                | segment)

    def chunk_id(self, layer: int, chunk) -> np.ndarray:
        """The chunk id: a node id with the segment bits zeroed."""
        return self.pack(layer, chunk, np.zeros(np.shape(chunk)[:-1], dtype=np.uint64))

    @staticmethod
    def layer(ids) -> np.ndarray:
        return (np.asarray(ids, dtype=np.uint64) >> np.uint64(64 - LAYER_BITS)).astype(np.int64)

    def chunk(self, ids) -> np.ndarray:
        """Chunk coordinates (…, 3) of node ids, each at its own layer's scale."""
        ids = np.asarray(ids, dtype=np.uint64)
        layers = self.layer(ids)
        out = np.zeros(ids.shape + (3,), dtype=np.int64)
        s = 64 - LAYER_BITS
        for layer, sel in _by_layer(layers):
            b = self.bits(layer)
            mask = np.uint64((1 << b) - 1)
            mine = ids[sel]
            for axis in range(3):
                shift = np.uint64(s - (axis + 1) * b)
                out[sel, axis] = ((mine >> shift) & mask).astype(np.int64)
        return out

    def segment(self, ids) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.uint64)
        layers = self.layer(ids)
        out = np.zeros(ids.shape, dtype=np.uint64)
        for layer, sel in _by_layer(layers):
            out[sel] = ids[sel] & np.uint64((1 << self.segment_bits(layer)) - 1)
        return out

    def l2_scale_chunk(self, ids) -> np.ndarray:
        """Chunk coordinates expressed in level-2 chunks (the low corner of the node's chunk)."""
        layers = self.layer(ids)
        shift = np.maximum(layers - 2, 0)
        return self.chunk(ids) << shift[..., None]

    # --- space ----------------------------------------------------------------------------

    def chunk_of_nm(self, xyz_nm) -> np.ndarray:
        """Level-2 chunk coordinates of points in nm."""
        vox = np.asarray(xyz_nm, dtype=float) / np.asarray(self.resolution)
        return np.floor((vox - self.voxel_offset) / self.chunk_size).astype(np.int64)

    @property
    def chunk_nm(self) -> np.ndarray:
        return np.asarray(self.chunk_size, float) * self.resolution

    @property
    def origin_nm(self) -> np.ndarray:
        return np.asarray(self.voxel_offset, float) * self.resolution

    def chunk_box_nm(self, chunk) -> tuple[np.ndarray, np.ndarray]:
        lo = self.origin_nm + np.asarray(chunk, float) * self.chunk_nm
        return lo, lo + self.chunk_nm

    @property
    def grid_shape(self) -> tuple[int, int, int]:
        return tuple(math.ceil(s / c) for s, c in zip(self.size, self.chunk_size))

    def info_graph(self) -> dict:
        return {
            "chunk_size": list(self.chunk_size),
            "bounding_box": [2048, 2048, 512],  # PCG's constant (unused by clients)
            "n_layers": self.n_layers,
            "spatial_bit_masks": self.spatial_bit_masks(),
            "n_bits_for_layer_id": LAYER_BITS,
            "cv_mip": 0,
        }


def _by_layer(layers: np.ndarray):
    """(layer, selection) for each layer present; the whole array when there is one."""
    if layers.size == 0:
        return
    lo, hi = int(layers.min()), int(layers.max())
    if lo == hi:
        yield lo, Ellipsis
        return
    for layer in range(lo, hi + 1):
        sel = layers == layer
        if sel.any():
            yield layer, sel


def parse_bounds(text: str, meta: GraphMeta) -> tuple[np.ndarray, np.ndarray]:
    """`x0-x1_y0-y1_z0-z1` (voxels, absolute) → level-2 chunk-space box (min floored, max
    ceiled, as real numbers: PCG compares against them with real division)."""
    parts = text.split("_")
    if len(parts) != 3:
        raise ValueError(f"bounds must look like x0-x1_y0-y1_z0-z1, got {text!r}")
    box = []
    for part in parts:
        lo_hi = part.split("-")
        if len(lo_hi) != 2 or not all(p.isdigit() for p in lo_hi):
            raise ValueError(
                f"bounds must be non-negative integers x0-x1_y0-y1_z0-z1, got {text!r}")
        box.append([int(lo_hi[0]), int(lo_hi[1])])
    box = np.asarray(box, dtype=float)
    rel = (box - np.asarray(meta.voxel_offset, float)[:, None]) / np.asarray(
        meta.chunk_size, float)[:, None]
    return np.floor(rel[:, 0]), np.ceil(rel[:, 1])


def in_bounds(meta: GraphMeta, ids, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """PCG's mask_nodes_by_bounding_box: a layer-L node at chunk c is kept iff on every axis
    c < hi/k and c + 1 > lo/k with k = 2**(max(L, 2) - 2)."""
    ids = np.asarray(ids, dtype=np.uint64)
    if ids.size == 0:
        return np.zeros(0, bool)
    k = (2.0 ** (np.maximum(meta.layer(ids), 2) - 2))[:, None]
    c = meta.chunk(ids).astype(float)
    return np.all((c < hi / k) & (c + 1 > lo / k), axis=1)
