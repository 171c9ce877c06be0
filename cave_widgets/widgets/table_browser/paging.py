"""Paging through a query on the server, one page at a time.

Rows come ordered by id, so a page that follows one already seen is asked for as ``id >
last id`` plus a limit (keyset paging: as fast on page 100,000 as on page 1); a jump to a
page whose start is unknown finds its first id with an id-only offset query, then pages by
key. Every fetched page teaches the cursor where it and the next page start, so going back
and forth after a jump is keyset too. Tables without an id column page by offset.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace

from . import query as bq
from .ipc import page_ipc

PAGE_SIZES = (50, 100, 500)
MAX_PAGE_SIZE = 1000


@dataclass
class Page:
    """One fetched page: its rows as Arrow IPC bytes and what the browser needs to show
    them."""

    number: int
    offset: int
    rows: int
    ipc: bytes
    columns: list
    keyset: bool
    truncated: bool = False  # the server's row cap returned fewer rows than asked for
    first_key: int | None = None
    last_key: int | None = None
    stale: list = field(default_factory=list)  # root ids on the page that changed since

    def meta(self) -> dict:
        return {"page": self.number, "offset": self.offset, "rows": self.rows,
                "columns": self.columns, "keyset": self.keyset, "truncated": self.truncated,
                "bytes": len(self.ipc), "stale": self.stale}


class PageCursor:
    """Page starts learnt so far for one query and page size: page k holds the rows with key
    > after[k] (page 0: all rows), page_size of them."""

    def __init__(self, page_size: int, keyed: bool = True):
        self.page_size = page_size
        self.keyed = keyed
        self._after: dict[int, int | None] = {0: None} if keyed else {}
        self._lock = threading.Lock()

    def plan(self, page: int) -> dict:
        """How to ask for `page`: {"after": key or None} (keyset) or {"offset": n}."""
        with self._lock:
            if page in self._after:
                return {"after": self._after[page]}
        return {"offset": page * self.page_size}

    def learn(self, page: int, first_key: int, last_key: int, rows: int) -> None:
        if not self.keyed or rows == 0:
            return
        with self._lock:
            # keys are integers: "key > first - 1" is "key >= first"
            self._after.setdefault(page, first_key - 1)
            if rows == self.page_size:
                self._after[page + 1] = last_key


def fetch_page(mat, query: bq.Query, cursor: PageCursor, page: int, probe: bool = True,
               stale_of=lambda frame: []) -> Page:
    """Ask the server for one page of `query` and encode it for the browser.

    A jump (a page whose start is unknown) first asks for the id at that offset alone, then
    for the page after it by key: a deep offset over one column is far cheaper than over
    every column (0.5 s instead of 2-15 s at row 25 million of the large demo). probe=False
    asks for the page by offset directly."""
    if page < 0:
        raise ValueError(f"page must be 0 or more, got {page}")
    plan = cursor.plan(page)
    key = query.source.key
    if probe and key and cursor.keyed and plan.get("offset"):
        ids = bq.run(mat, replace(query, select=(key,)), offset=plan["offset"], limit=1)
        if len(ids) == 0:  # past the end
            plan = {"offset": plan["offset"], "empty": True}
        else:
            plan = {"after": int(ids[key].iloc[0]) - 1, "jumped": True}
    if plan.get("empty"):
        frame = bq.run(mat, query, limit=1).iloc[0:0]
    else:
        frame = bq.run(mat, query, after=plan.get("after"), offset=plan.get("offset"),
                       limit=cursor.page_size)
    n = len(frame)
    first = last = None
    if key and n:
        first, last = int(frame[key].iloc[0]), int(frame[key].iloc[-1])
        cursor.learn(page, first, last, n)
    ipc, columns = page_ipc(frame, query.source.columns.kinds)
    return Page(number=page, offset=page * cursor.page_size, rows=n, ipc=ipc,
                columns=columns, keyset="after" in plan and not plan.get("jumped"),
                first_key=first, last_key=last, stale=stale_of(frame))


class PageCache:
    """The last few pages, so going back and forth does not ask the server again. Bounded:
    memory stays flat however far one pages."""

    def __init__(self, size: int = 12):
        self.size = size
        self._pages: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            page = self._pages.get(key)
            if page is not None:
                self._pages.move_to_end(key)
            return page

    def put(self, key, page: Page) -> None:
        with self._lock:
            self._pages[key] = page
            self._pages.move_to_end(key)
            while len(self._pages) > self.size:
                self._pages.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._pages.clear()
