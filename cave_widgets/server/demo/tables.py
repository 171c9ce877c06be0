"""Synthetic annotation tables for the demo datastack, generated as Arrow record batches.

Each stored table has the flattened columns of its schema, in the order of the schema
catalogue (as a real materialized table: see ``cave_widgets.server.schemas``), plus two
bookkeeping columns, ``created`` and ``deleted`` (seconds relative to the anchor; deleted is
null while the row is live). Every point's supervoxel is read from the neuron geometry at that
point (so it is a supervoxel of the right cell at the right place); root-id columns hold the
roots as of the *base time* (the newest version), and the store corrects them for other times
from the segmentation history.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from .catalog import DAY, HOUR, LAST_EDIT, TABLES
from .morphology import synapse_points
from .segmentation import VOLUME_MAX, VOLUME_MIN, VOXEL_NM, Segmentation

EXCITATORY = ["23P", "4P", "5P-IT", "5P-ET", "5P-NP", "6P-IT", "6P-CT"]
INHIBITORY = ["BC", "MC", "BPC", "NGC"]
SYNAPSE_BATCH = 2_000_000


def _table_created(name: str) -> float:
    return next(t.created for t in TABLES if t.name == name)


def _positions(prefix: str, xyz: np.ndarray) -> dict[str, np.ndarray]:
    xyz = np.clip(xyz, VOLUME_MIN, VOLUME_MAX).astype(np.int32)
    return {f"{prefix}_x": xyz[:, 0], f"{prefix}_y": xyz[:, 1], f"{prefix}_z": xyz[:, 2]}


def _lifetimes(rng, n: int, start: float, late_fraction: float, deleted_fraction: float):
    """Most rows exist from the table's start; some arrive later, a few are deleted."""
    created = start + rng.uniform(0, HOUR, size=n)
    late = rng.random(n) < late_fraction
    created[late] = rng.uniform(start + HOUR, LAST_EDIT, size=int(late.sum()))
    deleted = np.full(n, np.nan)
    gone = rng.random(n) < deleted_fraction
    deleted[gone] = created[gone] + rng.uniform(0, 1, size=int(gone.sum())) * (
        LAST_EDIT - created[gone]
    )
    return created, deleted


def _batch(columns: dict[str, np.ndarray], created, deleted) -> pa.RecordBatch:
    arrays = {k: pa.array(v) for k, v in columns.items()}
    arrays["created"] = pa.array(created, pa.float64())
    arrays["deleted"] = pa.array(deleted, pa.float64(), from_pandas=True)  # NaN → null
    return pa.RecordBatch.from_pydict(arrays)


def _cell_of(seg: Segmentation, svs: np.ndarray) -> np.ndarray:
    """The cell of each supervoxel (-1 for 0)."""
    idx = np.clip(np.searchsorted(seg.graph.sv_ids, svs), 0, len(seg.graph.sv_ids) - 1)
    return np.where((svs != 0) & (seg.graph.sv_ids[idx] == svs), seg.sv_cell[idx], -1)


def _voxels(nm: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(nm / VOXEL_NM), VOLUME_MIN, VOLUME_MAX).astype(np.int64)


