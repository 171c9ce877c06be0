""""Open in neuroglancer" for the TableBrowser: rows of the current query as a neuroglancer
state — their points as an annotation layer named after the table, their root ids as the
segments shown — stored with the state service (`client.state.upload_state_json`), and the
link to it (`client.state.build_neuroglancer_url`). The kernel makes the link; the browser
opens it (never the kernel). A mixin of TableBrowser (widget.py), which owns the state.

The segmentation layer follows `neuroglancer_state.viewer_segmentation_source` at the moment
the rows come from (the version's timestamp, or the live timestamp): on the embedded server
the precomputed mirror labelled with the roots of that moment, so every root id in the rows
selects its segment; on a real deployment the datastack's graphene source.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections import OrderedDict
from dataclasses import replace

from ...client import neuroglancer_state as ns
from ...client.errors import QueryValidationError
from . import fetch as bf
from . import query as bq
from .staleness import snapshot_time

MAX_ROWS = 5_000  # rows a link carries: every point is in the state, every root a segment
POINT_PREFERENCE = ("ctr_pt_position", "pt_position")
MIN_VIEW_NM = 250_000.0  # the 3d view shows at least this much around the points
CROSS_SECTION_NM_PER_PIXEL = 80.0
_REMEMBERED_STATES = 64


def point_column(columns) -> str | None:
    """The position column that stands for a row: the synapse centre or the cell body when
    there is one, else the point of the first root column, else the first position."""
    positions = [c for c, kind in columns.kinds.items() if kind == "position"]
    for name in POINT_PREFERENCE:
        if name in positions:
            return name
    for root in columns.root_columns:
        candidate = root.removesuffix("_root_id") + "_position"
        if candidate in positions:
            return candidate
    return positions[0] if positions else None


def needed_columns(source: bq.Source) -> tuple[str, ...]:
    wanted = [source.key, point_column(source.columns), *source.columns.root_columns]
    return tuple(dict.fromkeys(c for c in wanted if c))


def _positions(frame, column: str) -> list:
    """Each row's position as [x, y, z], or None where it is missing."""
    if column in frame.columns:
        values = frame[column].tolist()
    else:
        split = [f"{column}_{axis}" for axis in "xyz"]
        values = frame[split].to_numpy().tolist() if all(c in frame for c in split) else []
    out = []
    for value in values:
        try:
            point = [float(v) for v in value]
        except (TypeError, ValueError):
            point = None
        out.append(point if point and len(point) == 3 and all(map(math.isfinite, point))
                   else None)
    return out


def _roots(values) -> list[int]:
    """The row's root ids, 0 (no segment) and missing values left out."""
    out = []
    for value in values:
        if isinstance(value, float):  # NaN, or an id that went through a float: not exact
            continue
        try:
            number = int(value)
        except (TypeError, ValueError):  # None, pd.NA
            continue
        if number != 0:
            out.append(number)
    return out


def rows_state(datastack_info: dict, frame, source: bq.Source, timestamp) -> dict:
    """The state of `frame` (rows of `source`, positions in frame.attrs'
    dataframe_resolution or else the viewer's)."""
    viewer = [float(datastack_info[f"viewer_resolution_{axis}"]) for axis in "xyz"]
    given = frame.attrs.get("dataframe_resolution") or viewer
    scale = [float(g) / v for g, v in zip(given, viewer)]
    root_columns = [c for c in source.columns.root_columns if c in frame.columns]
    roots_of_row = [_roots(row) for row in frame[root_columns].itertuples(index=False)] \
        if root_columns else [[] for _ in range(len(frame))]
    segment_ids = list(dict.fromkeys(r for roots in roots_of_row for r in roots))
    column = point_column(source.columns)
    points, point_roots, descriptions = [], [], []
    keys = frame[source.key].tolist() if source.key in frame.columns else [None] * len(frame)
    for point, roots, key in zip(_positions(frame, column) if column else [], roots_of_row,
                                 keys):
        if point is None:
            continue
        points.append([p * s for p, s in zip(point, scale)])
        point_roots.append(roots)
        descriptions.append(f"{source.name} {source.key} {key}" if key is not None else "")
    view = {}
    if points:
        extent_nm = max(
            (max(p[a] for p in points) - min(p[a] for p in points)) * viewer[a]
            for a in range(3))
        view = {"projection_scale": max(MIN_VIEW_NM, 1.5 * extent_nm) / viewer[0],
                "cross_section_scale": CROSS_SECTION_NM_PER_PIXEL / viewer[0]}
    return ns.datastack_state(
        datastack_info, points if points else None, point_layer=source.name,
        segment_ids=segment_ids, timestamp=timestamp, point_descriptions=descriptions,
        point_segments=point_roots if root_columns else None, layout="xy-3d", **view)


