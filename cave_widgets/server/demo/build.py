"""Build the demo datastack into a DuckDB file, cached on disk and rebuilt when the generator
changes (its fingerprint covers the generator's source, the seed and the scale)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from .. import schemas
from ..chunkedgraph import edits, geometry, graph, hierarchy, l2stats, meta, sorting, spans, storage
from . import catalog, morphology, segmentation, tables

log = logging.getLogger(__name__)

SEED = 20240605


@dataclass(frozen=True)
class Scale:
    name: str
    n_cells: int
    mean_svs_per_cell: int
    n_synapses: int
    n_operations: int
    synapses_per_contact: float  # connection strength: longer runs, fewer dendrites


SCALES = {
    s.name: s
    for s in [
        Scale("small", 400, 24, 20_000, 80, 25),
        Scale("default", 8_000, 24, 2_000_000, 600, 40),
        Scale("large", 60_000, 24, 50_000_000, 3_000, 80),
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
    for module in (catalog, segmentation, tables, schemas, morphology, edits, geometry, graph,
                   hierarchy, l2stats, meta, sorting, spans, storage):
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


L2_BATCH = 100_000  # level-2 nodes per attribute batch: its temporaries stay in cache


def build_database(spec: Scale, path: Path) -> None:
    stage = _Stages(spec.name)
    rng = np.random.default_rng(SEED)
    seg, _ = segmentation.build(rng, spec.n_cells, spec.n_synapses, spec.n_operations,
                                spec.synapses_per_contact, stage)
    base_time = max(v.time_stamp for v in catalog.VERSIONS if not v.expired)

    def base_roots(svs):
        return seg.graph.roots_of(np.asarray(svs, dtype=np.uint64), base_time)

    con = duckdb.connect(str(path))
    try:
        for i, batch in enumerate(tables.synapse_batches(rng, seg, base_roots, spec.n_synapses)):
            _write(con, "synapses", batch, append=i > 0)
        stage("synapses")
        nuclei, nucleus_ids = tables.nuclei_batch(rng, seg, base_roots)
        _write(con, "nuclei", nuclei)
        cell_types, coarse = tables.cell_type_batch(rng, seg, base_roots)
        _write(con, "cell_types", cell_types)
        _write(con, "cell_type_ref", tables.cell_type_ref_batch(rng, nucleus_ids, coarse))
        stage("other tables")
        for name, table in {**storage.graph_tables(seg.graph),
                            **storage.geometry_tables(seg.geometry)}.items():
            _write_table(con, name, table)
        stage("graph and geometry tables")
        l2 = storage.all_l2_ids(seg.graph)
        for lo in range(0, len(l2), L2_BATCH):
            part = storage.l2_table(seg.geometry, l2[lo:lo + L2_BATCH], seg.graph.children)
            _write_table(con, "l2_attributes", part, append=lo > 0)
        stage("level-2 attributes")
        con.execute(
            "CREATE TABLE meta AS SELECT ? AS scale, ? AS base_time, ? AS fingerprint, "
            "?::UBIGINT AS next_root",
            [spec.name, base_time, fingerprint(spec), seg.next_root],
        )
        con.execute("CHECKPOINT")
        stage("checkpoint")
    finally:
        con.close()


class _Stages:
    """Logs (at debug level) each build stage's time and the peak memory so far."""

    def __init__(self, scale: str):
        self.scale = scale
        self.last = time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        log.debug("build %s: %-26s %6.2f s (peak %5.0f MiB)", self.scale, name, now - self.last,
                  peak)
        self.last = now


def _write(con, name: str, batch: pa.RecordBatch, append: bool = False) -> None:
    _write_table(con, name, pa.Table.from_batches([batch]), append)


def _write_table(con, name: str, table: pa.Table, append: bool = False) -> None:
    con.register("incoming", table)
    if append:
        con.execute(f"INSERT INTO {name} SELECT * FROM incoming")
    else:
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM incoming ORDER BY 1")
    con.unregister("incoming")
