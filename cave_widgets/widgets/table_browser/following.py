"""The TableBrowser following its client: a new version, timestamp or datastack re-lists the
tables and re-runs the query there; a sign-in, log-out or user switch drops what the previous
user saw and loads again. A mixin of TableBrowser (widget.py), which owns the state."""

from __future__ import annotations

from .._base import friendly
from . import query as bq
from .filters import OPS_BY_KIND, check_columns, check_specs
from .listing import list_entries, with_row_counts

SIGNED_OUT = ("anonymous", "rejected")


class ClientFollowing:
    # --- following the client --------------------------------------------------------------

    def _client_changed(self, _change) -> None:
        # runs on whichever thread changed the client (a cell): only schedule the work
        self._in_background(self._follow, retry="refresh")

    def _list_tables(self, snap: bq.Snapshot) -> bq.Snapshot:
        self._loaded_with = self._client.auth
        entries, views = list_entries(self._client.materialize, snap)
        with self._lock:
            self._snap, self._views = snap, views
        with self.hold_sync():
            self.at = snap.label
            self.tables = entries
        # counting every table can take a while: not on the workers that answer the browser
        self._in_background(lambda: self._count_tables(snap, entries))
        return snap

    def _count_tables(self, snap: bq.Snapshot, entries: list) -> None:
        counted = with_row_counts(self._client.materialize, snap, entries)
        if self._snap == snap:  # still the list on show
            self.tables = counted

    def _follow(self, open_table: str | None = None, force: bool = False) -> None:
        """Catch up with the client's version/timestamp: list tables, re-run the query."""
        with self._follow_lock:
            if open_table:
                self._show_later = open_table
            if self._client.auth_state in SIGNED_OUT:
                self._show_signed_out()
                return
            self.status = "loading"
            snap = bq.snapshot_of(self._client)
            if snap == self._snap and not force and self._show_later is None:
                self.status = "ready"
                return
            self.at = snap.label  # the header tells where the view is going, even if it fails
            try:
                self._list_tables(snap)
            except Exception as exc:
                self._clear_view()  # no rows of another snapshot stay under the error
                with self.hold_sync():
                    self.error = {**friendly(exc), "retry": "refresh"}
                    self.status = "error"
                raise
            names = {t["name"] for t in self.tables}
            wanted, self._show_later = self._show_later or self._query, None
            if wanted is self.SYNAPSE_TABLE:
                wanted = self._client.materialize.synapse_table
            name = wanted.source.name if isinstance(wanted, bq.Query) else wanted
            if isinstance(wanted, str) and name in names:
                self.open_table(name)
            elif isinstance(wanted, bq.Query) and name in names:
                self._reopen(wanted, snap)
            elif wanted:
                self._clear_view(keep=False)
                self.message = f"{name} is not in {snap.label}; pick a table"
            self.status, self.error = "ready", {}

    def _clear_view(self, keep: bool = True, tables: bool = False) -> None:
        """Take the rows off screen: the query, its pages, counts, fetched frame and
        selection. With `keep`, the query is shown again when the view can load; with
        `tables`, the table list goes too (another user may see other tables)."""
        with self._lock:
            if keep and self._query is not None:
                self._show_later = self._query
            self._query = None
            self._pages.clear()
            self._counts.clear()
            self._sorted_ids.clear()
            self._full = None
            if tables:
                self._snap, self._views = None, {}
        self.cancel()
        with self.hold_sync():
            self.table, self.columns, self.total, self.selection = "", [], None, []
            self.progress, self.message, self.code = {}, "", ""
            if tables:
                self.tables = []
            self.generation += 1

    def _show_signed_out(self) -> None:
        self._clear_view(tables=True)
        with self.hold_sync():
            self.error = {}
            self.status = "signed_out"

    def _auth_changed(self, change) -> None:
        """Another user (or nobody) is signed in: nothing the previous one saw stays on
        screen; signed in, the view loads again with the same table and filters."""
        if (change["new"] == "verified" and self._client.auth is self._loaded_with
                and not self.error and self.status != "signed_out"):
            return  # the token this view was loaded with was just confirmed
        self._clear_view(tables=True)
        self.error = {}
        self._in_background(lambda: self._follow(force=True), retry="refresh")

    def _reopen(self, previous: bq.Query, snap: bq.Snapshot) -> None:
        """The same table, filters and columns at another version or time. Filters that no
        longer apply (a column gone) are dropped, and the message says which."""
        source = bq.load_source(self._client.materialize, previous.source.name, snap,
                                self._views)
        specs = list(self.filters)
        check = check_specs(specs, source.columns)
        dropped = [specs[int(i)].get("column", "?") for i in sorted(check.errors, key=int)]
        if dropped:
            check = check_specs([s for i, s in enumerate(specs) if str(i) not in check.errors],
                                source.columns)
        select = None
        if previous.select is not None:
            select = check_columns([c for c in previous.select if c in source.columns.kinds]
                                   or None, source.columns, source.key)
        with self.hold_sync():
            self._show_source(source)
            order = previous.order if previous.order and previous.order[0] in \
                source.columns.kinds else None
            self._install(self._sorted(bq.Query(source, snap, check.arguments,
                                                None if select is None else tuple(select)),
                                       order), specs=check.specs)
            self.message = (f"Filters on {', '.join(dropped)} do not apply at {snap.label} "
                            "and were removed." if dropped else "")

    def _show_source(self, source: bq.Source) -> None:
        self.table = source.name
        self.table_info = {"name": source.name, "kind": source.kind,
                           "description": source.description, "notice": source.notice,
                           "schema": source.schema, "reference": source.reference,
                           "key": source.key or ""}
        self.columns = _columns_of(source)

def _columns_of(source: bq.Source) -> list[dict]:
    return [{"name": c, "kind": k, "ops": list(OPS_BY_KIND.get(k, ()))}
            for c, k in source.columns.kinds.items()]