def synapse_batches(
    rng: np.random.Generator, seg: Segmentation, base_roots, n_synapses: int
) -> Iterator[pa.RecordBatch]:
    """Synapses along the connections' runs: the presynaptic point on the axon, the
    postsynaptic point on the dendrite, each point's supervoxel read from the geometry (a
    point that rounding put on another cell is dropped). A few autapses (a cell onto itself,
    invalid at ingest as on real servers) are mixed in."""
    m = seg.morph
    start = _table_created("synapses")
    n_auto = max(2, n_synapses // 200)
    wanted = n_synapses - n_auto
    counts = np.cumsum(m.contact_count)
    total = int(counts[-1]) if len(counts) else 0
    keep_fraction = min(1.0, wanted / max(total, 1) * 1.0)
    next_id, made = 1, 0
    contacts = np.arange(len(m.contact_count))
    bounds = np.searchsorted(counts, np.arange(0, total + SYNAPSE_BATCH, SYNAPSE_BATCH))
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        if made >= n_synapses or lo >= hi:
            continue
        which, pre, ctr, post = synapse_points(m, rng, contacts[lo:hi])
        pre_v, ctr_v, post_v = _voxels(pre), _voxels(ctr), _voxels(post)
        pre_sv = seg.geometry.supervoxel_at(pre_v * VOXEL_NM)
        post_sv = seg.geometry.supervoxel_at(post_v * VOXEL_NM)
        ok = ((_cell_of(seg, pre_sv) == m.contact_pre[which])
              & (_cell_of(seg, post_sv) == m.contact_post[which])
              & (rng.random(len(which)) < keep_fraction * 1.06))
        last = hi >= len(contacts)
        idx = np.flatnonzero(ok)[: max(0, wanted - made)]
        valid = np.ones(len(idx), bool)
        p_v, c_v, q_v, p_sv, q_sv = pre_v[idx], ctr_v[idx], post_v[idx], pre_sv[idx], post_sv[idx]
        if last or made + len(idx) >= wanted:
            extra = n_synapses - made - len(idx)  # autapses (and any shortfall) from pre points
            pick = rng.choice(np.flatnonzero(ok), size=extra, replace=True)
            p_v = np.concatenate([p_v, pre_v[pick]])
            c_v = np.concatenate([c_v, pre_v[pick]])
            q_v = np.concatenate([q_v, pre_v[pick]])
            p_sv = np.concatenate([p_sv, pre_sv[pick]])
            q_sv = np.concatenate([q_sv, pre_sv[pick]])
            valid = np.concatenate([valid, np.zeros(extra, bool)])
        size = len(valid)
        if size == 0:
            continue
        columns = {
            "id": np.arange(next_id, next_id + size, dtype=np.int64),
            "valid": valid,
            **_positions("pre_pt_position", p_v),
            "pre_pt_supervoxel_id": p_sv.astype(np.int64),
            "pre_pt_root_id": base_roots(p_sv).astype(np.int64),
            **_positions("post_pt_position", q_v),
            "post_pt_supervoxel_id": q_sv.astype(np.int64),
            "post_pt_root_id": base_roots(q_sv).astype(np.int64),
            **_positions("ctr_pt_position", c_v),
            "size": rng.lognormal(np.log(900), 0.8, size=size).astype(np.float32),
        }
        created, deleted = _lifetimes(rng, size, start, 0.06, 0.01)
        next_id += size
        made += size
        yield _batch(columns, created, deleted)


def nuclei_batch(rng: np.random.Generator, seg: Segmentation, base_roots):
    """One nucleus per cell at its soma's centre plus a few detections outside every cell
    (supervoxel and root 0)."""
    n = len(seg.morph.soma)
    n_outside = max(2, n // 50)
    ids = np.sort(rng.choice(np.arange(100_000, 100_000 + 40 * (n + n_outside)), n + n_outside,
                             replace=False))
    ids = rng.permutation(ids)
    stray = np.zeros((0, 3), np.int64)
    while len(stray) < n_outside:
        cand = rng.integers(VOLUME_MIN, VOLUME_MAX, size=(n_outside * 2, 3))
        empty = seg.geometry.supervoxel_at(cand * VOXEL_NM) == 0
        stray = np.concatenate([stray, cand[empty]])[:n_outside]
    centre = np.concatenate([_voxels(seg.morph.soma), stray])
    sv = seg.geometry.supervoxel_at(centre * VOXEL_NM)
    root = base_roots(sv)
    half = np.array([1_000, 1_000, 100])
    volume = (4 / 3 * np.pi * (seg.morph.soma_radius / 1.5e3) ** 3).astype(np.float32)
    volume = np.concatenate([volume, rng.lognormal(np.log(250), 0.35, n_outside).astype(
        np.float32)])
    order = np.argsort(ids)
    columns = {
        "id": ids[order].astype(np.int64),
        "valid": np.ones(len(ids), dtype=bool),
        "volume": volume[order],
        **_positions("pt_position", centre[order]),
        "pt_supervoxel_id": sv[order].astype(np.int64),
        "pt_root_id": root[order].astype(np.int64),
        **_positions("bb_start_position", (centre - half)[order]),
        **_positions("bb_end_position", (centre + half)[order]),
    }
    created, deleted = _lifetimes(rng, len(ids), _table_created("nuclei"), 0.02, 0.0)
    return _batch(columns, created, deleted), ids[:n]


def cell_type_batch(rng: np.random.Generator, seg: Segmentation, base_roots):
    """Subclass calls on 80% of cells, placed inside the soma; returns the batch and each
    cell's coarse class."""
    n = len(seg.morph.soma)
    typed = np.sort(rng.choice(n, size=int(n * 0.8), replace=False))
    excitatory = rng.random(len(typed)) < 0.8
    cell_type = np.where(
        excitatory,
        np.array(EXCITATORY)[rng.integers(0, len(EXCITATORY), len(typed))],
        np.array(INHIBITORY)[rng.integers(0, len(INHIBITORY), len(typed))],
    )
    offset = rng.normal(size=(len(typed), 3))
    offset *= (0.4 * seg.morph.soma_radius[typed] * rng.random(len(typed)) ** (1 / 3)
               / np.linalg.norm(offset, axis=1))[:, None]
    pos = _voxels(seg.morph.soma[typed] + offset)
    sv = seg.geometry.supervoxel_at(pos * VOXEL_NM)
    columns = {
        "id": np.arange(1, len(typed) + 1, dtype=np.int64),
        "valid": np.ones(len(typed), dtype=bool),
        "classification_system": np.where(excitatory, "excitatory_neuron", "inhibitory_neuron"),
        "cell_type": cell_type,
        **_positions("pt_position", pos),
        "pt_supervoxel_id": sv.astype(np.int64),
        "pt_root_id": base_roots(sv).astype(np.int64),
    }
    created, deleted = _lifetimes(rng, len(typed), _table_created("cell_types"), 0.4, 0.02)
    coarse = np.full(n, "nonneuronal", dtype=object)
    coarse[typed] = np.where(excitatory, "excitatory", "inhibitory")
    return _batch(columns, created, deleted), coarse


def cell_type_ref_batch(rng: np.random.Generator, nucleus_ids: np.ndarray, coarse: np.ndarray):
    chosen = np.sort(rng.choice(len(nucleus_ids), size=int(len(nucleus_ids) * 0.9), replace=False))
    columns = {
        "id": np.arange(1, len(chosen) + 1, dtype=np.int64),
        "valid": np.ones(len(chosen), dtype=bool),
        "target_id": nucleus_ids[chosen].astype(np.int64),
        "classification_system": np.full(len(chosen), "aibs_coarse"),
        "cell_type": coarse[chosen].astype(str),
    }
    created, deleted = _lifetimes(rng, len(chosen), _table_created("cell_type_ref"), 0.5, 0.0)
    created = np.minimum(created, LAST_EDIT - DAY)
    return _batch(columns, created, deleted)

