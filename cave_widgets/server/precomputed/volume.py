"""The demo segmentation as a precomputed multiscale volume: the neuron geometry rasterised
into supervoxel labels, chunk by chunk on request, then relabelled with root ids.

Levels go from 256 nm voxels (isotropic) by halving down to ~2 um. A voxel takes the
supervoxel of the primitive it lies deepest in, as the geometry's ``supervoxel_at`` does,
with one change that matters at these resolutions: a branch paints every voxel whose centre
lies within ``max(radius, half the voxel's diagonal)`` of the part of its centre line the
supervoxel covers, so every neurite (axons are 0.3 um thick) is at least one voxel wide and
unbroken, at every level. Somas paint their ball inside each level-2 chunk, as their
supervoxels are cut.

Supervoxel labels never change, so each chunk is encoded once (compressed_segmentation) and
kept; a request then only maps the chunk's few table entries to roots at the moment it asks
for. So one cached chunk serves every moment, and root ids are exact for each.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from ..chunkedgraph.geometry import Geometry, chunk_key, point_segment_distance, unkey
from ..demo.em_image import ScaleLevel
from ..demo.segmentation import VOLUME_MAX, VOLUME_MIN, VOXEL_NM
from . import compressed_segmentation as cseg

FINEST_NM = 256.0
CHUNK_SIZE = (64, 64, 64)
COARSEST_MAX_SIZE = 600  # stop halving once the whole volume fits this many voxels across
CANDIDATE_BATCH = 2_000_000  # voxel tests per step when rasterising (bounds memory)


def _levels() -> tuple[ScaleLevel, ...]:
    low_nm = VOLUME_MIN * VOXEL_NM
    high_nm = VOLUME_MAX * VOXEL_NM
    levels, res = [], FINEST_NM
    while True:
        resolution = np.array([res, res, res])
        offset = np.floor(low_nm / resolution).astype(np.int64)
        size = np.ceil(high_nm / resolution).astype(np.int64) - offset
        levels.append(ScaleLevel(key=f"{res:g}nm", resolution=(res, res, res),
                                 voxel_offset=tuple(int(v) for v in offset),
                                 size=tuple(int(v) for v in size), chunk_size=CHUNK_SIZE))
        if size.max() <= COARSEST_MAX_SIZE:
            return tuple(levels)
        res *= 2


LEVELS = _levels()
BY_KEY = {level.key: level for level in LEVELS}


def volume_info(mesh: str | None = "mesh", skeletons: str | None = "skeletons",
                segment_properties: str | None = "props") -> dict:
    scales = []
    for level in LEVELS:
        scale = level.info()
        scale["encoding"] = "compressed_segmentation"
        scale["compressed_segmentation_block_size"] = list(cseg.BLOCK)
        scales.append(scale)
    info = {"@type": "neuroglancer_multiscale_volume", "type": "segmentation",
            "data_type": "uint64", "num_channels": 1, "scales": scales}
    for key, value in (("mesh", mesh), ("skeletons", skeletons),
                       ("segment_properties", segment_properties)):
        if value:
            info[key] = value
    return info


def level_of(key: str) -> ScaleLevel:
    level = BY_KEY.get(key)
    if level is None:
        raise LookupError(f"no scale {key!r}; the scales are {', '.join(BY_KEY)}")
    return level


# --- rasterising -----------------------------------------------------------------------------


def supervoxel_labels(geo: Geometry, resolution, start, end) -> np.ndarray:
    """Supervoxel ids of the voxels [start, end) (voxel units of `resolution` nm), shaped
    (z, y, x); 0 where no cell is."""
    res = np.asarray(resolution, float)
    start, end = np.asarray(start, np.int64), np.asarray(end, np.int64)
    shape = end - start  # x, y, z
    out = np.zeros(int(shape.prod()), dtype=np.uint64)
    lo_nm, hi_nm = start * res, end * res
    half_diagonal = 0.5 * float(np.linalg.norm(res))
    pieces = _pieces_near(geo, lo_nm, hi_nm, max(half_diagonal, float(geo.seg_radius.max(
        initial=0.0))))
    if len(pieces) == 0:
        return out.reshape(shape[::-1])
    kind, ref = geo.piece_kind[pieces], geo.piece_ref[pieces]
    soma = kind == 1
    radius = np.where(soma, geo.soma_radius[np.where(soma, ref, 0)],
                      geo.seg_radius[np.where(soma, 0, ref)])
    reach = np.where(soma, radius, np.maximum(radius, half_diagonal))
    # Segment pieces: the part of the centre line the supervoxel covers; somas: the ball.
    s = np.where(soma, 0, ref)
    a, b = geo.seg_a[s], geo.seg_b[s]
    p0 = a + geo.piece_t0[pieces][:, None] * (b - a)
    p1 = a + geo.piece_t1[pieces][:, None] * (b - a)
    centre = geo.soma_centre[np.where(soma, ref, 0)]
    p0[soma] = centre[soma]
    p1[soma] = centre[soma]
    box_lo = np.maximum(np.minimum(p0, p1) - reach[:, None], lo_nm)
    box_hi = np.minimum(np.maximum(p0, p1) + reach[:, None], hi_nm)
    if soma.any():  # a soma piece paints only its own level-2 chunk
        chunk_lo, chunk_hi = geo.meta.chunk_box_nm(unkey(geo.piece_key[pieces[soma]]))
        box_lo[soma] = np.maximum(box_lo[soma], chunk_lo)
        box_hi[soma] = np.minimum(box_hi[soma], chunk_hi)
    # Voxel centres (start + i + 1/2) * res inside the box, one voxel wider each way.
    first = np.clip(np.floor(box_lo / res - 0.5).astype(np.int64) - start, 0, shape - 1)
    last = np.clip(np.ceil(box_hi / res - 0.5).astype(np.int64) - start, 0, shape - 1)
    count = np.where((box_hi > box_lo).all(axis=1)[:, None], last - first + 1, 0)
    per_piece = count.prod(axis=1)
    best_depth = np.full(len(out), np.inf)
    best_sv = out  # filled in place
    done = 0
    while done < len(pieces):
        # as many pieces as fit in one batch of candidate voxels (at least one)
        total = np.cumsum(per_piece[done:])
        stop = done + max(1, int(np.searchsorted(total, CANDIDATE_BATCH, "right")))
        sel = np.arange(done, stop)
        done = stop
        n = per_piece[sel]
        owner = np.repeat(sel, n)
        if len(owner) == 0:
            continue
        k = np.arange(len(owner)) - np.repeat(np.cumsum(n) - n, n)
        cx, cy = count[owner, 0], count[owner, 1]
        idx = first[owner] + np.stack([k % cx, (k // cx) % cy, k // (cx * cy)], axis=1)
        centres = (start + idx + 0.5) * res
        dist = point_segment_distance(centres, p0[owner], p1[owner])
        ok = dist <= reach[owner]
        in_chunk = soma[owner]
        if in_chunk.any():  # the box above is closed: a centre on a face has one chunk
            where = np.flatnonzero(in_chunk)
            own = chunk_key(geo.meta.chunk_of_nm(centres[where])) == geo.piece_key[
                pieces[owner[where]]]
            ok[where] &= own
        owner, idx, depth = owner[ok], idx[ok], (dist - radius[owner])[ok]
        if len(owner) == 0:
            continue
        flat = idx[:, 0] + shape[0] * (idx[:, 1] + shape[1] * idx[:, 2])
        sv = geo.piece_sv[pieces[owner]]
        # deepest wins; equal depths: the smaller supervoxel id (as supervoxel_at)
        order = np.lexsort((sv, depth, flat))
        flat, depth, sv = flat[order], depth[order], sv[order]
        keep = np.r_[True, flat[1:] != flat[:-1]]
        flat, depth, sv = flat[keep], depth[keep], sv[keep]
        better = (depth < best_depth[flat]) | ((depth == best_depth[flat])
                                               & (sv < best_sv[flat]))
        best_depth[flat[better]] = depth[better]
        best_sv[flat[better]] = sv[better]
    return best_sv.reshape(shape[::-1])


def _pieces_near(geo: Geometry, lo_nm, hi_nm, margin: float) -> np.ndarray:
    """Pieces in the level-2 chunks meeting the box grown by `margin` nm."""
    meta = geo.meta
    grid = np.array(meta.grid_shape)
    c_lo = meta.chunk_of_nm(np.asarray(lo_nm) - margin)
    c_hi = meta.chunk_of_nm(np.asarray(hi_nm) + margin)
    if (c_hi < 0).any() or (c_lo >= grid).any():
        return np.zeros(0, np.int64)
    c_lo, c_hi = np.clip(c_lo, 0, grid - 1), np.clip(c_hi, 0, grid - 1)
    axes = [np.arange(c_lo[a], c_hi[a] + 1) for a in range(3)]
    chunks = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    keys = chunk_key(chunks)
    lo = np.searchsorted(geo.piece_key, keys, "left")
    n = np.searchsorted(geo.piece_key, keys, "right") - lo
    if n.sum() == 0:
        return np.zeros(0, np.int64)
    return np.repeat(lo, n) + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))


# --- chunks, cached --------------------------------------------------------------------------


class EncodedChunks:
    """Encoded supervoxel chunks by (level, name), least recently used dropped past `budget`
    bytes. Computing a chunk runs outside the lock: two requests for one chunk may both
    compute it (the same bytes), none waits for another chunk."""

    def __init__(self, geo_of, budget: int = 64 * 2**20):
        self._geo_of = geo_of
        self.budget = budget
        self._held: OrderedDict[tuple[str, str], cseg.Encoded] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.computed = 0  # chunks rasterised (tests read it)

    def get(self, level_key: str, name: str) -> cseg.Encoded:
        level = level_of(level_key)
        key = (level_key, name)
        with self._lock:
            found = self._held.get(key)
            if found is not None:
                self._held.move_to_end(key)
                return found
        start, end = level.chunk_bounds(name)
        encoded = cseg.encode(supervoxel_labels(self._geo_of(), level.resolution, start, end))
        with self._lock:
            self.computed += 1
            if key not in self._held:
                self._held[key] = encoded
                self._size += encoded.nbytes
                while self._size > self.budget and len(self._held) > 1:
                    _, dropped = self._held.popitem(last=False)
                    self._size -= dropped.nbytes
        return encoded


def chunk_bytes(chunks: EncodedChunks, level_key: str, name: str, roots_of) -> bytes:
    """One chunk labelled with root ids: `roots_of(supervoxel ids) -> root ids` (0 stays
    0). Raises LookupError for an unknown level or a chunk outside the volume, ValueError for
    a name off the chunk grid."""
    encoded = chunks.get(level_key, name)
    values = encoded.table_values
    unique, inverse = np.unique(values, return_inverse=True)
    roots = np.asarray(roots_of(unique), dtype=np.uint64)
    return encoded.relabelled(roots[inverse])

