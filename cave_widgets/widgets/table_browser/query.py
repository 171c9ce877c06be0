"""What the TableBrowser asks the server: one query (a table or view, at a version or a live
timestamp, with checked filters and columns) and the client calls that run it.

Pages and chunks of a query add a keyset condition (``id > last id seen``) or an offset;
counts use ``get_counts=True`` where the server offers it. Every call goes through the
client (no HTTP here), so its validation and typed errors apply.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from datetime import datetime

from ...client.errors import QueryValidationError, RowCapWarning
from ...client.materialize import columns as cols

# Live queries have no count mode: count by fetching ids, up to this many.
LIVE_COUNT_LIMIT = 1_000_000
CHUNK = 200_000  # rows per request when fetching everything (the usual server cap)


def quiet_row_cap() -> None:
    """The browser handles truncated chunks itself (it goes on from the last id and says so
    if anything stays missing), so the client's RowCapWarning is not shown for calls made
    from these modules. Other code keeps its warnings: the filter matches only warnings
    attributed to cave_widgets.widgets.table_browser."""
    warnings.filterwarnings("ignore", category=RowCapWarning,
                            module=r"cave_widgets\.widgets\.table_browser\.")


@dataclass(frozen=True)
class Snapshot:
    """Where the data comes from: a materialization version, or live at a timestamp."""

    version: int | None
    timestamp: datetime | None = None
    schema_version: int | None = None  # the version whose tables a live query lists
    pinned: bool = True  # False: the newest version, because the client names none

    @property
    def live(self) -> bool:
        return self.version is None

    @property
    def label(self) -> str:
        if self.live:
            return f"live at {self.timestamp:%Y-%m-%d %H:%M:%S} UTC"
        return f"version {self.version}"

    @property
    def listing_version(self) -> int:
        return self.schema_version if self.live else self.version


def snapshot_of(client) -> Snapshot:
    """The client's state now, read once. No version and no timestamp means the newest
    version, pinned so pages, counts and `code` agree with each other."""
    mat = client.materialize
    state = client.snapshot
    if state.version is not None:
        return Snapshot(state.version)
    if state.timestamp is not None:
        return Snapshot(None, state.timestamp, mat.most_recent_version())
    return Snapshot(mat.most_recent_version(), pinned=False)


@dataclass(frozen=True)
class Source:
    """A table or view, with the columns its schema gives it."""

    name: str
    kind: str  # "table" | "view"
    columns: cols.TableColumns
    reference: str = ""  # the table a reference table points at ("" for none)
    description: str = ""
    notice: str = ""
    schema: str = ""

    @property
    def key(self) -> str | None:
        """The column pages, chunks and selections are keyed on."""
        return "id" if self.columns.kinds.get("id") == "integer" else None


def load_source(mat, name: str, snap: Snapshot, views: dict) -> Source:
    version = snap.listing_version
    if name in views:
        if snap.live:
            raise QueryValidationError(
                f"{name} is a view; views are queried at a materialization version, not live. "
                "Pick a version.")
        meta = views[name] or {}
        return Source(name, "view", mat.view_columns(name, version),
                      description=meta.get("description") or "",
                      notice=meta.get("notice_text") or "")
    if snap.live:  # a table made since the newest version (an annotation table) too
        meta, columns = mat.live_table_metadata(name), mat.live_table_columns(name)
    else:
        meta, columns = mat.get_table_metadata(name, version=version), mat.table_columns(
            name, version)
    if snap.live:
        # Live answers have no `valid` column (every row alive at the time is valid), so
        # it is not offered: a ticked column that never arrives would be a lie.
        columns = replace(columns, kinds={c: k for c, k in columns.kinds.items()
                                          if c != "valid"})
    return Source(name, "table", columns,
                  reference=meta.get("reference_table") or "",
                  description=meta.get("description") or "",
                  notice=meta.get("notice_text") or "",
                  schema=meta.get("schema") or meta.get("schema_type") or "")


@dataclass(frozen=True)
class Query:
    """One browsable query. `filters` holds checked query arguments ({argument: {column:
    value}}); `select` is None for all columns."""

    source: Source
    at: Snapshot
    filters: dict = field(default_factory=dict)
    select: tuple | None = None
    # The header sort: (column, descending), and who applies it (sorting.py): "server",
    # "kernel" (sorted ids fetched here) or "page" (the browser, within each page).
    order: tuple[str, bool] | None = None
    order_scope: str = ""

    @property
    def key(self) -> tuple:
        """Identity for caches: same key, same rows (in the same order)."""
        frozen = tuple((a, tuple((c, repr(v)) for c, v in f.items()))
                       for a, f in self.filters.items())
        return (self.source.name, self.at, frozen, self.select, self.order, self.order_scope)

    @property
    def unordered(self) -> Query:
        """The same rows in id order (counts and keyset chunks walk ids)."""
        return replace(self, order=None, order_scope="") if self.order else self

    @property
    def server_order(self) -> list | None:
        if self.order is None or self.order_scope != "server":
            return None
        column, descending = self.order
        return [(column, "desc" if descending else "asc")]

    def with_filter(self, argument: str, column: str, value) -> Query:
        filters = {a: dict(f) for a, f in self.filters.items()}
        filters.setdefault(argument, {})[column] = value
        return replace(self, filters=filters)

    def restricted_to_ids(self, ids: list[int]) -> Query:
        """The rows of this query whose key is in ids (a user's own id list intersected)."""
        key = self.source.key
        own = self.filters.get("filter_in_dict", {}).get(key)
        if own is not None:
            allowed = set(own)
            ids = [i for i in ids if i in allowed]
        return self.with_filter("filter_in_dict", key, list(ids))

    def arguments(self, after: int | None = None) -> dict:
        """Keyword arguments of the client call (query_table / query_view style)."""
        filters = {a: dict(f) for a, f in self.filters.items()}
        if after is not None and after >= 0:  # ids are unsigned: "> -1" is every row
            greater = filters.setdefault("filter_greater_dict", {})
            key = self.source.key
            greater[key] = max(after, greater[key]) if key in greater else after
        kwargs = {a: f for a, f in filters.items() if f}
        if self.select is not None:
            kwargs["select_columns"] = list(self.select)
        if self.source.reference:
            # the table's own rows; the joined reference columns would make ids ambiguous
            kwargs["merge_reference"] = False
        if self.at.live:
            kwargs["timestamp"] = self.at.timestamp
        else:
            kwargs["materialization_version"] = self.at.version
        return kwargs


def run(mat, query: Query, *, after: int | None = None, offset: int | None = None,
        limit: int | None = None, metadata: bool = False):
    """One request: the query's rows after `after` (keyset) or from `offset`, up to `limit`
    (which the server may cut to its row cap). Returns a DataFrame."""
    quiet_row_cap()
    kwargs = query.arguments(after)
    name = query.source.name
    paging = {"offset": offset or None, "limit": limit, "metadata": metadata}
    if query.server_order:
        paging["order_by"] = query.server_order
    if query.source.kind == "view":
        return mat.query_view(name, **kwargs, **paging)
    if query.at.live:
        # What query_table(..., timestamp=...) does for a table without a reference join,
        # called from here so truncation warnings are attributed (and handled) here.
        kwargs.pop("merge_reference", None)
        when = kwargs.pop("timestamp")
        nested = {a: {name: f} for a, f in kwargs.items() if a.startswith("filter_")}
        select = kwargs.get("select_columns")
        return mat.live_live_query(name, when, **nested, **paging,
                                   select_columns={name: select} if select else None,
                                   log_warning=False)
    return mat.query_table(name, **kwargs, **paging, log_warning=False)


def count(mat, query: Query, cancelled=lambda: False) -> tuple[int, bool]:
    """(rows matching, exact). Versions count on the server; live queries count ids in
    chunks, up to LIVE_COUNT_LIMIT (then exact is False)."""
    query = query.unordered
    if not query.at.live:
        kwargs = query.arguments()
        kwargs.pop("select_columns", None)
        quiet_row_cap()
        if query.source.kind == "view":
            frame = mat.query_view(query.source.name, **kwargs, get_counts=True, metadata=False)
        else:
            frame = mat.query_table(query.source.name, **kwargs, get_counts=True,
                                    metadata=False, log_warning=False)
        return int(frame["count"].iloc[0]), True
    key = query.source.key
    ids_only = replace(query, select=(key,) if key else query.select)
    total, after, chunk = 0, None, CHUNK
    while total < LIVE_COUNT_LIMIT:
        if cancelled():
            raise Cancelled()
        limit = min(chunk, LIVE_COUNT_LIMIT - total)
        frame = run(mat, ids_only, after=after if key else None,
                    offset=None if key else total, limit=limit)
        n = len(frame)
        if n == 0:
            return total, True
        total += n
        if key:
            after = int(frame[key].iloc[-1])
        chunk = min(chunk, n) if n < limit else chunk  # learn the server's cap
    return total, False


class Cancelled(Exception):
    """A long request was cancelled by the person."""
