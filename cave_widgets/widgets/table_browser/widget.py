"""TableBrowser: browse the tables and views of a datastack, page through filtered rows on the
server, and take the result (or the selected rows, or the code) back into the notebook.

    browser = TableBrowser(client)          # follows client.version / client.timestamp
    browser                                 # pick a table, filter, page, select
    browser.df                              # the whole current query, fetched in chunks
    browser.selected_df                     # the rows selected in the grid
    browser.neuroglancer_url()              # a link showing them in neuroglancer
    print(browser.code)                     # the same query as a client call

Only one page of rows ever reaches the browser, as an Arrow IPC buffer with ids as text.
Synced traits hold UI state only: never a token, never rows. Every request from the browser,
the table listing and the full fetch run on the widget's workers (see _base.RequestWidget);
the full fetch reports progress and can be cancelled, so browsing goes on meanwhile.
"""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import Future
from dataclasses import replace

import traitlets

from ...client import errors
from ...client.errors import QueryValidationError
from .._base import STATIC, RequestWidget, bundle, friendly, log
from . import fetch as bf
from . import query as bq
from .code import query_code
from .filters import check_columns, check_specs
from .following import ClientFollowing
from .marks import RowMarks
from .neuroglancer import MAX_ROWS as NEUROGLANCER_MAX_ROWS
from .neuroglancer import NeuroglancerLinks, StoredStates
from .paging import MAX_PAGE_SIZE, PAGE_SIZES, PageCache, PageCursor, fetch_page


class _SynapseTable:
    """Stands for the datastack's synapse table before anyone may ask its name (a client
    made before signing in): TableBrowser(client, table=TableBrowser.SYNAPSE_TABLE)."""

    def __repr__(self) -> str:
        return "TableBrowser.SYNAPSE_TABLE"


MAX_SUGGESTIONS = 200
MAX_SELECTION = 100_000
_INT_TEXT = re.compile(r"^-?\d+$")


