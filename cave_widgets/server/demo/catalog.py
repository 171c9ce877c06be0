"""What the demo datastack holds: its tables, views and materialization versions.

Times are seconds relative to the server's anchor (the moment it treats as "now", floored to
the hour), so a demo started today has versions from last week and one expiring in a few days,
whatever the date.
"""

from __future__ import annotations

from dataclasses import dataclass

DAY = 86400.0
HOUR = 3600.0

DATASTACK = "demo_local"
ALIGNED_VOLUME = "demo_volume"
PCG_TABLE = "demo_pcg"
VOXEL_RESOLUTION = (4.0, 4.0, 40.0)
SEGMENTATION_RESOLUTION = (8.0, 8.0, 40.0)

# Segmentation history starts here; proofreading edits run from then until just before "now".
HISTORY_START = -60 * DAY
LAST_EDIT = -0.5 * HOUR


@dataclass(frozen=True)
class TableDef:
    name: str
    schema: str
    description: str
    created: float
    # The table a reference table points at; None (JSON null) for others, as the real
    # AnnotationEngine and MaterializationEngine send it (DADB create_table stores None).
    reference_table: str | None = None
    notice_text: str | None = None
    user_id: str = "1"
    # What the annotation service adds for tables it creates (routes_annotation.py); the
    # built-in tables keep these defaults. `storage` names the attached database holding the
    # rows: "demo" (read-only, built) or "work" (written by the annotation service).
    voxel_resolution: tuple[float, float, float] = VOXEL_RESOLUTION
    read_permission: str = "PUBLIC"
    write_permission: str = "PRIVATE"
    flat_segmentation_source: str | None = None
    storage: str = "demo"
    deleted: float | None = None  # set by DELETE table; the table stays listed and usable
    last_modified: float | None = None  # None: never written since it was built

    @property
    def rows_table(self) -> str:
        """The SQL table holding this table's rows (every row ever written)."""
        return f"demo.{self.name}" if self.storage == "demo" else f"work.anno__{self.name}"


@dataclass(frozen=True)
class ViewDef:
    name: str
    description: str
    created: float
    notice_text: str | None = None


@dataclass(frozen=True)
class VersionDef:
    version: int
    time_stamp: float
    # None: a long-term version that never expires; its expires_on is then null on the wire,
    # as ME sends for a version materialized without days_to_expire.
    days_to_expire: float | None
    expired: bool = False

    @property
    def expires_on(self) -> float | None:
        if self.days_to_expire is None:
            return None
        return self.time_stamp + self.days_to_expire * DAY - HOUR


TABLES: tuple[TableDef, ...] = (
    TableDef(
        "synapses",
        "synapse",
        "Automatically detected synapses between all segments of the demo volume. "
        "Positions are in 4x4x40 nm voxels; size is the cleft size in voxels.",
        HISTORY_START,
    ),
    TableDef(
        "nuclei",
        "nucleus_detection",
        "Nuclei detected in the demo volume, one row per nucleus, with volume in cubic microns.",
        HISTORY_START,
    ),
    TableDef(
        "cell_types",
        "cell_type_local",
        "Manual cell-type calls (excitatory and inhibitory subclasses) placed on cell bodies.",
        HISTORY_START + 2 * DAY,
    ),
    TableDef(
        "cell_type_ref",
        "cell_type_reference",
        "Coarse cell classes attached to rows of the nuclei table.",
        -20 * DAY,  # after version 2: versions differ in their tables
        reference_table="nuclei",
        notice_text="Coarse classes are provisional; prefer cell_types for subclasses.",
    ),
)

VIEWS: tuple[ViewDef, ...] = (
    ViewDef(
        "nucleus_types",
        "Each nucleus with its coarse cell class (nuclei joined to cell_type_ref).",
        -20 * DAY,
    ),
)

VERSIONS: tuple[VersionDef, ...] = (
    VersionDef(1, -45 * DAY + 1234.5678, 7, expired=True),
    VersionDef(2, -30 * DAY + 2345.6789, None),
    VersionDef(3, -10 * DAY + 3456.789, 14),
    VersionDef(4, -3 * DAY + 4567.891, 7),
    VersionDef(5, -0.75 * DAY + 5678.912, 7),
)

DEFAULT_VERSION = max(v.version for v in VERSIONS if not v.expired)
