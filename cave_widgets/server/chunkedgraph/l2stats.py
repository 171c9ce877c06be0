"""Level-2 cache attributes, computed analytically from the geometry's pieces (geometry.py): a
capsule piece is a cylinder, a soma piece is measured on a lattice of its ball. Each piece
gets its moments (``piece_stats``); a level-2 node sums the moments of its pieces
(``l2_attributes``; storage.l2_table gathers the pieces of each node).

Everything is whole-array work on one-dimensional columns (a covariance is its six distinct
entries xx, xy, xz, yy, yz, zz): sums per node are ``bincount``s, maxima and arg-maxima per
node are ``reduceat``s over rows sorted by node, and the principal axes come from a
closed-form 3×3 symmetric eigensolver (``eigh3``) rather than a LAPACK call per node.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .geometry import Geometry, unkey
from .meta import GraphMeta
from .sorting import distinct, stable_argsort

L2_ATTRIBUTES = (
    "area_nm2",
    "chunk_intersect_count",
    "max_dt_nm",
    "mean_dt_nm",
    "pca",
    "pca_val",
    "rep_coord_nm",
    "size_nm3",
)
PCA_MIN_VOLUME = 1e7  # nm³: the real cache leaves pca out below 0.01 µm³
_SYMMETRIC = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))  # a covariance's columns
EIGH_BATCH = 1 << 14  # matrices solved at once: the temporaries stay in the CPU's cache


@dataclass
class PieceStats:
    """Per-piece moments, summed per level-2 node by l2_attributes."""

    volume: np.ndarray  # nm³
    area: np.ndarray  # nm², faces on the chunk border excluded
    centroid: np.ndarray  # (n, 3) nm
    cov: np.ndarray  # (n, 6) about the centroid, per unit volume: xx, xy, xz, yy, yz, zz
    max_dt: np.ndarray
    mean_dt: np.ndarray
    rep: np.ndarray  # (n, 3) a point inside the piece
    faces: np.ndarray  # (n, 6) voxels on the chunk faces: x_lo, y_lo, z_lo, x_hi, y_hi, z_hi

    @classmethod
    def empty(cls, n: int) -> PieceStats:
        z = np.zeros
        return cls(z(n), z(n), z((n, 3)), z((n, 6)), z(n), z(n), z((n, 3)), z((n, 6)))

    def put(self, mask, other: PieceStats) -> None:
        for name in self.__dataclass_fields__:
            getattr(self, name)[mask] = getattr(other, name)

    def take(self, order: np.ndarray) -> PieceStats:
        return PieceStats(*(getattr(self, f)[order] for f in self.__dataclass_fields__))


def piece_stats(geo: Geometry, pieces: np.ndarray) -> PieceStats:
    seg = geo.piece_kind[pieces] == 0
    chunks = unkey(geo.piece_key[pieces])
    if seg.all():
        s = geo.piece_ref[pieces]
        return cylinder_stats(
            geo.meta,
            geo.seg_a[s],
            geo.seg_b[s],
            geo.seg_radius[s],
            geo.piece_t0[pieces],
            geo.piece_t1[pieces],
            chunks,
        )
    stats = PieceStats.empty(len(pieces))
    if seg.any():
        s = geo.piece_ref[pieces[seg]]
        stats.put(
            seg,
            cylinder_stats(
                geo.meta,
                geo.seg_a[s],
                geo.seg_b[s],
                geo.seg_radius[s],
                geo.piece_t0[pieces[seg]],
                geo.piece_t1[pieces[seg]],
                chunks[seg],
            ),
        )
    if (~seg).any():
        c = geo.piece_ref[pieces[~seg]]
        stats.put(~seg, soma_stats(geo.meta, c, geo.soma_centre, geo.soma_radius, chunks[~seg]))
    return stats


def cylinder_stats(meta, a, b, radius, t0, t1, chunk) -> PieceStats:
    """A capsule piece as a cylinder of `radius` from a+t0·ab to a+t1·ab: about its
    centre, (length²/12)·uuᵀ along the axis u plus (radius²/4)·(I − uuᵀ) across it."""
    ab = b - a
    p0, p1 = a + t0[:, None] * ab, a + t1[:, None] * ab
    length = np.linalg.norm(p1 - p0, axis=1)
    u = ab / np.maximum(np.linalg.norm(ab, axis=1), 1e-9)[:, None]
    r2 = np.asarray(radius, float) ** 2
    across = r2 / 4
    along = length**2 / 12 - across
    cov = np.empty((len(a), 6))
    for k, (i, j) in enumerate(_SYMMETRIC):
        cov[:, k] = along * (u[:, i] * u[:, j])
        if i == j:
            cov[:, k] += across
    faces = np.zeros((len(a), 6))
    res = np.asarray(meta.resolution, float)
    face_voxel = np.array([res[1] * res[2], res[0] * res[2], res[0] * res[1]])
    lo, hi = meta.chunk_box_nm(chunk)
    for point in (p0, p1):
        for axis in range(3):
            cross = np.pi * r2 / face_voxel[axis]
            for side, bound in ((axis, lo[:, axis]), (axis + 3, hi[:, axis])):
                # np.isclose(point, bound, atol=1e-6) without its generality
                on = np.abs(point[:, axis] - bound) <= 1e-6 + 1e-5 * np.abs(bound)
                faces[on, side] += cross[on]
    mid = (p0 + p1) / 2
    return PieceStats(
        volume=np.pi * r2 * length,
        area=2 * np.pi * radius * length,
        centroid=mid,
        cov=cov,
        max_dt=np.array(radius, float),
        mean_dt=radius / 3,
        rep=mid,
        faces=faces,
    )


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
    grid = np.asarray(meta.grid_shape, dtype=np.int64)

    def key(cell, c):  # (cell, chunk) as one integer; chunks outside the grid never match
        c = np.clip(c, -1, grid)
        flat = ((c[:, 0] + 1) * (grid[1] + 2) + c[:, 1] + 1) * (grid[2] + 2) + c[:, 2] + 1
        return cell * int(np.prod(grid + 2)) + flat

    unique = distinct(cells)
    m = len(_LATTICE)
    for start in range(0, len(unique), batch):
        group_cells = unique[start : start + batch]
        owner = np.repeat(group_cells, m)
        pts = centre[owner] + radius[owner, None] * np.tile(_LATTICE, (len(group_cells), 1))
        # (cell, chunk) then lattice order, by one sort: cells are increasing and points of
        # a cell consecutive, so the rank of (cell, point) is the position
        k = key(np.repeat(np.arange(len(group_cells)), m), meta.chunk_of_nm(pts))
        order = stable_argsort(k)
        k, owner, pts = k[order], owner[order], pts[order]
        sel = (cells >= group_cells[0]) & (cells <= group_cells[-1])
        want = key(np.searchsorted(group_cells, cells[sel]), chunk[sel])
        lo = np.searchsorted(k, want, "left")
        hi = np.searchsorted(k, want, "right")
        sub = _lattice_group_stats(
            meta, pts, owner, centre, radius, lo, hi, chunk[sel], cells[sel], voxel
        )
        stats.put(sel, sub)
    return stats


def _lattice_group_stats(
    meta, pts, owner, centre, radius, lo, hi, chunk, first_cell, voxel
) -> PieceStats:
    n = len(lo)
    count = (hi - lo).astype(np.int64)
    ends = np.cumsum(count)
    piece = np.repeat(np.arange(n), count)
    idx = np.arange(len(piece)) + np.repeat(lo - (ends - count), count)
    p, c = pts[idx], owner[idx]
    step = _LATTICE_STEP * radius
    dt = radius[c] - np.linalg.norm(p - centre[c], axis=1)
    stats = PieceStats.empty(n)
    safe = np.maximum(count, 1).astype(float)
    box_lo, box_hi = meta.chunk_box_nm(chunk)
    sliver = np.clip(centre[first_cell], box_lo + 1, box_hi - 1)
    stats.volume = np.where(count > 0, count * step[first_cell] ** 3, voxel)
    centroid = np.stack([np.bincount(piece, p[:, i], n) for i in range(3)], 1) / safe[:, None]
    blur = step[first_cell] ** 2 / 12  # each lattice point stands for a cube of side step
    for k, (i, j) in enumerate(_SYMMETRIC):
        stats.cov[:, k] = (
            np.bincount(piece, p[:, i] * p[:, j], n) / safe
            - centroid[:, i] * centroid[:, j]
            + (blur if i == j else 0)
        )
    stats.mean_dt = np.bincount(piece, dt, n) / safe
    shell = dt < step[c]
    stats.area = np.bincount(piece[shell], minlength=n) * step[first_cell] ** 2
    stats.rep = sliver
    full = np.flatnonzero(count > 0)
    if len(full):
        # rows are grouped by piece: per piece the deepest point (the first of equals)
        starts = (ends - count)[full]
        deepest = np.maximum.reduceat(dt, starts)
        stats.max_dt[full] = np.maximum(deepest, 0)
        at = np.flatnonzero(dt == np.repeat(deepest, count[full]))
        first = at[np.r_[True, piece[at][1:] != piece[at][:-1]]]
        stats.rep[piece[first]] = p[first]
    empty = count == 0
    stats.centroid = np.where(empty[:, None], sliver, centroid)
    stats.cov[empty] = 0
    return stats


def l2_attributes(meta: GraphMeta, stats: PieceStats, group: np.ndarray, n_groups: int) -> dict:
    """Level-2 attributes of groups of pieces (group[i] = the level-2 node of piece i)."""
    group = np.asarray(group, dtype=np.int64)
    if len(group) > 1 and np.any(group[1:] < group[:-1]):
        order = stable_argsort(group)
        group, stats = group[order], stats.take(order)
    voxel = float(np.prod(meta.resolution))
    vol = np.bincount(group, stats.volume, n_groups)
    safe = np.maximum(vol, 1e-9)
    centroid = (
        np.stack(
            [np.bincount(group, stats.volume * stats.centroid[:, i], n_groups) for i in range(3)], 1
        )
        / safe[:, None]
    )
    # Σ volume·(cov + c cᵀ) per node, then about the node's centroid
    cov = []
    for k, (i, j) in enumerate(_SYMMETRIC):
        w = stats.volume * (stats.cov[:, k] + stats.centroid[:, i] * stats.centroid[:, j])
        cov.append(np.bincount(group, w, n_groups) / safe - centroid[:, i] * centroid[:, j])
    values, vectors = eigh3(*cov)
    n_points = np.minimum(vol / voxel, 10_000)
    pca_val = np.stack([np.sqrt(np.clip(v, 0, None) * n_points) for v in values[::-1]], 1)
    pca = np.empty((n_groups, 3, 3))  # rows = components, the largest first
    for row, vec in enumerate(vectors[::-1]):
        for axis in range(3):
            pca[:, row, axis] = vec[axis]
    mean_dt = np.bincount(group, stats.volume * stats.mean_dt, n_groups) / safe
    faces = np.stack([np.bincount(group, stats.faces[:, i], n_groups) for i in range(6)], 1)
    # Per present node (rows are sorted by node): the largest max_dt, and as rep_coord the
    # piece point nearest the node's centroid (always inside the node; the first of equals).
    size = np.bincount(group, minlength=n_groups)
    present = size > 0
    nodes = np.flatnonzero(present)
    max_dt = np.zeros(n_groups)
    rep = np.zeros((n_groups, 3))
    if len(nodes):
        starts = np.cumsum(size)[nodes] - size[nodes]
        max_dt[nodes] = np.maximum(np.maximum.reduceat(stats.max_dt, starts), 0)
        dist = np.linalg.norm(stats.rep - centroid[group], axis=1)
        at = np.flatnonzero(dist == np.repeat(np.minimum.reduceat(dist, starts), size[nodes]))
        first = at[np.r_[True, group[at][1:] != group[at][:-1]]]
        rep[group[first]] = stats.rep[first]
    # A node holds at least the voxel its piece passes through (a capsule clipping a chunk
    # corner is thinner than a voxel but still labels one), and a voxel set that does not
    # fill its chunk has at least one face inside it: no level-2 node is empty.
    res = np.asarray(meta.resolution, float)
    voxels = np.where(present, np.maximum(np.round(vol / voxel), 1), 0)
    area = np.round(np.bincount(group, stats.area, n_groups))
    area = np.where(
        present, np.maximum(area, np.min([res[0] * res[1], res[0] * res[2], res[1] * res[2]])), 0
    )
    return {
        "size_nm3": voxels * voxel,
        "area_nm2": area,
        "max_dt_nm": np.round(max_dt),
        "mean_dt_nm": mean_dt,
        "rep_coord_nm": rep,
        "pca": pca,
        "pca_val": pca_val,
        "chunk_intersect_count": np.minimum(np.round(faces), 65535).reshape(-1, 2, 3),
    }


# --- closed-form eigen-decomposition of symmetric 3×3 matrices ------------------------------


def _cross(u, v):
    return (u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0])


def _dot(u, v):
    return u[0] * v[0] + u[1] * v[1] + u[2] * v[2]


def _pick(mask, u, v):
    return tuple(np.where(mask, x, y) for x, y in zip(u, v))


def symmetric_eigh3(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.linalg.eigh for symmetric 3×3 matrices (n, 3, 3): eigenvalues ascending (n, 3) and
    unit eigenvectors as columns (n, 3, 3), by ``eigh3``."""
    a = np.asarray(a, dtype=float)
    values, vectors = eigh3(*(a[:, i, j] for i, j in _SYMMETRIC))
    return np.stack(values, 1), np.stack([np.stack(v, 1) for v in vectors], 2)


