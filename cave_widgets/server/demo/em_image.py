"""A synthetic electron-microscopy image of the demo volume, as a neuroglancer precomputed
multiscale volume whose chunks are computed on request.

The volume is 1.2 x 0.8 x 0.48 mm at 4 x 4 x 40 nm, about 7e14 voxels: far too many to store,
so every voxel is a deterministic function of its position in nanometres. The picture is made
of smooth gradient (Perlin) noise fields of different sizes: neuropil membranes where a
~0.25 um field crosses zero (drawn at a constant width, using the field's gradient to measure
the distance to the crossing), dark organelles (~0.1 um), soft shading (~3 um), cell bodies
(~25 um field: lighter cytoplasm, dark outline, nucleus) and blood vessels (~50 um fields:
where two fields cross zero together, a light lumen with a dark wall), plus a per-voxel grain.
A pyramid level draws only what it can resolve: a feature smaller than about two voxels fades
into its average grey, and a membrane thinner than a voxel is drawn one voxel wide and
proportionally fainter, so zooming out looks like a downsampled image, not aliasing noise.

Noise is evaluated separably (lattice values contracted with per-axis interpolation weights),
so a chunk costs a few small matrix products, not a lattice lookup per voxel. Chunks are
`raw` uint8 (no image codec on either side), cached in memory up to a byte budget; a chunk is
the same bytes in every process.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from .catalog import VOXEL_RESOLUTION
from .segmentation import VOLUME_MAX, VOLUME_MIN

SEED = 0x5EED_E4
# xy-flat chunks: an xy view (the usual one) of a 1000-pixel panel needs ~250 of them at any
# level, and each costs a few milliseconds to compute.
CHUNK_SIZE = (64, 64, 16)
COARSEST_MAX_SIZE = 600  # stop halving once the whole volume fits this many voxels across

# Feature sizes: lattice spacing of each noise field, in nm.
MEMBRANE_SPACINGS_NM = (200.0, 330.0)
MEMBRANE_HALF_WIDTH_NM = 5.0
ORGANELLE_SPACINGS_NM = (140.0, 90.0)
SHADING_SPACING_NM = 3000.0
CELL_BODY_SPACING_NM = 24000.0
VESSEL_SPACING_NM = 50000.0
VESSEL_RADIUS_NM = 2500.0
GRAIN_TILE = (32, 128, 128)  # z, y, x: white noise repeating every 0.5 um is invisible


@dataclass(frozen=True)
class ScaleLevel:
    key: str
    resolution: tuple[float, float, float]  # nm per voxel
    voxel_offset: tuple[int, int, int]
    size: tuple[int, int, int]
    chunk_size: tuple[int, int, int]

    def info(self) -> dict:
        return {
            "key": self.key,
            "size": list(self.size),
            "resolution": list(self.resolution),
            "voxel_offset": list(self.voxel_offset),
            "chunk_sizes": [list(self.chunk_size)],
            "encoding": "raw",
        }

    def chunk_bounds(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Start and end (exclusive) voxel of the chunk called `name` (`x0-x1_y0-y1_z0-z1`).
        Raises LookupError for a chunk outside the volume, ValueError for a name that is not
        on this level's chunk grid."""
        try:
            pairs = [tuple(int(v) for v in part.split("-")) for part in name.split("_")]
            start, end = np.array(pairs, dtype=np.int64).T
        except (ValueError, OverflowError):
            raise ValueError(f"{name!r} is not a chunk name (x0-x1_y0-y1_z0-z1)") from None
        if start.shape != (3,):
            raise ValueError(f"{name!r} is not a chunk name (x0-x1_y0-y1_z0-z1)")
        offset, size, chunk = (np.array(v) for v in (self.voxel_offset, self.size,
                                                     self.chunk_size))
        cell = (start - offset) // chunk
        expect_start = offset + cell * chunk
        expect_end = np.minimum(expect_start + chunk, offset + size)
        if (start < offset).any() or (start >= offset + size).any():
            raise LookupError(f"chunk {name} is outside the volume")
        if (start != expect_start).any() or (end != expect_end).any():
            raise ValueError(f"{name!r} is not on the {self.key} chunk grid")
        return start, end


