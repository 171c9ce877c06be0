"""The demo datastack as the services see it: versions, tables and views as SQL relations
at a point in time, over a read-only DuckDB file.

Beside it one writable database is attached as ``work`` (in memory by default, or a file
given as ``work_path``): what the services write (the chunkedgraph's edits, and later the
annotation service's tables) lives there, and every write goes through ``DemoStore.write``,
which holds the one write lock and runs its statements in one transaction. Readers never take
the lock. The chunkedgraph tables in ``work`` have the same columns as those in ``demo``;
``spans_table`` names the supervoxel → root spans with the edits applied (``demo.sv_spans``
until the first edit).

Root ids are stored once, as of the newest version (the base time). A snapshot at another
time swaps in the roots of the few supervoxels whose root differs then (an "override"
table), so every version and every live timestamp reads the same stored rows.
"""

from __future__ import annotations

import os
import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import duckdb

from . import schemas
from .demo import catalog
from .errors import NotFound, VersionExpired

UTC = timezone.utc


@dataclass(frozen=True)
class Snapshot:
    """The state of the tables at one moment: rows alive then, roots as of then."""

    t: float  # seconds relative to the anchor
    # (sv, root) pairs that differ from the stored base roots: a table name or a subquery in
    # parentheses; None when nothing differs.
    override: str | None
    version: int | None  # the materialization version, or None for a live timestamp


@dataclass(frozen=True)
class Relation:
    """A table or view at a snapshot: SQL yielding its physical columns."""

    name: str
    sql: str
    columns: tuple[schemas.Column, ...]
    voxel_resolution: tuple[float, float, float]
    order_by: str = "id"
    # SQL condition on demo.sv_spans selecting the spans alive at this relation's snapshot;
    # lets root-id filters become supervoxel filters (see query._root_as_supervoxels).
    spans_alive: str | None = None
    spans_table: str = "demo.sv_spans"  # the supervoxel → root spans the condition is on

    def column(self, name: str) -> schemas.Column | None:
        return next((c for c in self.columns if c.name == name), None)


def _inline(t: float) -> str:
    return repr(float(t))  # only floats we computed ever reach SQL this way


def memory_limit() -> str:
    """DuckDB's memory for this server: CAVE_WIDGETS_MEMORY_LIMIT (e.g. "2GB"), else a
    third of the machine's memory, at most 8 GB."""
    explicit = os.environ.get("CAVE_WIDGETS_MEMORY_LIMIT")
    if explicit:
        return explicit
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return "4GB"
    return f"{max(1, min(8, total // 3 // 2**30))}GB"


def spans_alive(t: float) -> str:
    """Condition on demo.sv_spans: the supervoxel → root spans in force at time t."""
    return f"t_from <= {_inline(t)} AND (t_to IS NULL OR t_to > {_inline(t)})"


