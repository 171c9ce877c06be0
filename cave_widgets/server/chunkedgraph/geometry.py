"""The demo's neurons as geometry: what label every point of the volume has.

Each cell is a soma (a ball) and branches (polylines of straight segments, each a capsule of
one radius). Space is cut into level-2 chunks (meta.GraphMeta). A **piece** is the part of one
primitive (a segment, or a soma) inside one chunk; a **supervoxel** is a run of consecutive
pieces of one polyline inside one chunk, or the piece of a soma in one chunk. So supervoxels
never cross chunk boundaries, as in PyChunkedGraph.

The label of a point p (``supervoxel_at``): among the primitives that have a piece in p's chunk
and contain p (distance to the segment ≤ its radius, or to the soma centre ≤ its radius), the
one p is deepest inside (smallest distance − radius) wins; p gets the supervoxel of that
primitive's piece in p's chunk; 0 where no primitive contains p. A primitive only paints the
chunks its centre line (or its ball) passes through, so a label is defined at every voxel from
this geometry alone.

Entry points for other work:

* the annotation service: ``Geometry.supervoxel_at(points_nm)`` (``supervoxel_at_voxels`` for
  points in a table's voxel resolution): supervoxel ids, 0 where there is no cell;
* rendering (offline neuroglancer): ``Geometry.labels_in_box(lo_nm, hi_nm, step_nm)`` gives
  the supervoxel id on a regular grid (map to roots at a time with the chunkedgraph's
  ``roots_of``); ``Geometry.capsules_of(svs)`` gives the segments and somas (with radii) that
  make up a set of supervoxels, for meshes (marching cubes of the labels, or tubes around the
  capsules) and skeletons (the capsules' centre lines).

Level-2 cache attributes are computed analytically from the pieces in l2stats.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .meta import GraphMeta
from .sorting import lexsort2

KEY_BITS = 20  # per axis in a packed chunk key (level-2 chunk coordinates are < 2**10)
LABEL_BATCH = 1 << 15  # points labelled at once: the candidates' temporaries stay in cache


def chunk_key(chunk) -> np.ndarray:
    c = np.asarray(chunk, dtype=np.int64)
    return (c[..., 0] << (2 * KEY_BITS)) | (c[..., 1] << KEY_BITS) | c[..., 2]


def unkey(key) -> np.ndarray:
    key = np.asarray(key, dtype=np.int64)
    mask = (1 << KEY_BITS) - 1
    return np.stack([key >> (2 * KEY_BITS), (key >> KEY_BITS) & mask, key & mask], axis=-1)


# --- pieces ----------------------------------------------------------------------------------


def segment_pieces(meta: GraphMeta, a: np.ndarray, b: np.ndarray):
    """Cut segments a→b (nm) at chunk faces. Returns, per piece: segment index, t0, t1 (along
    the segment), the chunk (3 ints), and for each end the face crossed there as
    axis*2 + (0: low face of the piece's chunk, 1: high face), or -1 at a segment end."""
    A = (a - meta.origin_nm) / meta.chunk_nm
    B = (b - meta.origin_nm) / meta.chunk_nm
    n = len(a)
    seg_parts, t_parts, axis_parts = [np.arange(n)], [np.zeros(n)], [np.full(n, -1)]
    for axis in range(3):
        ca, cb = np.floor(A[:, axis]), np.floor(B[:, axis])
        count = np.abs(cb - ca).astype(np.int64)
        seg = np.repeat(np.arange(n), count)
        if len(seg) == 0:
            continue
        k = np.arange(len(seg)) - np.repeat(np.cumsum(count) - count, count)  # 0..count-1
        step = np.sign(cb - ca)[seg]
        plane = np.where(step > 0, ca[seg] + 1 + k, ca[seg] - k)
        t = (plane - A[seg, axis]) / (B[seg, axis] - A[seg, axis])
        seg_parts.append(seg)
        t_parts.append(t)
        axis_parts.append(np.full(len(seg), axis))
    seg = np.concatenate(seg_parts)
    t = np.concatenate(t_parts)
    axis = np.concatenate(axis_parts)
    order = lexsort2(t, seg)
    seg, t, axis = seg[order], t[order], axis[order]
    last = np.r_[seg[1:] != seg[:-1], True]
    t1 = np.where(last, 1.0, np.r_[t[1:], 1.0])
    exit_axis = np.where(last, -1, np.r_[axis[1:], -1])
    mid = (t + t1) / 2
    point = A[seg] + mid[:, None] * (B[seg] - A[seg])
    chunk = np.floor(point).astype(np.int64)
    direction = np.sign(B[seg] - A[seg])
    # Entering through the face we crossed: moving +x we enter by the low x face (0).
    entry = np.where(axis >= 0, axis * 2 + (direction[np.arange(len(seg)), np.maximum(axis, 0)]
                                             < 0), -1)
    leave = np.where(exit_axis >= 0,
                     exit_axis * 2 + (direction[np.arange(len(seg)), np.maximum(exit_axis, 0)]
                                      > 0), -1)
    return seg, t, t1, chunk, entry, leave


def ball_chunks(meta: GraphMeta, centre: np.ndarray, radius: np.ndarray):
    """Every chunk whose box meets each ball. Returns (ball index, chunk coords)."""
    lo = meta.chunk_of_nm(centre - radius[:, None])
    hi = meta.chunk_of_nm(centre + radius[:, None])
    span = hi - lo + 1
    count = span.prod(axis=1)
    ball = np.repeat(np.arange(len(centre)), count)
    k = np.arange(len(ball)) - np.repeat(np.cumsum(count) - count, count)
    sy, sz = span[ball, 1], span[ball, 2]
    off = np.stack([k // (sy * sz), (k // sz) % sy, k % sz], axis=1)
    chunk = lo[ball] + off
    box_lo = meta.origin_nm + chunk * meta.chunk_nm
    nearest = np.clip(centre[ball], box_lo, box_lo + meta.chunk_nm)
    keep = np.linalg.norm(nearest - centre[ball], axis=1) <= radius[ball]
    return ball[keep], chunk[keep]


# --- the geometry at run time ----------------------------------------------------------------


@dataclass
class Geometry:
    """The demo neurons: somas, segments and which supervoxel each piece belongs to."""

    meta: GraphMeta
    soma_centre: np.ndarray  # (cells, 3) nm
    soma_radius: np.ndarray  # (cells,)
    seg_a: np.ndarray  # (segments, 3) nm
    seg_b: np.ndarray
    seg_radius: np.ndarray
    seg_cell: np.ndarray
    # pieces, sorted by chunk key: kind 0 = segment piece (ref = segment), 1 = soma (ref = cell)
    piece_key: np.ndarray
    piece_kind: np.ndarray
    piece_ref: np.ndarray
    piece_sv: np.ndarray
    piece_t0: np.ndarray
    piece_t1: np.ndarray

    @classmethod
    def from_cursor(cls, cursor, meta: GraphMeta, schema: str = "demo") -> Geometry:
        somas = cursor.execute(
            f"SELECT x, y, z, radius FROM {schema}.geo_somas ORDER BY cell").fetchnumpy()
        segs = cursor.execute(
            f"SELECT ax, ay, az, bx, \"by\", bz, radius, cell FROM {schema}.geo_segments "
            "ORDER BY seg").fetchnumpy()
        pieces = cursor.execute(
            f"SELECT chunk, kind, ref, sv, t0, t1 FROM {schema}.geo_pieces ORDER BY chunk"
        ).fetchnumpy()
        return cls(
            meta=meta,
            soma_centre=np.stack([somas[k] for k in "xyz"], axis=1),
            soma_radius=somas["radius"],
            seg_a=np.stack([segs["ax"], segs["ay"], segs["az"]], axis=1),
            seg_b=np.stack([segs["bx"], segs["by"], segs["bz"]], axis=1),
            seg_radius=segs["radius"],
            seg_cell=segs["cell"],
            piece_key=pieces["chunk"], piece_kind=pieces["kind"], piece_ref=pieces["ref"],
            piece_sv=pieces["sv"].astype(np.uint64), piece_t0=pieces["t0"],
            piece_t1=pieces["t1"],
        )

    # --- labels ------------------------------------------------------------------------

    def supervoxel_at(self, points_nm) -> np.ndarray:
        """The supervoxel id at each point (nm), 0 where no cell is."""
        p = np.asarray(points_nm, dtype=float).reshape(-1, 3)
        out = np.zeros(len(p), dtype=np.uint64)
        for lo in range(0, len(p), LABEL_BATCH):
            out[lo:lo + LABEL_BATCH] = self._primitives.label(p[lo:lo + LABEL_BATCH])
        return out

    def supervoxel_at_voxels(self, points, resolution) -> np.ndarray:
        """supervoxel_at for points given in voxels of `resolution` (nm per voxel)."""
        return self.supervoxel_at(np.asarray(points, float) * np.asarray(resolution, float))

    def _depth(self, p: np.ndarray, cand: np.ndarray) -> np.ndarray:
        """distance − radius of points p to the primitives of pieces `cand`."""
        prims = self._primitives
        return prims.depth(np.asarray(p, float), prims.of_piece[cand])

    @cached_property
    def _primitives(self) -> _Primitives:
        return _Primitives(self)

    def labels_in_box(self, lo_nm, hi_nm, step_nm) -> np.ndarray:
        """Supervoxel ids on the grid lo + (i + ½)·step inside [lo, hi): shape (nx, ny, nz)."""
        lo, hi, step = (np.asarray(v, float) for v in (lo_nm, hi_nm, step_nm))
        axes = [np.arange(lo[i] + step[i] / 2, hi[i], step[i]) for i in range(3)]
        grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
        return self.supervoxel_at(grid.reshape(-1, 3)).reshape(grid.shape[:3])

    def capsules_of(self, svs) -> dict:
        """The primitives painting supervoxels `svs`: {"segments": (a, b, radius, sv, t0, t1),
        "somas": (centre, radius, sv)}; a segment piece covers t in [t0, t1] of a→b."""
        want = np.isin(self.piece_sv, np.asarray(svs, dtype=np.uint64))
        seg = want & (self.piece_kind == 0)
        soma = want & (self.piece_kind == 1)
        s, c = self.piece_ref[seg], self.piece_ref[soma]
        return {
            "segments": (self.seg_a[s], self.seg_b[s], self.seg_radius[s], self.piece_sv[seg],
                         self.piece_t0[seg], self.piece_t1[seg]),
            "somas": (self.soma_centre[c], self.soma_radius[c], self.piece_sv[soma]),
        }

    def pieces_of(self, svs) -> np.ndarray:
        """Indices of the pieces of supervoxels `svs`, ascending."""
        svs = np.unique(np.asarray(svs, dtype=np.uint64))
        return np.sort(self.pieces_by_sv(svs)[1])

    def pieces_by_sv(self, svs) -> tuple[np.ndarray, np.ndarray]:
        """The pieces of each of `svs` in turn (each one's in piece order), and how many each
        has: (count per supervoxel, piece indices)."""
        order, sorted_sv = self._sv_index
        svs = np.asarray(svs, dtype=np.uint64)
        lo = np.searchsorted(sorted_sv, svs, "left")
        count = np.searchsorted(sorted_sv, svs, "right") - lo
        ends = np.cumsum(count)
        n = int(ends[-1]) if len(ends) else 0
        return count, order[np.arange(n) + np.repeat(lo - (ends - count), count)]

    @cached_property
    def _sv_index(self) -> tuple[np.ndarray, np.ndarray]:
        order = np.argsort(self.piece_sv, kind="stable")
        return order, self.piece_sv[order]


class _Primitives:
    """The geometry arranged for labelling points: every primitive as one row (a, b − a,
    |b − a|², radius; a soma is a capsule of length 0 at its centre), and the pieces of every
    level-2 chunk of the grid as a range of the (chunk-sorted) pieces, found by indexing a
    dense table instead of a binary search."""

    def __init__(self, geo: Geometry):
        n_seg = len(geo.seg_a)
        ab = np.concatenate([geo.seg_b - geo.seg_a, np.zeros_like(geo.soma_centre)])
        length2 = np.maximum(np.einsum("ij,ij->i", ab, ab), 1e-12)
        self.rows = np.concatenate([
            np.concatenate([geo.seg_a, geo.soma_centre]), ab, length2[:, None],
            np.concatenate([geo.seg_radius, geo.soma_radius]).astype(float)[:, None]], axis=1)
        self.of_piece = np.where(geo.piece_kind == 0, geo.piece_ref, geo.piece_ref + n_seg)
        meta = geo.meta
        self.grid = np.asarray(meta.grid_shape, dtype=np.int64)
        self.resolution = np.asarray(meta.resolution, float)
        self.offset = np.asarray(meta.voxel_offset, float)
        self.chunk_size = np.asarray(meta.chunk_size, float)
        chunk = unkey(geo.piece_key)
        inside = np.flatnonzero(np.all((chunk >= 0) & (chunk < self.grid), axis=1))
        # pieces are sorted by chunk key, which orders chunks as the flat index below does
        flat = self._flat(chunk[inside])
        cells = int(np.prod(self.grid))
        self.start = np.zeros(cells + 1, np.int32 if len(inside) < 2**31 else np.int64)
        np.cumsum(np.bincount(flat, minlength=cells), out=self.start[1:])
        whole = len(inside) == len(geo.piece_key)
        self.cand_prim = self.of_piece if whole else self.of_piece[inside]
        self.cand_sv = geo.piece_sv if whole else geo.piece_sv[inside]

    def _flat(self, chunk: np.ndarray) -> np.ndarray:
        return (chunk[:, 0] * self.grid[1] + chunk[:, 1]) * self.grid[2] + chunk[:, 2]

    def depth(self, p: np.ndarray, prim: np.ndarray) -> np.ndarray:
        """distance − radius of points p (one per row of prim) to primitives prim."""
        row = self.rows[prim]
        d = p - row[:, 0:3]
        ab = row[:, 3:6]
        t = np.einsum("ij,ij->i", d, ab) / row[:, 6]
        np.clip(t, 0, 1, out=t)
        d -= t[:, None] * ab
        return np.sqrt(np.einsum("ij,ij->i", d, d)) - row[:, 7]

    def label(self, p: np.ndarray) -> np.ndarray:
        """supervoxel_at for one batch: per point the candidate pieces of its chunk, the
        smallest depth, and among the pieces at that depth the smallest supervoxel id."""
        out = np.zeros(len(p), dtype=np.uint64)
        # as meta.chunk_of_nm
        chunk = np.floor((p / self.resolution - self.offset) / self.chunk_size).astype(np.int64)
        inside = np.all((chunk >= 0) & (chunk < self.grid), axis=1)
        flat = np.where(inside, self._flat(chunk), 0)
        lo = self.start[flat]
        count = np.where(inside, self.start[flat + 1] - lo, 0)
        ends = np.cumsum(count)
        n = int(ends[-1]) if len(ends) else 0
        if n == 0:
            return out
        first = ends - count
        cand = np.arange(n) + np.repeat(lo - first, count)
        depth = self.depth(np.repeat(p, count, axis=0), self.cand_prim[cand])
        has = count > 0
        first, count = first[has], count[has]
        best = np.minimum.reduceat(depth, first)
        sv = np.where(depth == np.repeat(best, count), self.cand_sv[cand],
                      np.iinfo(np.uint64).max)
        out[has] = np.where(best <= 0, np.minimum.reduceat(sv, first), 0)
        return out


def point_segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    length2 = np.maximum(np.einsum("ij,ij->i", ab, ab), 1e-12)
    t = np.clip(np.einsum("ij,ij->i", p - a, ab) / length2, 0, 1)
    return np.linalg.norm(p - (a + t[:, None] * ab), axis=1)