class StoredStates:
    """The ids of the states a widget uploaded, so the same rows give the same link (and the
    state service one document, not one per click)."""

    def __init__(self, size: int = _REMEMBERED_STATES):
        self.size = size
        self._ids: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    def id_of(self, client, state: dict) -> int:
        text = json.dumps(state, sort_keys=True, separators=(",", ":"))
        key = hashlib.sha256(f"{client.server_address}|{text}".encode()).hexdigest()
        with self._lock:
            state_id = self._ids.get(key)
        if state_id is None:
            state_id = client.state.upload_state_json(state)
            with self._lock:
                self._ids[key] = state_id
                while len(self._ids) > self.size:
                    self._ids.popitem(last=False)
        return state_id


class NeuroglancerLinks:
    """TableBrowser's "Open in neuroglancer" (see the module's docstring)."""

    def neuroglancer_url(self, selected: bool = True) -> str:
        """A link that opens rows of the current query in neuroglancer: the selected rows
        (selected=True) or every row the filters match (selected=False), at most MAX_ROWS.
        Their points form an annotation layer named after the table, their root ids the
        segments shown. Stored with the state service: the same rows give the same link."""
        query = self._require_query()
        frame = self._rows_for_link(query, selected)
        info = self._client.info.get_datastack_info()
        when = snapshot_time(self._client, query.at)
        return self._stored_link(rows_state(info, frame, query.source, when))

    def _rows_for_link(self, query: bq.Query, selected: bool):
        source = query.source
        if not point_column(source.columns) and not source.columns.root_columns:
            raise QueryValidationError(
                f"{source.name} has no positions and no root ids: nothing to show in "
                "neuroglancer" + (f" (its rows point at {source.reference}: open that)"
                                  if source.reference else ""))
        narrow = replace(query.unordered, select=needed_columns(source))
        mat = self._client.materialize
        if selected:
            if not source.key:
                raise QueryValidationError(f"{source.name} has no id column to select by")
            ids = [int(i) for i in self.selection]
            if not ids:
                raise QueryValidationError("No rows are selected: click rows in the grid "
                                           "first, or open all matching rows")
            if len(ids) > MAX_ROWS:
                raise QueryValidationError(
                    f"{len(ids):,} rows are selected; a neuroglancer link holds at most "
                    f"{MAX_ROWS:,}: select fewer")
            return bf.fetch_rows_by_id(mat, narrow, ids)
        total, exact = self._count()
        if total > MAX_ROWS or not exact:
            more = "More than " if not exact else ""
            raise QueryValidationError(
                f"{more}{total:,} rows match; a neuroglancer link holds at most {MAX_ROWS:,}: "
                "narrow the filters, or select rows and open those")
        if total == 0:
            raise QueryValidationError("No rows match the filters: nothing to show")
        return bf.fetch_all(mat, narrow, total=total, exact=exact).df

    def _stored_link(self, state: dict) -> str:
        state_id = self._stored_states.id_of(self._client, state)
        return self._client.state.build_neuroglancer_url(state_id)

    def _on_neuroglancer(self, content, _buffers):
        scope = content.get("scope")
        if scope not in ("selected", "query"):
            raise QueryValidationError(f"unknown scope {scope!r}: 'selected' or 'query'")
        return {"url": self.neuroglancer_url(selected=scope == "selected")}
