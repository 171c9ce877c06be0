"""TableBrowser.df and .selected_df against the embedded demo server: the whole query in
chunks past a lowered row cap equals one big query, nothing is silently truncated, a fetch
can be cancelled (from Python and from the browser), progress is reported."""

from __future__ import annotations

import threading
import time
import warnings

import pandas as pd
import pytest
from helpers.client_materialize import (  # noqa: F401  (fixtures)
    LATEST,
    client,
    home,
    no_row_cap_warning,
    row_cap,
    sent,
)
from helpers.widget_table_browser import browser  # noqa: F401  (fixture)

from cave_widgets.client.errors import RowCapWarning
from cave_widgets.widgets.table_browser import fetch as bf
from cave_widgets.widgets.table_browser import query as bq


@pytest.fixture()
def slow_server(client):
    """Every response from the server takes 20 ms longer (so a fetch can be caught)."""
    def pause(response, *args, **kwargs):
        time.sleep(0.02)

    client.session.hooks["response"].append(pause)
    yield
    client.session.hooks["response"].remove(pause)


def test_df_in_chunks_past_a_lowered_row_cap_equals_one_big_query(browser, client,
                                                                   demo_server):
    b = browser("synapses")
    b.set_query(filters=[{"column": "size", "op": "range", "min": "200"}])
    expected = client.materialize.query_table("synapses", filter_greater_equal_dict={
        "size": 200}, materialization_version=LATEST)
    assert len(expected) > 10_000
    with row_cap(demo_server, 1500), no_row_cap_warning(), sent(client) as spy:
        df = b.df
    pd.testing.assert_frame_equal(df, expected)
    queries = [body for path, _, body in spy.posts if path.endswith("/query")]
    # a count, the first (capped) chunk and the re-count the client makes when the cap cut
    # it, then chunks of exactly the cap, keyed on the last id
    assert all(body.get("limit", 0) <= 1500 for body in queries[3:])
    assert len(queries) >= len(expected) // 1500
    assert all("offset" not in body for body in queries)
    assert b.progress["state"] == "done" and b.progress["fetched"] == len(expected)
    assert df.attrs["filters"]["greater"] is None  # attrs describe the query, not a chunk
    assert df.attrs["limit"] is None and df.attrs["materialization_version"] == LATEST


def test_df_of_a_view_and_of_no_rows(browser, client, demo_server):
    b = browser("nucleus_types")
    with row_cap(demo_server, 100), no_row_cap_warning():
        df = b.df
    pd.testing.assert_frame_equal(df, client.materialize.query_view(
        "nucleus_types", materialization_version=LATEST))
    b.set_query(filters=[{"column": "id", "op": "range", "min": "1", "max": "2"}])
    empty = b.df
    assert len(empty) == 0 and "cell_type" in empty.columns


def test_df_is_fetched_once_per_query(browser, client):
    b = browser("cell_types")
    first = b.df
    with sent(client) as spy:
        second = b.df
    assert spy.calls == [] and second.equals(first)
    second["cell_type"] = "changed"  # a copy: the cached result stays as fetched
    assert (b.df["cell_type"] != "changed").all()


def test_cancel_stops_a_fetch(browser, client, demo_server, slow_server):
    b = browser("synapses")
    total = b.count()
    with row_cap(demo_server, 200):
        job = b.start_fetch()
        deadline = time.monotonic() + 30
        while job.fetched == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        b.cancel()
        assert job.done.wait(30)
    assert job.cancelled and 0 < job.fetched < total
    requests = job.requests
    assert requests < total // 200
    assert b.progress["state"] == "cancelled" and "Cancelled" in b.progress["message"]
    time.sleep(0.2)
    assert job.requests == requests  # nothing more was asked for


def test_the_browser_cancels_with_a_message(browser, client, demo_server, slow_server):
    b = browser("synapses")
    b.count()
    with row_cap(demo_server, 200):
        b._on_browser_message(b, {"type": "fetch", "id": "v1:9"}, [])
        b.wait()
        job = b._job
        while job.fetched == 0 and not job.done.is_set():
            time.sleep(0.01)
        b._on_browser_message(b, {"type": "cancel", "target": "fetch"}, [])
        assert job.done.wait(30)
    assert b.progress["state"] == "cancelled"


def test_cancel_from_progress_stops_before_the_next_request(client, demo_server):
    source = bq.load_source(client.materialize, "synapses", bq.Snapshot(LATEST), {})
    query = bq.Query(source, bq.Snapshot(LATEST))
    job = bf.FetchJob(generation=0)
    with row_cap(demo_server, 1000), pytest.raises(bq.Cancelled):
        bf.fetch_all(client.materialize, query, job=job,
                     progress=lambda fetched, total: fetched and job.cancel())
    assert job.requests == 1


def test_rows_that_stay_missing_are_never_silent(browser, client, monkeypatch):
    b = browser("cell_types")
    real = bq.count
    monkeypatch.setattr(bq, "count", lambda mat, query, cancelled=None: (
        real(mat, query)[0] + 5, True))  # the server now says 5 more rows match
    n = len(client.materialize.query_table("cell_types", limit=10_000))  # from the data
    with pytest.warns(RowCapWarning, match=f"fetched {n} of {n + 5}"):
        df = b.df
    assert len(df) == n
    assert b.progress["state"] == "incomplete" and str(n + 5) in b.progress["message"]


def test_selected_df_holds_the_selected_rows(browser, client):
    b = browser("synapses", page_size=50)
    b.set_query(filters=[{"column": "size", "op": "range", "min": "500"}])
    first, third = b.page(0), b.page(2)
    import pyarrow as pa

    ids = [pa.ipc.open_stream(p.ipc).read_all().column("id").to_pylist()
           for p in (first, third)]
    chosen = ids[0][3:6] + ids[1][:2]
    b.selection = chosen
    selected = b.selected_df
    assert [str(v) for v in selected["id"]] == sorted(chosen, key=int)
    expected = client.materialize.query_table("synapses", filter_in_dict={
        "id": [int(i) for i in chosen]}, materialization_version=LATEST)
    pd.testing.assert_frame_equal(selected.reset_index(drop=True), expected,
                                  check_like=False)
    # a selected row the filters no longer match is not in selected_df
    b.set_query(filters=[{"column": "id", "op": "range", "min": str(int(chosen[-1]))}])
    assert [str(v) for v in b.selected_df["id"]] == [chosen[-1]]
    b.selection = []
    empty = b.selected_df
    assert len(empty) == 0 and list(empty.columns) == list(expected.columns)


def test_fetch_runs_off_the_message_thread(browser):
    b = browser("synapses")
    names = []
    real = bf.fetch_all

    def spy(*args, **kwargs):
        names.append(threading.current_thread().name)
        return real(*args, **kwargs)

    bf.fetch_all = spy
    try:
        b._on_browser_message(b, {"type": "fetch", "id": 1}, [])
        b.wait()
        b._job.done.wait(30)
    finally:
        bf.fetch_all = real
    assert names and names[0] != threading.main_thread().name
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(b.df) == b.count()