class TableBrowser(ClientFollowing, RowMarks, NeuroglancerLinks, RequestWidget):
    """Browse materialization tables and views of `client`'s datastack. `table` opens one
    (by name, or TableBrowser.SYNAPSE_TABLE for the datastack's synapse table) as soon as
    the view can load."""

    SYNAPSE_TABLE = _SynapseTable()

    _esm = bundle("table_browser")
    _css = STATIC / "table_browser.css"

    at = traitlets.Unicode("").tag(sync=True)  # "version 5" or "live at ..."
    tables = traitlets.List(traitlets.Dict()).tag(sync=True)
    table = traitlets.Unicode("").tag(sync=True)
    table_info = traitlets.Dict().tag(sync=True)
    columns = traitlets.List(traitlets.Dict()).tag(sync=True)  # [{name, kind, ops}]
    selected_columns = traitlets.List(traitlets.Unicode()).tag(sync=True)
    filters = traitlets.List(traitlets.Dict()).tag(sync=True)  # specs, see filters.py
    filter_errors = traitlets.Dict().tag(sync=True)  # str(filter index) -> message
    filter_error_fields = traitlets.Dict().tag(sync=True)  # str(filter index) -> inputs at fault
    suggestions = traitlets.Dict().tag(sync=True)  # text column -> known values
    page_size = traitlets.Int(100).tag(sync=True)
    page_sizes = traitlets.List(traitlets.Int(), list(PAGE_SIZES)).tag(sync=True)
    offset = traitlets.Int(0).tag(sync=True)
    total = traitlets.Int(None, allow_none=True).tag(sync=True)
    total_exact = traitlets.Bool(True).tag(sync=True)
    # signed_out: nothing to show until someone signs in (the view reloads by itself then)
    status = traitlets.Enum(["idle", "loading", "ready", "error", "signed_out"],
                            "idle").tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)
    progress = traitlets.Dict().tag(sync=True)  # the full fetch: state, fetched, total, message
    error = traitlets.Dict().tag(sync=True)  # friendly(exc) + "retry": what to do again
    selection = traitlets.List().tag(sync=True)  # ids, as text (see _valid_selection)
    # How many selected ids are rows of the current query (None while counting): the
    # selection outlives filter and version changes, the rows it names may not.
    selected_in_query = traitlets.Int(None, allow_none=True).tag(sync=True)
    # Root ids in the filters that match nothing at the snapshot (not the latest roots
    # then): {column: [ids as text]}; "update_roots" rewrites them.
    stale_filter = traitlets.Dict().tag(sync=True)
    # The header sort: {column, descending, scope: "all" | "page", note}; {} when unsorted.
    sort = traitlets.Dict().tag(sync=True)
    generation = traitlets.Int(0).tag(sync=True)  # bumped whenever the query changes
    # rows an "Open in neuroglancer" link may hold (neuroglancer.py)
    neuroglancer_max_rows = traitlets.Int(NEUROGLANCER_MAX_ROWS).tag(sync=True)
    code = traitlets.Unicode("").tag(sync=True)

    def __init__(self, client, table: str | None = None, page_size: int = 100, **kwargs):
        super().__init__(page_size=_page_size(page_size), **kwargs)
        self._client = client
        self._lock = threading.RLock()
        self._follow_lock = threading.Lock()
        self._snap: bq.Snapshot | None = None
        self._views: dict = {}
        self._query: bq.Query | None = None
        self._cursor = PageCursor(self.page_size)
        self._pages = PageCache()
        self._counts: dict = {}
        self._job: bf.FetchJob | None = None
        self._full: tuple | None = None  # (query key, Fetched)
        # What to show again once the view can load (a table name, or the Query on screen
        # before a sign-out or a failed version change).
        self._show_later: bq.Query | str | _SynapseTable | None = table
        self._loaded_with = None  # the client's AuthClient the view was loaded with
        self._sorted_ids: dict = {}  # query key -> ids in order (sorts done in the kernel)
        self._server_sorts: bool | None = None  # can the server sort? (asked once)
        self._sort_note = ""  # what the header says of the sort's reach
        self._sizing = False
        self._stored_states = StoredStates()
        for kind, fn in (("open", self._on_open), ("query", self._on_query),
                         ("sort", self._on_sort), ("update_roots", self._on_update_roots),
                         ("count", self._on_count), ("page", self._on_page),
                         ("fetch", self._on_fetch), ("refresh", self._on_refresh),
                         ("neuroglancer", self._on_neuroglancer)):
            self.handle(kind, fn)
        client.observe(self._client_changed, names=["version", "timestamp", "datastack_name"])
        client.observe(self._auth_changed, names=["auth_state"])
        self._in_background(self._follow, retry="refresh")

    # --- what a notebook uses ------------------------------------------------------------

    @property
    def query(self) -> bq.Query | None:
        return self._query

    def open_table(self, table: str) -> None:
        """Show `table` (or view): its columns, no filters, the first page."""
        snap = self._snap or self._list_tables(bq.snapshot_of(self._client))
        mat = self._client.materialize
        source = bq.load_source(mat, table, snap, self._views)
        suggestions = {}
        text_columns = [c for c, k in source.columns.kinds.items() if k == "string"]
        if text_columns and source.kind == "table":
            try:
                found = mat.get_unique_string_values(table) or {}
                suggestions = {c: list(found.get(c) or [])[:MAX_SUGGESTIONS]
                               for c in text_columns if found.get(c)}
            except (errors.CAVEError, ValueError) as exc:  # suggestions are a nicety
                log.debug("no value suggestions for %s: %s", table, exc)
        with self.hold_sync():
            self._show_source(source)
            self.suggestions = suggestions
            self._install(bq.Query(source, snap), specs=[])
            self.status, self.error, self.message = "ready", {}, ""

    def set_query(self, filters=None, columns=None, page_size: int | None = None) -> None:
        """Change filters (list of specs), the column selection and/or the page size. Invalid
        filters are explained in `filter_errors` and raise QueryValidationError; nothing is
        sent to the server then."""
        query = self._require_query()
        check = check_specs(self.filters if filters is None else filters, query.source.columns)
        with self.hold_sync():
            self.filter_error_fields = check.fields
            self.filter_errors = check.errors
        check.raise_if_invalid()
        chosen = query.select if columns is None else columns
        select = check_columns(chosen, query.source.columns, query.source.key)
        size = self.page_size if page_size is None else _page_size(page_size)
        new = self._sorted(replace(query, filters=check.arguments,
                                   select=None if select is None else tuple(select)))
        with self.hold_sync():
            self._sizing = True
            try:
                self.page_size = size
            finally:
                self._sizing = False
            self._install(new, specs=check.specs)

    def count(self) -> int:
        """How many rows match the current query (at most bq.LIVE_COUNT_LIMIT when live)."""
        return self._count()[0]

    def page(self, number: int):
        """Page `number` (0-based) of the current query: a paging.Page whose .ipc is
        what the browser gets."""
        return self._page(int(number))

    @property
    def df(self):
        """The current query, every row, fetched in chunks (the server's row cap never cuts
        it short silently). Waits for a fetch started from the widget; interrupt the kernel
        to cancel."""
        query = self._require_query()
        if self._full is None or self._full[0] != query.key:
            job = self.start_fetch()
            try:
                while not job.done.wait(0.1):  # short waits: KeyboardInterrupt gets through
                    pass
            except KeyboardInterrupt:
                job.cancel()
                raise
            if job.error is not None:
                raise job.error
            if self._full is None or self._full[0] != query.key:
                raise bq.Cancelled("the fetch was cancelled; browser.df has nothing new")
        fetched = self._full[1]
        fetched.warn_if_incomplete(stacklevel=3)
        return fetched.df.copy(deep=False)

    @property
    def selected_df(self):
        """The rows of the current query whose ids are selected, in id order."""
        query = self._require_query()
        key = query.source.key
        if not key:
            raise QueryValidationError(f"{query.source.name} has no id column to select by")
        ids = [int(i) for i in self.selection]
        return bf.fetch_rows_by_id(self._client.materialize, query, ids)

    def start_fetch(self, request_id=None) -> bf.FetchJob:
        """Fetch the whole current query in the background (progress in `progress`);
        returns the job (``job.cancel()``, ``job.done.wait()``)."""
        query = self._require_query()
        with self._lock:
            job = self._job
            if job is not None and not job.done.is_set():
                if job.query_key == query.key and not job.cancelled:
                    return job
                job.cancel()
            job = bf.FetchJob(generation=self.generation, request_id=request_id)
            job.query_key = query.key
            self._job = job
        self.submit(self._run_fetch, job, query, waited_for=False)
        return job

    def cancel(self) -> None:
        """Stop the running full fetch (if any) before its next request."""
        job = self._job
        if job is not None and not job.done.is_set():
            job.cancel()

    def refresh(self) -> None:
        """List the tables again and re-run the current query (after an error, say)."""
        self._snap = None
        self._follow(force=True)

    def close(self) -> None:
        client = getattr(self, "_client", None)
        if client is not None:
            try:
                client.unobserve(self._client_changed,
                                 names=["version", "timestamp", "datastack_name"])
            except ValueError:
                pass
            self.cancel()
        super().close()

    # --- the query in force ----------------------------------------------------------------

    def _require_query(self) -> bq.Query:
        query = self._query
        if query is None:
            raise QueryValidationError("no table is open: pick one (browser.open_table(name))")
        return query

    def _install(self, query: bq.Query, specs: list) -> None:
        """Make `query` the current one: new cursor, generation, code; counts and pages are
        asked for by the browser (or by count()/page())."""
        with self._lock:
            previous, self._query = self._query, query
            keyed = bool(query.source.key) and query.order_scope in ("", "page")
            self._cursor = PageCursor(self.page_size, keyed=keyed)
            generation = self.generation + 1
            known = self._counts.get(query.key)
        with self.hold_sync():
            if previous is None or previous.source.name != query.source.name:
                self.selection = []  # ids of another table select nothing here
            self.filters = specs
            self.filter_errors, self.filter_error_fields = {}, {}
            self.selected_columns = list(query.select or query.source.columns.kinds)
            self.code = query_code(query)
            self.sort = {} if query.order is None else {
                "column": query.order[0], "descending": query.order[1],
                "scope": "page" if query.order_scope == "page" else "all",
                "note": self._sort_note}
            self.offset = 0
            if self.progress.get("state") != "running":  # a finished fetch was of another query
                self.progress = {}
            self.total = known[0] if known else None
            self.total_exact = known[1] if known else True
            self.generation = generation
            self.stale_filter = {}
        self._count_selected()
        if any(query.filters.get(a) for a in ("filter_in_dict", "filter_equal_dict")):
            self._in_background(self._check_filter_roots)

    def _count(self) -> tuple[int, bool]:
        query, generation = self._require_query(), self.generation
        known = self._counts.get(query.key)
        if known is None:
            known = bq.count(self._client.materialize, query)
            self._counts[query.key] = known
        if generation == self.generation:
            with self.hold_sync():
                self.total, self.total_exact = known
                if not query.filters and known[1]:
                    self._show_table_rows(query.source.name, known[0])
        return known

    def _show_table_rows(self, name: str, rows: int) -> None:
        """The list's row count of a table, now known exactly (live lists have none)."""
        self.tables = [{**t, "rows": rows, "approximate": False} if t["name"] == name else t
                       for t in self.tables]

    def _page(self, number: int):
        with self._lock:
            query, cursor, generation = self._require_query(), self._cursor, self.generation
        cache_key = (query.key, cursor.page_size, number)
        page = self._pages.get(cache_key)
        if page is None and query.order_scope == "kernel":
            page = self._kernel_sorted_page(query, cursor.page_size, number)
            self._pages.put(cache_key, page)
        elif page is None:
            page = fetch_page(self._client.materialize, query, cursor, number,
                              stale_of=self._stale_of(query))
            self._pages.put(cache_key, page)
        elif page.first_key is not None:  # a page from the cache still teaches the cursor
            cursor.learn(number, page.first_key, page.last_key, page.rows)
        known = self._counts.get(query.key)
        if known and known[1] and page.rows < cursor.page_size:
            page.truncated = page.offset + page.rows < known[0]
        if generation == self.generation:
            self.offset = page.offset
        return page

    # --- requests from the browser ---------------------------------------------------------

    def _on_browser_message(self, widget, content, buffers) -> None:
        # A cancel must not wait behind the requests it cancels: handle it right here.
        if isinstance(content, dict) and content.get("type") == "cancel":
            job = self._job
            if job is not None and content.get("target") in ("fetch", job.request_id):
                job.cancel()
            return
        super()._on_browser_message(widget, content, buffers)

    def _guarded(self, retry: str, fn):
        """Run fn; a failure also lands in `error` (with what Retry should do) unless the
        query changed meanwhile (then nobody waits for it)."""
        generation = self.generation
        try:
            result = fn()
        except Exception as exc:
            if generation == self.generation:
                with self.hold_sync():
                    self.error = {**friendly(exc), "retry": retry}
                    self.status = "error"
            raise
        if self.error.get("retry") == retry:  # what failed before works now
            with self.hold_sync():
                self.error, self.status = {}, "ready"
        return result

    def _on_open(self, content, _buffers):
        self._guarded("refresh", lambda: self.open_table(str(content.get("table", ""))))
        return {"generation": self.generation}

    def _on_query(self, content, _buffers):
        self.set_query(filters=content.get("filters"), columns=content.get("columns"),
                       page_size=content.get("page_size"))
        return {"generation": self.generation}

    def _on_sort(self, content, _buffers):
        column = content.get("column")
        self._guarded("page", lambda: self.sort_by(
            str(column) if column else None, bool(content.get("descending"))))
        return {"generation": self.generation}

    def _on_update_roots(self, _content, _buffers):
        return {"updated": self._guarded("refresh", self.update_filter_roots),
                "generation": self.generation}

    def _on_count(self, _content, _buffers):
        total, exact = self._guarded("count", self._count)
        return {"total": total, "exact": exact, "generation": self.generation}

    def _on_page(self, content, _buffers):
        page = self._guarded("page", lambda: self._page(int(content.get("page") or 0)))
        return {**page.meta(), "generation": self.generation}, [page.ipc]

    def _on_fetch(self, content, _buffers):
        job = self.start_fetch(request_id=content.get("id"))
        return {"started": True, "generation": job.generation}

    def _on_refresh(self, _content, _buffers):
        self._guarded("refresh", self.refresh)
        return {"generation": self.generation}

    # --- background work -------------------------------------------------------------------

    def _in_background(self, fn, retry: str | None = None) -> Future:
        """Run fn on the workers; with `retry`, a failure shows in `error` with that retry."""
        return self.submit(lambda: self._guarded(retry, fn) if retry else fn())

    def _run_fetch(self, job: bf.FetchJob, query: bq.Query) -> None:
        last = [0.0]

        def progress(fetched, total):
            now = time.monotonic()
            if now - last[0] > 0.1 or fetched == total:
                last[0] = now
                self.progress = {"state": "running", "fetched": fetched, "total": total,
                                 "message": f"Fetching rows: {fetched:,} of {total:,}"}

        self.progress = {"state": "running", "fetched": 0, "total": self.total,
                         "message": "Counting rows..."}
        try:
            known = self._counts.get(query.key)
            fetched = bf.fetch_all(self._client.materialize, query, job=job, progress=progress,
                                   total=known[0] if known else None,
                                   exact=known[1] if known else True)
            self._full = (query.key, fetched)
            n = len(fetched.df)
            text = fetched.shortfall or f"browser.df holds {n:,} rows ({fetched.requests} " \
                                        f"request{'s' if fetched.requests != 1 else ''})"
            self.progress = {"state": "done" if fetched.complete else "incomplete",
                             "fetched": n, "total": fetched.total, "message": text}
        except bq.Cancelled:
            self.progress = {"state": "cancelled", "fetched": job.fetched, "total": job.total,
                             "message": f"Cancelled after {job.fetched:,} rows; browser.df "
                                        "was not changed."}
        except Exception as exc:
            job.error = exc
            self.progress = {"state": "error", "fetched": job.fetched, "total": job.total,
                             "message": friendly(exc)["message"], "error": friendly(exc)}
        finally:
            job.done.set()

    # --- validation of what the browser (or a cell) sets ------------------------------------

    @traitlets.observe("page_size")
    def _page_size_changed(self, change) -> None:
        # `browser.page_size = 500` in a cell: pages start again at that size
        if getattr(self, "_sizing", True) or self._query is None:
            return
        self._install(self._query, specs=list(self.filters))

    @traitlets.validate("page_size")
    def _valid_page_size(self, proposal) -> int:
        return _page_size(proposal["value"])

    @traitlets.observe("selection")
    def _selection_changed(self, _change) -> None:
        self._count_selected()

    @traitlets.validate("selection")
    def _valid_selection(self, proposal):
        seen, out = set(), []
        for value in proposal["value"][:MAX_SELECTION]:
            text = str(value).strip()
            if _INT_TEXT.match(text) and text not in seen:
                seen.add(text)
                out.append(text)
        return out




def _page_size(value) -> int:
    size = int(value)
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise QueryValidationError(f"page size must be 1 to {MAX_PAGE_SIZE}, got {value}")
    return size
