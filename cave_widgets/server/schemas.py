"""Columns of the demo's annotation tables, taken from the real schema catalogue
(``cave_widgets.schema_catalogue``, emannotationschemas 5.26.3): the same flat columns, in the
same order, as a materialized table of that schema type on a real CAVE server (e.g. synapse:
``id, valid, pre_pt_*, post_pt_*, ctr_pt_position, size``). The schema service serves the
catalogue's documents, so tables and documents cannot disagree.

What the server needs beyond names comes from the catalogue too: a column's kind from its SQL
type, and which root id column goes with which supervoxel id column from CAVE's flattening
rule (a bound point ``pt`` flattens to ``pt_position``, ``pt_supervoxel_id``, ``pt_root_id``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from .. import schema_catalogue

# PostgreSQL column types of the catalogue → our column kinds; geometry(...) is a position.
SQL_KINDS = {"BIGINT": "integer", "INTEGER": "integer", "SMALLINT": "integer",
             "FLOAT": "float", "REAL": "float", "DOUBLE PRECISION": "float",
             "VARCHAR": "string", "TEXT": "string", "BOOLEAN": "boolean"}


@dataclass(frozen=True)
class Column:
    """One column of a materialized table as a user names it in filters and select_columns.

    ``kind`` is the logical type: integer, float, string, boolean or position. A position is
    stored and returned as three adjacent ``_x/_y/_z`` integer columns.
    """

    name: str
    kind: str
    role: str = ""  # "root" | "supervoxel" | "" — lets root filters pull in their supervoxel
    partner: str | None = None  # the supervoxel column that belongs with a root column

    @property
    def physical(self) -> list[str]:
        if self.kind == "position":
            return [f"{self.name}_x", f"{self.name}_y", f"{self.name}_z"]
        return [self.name]


def _kind(sql_type: str) -> str:
    if sql_type.lower().startswith("geometry"):
        return "position"
    try:
        return SQL_KINDS[sql_type.upper()]
    except KeyError:
        raise ValueError(f"catalogue column type {sql_type!r} has no column kind") from None


@functools.cache
def table_columns(schema_name: str) -> tuple[Column, ...]:
    """Columns of a frozen (materialized) table of `schema_name`, in the real table's order
    (KeyError for a schema type the catalogue does not know)."""
    flat = schema_catalogue.columns(schema_name)
    names = {name for name, _ in flat}
    out = []
    for name, sql_type in flat:
        kind = _kind(sql_type)
        prefix = name[: -len("root_id")] if name.endswith("root_id") else None
        if kind == "integer" and prefix is not None and f"{prefix}supervoxel_id" in names:
            out.append(Column(name, kind, role="root", partner=f"{prefix}supervoxel_id"))
        elif (kind == "integer" and name.endswith("supervoxel_id")
              and f"{name[: -len('supervoxel_id')]}root_id" in names):
            out.append(Column(name, kind, role="supervoxel"))
        else:
            out.append(Column(name, kind))
    return tuple(out)