class DemoStore:
    def __init__(self, db_path: str, anchor: datetime | None = None,
                 work_path: str | None = None):
        now = datetime.now(UTC)
        self.anchor = anchor or now.replace(minute=0, second=0, microsecond=0)
        # Bounded: a query that would need more memory fails (a 400 that says so) instead of
        # swapping the machine; what does not fit spills to a temporary folder first.
        spill = os.path.join(tempfile.gettempdir(), "cave-widgets-duckdb")
        self._con = duckdb.connect(config={"memory_limit": memory_limit(),
                                           "temp_directory": spill})
        self._con.execute(f"ATTACH '{db_path}' AS demo (READ_ONLY)")
        where = ":memory:" if work_path is None else str(work_path).replace("'", "''")
        self._con.execute(f"ATTACH '{where}' AS work")
        self._write_lock = threading.Lock()
        self.spans_table = "demo.sv_spans"
        [(scale, base_time)] = self._con.execute(
            "SELECT scale, base_time FROM demo.meta").fetchall()
        self.scale = scale
        self.base_time = float(base_time)
        self.versions = {v.version: v for v in catalog.VERSIONS}
        self.tables = {t.name: t for t in catalog.TABLES}
        self.views = {v.name: v for v in catalog.VIEWS}
        self._version_override = {
            v.version: self._make_override(v.time_stamp)
            for v in catalog.VERSIONS
            if not v.expired
        }

    # --- connections and time -------------------------------------------------------------

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection for one request thread (DuckDB cursors are not shared across threads)."""
        return self._con.cursor()

    def write(self, statements) -> None:
        """The one write path: `statements(cursor)` runs under the write lock, in one
        transaction on the writable database."""
        with self._write_lock:
            cur = self.cursor()
            cur.execute("BEGIN TRANSACTION")
            try:
                statements(cur)
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise

    def use_edited_spans(self, view: str) -> None:
        """From now on, supervoxel → root spans come from `view` (edits applied)."""
        self.spans_table = view

    def to_datetime(self, t: float) -> datetime:
        return self.anchor + timedelta(seconds=t)

    def to_relative(self, when: datetime) -> float:
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return (when - self.anchor).total_seconds()

    def now(self) -> float:
        return self.to_relative(datetime.now(UTC))

    # --- versions ---------------------------------------------------------------------------

    def valid_versions(self, include_expired: bool = False) -> list[int]:
        return sorted(v.version for v in catalog.VERSIONS if include_expired or not v.expired)

    def version(self, number: int) -> catalog.VersionDef:
        if number not in self.versions:
            raise NotFound(
                f"No version {number} found for datastack {catalog.DATASTACK}; "
                f"available versions are {self.valid_versions()}"
            )
        return self.versions[number]

    def snapshot_for_version(self, number: int) -> Snapshot:
        v = self.version(number)
        if v.expired:
            raise VersionExpired(
                f"This materialization version is not available: version {number} of "
                f"{catalog.DATASTACK} expired; choose one of {self.valid_versions()}"
            )
        return Snapshot(v.time_stamp, self._version_override[number], number)

    def snapshot_at(self, t: float) -> Snapshot:
        """A live snapshot. Its override is computed inside each query rather than stored:
        live times are rarely reused, and a stored table could be dropped under a reader."""
        return Snapshot(t, f"({self._override_query(t)})", None)

    def _override_query(self, t: float) -> str:
        return (
            "SELECT a.sv, a.root "
            f"FROM (SELECT sv, root FROM {self.spans_table} WHERE {spans_alive(t)}) a "
            f"JOIN (SELECT sv, root FROM {self.spans_table} "
            f"WHERE {spans_alive(self.base_time)}) b "
            "USING (sv) WHERE a.root <> b.root"
        )

    def _make_override(self, t: float) -> str | None:
        """A stored override table for a version (made once at start-up, never dropped)."""
        name = f"override_at_{abs(int(t * 1000))}"
        cur = self.cursor()
        cur.execute(f"CREATE TABLE {name} AS {self._override_query(t)}")
        [(count,)] = cur.execute(f"SELECT count(*) FROM {name}").fetchall()
        if count == 0:
            cur.execute(f"DROP TABLE {name}")
            return None
        return name

    # --- tables and views -------------------------------------------------------------------

    def tables_at(self, snapshot: Snapshot) -> list[str]:
        return [t.name for t in catalog.TABLES if t.created <= snapshot.t]

    def views_at(self, snapshot: Snapshot) -> list[str]:
        return [v.name for v in catalog.VIEWS if v.created <= snapshot.t]

    def table_def(self, name: str, snapshot: Snapshot) -> catalog.TableDef:
        table = self.tables.get(name)
        if table is None or table.created > snapshot.t:
            where = f"version {snapshot.version}" if snapshot.version else "that time"
            raise NotFound(
                f"Table {name!r} does not exist in {catalog.DATASTACK} at {where}; "
                f"tables there: {', '.join(self.tables_at(snapshot))}"
            )
        return table

    def view_def(self, name: str, snapshot: Snapshot) -> catalog.ViewDef:
        view = self.views.get(name)
        if view is None or view.created > snapshot.t:
            raise NotFound(
                f"View {name!r} does not exist in {catalog.DATASTACK} at version "
                f"{snapshot.version}; views there: {', '.join(self.views_at(snapshot)) or 'none'}"
            )
        return view

    def table_relation(self, name: str, snapshot: Snapshot) -> Relation:
        table = self.table_def(name, snapshot)
        columns = tuple(schemas.SCHEMAS[table.schema].columns())
        t = _inline(snapshot.t)
        select, joins = [], []
        for col in columns:
            if col.role == "root" and snapshot.override:
                alias = f"o_{len(joins)}"
                joins.append(
                    f"LEFT JOIN {snapshot.override} {alias} ON {alias}.sv = s.{col.partner}"
                )
                select.append(f"COALESCE({alias}.root, s.{col.name}) AS {col.name}")
            else:
                select += [f"s.{p}" for p in col.physical]
        sql = (
            f"SELECT {', '.join(select)} FROM demo.{name} s {' '.join(joins)} "
            f"WHERE s.valid AND s.created <= {t} AND (s.deleted IS NULL OR s.deleted > {t})"
        )
        return Relation(name, sql, columns, catalog.VOXEL_RESOLUTION,
                        spans_alive=self._spans_alive(snapshot), spans_table=self.spans_table)

    def _spans_alive(self, snapshot: Snapshot) -> str | None:
        # Without an override the stored root columns are exact, and scanning them (few
        # distinct values, well compressed) beats going through the supervoxels.
        return spans_alive(snapshot.t) if snapshot.override else None

    def view_relation(self, name: str, snapshot: Snapshot) -> Relation:
        self.view_def(name, snapshot)
        nuclei = self.table_relation("nuclei", snapshot)
        ref = self.table_relation("cell_type_ref", snapshot)
        columns = (
            schemas.Column("id", "integer"),
            schemas.Column("volume", "float"),
            schemas.Column("pt_position", "position"),
            schemas.Column("pt_supervoxel_id", "integer", role="supervoxel"),
            schemas.Column("pt_root_id", "integer", role="root", partner="pt_supervoxel_id"),
            schemas.Column("classification_system", "string"),
            schemas.Column("cell_type", "string"),
        )
        sql = (
            "SELECT n.id, n.volume, n.pt_position_x, n.pt_position_y, n.pt_position_z, "
            "n.pt_supervoxel_id, n.pt_root_id, r.classification_system, r.cell_type "
            f"FROM ({nuclei.sql}) n LEFT JOIN ({ref.sql}) r ON r.target_id = n.id"
        )
        return Relation(name, sql, columns, catalog.VOXEL_RESOLUTION,
                        spans_alive=self._spans_alive(snapshot), spans_table=self.spans_table)
