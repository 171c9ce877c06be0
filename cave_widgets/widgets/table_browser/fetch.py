"""Fetching a whole query result into the kernel, in chunks the server will answer in full.

Each chunk asks for the rows after the last id seen (keyset), at most CHUNK of them; when the
server's row cap returns fewer, the next chunks ask for that many. So no chunk is silently
cut, and a result of any size arrives complete. If rows are still missing at the end
(the count no longer agrees), `Fetched.shortfall` says so and the widget raises a
RowCapWarning and shows the message: a truncated result is never silent.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass, field

import pandas as pd

from ...client.errors import RowCapWarning
from . import query as bq

ID_BATCH = 10_000  # ids per request when fetching selected rows


@dataclass
class FetchJob:
    """A fetch the person can follow and cancel (from the widget or with .cancel())."""

    generation: int
    cancel_event: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    fetched: int = 0
    total: int | None = None
    requests: int = 0
    result: pd.DataFrame | None = None
    error: BaseException | None = None
    request_id: object = None
    query_key: tuple | None = None

    def cancel(self) -> None:
        self.cancel_event.set()

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()


@dataclass
class Fetched:
    df: pd.DataFrame
    total: int | None
    complete: bool
    requests: int
    name: str = ""

    @property
    def shortfall(self) -> str:
        """What is missing, in words ("" when nothing is)."""
        if self.complete:
            return ""
        return (f"{self.name}: fetched {len(self.df):,} of {self.total:,} matching rows; the "
                "rest could not be fetched (the server's row cap, or the data changed). "
                "Narrow the filters, or fetch again.")

    def warn_if_incomplete(self, stacklevel: int = 3) -> None:
        if not self.complete:
            warnings.warn(self.shortfall, RowCapWarning, stacklevel=stacklevel)


def fetch_all(mat, query: bq.Query, *, chunk: int = bq.CHUNK, total: int | None = None,
              exact: bool = True, job: FetchJob | None = None, progress=None) -> Fetched:
    """Every row of `query`, in chunks of at most `chunk` rows (fewer if the server caps
    lower). `total`/`exact` come from a count (done here if not given). `progress(fetched,
    total)` is called after each chunk; `job.cancel()` stops before the next request
    (raises query.Cancelled)."""
    job = job or FetchJob(generation=-1)
    ordered, query = query, query.unordered  # chunks walk ids; the order is applied at the end
    if total is None:
        total, exact = bq.count(mat, query, lambda: job.cancelled)
    job.total = total
    key = query.source.key
    parts: list[pd.DataFrame] = []
    fetched, after = 0, None
    if progress:
        progress(0, total)
    while True:
        if job.cancelled:
            raise bq.Cancelled()
        limit = chunk if not exact else min(chunk, total - fetched)
        if limit <= 0:
            break
        part = bq.run(mat, query, after=after if key else None,
                      offset=None if key else fetched, limit=limit, metadata=not parts)
        job.requests += 1
        n = len(part)
        if n == 0:
            break
        parts.append(part)
        fetched += n
        job.fetched = fetched
        if key:
            after = int(part[key].iloc[-1])
        if progress:
            progress(fetched, total)
        if n < limit:
            if exact and fetched >= total:
                break
            chunk = n  # the server's row cap: ask for no more than that from now on
    if job.cancelled:
        raise bq.Cancelled()
    if not parts:  # no rows: one request for the columns and their types
        parts.append(bq.run(mat, query, limit=1, metadata=True))
    df = sort_frame(_concat(parts, query), ordered.order)
    return Fetched(df, total, not exact or len(df) >= total, job.requests, query.source.name)


def sort_frame(df: pd.DataFrame, order: tuple[str, bool] | None) -> pd.DataFrame:
    """`df` (in id order) sorted as the header says: stable, so ties stay in id order, and
    missing values last, as the server sorts."""
    if order is None or order[0] not in df.columns:
        return df
    column, descending = order
    out = df.sort_values(column, ascending=not descending, kind="stable", na_position="last")
    out.attrs = df.attrs
    return out.reset_index(drop=True)


def _concat(parts: list[pd.DataFrame], query: bq.Query) -> pd.DataFrame:
    attrs = dict(parts[0].attrs)
    df = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    if attrs:
        # describe the whole query, not the first chunk of it
        attrs.update(offset=None, limit=None)
        labels = attrs.get("filters") or {}
        for label, argument in (("greater", "filter_greater_dict"),):
            own = query.filters.get(argument)
            labels[label] = {query.source.name: own} if own else None
        attrs["filters"] = labels
    df.attrs = attrs
    return df


def fetch_rows_by_id(mat, query: bq.Query, ids: list[int], *, job: FetchJob | None = None,
                     chunk: int = bq.CHUNK) -> pd.DataFrame:
    """The rows of `query` whose key is in `ids` (in key order), ID_BATCH ids per request.
    No ids: no rows, with the query's columns."""
    ids = sorted(set(ids))
    query = query.unordered
    frames = []
    for start in range(0, len(ids), ID_BATCH):
        batch = query.restricted_to_ids(ids[start:start + ID_BATCH])
        if batch.filters["filter_in_dict"][query.source.key]:
            frames.append(fetch_all(mat, batch, chunk=chunk, job=job).df)
    if not frames:
        return bq.run(mat, query, limit=1, metadata=True).iloc[0:0]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