def eigh3(a00, a01, a02, a11, a12, a22):
    """Eigenvalues (ascending) and unit eigenvectors of symmetric 3×3 matrices given by their
    six distinct entries (arrays), without a LAPACK call per matrix: the trigonometric
    solution for the values, cross products of the rows of A − λI for the vector of the most
    isolated value, then the 2×2 problem in the plane orthogonal to it (D. Eberly, "A Robust
    Eigensolver for 3 × 3 Symmetric Matrices"); the values are then refined from the vectors
    (the trigonometric ones lose digits where two coincide, as for a single cylinder). Vectors
    of repeated values are any orthonormal basis of their space, as with LAPACK.

    Returns ((λ0, λ1, λ2), (v0, v1, v2)) with each vector a tuple (x, y, z) of arrays."""
    entries = [np.asarray(x, dtype=float) for x in (a00, a01, a02, a11, a12, a22)]
    n = len(entries[0])
    values, vectors = (
        [np.empty(n) for _ in range(3)],
        [[np.empty(n) for _ in range(3)] for _ in range(3)],
    )
    with np.errstate(divide="ignore", invalid="ignore"):  # diagonal rows, replaced below
        for lo in range(0, n, EIGH_BATCH):  # a long chain of array operations: cache-sized
            part = slice(lo, lo + EIGH_BATCH)
            vals, vecs = _eigh3(*(x[part] for x in entries))
            for k in range(3):
                values[k][part] = vals[k]
                for axis in range(3):
                    vectors[k][axis][part] = vecs[k][axis]
    return tuple(values), tuple(tuple(v) for v in vectors)


