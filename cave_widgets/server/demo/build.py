"""Build the demo datastack into a DuckDB file, cached on disk and rebuilt when the generator
changes (its fingerprint covers the generator's source, the seed and the scale)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from .. import schemas
from . import catalog, segmentation, tables

log = logging.getLogger(__name__)

SEED = 20240605


@dataclass(frozen=True)
class Scale:
    name: str
    n_cells: int
    mean_svs_per_cell: int
    n_synapses: int
    n_operations: int


SCALES = {
    s.name: s
    for s in [
        Scale("small", 400, 24, 20_000, 80),
        Scale("default", 8_000, 24, 2_000_000, 600),
        Scale("large", 60_000, 24, 50_000_000, 3_000),
    ]
}


def cache_dir() -> Path:
    explicit = os.environ.get("CAVE_WIDGETS_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cave_widgets" / "demo"


def fingerprint(scale: Scale) -> str:
    h = hashlib.sha256(f"{SEED}|{scale}".encode())
    for module in (catalog, segmentation, tables, schemas):
        h.update(Path(module.__file__).read_bytes())
    h.update(Path(__file__).read_bytes())
    return h.hexdigest()[:16]


def ensure_demo_database(scale: str = "small", directory: Path | None = None) -> Path:
    """Path of the demo database for `scale`, building it first if it is missing or stale."""
    if scale not in SCALES:
        raise ValueError(f"unknown demo scale {scale!r}; choose one of {', '.join(SCALES)}")
    spec = SCALES[scale]
    directory = Path(directory) if directory else cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{spec.name}-{fingerprint(spec)}.duckdb"
    if path.exists():
        return path
    # One builder at a time (parallel test workers, a demo and a test run side by side).
    with open(directory / f"{spec.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            return path
        tmp = path.with_suffix(f".building-{os.getpid()}")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        started = time.perf_counter()
        build_database(spec, tmp)
        os.replace(tmp, path)
        log.info("built demo scale %s in %.1f s: %s", scale, time.perf_counter() - started, path)
        for stale in directory.glob(f"{spec.name}-*.duckdb"):
            if stale != path:
                with contextlib.suppress(OSError):
                    stale.unlink()
    return path


def build_database(spec: Scale, path: Path) -> None:
    rng = np.random.default_rng(SEED)
    cells = segmentation.make_cells(rng, spec.n_cells, spec.mean_svs_per_cell)
    history = segmentation.make_history(rng, cells, spec.n_operations)
    base_time = max(v.time_stamp for v in catalog.VERSIONS if not v.expired)
    base_roots = history.roots_at(base_time, len(cells.svs))

    con = duckdb.connect(str(path))
    try:
        for i, batch in enumerate(
            tables.synapse_batches(rng, cells, base_roots, spec.n_synapses)
        ):
            _write(con, "synapses", batch, append=i > 0)
        nuclei, nucleus_ids = tables.nuclei_batch(rng, cells, base_roots)
        _write(con, "nuclei", nuclei)
        cell_types, coarse = tables.cell_type_batch(rng, cells, base_roots)
        _write(con, "cell_types", cell_types)
        _write(con, "cell_type_ref", tables.cell_type_ref_batch(rng, nucleus_ids, coarse))
        _write_history(con, cells, history)
        con.execute(
            "CREATE TABLE meta AS SELECT ? AS scale, ? AS base_time, ? AS fingerprint",
            [spec.name, base_time, fingerprint(spec)],
        )
        con.execute("CHECKPOINT")
    finally:
        con.close()


def _write(con, name: str, batch: pa.RecordBatch, append: bool = False) -> None:
    con.register("incoming", pa.Table.from_batches([batch]))
    if append:
        con.execute(f"INSERT INTO {name} SELECT * FROM incoming")
    else:
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM incoming")
    con.unregister("incoming")


def _write_history(con, cells: segmentation.Cells, h: segmentation.History) -> None:
    def inf_to_null(a):
        return pa.array(np.where(np.isinf(a), np.nan, a), pa.float64(), from_pandas=True)

    spans = pa.table(
        {
            "sv": cells.svs[h.span_sv],
            "root": h.span_root,
            "t_from": h.span_from,
            "t_to": inf_to_null(h.span_to),
        }
    )
    roots = pa.table(
        {
            "root": h.root_id,
            "created": h.root_created,
            "retired": inf_to_null(h.root_retired),
            "operation": h.root_operation,
        }
    )
    lineage = pa.table(
        {
            "parent": h.lineage_parent,
            "child": h.lineage_child,
            "operation": h.lineage_operation,
            "t": h.lineage_time,
        }
    )
    for name, table in [("sv_spans", spans), ("roots", roots), ("lineage", lineage)]:
        con.register("incoming", table)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM incoming ORDER BY 1")
        con.unregister("incoming")
