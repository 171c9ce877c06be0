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

Level-2 cache attributes are computed analytically from the pieces (``piece_stats`` and
``l2_attributes``): a capsule piece is a cylinder, a soma piece is sampled on a lattice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .meta import GraphMeta

KEY_BITS = 20  # per axis in a packed chunk key (level-2 chunk coordinates are < 2**10)


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
    order = np.lexsort((t, seg))
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
        if len(p) == 0:
            return out
        chunk = self.meta.chunk_of_nm(p)
        inside = np.all((chunk >= 0) & (chunk < self.meta.grid_shape), axis=1)
        key = chunk_key(np.where(inside[:, None], chunk, 0))
        lo = np.searchsorted(self.piece_key, key, "left")
        hi = np.searchsorted(self.piece_key, key, "right")
        count = np.where(inside, hi - lo, 0)
        point = np.repeat(np.arange(len(p)), count)
        if len(point) == 0:
            return out
        cand = np.repeat(lo, count) + (np.arange(len(point))
                                       - np.repeat(np.cumsum(count) - count, count))
        depth = self._depth(p[point], cand)
        ok = depth <= 0
        point, cand, depth = point[ok], cand[ok], depth[ok]
        if len(point) == 0:
            return out
        order = np.lexsort((self.piece_sv[cand], depth, point))
        point, cand = point[order], cand[order]
        first = np.r_[True, point[1:] != point[:-1]]
        out[point[first]] = self.piece_sv[cand[first]]
        return out

    def supervoxel_at_voxels(self, points, resolution) -> np.ndarray:
        """supervoxel_at for points given in voxels of `resolution` (nm per voxel)."""
        return self.supervoxel_at(np.asarray(points, float) * np.asarray(resolution, float))

    def _depth(self, p: np.ndarray, cand: np.ndarray) -> np.ndarray:
        """distance − radius of points p to the primitives of pieces `cand`."""
        kind, ref = self.piece_kind[cand], self.piece_ref[cand]
        depth = np.empty(len(p))
        soma = kind == 1
        if soma.any():
            r = ref[soma]
            depth[soma] = (np.linalg.norm(p[soma] - self.soma_centre[r], axis=1)
                           - self.soma_radius[r])
        seg = ~soma
        if seg.any():
            s = ref[seg]
            depth[seg] = point_segment_distance(p[seg], self.seg_a[s], self.seg_b[s]) \
                - self.seg_radius[s]
        return depth

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
        """Indices of the pieces of supervoxels `svs`."""
        return np.flatnonzero(np.isin(self.piece_sv, np.asarray(svs, dtype=np.uint64)))

    def piece_stats(self, pieces: np.ndarray) -> PieceStats:
        seg = self.piece_kind[pieces] == 0
        chunks = unkey(self.piece_key[pieces])
        stats = PieceStats.empty(len(pieces))
        if seg.any():
            s = self.piece_ref[pieces[seg]]
            stats.put(seg, cylinder_stats(
                self.meta, self.seg_a[s], self.seg_b[s], self.seg_radius[s],
                self.piece_t0[pieces[seg]], self.piece_t1[pieces[seg]], chunks[seg]))
        if (~seg).any():
            c = self.piece_ref[pieces[~seg]]
            stats.put(~seg, soma_stats(self.meta, c, self.soma_centre, self.soma_radius,
                                       chunks[~seg]))
        return stats


def point_segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    length2 = np.maximum(np.einsum("ij,ij->i", ab, ab), 1e-12)
    t = np.clip(np.einsum("ij,ij->i", p - a, ab) / length2, 0, 1)
    return np.linalg.norm(p - (a + t[:, None] * ab), axis=1)


# --- level-2 cache attributes ----------------------------------------------------------------


@dataclass
class PieceStats:
    """Per-piece moments, summed per level-2 node by l2_attributes."""

    volume: np.ndarray  # nm³
    area: np.ndarray  # nm², faces on the chunk border excluded
    centroid: np.ndarray  # (n, 3) nm
    cov: np.ndarray  # (n, 3, 3) about the centroid, per unit volume
    max_dt: np.ndarray
    mean_dt: np.ndarray
    rep: np.ndarray  # (n, 3) a point inside the piece
    faces: np.ndarray  # (n, 6) voxels on the chunk faces: x_lo, y_lo, z_lo, x_hi, y_hi, z_hi

    @classmethod
    def empty(cls, n: int) -> PieceStats:
        z = np.zeros
        return cls(z(n), z(n), z((n, 3)), z((n, 3, 3)), z(n), z(n), z((n, 3)), z((n, 6)))

    def put(self, mask, other: PieceStats) -> None:
        for name in self.__dataclass_fields__:
            getattr(self, name)[mask] = getattr(other, name)