def _levels() -> tuple[ScaleLevel, ...]:
    base = np.array(VOXEL_RESOLUTION, dtype=float)
    low_nm = VOLUME_MIN * base
    high_nm = VOLUME_MAX * base
    levels = []
    resolution = base.copy()
    while True:
        offset = np.floor(low_nm / resolution).astype(np.int64)
        size = np.ceil(high_nm / resolution).astype(np.int64) - offset
        levels.append(ScaleLevel(
            key="_".join(f"{r:g}" for r in resolution),
            resolution=tuple(float(r) for r in resolution),
            voxel_offset=tuple(int(v) for v in offset),
            size=tuple(int(v) for v in size),
            chunk_size=CHUNK_SIZE,
        ))
        if size.max() <= COARSEST_MAX_SIZE:
            return tuple(levels)
        # Halve xy; halve z too once xy has caught up with it, so coarse levels are isotropic.
        resolution = resolution * np.array([2, 2, 2 if resolution[0] * 2 > resolution[2] else 1])


LEVELS = _levels()
BY_KEY = {level.key: level for level in LEVELS}


def volume_info() -> dict:
    return {
        "@type": "neuroglancer_multiscale_volume",
        "type": "image",
        "data_type": "uint8",
        "num_channels": 1,
        "scales": [level.info() for level in LEVELS],
    }


# --- noise ----------------------------------------------------------------------------------


def _hash_unit(keys: list[np.ndarray], seed: int) -> np.ndarray:
    """Uniform [0, 1) from integer lattice coordinates (broadcast together): splitmix64 of a
    mix of the coordinates. Wrapping uint64 arithmetic is the point here."""
    h = np.full(np.broadcast_shapes(*(k.shape for k in keys)), seed, dtype=np.uint64)
    for axis, k in enumerate(keys):
        h = h ^ (k.astype(np.uint64) * np.uint64((0x9E3779B97F4A7C15 >> axis) | 1))
        h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        h = h ^ (h >> np.uint64(31))
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


@dataclass
class _Axis:
    """Interpolation along one axis as matrices (voxels x lattice nodes): the quintic weight
    of each node, the weight times the voxel's offset from the node (gradient noise is
    sum(weight * gradient . offset)), and the derivatives of both per nm."""

    nodes: np.ndarray
    weight: np.ndarray
    d_weight: np.ndarray
    offset: np.ndarray
    d_offset: np.ndarray


def _axis(centres_nm: np.ndarray, spacing: float) -> _Axis:
    u = centres_nm / spacing
    first = math.floor(u.min())
    nodes = np.arange(first, math.floor(u.max()) + 2, dtype=np.int64)
    cell = np.floor(u).astype(np.int64) - first
    t = u - np.floor(u)
    s = t * t * t * (t * (t * 6 - 15) + 10)  # continuous slope and curvature at the nodes
    ds = 30 * t * t * (t - 1) ** 2
    shape = (len(u), len(nodes))
    out = _Axis(nodes, *(np.zeros(shape, np.float32) for _ in range(4)))
    rows = np.arange(len(u))
    for column, w, dw, off in ((cell, 1 - s, -ds, t), (cell + 1, s, ds, t - 1)):
        out.weight[rows, column] = w
        out.d_weight[rows, column] = dw / spacing
        out.offset[rows, column] = w * off
        out.d_offset[rows, column] = (dw * off + w) / spacing
    return out


def _separable_sum(terms) -> np.ndarray:
    """sum over terms (wx, wy, wz, lattice) and lattice nodes i, j, k of
    wx[x, i] wy[y, j] wz[z, k] lattice[i, j, k], as a contiguous (z, y, x) float32 array.

    The terms are zero-padded to one lattice shape and stacked, so the whole sum is a few
    batched products, whatever the number of terms."""
    n_terms = len(terms)
    (nx, ni), (ny, nj), (nz, nk) = (max(t[a].shape for t in terms) for a in range(3))
    wx = np.zeros((n_terms, nx, ni), np.float32)
    wy = np.zeros((n_terms, ny, nj), np.float32)
    wz = np.zeros((n_terms, nz, nk), np.float32)
    lattice = np.zeros((n_terms, ni, nj, nk), np.float32)
    for t, (ax, ay, az, values) in enumerate(terms):
        wx[t, :, : ax.shape[1]] = ax
        wy[t, :, : ay.shape[1]] = ay
        wz[t, :, : az.shape[1]] = az
        lattice[t, : values.shape[0], : values.shape[1], : values.shape[2]] = values
    per_k = np.einsum("tijk,txi->tkjx", lattice, wx)
    planes = np.matmul(wy[:, None], per_k)  # (t, k, y, x)
    flat_z = wz.transpose(1, 0, 2).reshape(nz, 1, n_terms * nk)
    # One small product per z plane rather than one big one: a big product goes to BLAS's
    # worker threads, which crawl when the cores are busy (0.05 ms became 2 ms under load).
    out = np.matmul(flat_z, planes.reshape(n_terms * nk, ny * nx))
    return out.reshape(nz, ny, nx)


