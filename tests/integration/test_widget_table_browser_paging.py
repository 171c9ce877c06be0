"""TableBrowser paging against the embedded demo server: pages cover the filtered result
exactly once and in order, keyset and offset pages agree, jumps and going back, page size,
the bounded page cache, and pages the server's row cap cuts short."""

from __future__ import annotations

import pyarrow as pa
from helpers.client_materialize import (  # noqa: F401  (fixtures)
    LATEST,
    client,
    home,
    row_cap,
    sent,
)
from helpers.widget_table_browser import browser  # noqa: F401  (fixture)

from cave_widgets.widgets.table_browser.paging import PageCache, PageCursor, fetch_page


def page_ids(page) -> list[int]:
    return [int(v) for v in pa.ipc.open_stream(page.ipc).read_all().column("id").to_pylist()]


FILTERS = [{"column": "size", "op": "range", "min": "600"},
           {"column": "id", "op": "range", "min": "1000", "max": "9000"}]


def expected_ids(client) -> list[int]:
    df = client.materialize.query_table(
        "synapses", filter_greater_equal_dict={"size": 600, "id": 1000},
        filter_less_equal_dict={"id": 9000}, select_columns=["id"],
        materialization_version=LATEST)
    return [int(v) for v in df["id"]]


def test_pages_cover_the_filtered_result_exactly_once_in_order(browser, client):
    b = browser("synapses", page_size=500)
    b.set_query(filters=FILTERS)
    total = b.count()
    expected = expected_ids(client)
    assert total == len(expected) > 2 * 500
    seen, number = [], 0
    while True:
        page = b.page(number)
        assert page.offset == number * 500 == b.offset
        assert page.keyset  # each next page follows the last id seen
        seen += page_ids(page)
        if page.rows < 500:
            break
        number += 1
    assert seen == expected  # every row once, ordered by id
    assert b.page(number + 1).rows == 0


def test_keyset_and_offset_pages_agree(browser, client):
    b = browser("synapses", page_size=50)
    b.set_query(filters=FILTERS)
    query, mat = b.query, client.materialize
    walking = PageCursor(50)
    for number in range(6):
        keyset = fetch_page(mat, query, walking, number)
        # a cursor that knows nothing: by offset, and by the id found at that offset
        offset = fetch_page(mat, query, PageCursor(50), number, probe=False)
        jumped = fetch_page(mat, query, PageCursor(50), number)
        assert keyset.keyset and (offset.keyset == (number == 0))
        assert page_ids(keyset) == page_ids(offset) == page_ids(jumped)
        assert keyset.ipc == offset.ipc == jumped.ipc
    expected = expected_ids(client)
    last = (len(expected) - 1) // 50
    for probe in (True, False):
        assert page_ids(fetch_page(mat, query, PageCursor(50), last, probe)) == expected[
            last * 50:]
        assert fetch_page(mat, query, PageCursor(50), last + 1, probe).rows == 0


def test_a_jump_uses_an_offset_then_neighbours_use_keys(browser, client):
    b = browser("synapses", page_size=100)
    expected = [int(v) for v in client.materialize.query_table(
        "synapses", select_columns=["id"], materialization_version=LATEST)["id"]]
    with sent(client) as spy:
        jumped = b.page(40)
        after = b.page(41)
        back = b.page(40)  # from the page cache
        before = b.page(39)  # start unknown: offset
        again = b.page(38)
    # the queries (each page also asks the chunkedgraph which of its root ids changed since)
    bodies = [body for path, _, body in spy.posts if path.endswith("/query")]
    # the jump: the id at offset 4000 alone, then the page from that id on
    assert bodies[0]["offset"] == 4000 and bodies[0]["limit"] == 1
    assert bodies[0]["select_columns"] == ["id"]
    assert "offset" not in bodies[1] and bodies[1]["filter_greater_dict"] == {
        "synapses": {"id": page_ids(jumped)[0] - 1}}
    # the next page follows the last id seen
    assert "offset" not in bodies[2] and bodies[2]["filter_greater_dict"] == {
        "synapses": {"id": page_ids(jumped)[-1]}}
    assert len(bodies) == 7  # page 40 came back from the cache; 39 and 38 are jumps
    assert not jumped.keyset and after.keyset and not before.keyset and not again.keyset
    assert page_ids(back) == page_ids(jumped)
    for number, page in ((40, jumped), (41, after), (39, before), (38, again)):
        assert page_ids(page) == expected[number * 100:(number + 1) * 100]


def test_a_users_own_id_filter_and_the_keyset_combine(browser, client):
    b = browser("synapses", page_size=100)
    b.set_query(filters=[{"column": "id", "op": "range", "min": "5000"}])
    pages = [page_ids(b.page(n)) for n in range(3)]
    flat = [i for p in pages for i in p]
    assert flat == sorted(flat) and flat[0] >= 5000 and len(set(flat)) == 300


def test_changing_page_size_or_filters_starts_again(browser):
    b = browser("synapses", page_size=50)
    first = page_ids(b.page(0))
    b.page(3)
    generation = b.generation
    b.set_query(page_size=100)
    assert b.generation == generation + 1 and b.offset == 0 and b.page_size == 100
    assert page_ids(b.page(0))[:50] == first
    assert page_ids(b.page(1))[0] > first[-1]
    b.page_size = 50  # from a cell
    assert b.generation == generation + 2 and b._cursor.page_size == 50
    assert page_ids(b.page(1))[0] > first[-1] and len(page_ids(b.page(1))) == 50


def test_the_page_cache_is_bounded():
    cache = PageCache(size=3)
    for n in range(10):
        cache.put(("q", n), object())
    assert cache.get(("q", 0)) is None and cache.get(("q", 9)) is not None
    assert len(cache._pages) == 3


def test_views_page_too(browser, client):
    b = browser("nucleus_types", page_size=50)
    expected = [int(v) for v in client.materialize.query_view(
        "nucleus_types", materialization_version=LATEST)["id"]]
    seen = []
    for n in range(b.count() // 50 + 1):
        seen += page_ids(b.page(n))
    assert seen == expected


def test_a_page_cut_short_by_the_row_cap_says_so(browser, demo_server):
    b = browser("synapses", page_size=100)
    b.count()
    with row_cap(demo_server, 30):
        page = b.page(2)
    assert page.rows == 30 and page.truncated and page.meta()["truncated"]