def cylinder_stats(meta, a, b, radius, t0, t1, chunk) -> PieceStats:
    """A capsule piece as a cylinder of `radius` from a+t0·ab to a+t1·ab."""
    ab = b - a
    p0, p1 = a + t0[:, None] * ab, a + t1[:, None] * ab
    length = np.linalg.norm(p1 - p0, axis=1)
    u = ab / np.maximum(np.linalg.norm(ab, axis=1), 1e-9)[:, None]
    uu = u[:, :, None] * u[:, None, :]
    r2 = radius**2
    cov = (length**2 / 12)[:, None, None] * uu + (r2 / 4)[:, None, None] * (np.eye(3) - uu)
    faces = np.zeros((len(a), 6))
    res = np.asarray(meta.resolution, float)
    face_voxel = np.array([res[1] * res[2], res[0] * res[2], res[0] * res[1]])
    lo, hi = meta.chunk_box_nm(chunk)
    for point in (p0, p1):
        for axis in range(3):
            on_lo = np.isclose(point[:, axis], lo[:, axis], atol=1e-6)
            on_hi = np.isclose(point[:, axis], hi[:, axis], atol=1e-6)
            cross = np.pi * r2 / face_voxel[axis]
            faces[on_lo, axis] += cross[on_lo]
            faces[on_hi, axis + 3] += cross[on_hi]
    mid = (p0 + p1) / 2
    return PieceStats(
        volume=np.pi * r2 * length, area=2 * np.pi * radius * length, centroid=mid, cov=cov,
        max_dt=radius.copy(), mean_dt=radius / 3, rep=mid, faces=faces)


_LATTICE_STEP = 0.2  # soma lattice spacing, in soma radii


def _unit_lattice() -> np.ndarray:
    g = np.arange(-1 + _LATTICE_STEP / 2, 1, _LATTICE_STEP)
    pts = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
    return pts[np.linalg.norm(pts, axis=1) <= 1]


_LATTICE = _unit_lattice()


def soma_stats(meta, cells, centre, radius, chunk, batch: int = 2000) -> PieceStats:
    """Soma ∩ chunk for pieces (cell, chunk) of balls centre[cell], radius[cell], measured on
    a lattice of each ball; a sliver without a lattice point gets one voxel at the point of
    the ball nearest the chunk."""
    cells = np.asarray(cells, dtype=np.int64)
    stats = PieceStats.empty(len(cells))
    voxel = float(np.prod(meta.resolution))
    unique = np.unique(cells)
    m = len(_LATTICE)
    for start in range(0, len(unique), batch):
        group_cells = unique[start:start + batch]
        owner = np.repeat(group_cells, m)
        pts = centre[owner] + radius[owner, None] * np.tile(_LATTICE, (len(group_cells), 1))
        key = owner * (1 << 3 * KEY_BITS) + chunk_key(meta.chunk_of_nm(pts))
        order = np.argsort(key, kind="stable")
        key, owner, pts = key[order], owner[order], pts[order]
        sel = np.isin(cells, group_cells)
        want_key = cells[sel] * (1 << 3 * KEY_BITS) + chunk_key(chunk[sel])
        lo = np.searchsorted(key, want_key, "left")
        hi = np.searchsorted(key, want_key, "right")
        sub = _lattice_group_stats(meta, pts, owner, centre, radius, lo, hi, chunk[sel],
                                   cells[sel], voxel)
        stats.put(sel, sub)
    return stats


