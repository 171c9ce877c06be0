"""What the TableBrowser marks on its rows: the header sort (sorting.py), root ids that
changed since (staleness.py), and how many selected rows the query still holds. A mixin of
TableBrowser (widget.py), which owns the state."""

from __future__ import annotations

import re

from ...client.errors import QueryValidationError
from . import query as bq
from .ipc import page_ipc
from .paging import Page
from .sorting import page_of_sorted, plan_sort
from .staleness import (
    latest_for,
    page_reference_time,
    snapshot_time,
    stale_in_filters,
    stale_on_page,
)


class RowMarks:
    def sort_by(self, column: str | None, descending: bool = False) -> None:
        """Sort the whole result by `column` (None: back to id order): on the server where
        it can, else in the kernel up to sorting.KERNEL_SORT_LIMIT rows, else within each
        page — `sort["scope"]` and `sort["note"]` say which."""
        query = self._require_query().unordered
        if column is not None:
            kind = query.source.columns.kind(column, "sort")
            if kind == "position":
                raise QueryValidationError(f"{column} is a position: sort by a scalar column")
            query = self._sorted(query, (column, bool(descending)))
        self._install(query, specs=list(self.filters))

    def _sorted(self, query: bq.Query, order: tuple | None = None) -> bq.Query:
        """`query` with `order` (or the order it has) planned anew for its current rows."""
        order = order or query.order
        if order is None:
            return query
        plan, self._server_sorts = plan_sort(
            self._client.materialize, query, order[0], order[1], server_sorts=self._server_sorts,
            count=lambda: self._counts.get(query.unordered.key) or bq.count(
                self._client.materialize, query.unordered))
        if plan.ids is not None:
            self._sorted_ids[plan.query.key] = plan.ids
        self._sort_note = plan.note
        return plan.query

    def _kernel_sorted_page(self, query: bq.Query, size: int, number: int) -> Page:
        ids = self._sorted_ids.get(query.key)
        if ids is None:  # a sort of an earlier view: plan it again for these rows
            query = self._sorted(query)
            ids = self._sorted_ids[query.key]
        frame = page_of_sorted(self._client.materialize, query, ids, number, size)
        ipc, columns = page_ipc(frame, query.source.columns.kinds)
        return Page(number=number, offset=number * size, rows=len(frame), ipc=ipc,
                    columns=columns, keyset=False, stale=self._stale_of(query)(frame))

    def _stale_of(self, query: bq.Query):
        """What marks a page's root ids that changed since (see staleness.py)."""
        when = page_reference_time(query.at)
        roots = query.source.columns.root_columns
        return lambda frame: stale_on_page(self._client, frame, roots, when)

    def update_filter_roots(self) -> dict:
        """Rewrite the root ids of the filters that match nothing at the snapshot (not the
        latest roots then) to the latest ones holding most of them (suggest_latest_roots).
        Returns {old id: [new ids]}."""
        query = self._require_query()
        stale = stale_in_filters(self._client, query)
        ids = sorted({int(i) for values in stale.values() for i in values})
        if not ids:
            return {}
        new = latest_for(self._client, ids, snapshot_time(self._client, query.at))
        specs = []
        for spec in self.filters:
            if spec.get("column") in stale and spec.get("op") in ("in", "equal"):
                text = str(spec.get("value", ""))
                for old, now in new.items():
                    text = re.sub(rf"(?<!\d){old}(?!\d)", ", ".join(map(str, now)), text)
                spec = {**spec, "value": text}
            specs.append(spec)
        self.set_query(filters=specs)
        changed = ", ".join(f"{o} → {', '.join(map(str, n))}" for o, n in new.items())
        self.message = f"Root ids updated to the latest at {query.at.label}: {changed}"
        return {str(o): [str(i) for i in n] for o, n in new.items()}

    def _check_filter_roots(self) -> None:
        query = self._query
        if query is None:
            return
        stale = stale_in_filters(self._client, query)
        if self._query is query:
            self.stale_filter = stale

    def _count_selected(self) -> None:
        """selected_in_query, counted on the server in the background (the ids are few,
        the rows they name may have been filtered out or changed with the version)."""
        query, ids = self._query, [int(i) for i in self.selection]
        if query is None or not ids or not query.source.key:
            self.selected_in_query = 0 if query is not None or not ids else None
            return
        if self.selected_in_query is not None:
            self.selected_in_query = None

        def count():
            total, _ = bq.count(self._client.materialize, query.restricted_to_ids(ids))
            if self._query is query and [int(i) for i in self.selection] == ids:
                self.selected_in_query = total

        self._in_background(count)