def gradient_noise(centres: list[np.ndarray], octaves, with_gradient: bool = False):
    """A sum of Perlin noise fields at the voxel centres (nm) of a chunk, as a (z, y, x)
    float32 array; with_gradient also gives its d/dx, d/dy, d/dz per nm.

    `octaves` is a list of (spacing nm, seed, amplitude). One field is about -0.9..0.9 with a
    standard deviation of ~0.19: each lattice node holds a random unit vector g, and the
    field is the sum over the nodes around a point of weight * (g . offset from the node)."""
    prepared = []
    for spacing, seed, amplitude in octaves:
        # Fields of different seeds get different lattice origins too, so that their nodes
        # never line up (aligned nodes show as a grid).
        shift = 997.0 * (seed % 17)
        axes = [_axis(c + shift * (a + 1), spacing) for a, c in enumerate(centres)]
        keys = [axes[0].nodes[:, None, None], axes[1].nodes[None, :, None],
                axes[2].nodes[None, None, :]]
        azimuth = 2 * np.pi * _hash_unit(keys, seed)
        polar = np.arccos(2 * _hash_unit(keys, seed ^ 0x5A5A) - 1)
        vectors = [amplitude * np.sin(polar) * np.cos(azimuth),
                   amplitude * np.sin(polar) * np.sin(azimuth), amplitude * np.cos(polar)]
        prepared.append((axes, vectors))

    def field(derive: int | None) -> np.ndarray:
        # In term `along`, that axis contributes the offset; axis `derive` is differentiated.
        terms = []
        for axes, vectors in prepared:
            for along in range(3):
                factors = []
                for axis, a in enumerate(axes):
                    if axis == along:
                        factors.append(a.d_offset if axis == derive else a.offset)
                    else:
                        factors.append(a.d_weight if axis == derive else a.weight)
                terms.append((*factors, vectors[along]))
        return _separable_sum(terms)

    if not with_gradient:
        return field(None)
    return field(None), field(0), field(1), field(2)


def _distance_to_zero(value, d_x, d_y, d_z) -> np.ndarray:
    """Approximate distance (nm) to where the field crosses zero: value / |gradient|."""
    return value / (np.sqrt(d_x * d_x + d_y * d_y + d_z * d_z) + 1e-12)


def _fade(spacing_nm: float, voxel_nm: float) -> float:
    """How much of a feature of this size a level draws: all of it from four voxels per
    lattice cell, none below two."""
    return float(np.clip((spacing_nm / voxel_nm - 2.0) / 2.0, 0.0, 1.0))


# Average darkening of each feature where it is drawn, used in place of the feature where a
# level cannot resolve it (measured over many full-resolution chunks).
MEAN_MEMBRANE = 0.06
MEAN_ORGANELLE = 0.08
GRAIN = np.random.default_rng(SEED).random(GRAIN_TILE, dtype=np.float32) - 0.5