def _lattice_group_stats(meta, pts, owner, centre, radius, lo, hi, chunk, first_cell,
                         voxel) -> PieceStats:
    n = len(lo)
    count = (hi - lo).astype(np.int64)
    piece = np.repeat(np.arange(n), count)
    idx = np.repeat(lo, count) + (np.arange(len(piece)) - np.repeat(np.cumsum(count) - count,
                                                                    count))
    p, c = pts[idx], owner[idx]
    step = _LATTICE_STEP * radius
    dt = radius[c] - np.linalg.norm(p - centre[c], axis=1)
    stats = PieceStats.empty(n)
    safe = np.maximum(count, 1).astype(float)
    box_lo, box_hi = meta.chunk_box_nm(chunk)
    sliver = np.clip(centre[first_cell], box_lo + 1, box_hi - 1)
    stats.volume = np.where(count > 0, count * step[first_cell] ** 3, voxel)
    centroid = np.stack([np.bincount(piece, p[:, i], n) for i in range(3)], 1) / safe[:, None]
    second = np.zeros((n, 3, 3))
    np.add.at(second, piece, p[:, :, None] * p[:, None, :])
    stats.cov = (second / safe[:, None, None] - centroid[:, :, None] * centroid[:, None, :]
                 + np.eye(3) * (step[first_cell] ** 2 / 12)[:, None, None])
    np.maximum.at(stats.max_dt, piece, dt)
    stats.mean_dt = np.bincount(piece, dt, n) / safe
    shell = dt < step[c]
    stats.area = np.bincount(piece[shell], minlength=n) * step[first_cell] ** 2
    stats.rep = sliver
    if len(piece):
        order = np.lexsort((-dt, piece))
        first = order[np.r_[True, piece[order][1:] != piece[order][:-1]]]
        stats.rep[piece[first]] = p[first]
    empty = count == 0
    stats.centroid = np.where(empty[:, None], sliver, centroid)
    stats.cov[empty] = 0
    return stats


L2_ATTRIBUTES = ("area_nm2", "chunk_intersect_count", "max_dt_nm", "mean_dt_nm", "pca",
                 "pca_val", "rep_coord_nm", "size_nm3")
PCA_MIN_VOLUME = 1e7  # nm³: the real cache leaves pca out below 0.01 µm³


def l2_attributes(meta: GraphMeta, stats: PieceStats, group: np.ndarray, n_groups: int) -> dict:
    """Level-2 attributes of groups of pieces (group[i] = the level-2 node of piece i)."""
    voxel = float(np.prod(meta.resolution))
    vol = np.bincount(group, stats.volume, n_groups)
    safe = np.maximum(vol, 1e-9)
    centroid = np.stack([np.bincount(group, stats.volume * stats.centroid[:, i], n_groups)
                         for i in range(3)], 1) / safe[:, None]
    second = np.zeros((n_groups, 3, 3))
    outer = stats.cov + stats.centroid[:, :, None] * stats.centroid[:, None, :]
    np.add.at(second, group, stats.volume[:, None, None] * outer)
    cov = second / safe[:, None, None] - centroid[:, :, None] * centroid[:, None, :]
    values, vectors = np.linalg.eigh(cov)
    values, vectors = values[:, ::-1].clip(0), vectors[:, :, ::-1]
    n_points = np.minimum(vol / voxel, 10_000)
    max_dt = np.zeros(n_groups)
    np.maximum.at(max_dt, group, stats.max_dt)
    mean_dt = np.bincount(group, stats.volume * stats.mean_dt, n_groups) / safe
    faces = np.zeros((n_groups, 6))
    np.add.at(faces, group, stats.faces)
    # rep_coord: the piece point nearest the node's centroid (always inside the node).
    dist = np.linalg.norm(stats.rep - centroid[group], axis=1)
    order = np.lexsort((dist, group))
    first = order[np.r_[True, group[order][1:] != group[order][:-1]]]
    rep = np.zeros((n_groups, 3))
    rep[group[first]] = stats.rep[first]
    # A node holds at least the voxel its piece passes through (a capsule clipping a chunk
    # corner is thinner than a voxel but still labels one), and a voxel set that does not
    # fill its chunk has at least one face inside it: no level-2 node is empty.
    present = np.bincount(group, minlength=n_groups) > 0
    res = np.asarray(meta.resolution, float)
    voxels = np.where(present, np.maximum(np.round(vol / voxel), 1), 0)
    area = np.round(np.bincount(group, stats.area, n_groups))
    area = np.where(present, np.maximum(area, np.min([res[0] * res[1], res[0] * res[2],
                                                      res[1] * res[2]])), 0)
    return {
        "size_nm3": voxels * voxel,
        "area_nm2": area,
        "max_dt_nm": np.round(max_dt),
        "mean_dt_nm": mean_dt,
        "rep_coord_nm": rep,
        "pca": np.transpose(vectors, (0, 2, 1)),  # rows = components
        "pca_val": np.sqrt(values * n_points[:, None]),
        "chunk_intersect_count": np.minimum(np.round(faces), 65535).reshape(-1, 2, 3),
    }
