"""The TableBrowser's list of tables and views at a version (or live): name, kind,
description, schema and row count, as the browser shows them."""

from __future__ import annotations

import logging

from ...client import errors
from .query import Snapshot

log = logging.getLogger("cave_widgets.widgets")


def list_entries(mat, snap: Snapshot) -> tuple[list[dict], dict]:
    """(entries without row counts, the views' metadata by name). Views are listed but
    disabled for live queries: the server answers them at a version only."""
    version = snap.listing_version
    metas = mat.get_tables_metadata(version=version, log_warning=False)
    try:
        views = mat.get_views(version=version) or {}
    except errors.ServerIncompatibilityError:  # a server without views (API v2)
        views = {}
    entries = [{"name": m["table_name"], "kind": "table",
                "description": m.get("description") or "",
                "schema": m.get("schema") or m.get("schema_type") or "",
                "reference": m.get("reference_table") or "", "rows": None, "disabled": ""}
               for m in sorted(metas, key=lambda m: m["table_name"])]
    entries += [{"name": name, "kind": "view", "description": (v or {}).get("description") or "",
                 "schema": "view", "reference": "", "rows": None,
                 "disabled": "views need a materialization version" if snap.live else ""}
                for name, v in sorted(views.items())]
    return entries, views


def with_row_counts(mat, snap: Snapshot, entries: list[dict]) -> list[dict]:
    """The entries with their row counts (one request each); a count that fails is left
    out. Live, tables have no stored count at that time: none is shown (a version's count
    would disagree with what the table holds live); the open table's exact live count is
    filled in once the browser counted it."""
    if snap.live:
        return [{**entry, "rows": None, "approximate": False} for entry in entries]
    version = snap.listing_version
    counted = []
    for entry in entries:
        rows = None
        try:
            if entry["kind"] == "table":
                rows = int(mat.get_annotation_count(entry["name"], version=version))
            elif not snap.live:
                rows = int(mat.query_view(entry["name"], materialization_version=version,
                                          get_counts=True, metadata=False)["count"].iloc[0])
        except (errors.CAVEError, ValueError, KeyError) as exc:
            log.debug("no row count for %s: %s", entry["name"], exc)
        counted.append({**entry, "rows": rows, "approximate": snap.live})
    return counted
