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
    entries = [_table_entry(m) for m in sorted(metas, key=lambda m: m["table_name"])]
    if snap.live:
        entries += _made_since(mat, {e["name"] for e in entries})
    entries += [{"name": name, "kind": "view", "description": (v or {}).get("description") or "",
                 "schema": "view", "reference": "", "rows": None,
                 "disabled": "views need a materialization version" if snap.live else ""}
                for name, v in sorted(views.items())]
    return entries, views


def _table_entry(meta: dict) -> dict:
    return {"name": meta["table_name"], "kind": "table",
            "description": meta.get("description") or "",
            "schema": meta.get("schema") or meta.get("schema_type") or "",
            "reference": meta.get("reference_table") or "", "rows": None, "disabled": ""}


def _made_since(mat, known: set[str]) -> list[dict]:
    """Tables a live query reads that the newest version does not hold yet: annotation
    tables created since (say, the one a person is writing to right now)."""
    try:
        names = [n for n in mat.live_tables() if n not in known]
    except errors.CAVEError as exc:  # no annotation service to ask: the version's tables
        log.debug("no annotation tables made since the version: %s", exc)
        return []
    out = []
    for name in names:
        try:
            meta = mat.live_table_metadata(name)
        except errors.CAVEError as exc:
            log.debug("no metadata for %s: %s", name, exc)
            continue
        out.append(_table_entry({**meta, "table_name": name}))
    return out


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