def _eigh3(a00, a01, a02, a11, a12, a22):
    scale = np.maximum.reduce([np.abs(x) for x in (a00, a01, a02, a11, a12, a22)])
    scale = np.where(scale > 0, scale, 1.0)
    a00, a01, a02, a11, a12, a22 = (x / scale for x in (a00, a01, a02, a11, a12, a22))
    rows = ((a00, a01, a02), (a01, a11, a12), (a02, a12, a22))

    def times(v):  # A·v
        return tuple(_dot(r, v) for r in rows)

    off = a01 * a01 + a02 * a02 + a12 * a12
    q = (a00 + a11 + a22) / 3
    b00, b11, b22 = a00 - q, a11 - q, a22 - q
    p = np.sqrt((b00 * b00 + b11 * b11 + b22 * b22 + 2 * off) / 6)
    safe_p = np.where(p > 0, p, 1.0)
    det = (
        b00 * (b11 * b22 - a12 * a12)
        - a01 * (a01 * b22 - a12 * a02)
        + a02 * (a01 * a12 - b11 * a02)
    ) / safe_p**3
    half = np.clip(det / 2, -1, 1)
    angle = np.arccos(half) / 3
    # The most isolated value is the largest when half ≥ 0, else the smallest.
    top = half >= 0
    lone = q + p * np.where(top, 2 * np.cos(angle), 2 * np.cos(angle + 2 * np.pi / 3))
    r0, r1, r2 = (a00 - lone, a01, a02), (a01, a11 - lone, a12), (a02, a12, a22 - lone)
    c01, c02, c12 = _cross(r0, r1), _cross(r0, r2), _cross(r1, r2)
    d01, d02, d12 = _dot(c01, c01), _dot(c02, c02), _dot(c12, c12)
    use01 = (d01 >= d02) & (d01 >= d12)  # the longest cross product (the first of equals)
    use02 = ~use01 & (d02 >= d12)
    w = _pick(use01, c01, _pick(use02, c02, c12))
    norm = np.sqrt(np.maximum(np.where(use01, d01, np.where(use02, d02, d12)), 1e-300))
    w = tuple(x / norm for x in w)
    # {u, v, w} orthonormal and right-handed
    x_big = np.abs(w[0]) > np.abs(w[1])
    inv = 1 / np.sqrt(np.where(x_big, w[0] * w[0] + w[2] * w[2], w[1] * w[1] + w[2] * w[2]))
    zero = np.zeros_like(inv)
    u = _pick(x_big, (-w[2] * inv, zero, w[0] * inv), (zero, w[2] * inv, -w[1] * inv))
    v = _cross(w, u)
    # refined values: w's Rayleigh quotient, and the 2×2 problem in {u, v}
    lone = _dot(w, times(w))
    mu, mv = times(u), times(v)
    uu, uv, vv = _dot(u, mu), _dot(u, mv), _dot(v, mv)
    centre, spread = (uu + vv) / 2, np.hypot((uu - vv) / 2, uv)
    mid = np.where(top, centre + spread, centre - spread)
    other = np.where(top, centre - spread, centre + spread)
    m00, m01, m11 = uu - mid, uv, vv - mid
    # a unit (s, t) with [[m00, m01], [m01, m11]]·(s, t) = 0, from the larger row
    use0 = np.abs(m00) >= np.abs(m11)
    x = np.where(use0, m00, m11)  # the row's diagonal entry
    big = np.maximum(np.abs(x), np.abs(m01))
    by_x = np.abs(x) >= np.abs(m01)
    ratio = np.where(by_x, m01 / np.where(x != 0, x, 1.0), x / np.where(m01 != 0, m01, 1.0))
    scale_st = 1 / np.sqrt(1 + ratio * ratio)
    s = np.where(by_x, scale_st, ratio * scale_st)  # along the diagonal entry
    t = np.where(by_x, ratio * scale_st, scale_st)  # along m01
    # row 0 (m00, m01): E = m01·u − m00·v; row 1 (m01, m11): E = m11·u − m01·v
    cu, cv = np.where(use0, t, s), np.where(use0, s, t)
    second = _pick(big > 0, tuple(cu * a - cv * b for a, b in zip(u, v)), u)
    first = _cross(second, w)  # completes a right-handed set with the isolated vector
    values = [np.where(top, other, lone), mid, np.where(top, lone, other)]
    vectors = [_pick(top, first, w), second, _pick(top, w, _cross(w, second))]
    for i, j in ((0, 1), (1, 2), (0, 1)):  # only near-equal values can come out of order
        swap = values[i] > values[j]
        if swap.any():
            values[i], values[j] = (
                np.where(swap, values[j], values[i]),
                np.where(swap, values[i], values[j]),
            )
            vectors[i], vectors[j] = (
                _pick(swap, vectors[j], vectors[i]),
                _pick(swap, vectors[i], vectors[j]),
            )
    # a diagonal matrix (or a multiple of the identity) is its own decomposition
    diag = off == 0
    if diag.any():
        d = np.stack([a00, a11, a22], axis=1)[diag]
        o = np.argsort(d, axis=1, kind="stable")
        eye = np.eye(3)
        for k in range(3):
            values[k][diag] = d[np.arange(len(d)), o[:, k]]
            vectors[k] = tuple(np.array(c, copy=True) for c in vectors[k])
            for axis in range(3):
                vectors[k][axis][diag] = eye[o[:, k], axis]
    return tuple(val * scale for val in values), tuple(vectors)
