"""Sorting the whole result by a header click, wherever it can be done truthfully.

1. On the server, when it can: cave_widgets' embedded server takes `order_by` and says in
   its answer that it sorted (the client raises ServerIncompatibilityError otherwise, so a
   real CAVE server is never mistaken for one that sorted).
2. In the kernel, up to KERNEL_SORT_LIMIT rows: the ids and the sort column of every
   matching row are fetched (one or two requests), sorted here, and each page asks for its
   ids by id.
3. Otherwise within each page only — and the header says so.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd

from ...client.errors import ServerIncompatibilityError
from . import fetch as bf
from . import query as bq

KERNEL_SORT_LIMIT = 200_000


@dataclass(frozen=True)
class SortPlan:
    query: bq.Query  # the query with its order and scope
    ids: tuple | None = None  # "kernel": every matching id, in sorted order
    note: str = ""  # what the header says about how far the sort reaches

    @property
    def scope(self) -> str:
        return self.query.order_scope


def plan_sort(mat, query: bq.Query, column: str, descending: bool, *, count,
              server_sorts: bool | None) -> tuple[SortPlan, bool | None]:
    """The best truthful way to sort `query` by `column`. `count()` gives (rows, exact);
    `server_sorts` is what is known of the server (None: not asked yet). Returns the plan
    and what is now known of the server."""
    ordered = replace(query.unordered, order=(column, descending))
    if server_sorts is not False:
        trial = replace(ordered, order_scope="server")
        try:
            bq.run(mat, trial, limit=1)
            return SortPlan(trial), True
        except ServerIncompatibilityError:
            server_sorts = False
    total, exact = count()
    if exact and query.source.key and total <= KERNEL_SORT_LIMIT:
        kernel = replace(ordered, order_scope="kernel")
        return SortPlan(kernel, tuple(sorted_ids(mat, kernel))), server_sorts
    return (SortPlan(replace(ordered, order_scope="page"),
                     note=f"sorts this page only: {total:,} rows are more than can be sorted "
                          f"here (up to {KERNEL_SORT_LIMIT:,}), and this server cannot sort"),
            server_sorts)


def sorted_ids(mat, query: bq.Query) -> list[int]:
    """Every id of `query`, in its order (ties in id order, missing values last)."""
    key, (column, _) = query.source.key, query.order
    slim = replace(query, select=tuple(dict.fromkeys((key, column))))
    frame = bf.fetch_all(mat, slim).df
    return [int(i) for i in frame[key]]


def page_of_sorted(mat, query: bq.Query, ids: tuple, page: int, size: int) -> pd.DataFrame:
    """Rows `page * size` to `(page + 1) * size` of a kernel-sorted query, in its order."""
    chosen = [int(i) for i in ids[page * size:(page + 1) * size]]
    key = query.source.key
    if not chosen:
        return bq.run(mat, query.unordered, limit=1).iloc[0:0]
    rows = bf.fetch_rows_by_id(mat, query, chosen)
    position = pd.Series(range(len(chosen)), index=chosen)
    return (rows.assign(_position=rows[key].map(position)).sort_values("_position")
            .drop(columns="_position").reset_index(drop=True))
