"""Synthetic annotation tables for the demo datastack, generated as Arrow record batches.

Each stored table has the flattened columns of its schema plus two bookkeeping columns,
``created`` and ``deleted`` (seconds relative to the anchor; deleted is null while the row is
live). Root-id columns hold the roots as of the *base time* (the newest version); the store
corrects them for other times from the segmentation history.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from .catalog import DAY, HOUR, LAST_EDIT, TABLES
from .segmentation import VOLUME_MAX, VOLUME_MIN, Cells

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


def synapse_batches(
    rng: np.random.Generator, cells: Cells, base_roots: np.ndarray, n_synapses: int
) -> Iterator[pa.RecordBatch]:
    n = cells.n_cells
    counts = np.diff(cells.sv_offsets)
    # A few prolific cells and many quiet ones, as in real connectomes.
    out_weight = rng.lognormal(0, 1.0, size=n)
    in_weight = rng.lognormal(0, 0.7, size=n)
    out_weight /= out_weight.sum()
    in_weight /= in_weight.sum()
    start = _table_created("synapses")
    next_id = 1
    for lo in range(0, n_synapses, SYNAPSE_BATCH):
        size = min(SYNAPSE_BATCH, n_synapses - lo)
        pre_cell = rng.choice(n, size=size, p=out_weight)
        post_cell = rng.choice(n, size=size, p=in_weight)
        pre_sv = cells.sv_offsets[pre_cell] + (rng.random(size) * counts[pre_cell]).astype(np.int64)
        post_sv = cells.sv_offsets[post_cell] + (rng.random(size) * counts[post_cell]).astype(
            np.int64
        )
        ctr = cells.soma[post_cell] + rng.normal(0, 1, size=(size, 3)) * [6_000, 6_000, 300]
        pre = ctr + rng.normal(0, 1, size=(size, 3)) * [30, 30, 1]
        post = ctr + rng.normal(0, 1, size=(size, 3)) * [30, 30, 1]
        columns = {
            "id": np.arange(next_id, next_id + size, dtype=np.int64),
            # Autapses (a cell onto itself) are invalid at ingest, as on real servers.
            "valid": pre_cell != post_cell,
            **_positions("pre_pt_position", np.rint(pre)),
            "pre_pt_supervoxel_id": cells.svs[pre_sv],
            "pre_pt_root_id": base_roots[pre_sv],
            **_positions("ctr_pt_position", np.rint(ctr)),
            **_positions("post_pt_position", np.rint(post)),
            "post_pt_supervoxel_id": cells.svs[post_sv],
            "post_pt_root_id": base_roots[post_sv],
            "size": rng.lognormal(np.log(900), 0.8, size=size).astype(np.float32),
        }
        created, deleted = _lifetimes(rng, size, start, 0.06, 0.01)
        next_id += size
        yield _batch(columns, created, deleted)


def nuclei_batch(rng: np.random.Generator, cells: Cells, base_roots: np.ndarray):
    """One nucleus per cell plus a few detections outside the segmentation (root id 0)."""
    n = cells.n_cells
    n_outside = max(2, n // 50)
    ids = np.sort(rng.choice(np.arange(100_000, 100_000 + 40 * (n + n_outside)), n + n_outside,
                             replace=False))
    ids = rng.permutation(ids)
    stray = rng.integers(VOLUME_MIN, VOLUME_MAX, size=(n_outside, 3))
    centre = np.concatenate([cells.soma, stray])
    anchor_sv = cells.sv_offsets[:-1]
    sv = np.concatenate([cells.svs[anchor_sv], np.zeros(n_outside, dtype=np.int64)])
    root = np.concatenate([base_roots[anchor_sv], np.zeros(n_outside, dtype=np.int64)])
    half = np.array([1_000, 1_000, 100])
    order = np.argsort(ids)
    columns = {
        "id": ids[order].astype(np.int64),
        "valid": np.ones(len(ids), dtype=bool),
        "volume": rng.lognormal(np.log(250), 0.35, size=len(ids)).astype(np.float32)[order],
        **_positions("pt_position", centre[order]),
        "pt_supervoxel_id": sv[order],
        "pt_root_id": root[order],
        **_positions("bb_start_position", (centre - half)[order]),
        **_positions("bb_end_position", (centre + half)[order]),
    }
    created, deleted = _lifetimes(rng, len(ids), _table_created("nuclei"), 0.02, 0.0)
    return _batch(columns, created, deleted), ids[:n]


def cell_type_batch(rng: np.random.Generator, cells: Cells, base_roots: np.ndarray):
    """Subclass calls on 80% of cells; returns the batch and each cell's coarse class."""
    n = cells.n_cells
    typed = np.sort(rng.choice(n, size=int(n * 0.8), replace=False))
    excitatory = rng.random(len(typed)) < 0.8
    cell_type = np.where(
        excitatory,
        np.array(EXCITATORY)[rng.integers(0, len(EXCITATORY), len(typed))],
        np.array(INHIBITORY)[rng.integers(0, len(INHIBITORY), len(typed))],
    )
    anchor = cells.sv_offsets[typed]
    columns = {
        "id": np.arange(1, len(typed) + 1, dtype=np.int64),
        "valid": np.ones(len(typed), dtype=bool),
        "classification_system": np.where(excitatory, "excitatory_neuron", "inhibitory_neuron"),
        "cell_type": cell_type,
        **_positions("pt_position", cells.soma[typed] + rng.integers(-200, 200, (len(typed), 3))),
        "pt_supervoxel_id": cells.svs[anchor],
        "pt_root_id": base_roots[anchor],
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