def render_chunk(level: ScaleLevel, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """The uint8 voxels of [start, end) at `level`, shaped (z, y, x)."""
    res = np.array(level.resolution)
    centres = [(np.arange(start[a], end[a]) + 0.5) * res[a] for a in range(3)]
    voxel = float(res[0])

    membrane: np.ndarray | float = MEAN_MEMBRANE
    fade = _fade(min(MEMBRANE_SPACINGS_NM), voxel)
    if fade > 0:
        octaves = [(spacing, SEED + i, 1.0) for i, spacing in enumerate(MEMBRANE_SPACINGS_NM)]
        distance = _distance_to_zero(*gradient_noise(centres, octaves, with_gradient=True))
        # A membrane thinner than a voxel is drawn one voxel wide and fainter, as a box
        # filter would: its total darkness stays.
        half_width = max(MEMBRANE_HALF_WIDTH_NM, 0.75 * voxel)
        drawn = (MEMBRANE_HALF_WIDTH_NM / half_width) * np.exp(-np.square(distance / half_width))
        membrane = fade * drawn + (1 - fade) * MEAN_MEMBRANE

    organelle: np.ndarray | float = MEAN_ORGANELLE
    fade = _fade(min(ORGANELLE_SPACINGS_NM), voxel)
    if fade > 0:
        octaves = [(spacing, SEED + 10 + i, 0.5**i)
                   for i, spacing in enumerate(ORGANELLE_SPACINGS_NM)]
        drawn = np.clip((gradient_noise(centres, octaves) - 0.28) / 0.06, 0.0, 1.0)
        organelle = fade * drawn + (1 - fade) * MEAN_ORGANELLE

    shading = gradient_noise(centres, [(SHADING_SPACING_NM, SEED + 20, 1.0)])
    grey = 165.0 - 130.0 * membrane - 55.0 * organelle + 40.0 * shading
    body = gradient_noise(centres, [(CELL_BODY_SPACING_NM, SEED + 30, 1.0)])
    if body.max() > BODY_EDGE - 0.02:  # most chunks are all neuropil: skip the cell bodies
        grey = _draw_cell_bodies(grey, body, organelle, shading, voxel)
    grey = _draw_vessels(grey, centres, voxel)

    tz, ty, tx = GRAIN_TILE
    z, y, x = (np.arange(start[a], end[a]) for a in (2, 1, 0))
    shift = 7 * LEVELS.index(level)  # a level's grain is not its neighbour's
    grey = grey + 24.0 * GRAIN[np.ix_((z + shift) % tz, (y + shift) % ty, x % tx)]
    return np.clip(np.rint(grey), 0, 255).astype(np.uint8)


BODY_EDGE = 0.33  # value of the cell-body field at a body's outline (~4% of the volume inside)
NUCLEUS_EDGE = 0.41


def _draw_cell_bodies(neuropil, body, organelle, shading, voxel):
    """Cell bodies: lighter cytoplasm with fewer organelles and no neuropil membranes, a dark
    outline, and a nucleus with a dark envelope. Outlines fade once thinner than a voxel."""
    inside_cell = np.clip((body - BODY_EDGE) / 0.01, 0.0, 1.0)
    outline = np.exp(-np.square((body - BODY_EDGE) / 0.004)) * min(1.0, 200.0 / voxel)
    nucleus = np.clip((body - NUCLEUS_EDGE) / 0.006, 0.0, 1.0)
    envelope = np.exp(-np.square((body - NUCLEUS_EDGE) / 0.003)) * min(1.0, 150.0 / voxel)
    cytoplasm = 182.0 - 30.0 * organelle + 60.0 * shading
    grey = neuropil * (1 - inside_cell) + cytoplasm * inside_cell
    grey = grey * (1 - nucleus) + (150.0 + 40.0 * shading) * nucleus
    return grey - 90.0 * outline - 70.0 * envelope


def _draw_vessels(grey, centres, voxel):
    """Blood vessels: tubes where two large fields are both near zero; a light lumen in a
    dark wall. Almost every chunk is far from any vessel, which the chunk's centre tells
    cheaply (distances change by at most the chunk's size across it)."""
    fields = [[(VESSEL_SPACING_NM, SEED + 40 + i, 1.0)] for i in range(2)]
    middle = [np.array([c[len(c) // 2]]) for c in centres]
    span = float(np.sqrt(sum(float(c[-1] - c[0]) ** 2 for c in centres)))
    near = np.hypot(*(_distance_to_zero(*gradient_noise(middle, f, with_gradient=True))
                      for f in fields))
    if near.min() > 2 * VESSEL_RADIUS_NM + span:
        return grey
    radial = np.hypot(*(_distance_to_zero(*gradient_noise(centres, f, with_gradient=True))
                        for f in fields))
    lumen = np.clip((VESSEL_RADIUS_NM - radial) / max(voxel, 20.0), 0.0, 1.0)
    wall_width = max(150.0, voxel)
    wall = np.exp(-np.square((radial - VESSEL_RADIUS_NM - wall_width) / wall_width))
    wall *= min(1.0, 300.0 / voxel)
    return grey * (1 - lumen) + 225.0 * lumen - 70.0 * wall


# --- chunks, cached --------------------------------------------------------------------------


class ChunkCache:
    """Encoded chunks by (level, name), least recently used dropped past `budget` bytes."""

    def __init__(self, budget: int):
        self.budget = budget
        self._chunks: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            data = self._chunks.get(key)
            if data is not None:
                self._chunks.move_to_end(key)
            return data

    def put(self, key, data: bytes) -> None:
        with self._lock:
            if key in self._chunks:
                return
            self._chunks[key] = data
            self._size += len(data)
            while self._size > self.budget and self._chunks:
                _, dropped = self._chunks.popitem(last=False)
                self._size -= len(dropped)


CACHE = ChunkCache(budget=96 * 1024 * 1024)


def chunk_bytes(level_key: str, name: str) -> bytes:
    """The raw encoding of one chunk: little-endian voxels, x fastest, which is what a (z, y,
    x) C-order array already is. Raises LookupError for an unknown level or a chunk outside
    the volume, ValueError for a name off the chunk grid."""
    level = BY_KEY.get(level_key)
    if level is None:
        raise LookupError(f"no scale {level_key!r}; the scales are {', '.join(BY_KEY)}")
    key = (level_key, name)
    data = CACHE.get(key)
    if data is None:
        start, end = level.chunk_bounds(name)
        data = render_chunk(level, start, end).tobytes()
        CACHE.put(key, data)
    return data
