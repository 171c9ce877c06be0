"""Root ids that are no longer the latest: on the page, and in the filters.

Proofreading changes root ids all the time. The newest version's rows carry the roots of
its materialization; by now some of them were merged or split into others. And a root id
pasted into a filter may be older (or newer) than the snapshot queried, so it matches
nothing there. The browser shows both, and offers to rewrite a filter's ids through the
chunkedgraph's suggest_latest_roots. Everything here asks the client, never the server.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import numpy as np

from ...client import errors
from .query import Query, Snapshot

log = logging.getLogger("cave_widgets.widgets")
ROOT_FILTERS = ("filter_in_dict", "filter_equal_dict")


def page_reference_time(snap: Snapshot) -> datetime | None:
    """When the page's roots are judged: now, for the newest version shown unpinned (edits
    since its materialization make roots stale); None for a pinned version or a live time,
    whose roots are the latest at that time by construction."""
    if snap.live or snap.pinned:
        return None
    return datetime.now(timezone.utc)


def snapshot_time(client, snap: Snapshot) -> datetime:
    return snap.timestamp if snap.live else client.materialize.get_timestamp(snap.version)


def stale_roots(client, ids, when: datetime) -> set[int]:
    """Which of `ids` are not the latest roots at `when` (0, "no segment", never is)."""
    unique = sorted({int(i) for i in ids if int(i) != 0})
    if not unique:
        return set()
    try:
        latest = client.chunkedgraph.is_latest_roots(unique, timestamp=when)
    except (errors.CAVEError, NotImplementedError) as exc:  # a nicety: no chunkedgraph
        log.debug("no staleness check: %s", exc)
        return set()
    return {i for i, ok in zip(unique, np.asarray(latest, dtype=bool)) if not ok}


def stale_on_page(client, frame, root_columns, when: datetime | None) -> list[str]:
    """Root ids on a page that are not the latest at `when` (as text: they exceed 2**53)."""
    if when is None:
        return []
    present = [c for c in root_columns if c in frame.columns]
    ids = [v for c in present for v in frame[c].dropna().tolist()]
    return [str(i) for i in sorted(stale_roots(client, ids, when))]


def stale_in_filters(client, query: Query) -> dict[str, list[str]]:
    """{column: [ids]} of root ids in the query's filters that match nothing at its
    snapshot because they are not the latest roots then."""
    wanted = {}
    for argument in ROOT_FILTERS:
        for column, value in query.filters.get(argument, {}).items():
            if column in query.source.columns.root_columns:
                values = value if isinstance(value, list) else [value]
                wanted.setdefault(column, []).extend(int(v) for v in values)
    if not wanted:
        return {}
    when = snapshot_time(client, query.at)
    bad = stale_roots(client, [i for ids in wanted.values() for i in ids], when)
    return {c: [str(i) for i in ids if i in bad] for c, ids in wanted.items()
            if any(i in bad for i in ids)}


def latest_for(client, ids: list[int], when: datetime) -> dict[int, list[int]]:
    """Each stale id → the roots at `when` that hold most of it. An id retired by `when`
    goes forward to the chunkedgraph's suggestion (suggest_latest_roots: the latest root
    sharing the most supervoxels); an id made after `when` goes back to the roots it was
    made from (get_past_ids)."""
    cg = client.chunkedgraph
    made = dict(zip(ids, cg.get_root_timestamps(ids)))
    newer = [i for i in ids if made[i] > when]
    out = {}
    if newer:
        past = cg.get_past_ids(newer, timestamp_past=when)["past_id_map"]
        out.update({i: sorted(int(r) for r in past.get(i, past.get(str(i), []))) for i in newer})
    for old in (i for i in ids if i not in out):
        suggested = cg.suggest_latest_roots(old, timestamp=when)
        out[old] = [int(i) for i in np.atleast_1d(suggested)]
    return out
