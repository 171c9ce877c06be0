"""TableBrowser follows its client: a new client.version (or a live timestamp) re-lists the
tables and re-runs the query there, keeping the filters that still apply; errors such as an
expired version reach the person with a Retry."""

from __future__ import annotations

import ast
import warnings
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
from helpers.client_materialize import (  # noqa: F401  (fixtures)
    LATEST,
    fresh_client,
    home,
)
from helpers.widget_table_browser import browsers_for

from cave_widgets.client.errors import ExpiredVersionWarning


def run_code(code: str, client) -> pd.DataFrame:
    """browser.code as a person pastes it: its statements, then the client call."""
    tree = ast.parse(code)
    *body, last = tree.body
    scope = {"client": client}
    exec(compile(ast.Module(body=body, type_ignores=[]), "<code>", "exec"), scope)
    return eval(compile(ast.Expression(last.value), "<code>", "eval"), scope)


@pytest.fixture()
def browser(fresh_client):
    yield from browsers_for(fresh_client)


FILTERS = [{"column": "size", "op": "range", "min": "400"}]


def test_following_client_version_changes(browser, fresh_client):
    client = fresh_client
    b = browser("synapses")
    b.set_query(filters=FILTERS, columns=["size", "pre_pt_root_id"])
    at_latest = b.count()
    generation = b.generation
    client.version = 3
    b.wait()
    assert b.at == "version 3" and b.generation > generation
    assert b.table == "synapses" and b.filters[0]["column"] == "size"  # filters kept
    assert "materialization_version=3" in b.code
    expected = client.materialize.query_table("synapses", filter_greater_equal_dict={
        "size": 400}, select_columns=["id", "pre_pt_root_id", "size"],
        materialization_version=3)
    assert b.count() == len(expected) != at_latest
    pd.testing.assert_frame_equal(b.df, expected)
    assert b.at == "version 3"
    client.version = None  # back to the newest
    b.wait()
    assert b.at == f"version {LATEST}" and b.count() == at_latest


def test_a_table_missing_at_the_new_version_is_closed_with_a_message(browser, fresh_client):
    b = browser("cell_type_ref")
    fresh_client.version = 2  # cell_type_ref came after version 2
    b.wait()
    assert "cell_type_ref" not in {t["name"] for t in b.tables}
    assert b.table == "" and "not in version 2" in b.message
    assert b.status == "ready"


def test_live_timestamp_lists_tables_and_queries_live(browser, fresh_client):
    client = fresh_client
    b = browser("synapses")
    b.set_query(filters=[{"column": "id", "op": "range", "max": "4000"}])
    when = datetime.now(timezone.utc) - timedelta(minutes=1)
    client.timestamp = when
    b.wait()
    assert b.at.startswith("live at") and client.version is None
    views = [t for t in b.tables if t["kind"] == "view"]
    assert views and all(v["disabled"] for v in views)  # views need a version
    assert b.code.startswith("import datetime\n\nclient.materialize.query_table(")
    assert "timestamp=datetime.datetime(" in b.code
    df = b.df
    pd.testing.assert_frame_equal(run_code(b.code, client), df)
    assert b.count() == len(df) and b.total_exact
    b.page(0)
    page = b.page(1)
    assert page.keyset and page.rows == b.page_size


def test_an_expired_version_shows_an_error_with_retry(browser, fresh_client):
    b = browser("synapses")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExpiredVersionWarning)
        fresh_client.version = 1
    b.wait()
    assert b.status == "error" and b.error["message"] and b.error["retry"] == "refresh"
    fresh_client.version = 4
    b.wait()
    assert b.status == "ready" and b.error == {} and b.at == "version 4"
    assert b.table == "synapses" and b.count() > 0


def test_closing_stops_following(browser, fresh_client):
    b = browser()
    b.close()
    fresh_client.version = 3
    assert b.at == f"version {LATEST}"


# --- telling the truth after a change (issue: the first time counts) ----------------------


def test_an_expired_version_set_in_a_cell_moves_the_header_and_warns_at_the_cell(
        browser, fresh_client):
    b = browser("synapses")
    assert b.at == f"version {LATEST}"
    with pytest.warns(ExpiredVersionWarning) as caught:
        fresh_client.version = 1
    assert caught[0].filename == __file__  # the person's cell, not traitlets.py
    b.wait()
    assert b.at == "version 1" and b.status == "error"
    assert b.table == "" and b.total is None  # no rows of version 5 under the error


def test_live_mode_offers_no_valid_column_and_df_has_what_is_ticked(browser, fresh_client):
    b = browser("synapses")
    fresh_client.timestamp = datetime.now(timezone.utc) - timedelta(minutes=5)
    b.wait()
    names = [c["name"] for c in b.columns]
    assert "valid" not in names and "valid" not in b.selected_columns
    b.set_query(filters=[{"column": "size", "op": "range", "min": "2000"}])
    assert set(b.df.columns) == set(b.selected_columns)  # no ticked column goes missing


def test_live_row_counts_are_not_the_versions(browser, fresh_client):
    b = browser("synapses")
    version_rows = {t["name"]: t["rows"] for t in b.tables}
    assert version_rows["synapses"] is not None
    fresh_client.timestamp = datetime.now(timezone.utc) - timedelta(minutes=1)
    b.wait()
    live_total = b.count()
    listed = {t["name"]: t for t in b.tables}["synapses"]
    assert listed["rows"] == live_total and not listed["approximate"]
    other = {t["name"]: t for t in b.tables}["nuclei"]
    assert other["rows"] is None  # no version count passed off as a live one


def test_the_selection_count_is_of_rows_the_query_still_holds(browser, fresh_client):
    b = browser("synapses")
    ids = [str(i) for i in fresh_client.materialize.query_table(
        "synapses", select_columns=["id"], limit=5)["id"]]
    b.selection = ids
    b.wait()
    assert b.selected_in_query == 5
    b.set_query(filters=[{"column": "id", "op": "in", "value": ", ".join(ids[:2])}])
    b.wait()
    assert b.selected_in_query == 2 == len(b.selected_df)
    assert len(b.selection) == 5  # kept: clearing the filter brings them back
    fresh_client.version = 3
    b.wait()
    assert b.selected_in_query == len(b.selected_df)


def test_sorting_reaches_every_row_or_says_it_does_not(browser, fresh_client):
    from cave_widgets.widgets.table_browser import sorting

    b = browser("synapses")
    truth = fresh_client.materialize.query_table("synapses", select_columns=["id", "size"])
    b.sort_by("size", descending=True)
    assert b.sort == {"column": "size", "descending": True, "scope": "all", "note": ""}
    assert int(b.df["id"].iloc[0]) == int(truth.sort_values("size", ascending=False,
                                                           kind="stable")["id"].iloc[0])
    assert ".sort_values(\"size\", ascending=False" in b.code
    # A server that cannot sort: sorted in the kernel, the same order.
    b._server_sorts = False
    b.sort_by("size", descending=False)
    assert b.sort["scope"] == "all"
    page = b.page(0)
    import pyarrow as pa

    shown = pa.ipc.open_stream(page.ipc).read_all().column("id").to_pylist()
    want = truth.sort_values("size", kind="stable")["id"].astype(str).tolist()[:b.page_size]
    assert shown == want
    # Too many rows to sort here: the header says the sort is of the page only.
    original = sorting.KERNEL_SORT_LIMIT
    sorting.KERNEL_SORT_LIMIT = 10
    try:
        b.sort_by("size", descending=True)
    finally:
        sorting.KERNEL_SORT_LIMIT = original
    assert b.sort["scope"] == "page" and "this page only" in b.sort["note"]
    b.sort_by(None)
    assert b.sort == {}


def test_signed_out_then_in_then_out_again(demo_server, home):
    from cave_widgets import CAVEclient
    from cave_widgets.widgets.table_browser import TableBrowser

    client = CAVEclient(demo_server.datastack, server_address=demo_server.url,
                        write_server_cache=False)
    b = TableBrowser(client, table=TableBrowser.SYNAPSE_TABLE)
    try:
        b.wait()
        assert b.status == "signed_out" and b.error == {} and b.tables == []
        client.change_auth(auth_token=demo_server.token)
        b.wait()
        assert b.status == "ready" and b.table == "synapses" and b.error == {}
        b.set_query(filters=[{"column": "size", "op": "range", "min": "500"}])
        assert b.count() > 0
        client.change_auth(auth_token=None)  # log out: nothing of the user stays
        b.wait()
        assert (b.status, b.table, b.tables, b.total) == ("signed_out", "", [], None)
        client.change_auth(auth_token=demo_server.token)  # back: the same query again
        b.wait()
        assert b.table == "synapses" and b.filters[0]["column"] == "size" and b.count() > 0
    finally:
        b.close()


# --- root ids that changed since -----------------------------------------------------------


def test_root_ids_retired_since_the_version_shown_are_marked(browser, fresh_client):
    import pyarrow as pa

    cg, mat = fresh_client.chunkedgraph, fresh_client.materialize
    retired, _ = cg.get_delta_roots(mat.get_timestamp(LATEST))
    shown = mat.query_table("synapses", filter_in_dict={"pre_pt_root_id": list(retired)},
                            select_columns=["id", "pre_pt_root_id"])
    old = int(shown["pre_pt_root_id"].iloc[0])  # a root of the newest version, edited since
    b = browser("synapses")  # the newest version, unpinned: judged against now
    b.set_query(filters=[{"column": "pre_pt_root_id", "op": "in", "value": str(old)}])
    page = b.page(0)
    assert str(old) in page.stale
    on_page = pa.ipc.open_stream(page.ipc).read_all()
    roots = {int(v) for c in ("pre_pt_root_id", "post_pt_root_id")
             for v in on_page.column(c).to_pylist() if v}
    latest = dict(zip(sorted(roots), cg.is_latest_roots(sorted(roots))))
    assert set(page.stale) == {str(r) for r, ok in latest.items() if not ok}
    fresh_client.version = LATEST  # pinned: its roots are the latest at its own time
    b.wait()
    assert b.page(0).stale == []


@pytest.mark.parametrize("direction", ["older", "newer"])
def test_a_filter_root_that_is_not_latest_at_the_snapshot_is_offered_an_update(
        browser, fresh_client, direction):
    """An old root pasted into the filter of a newer snapshot (or a new one into an older
    snapshot's) matches nothing; the browser says so and rewrites it on request."""
    cg, mat = fresh_client.chunkedgraph, fresh_client.materialize
    version = LATEST if direction == "older" else 3
    fresh_client.version = version
    then = mat.get_timestamp(version)
    if direction == "older":  # a root of version 2, retired by the newest version
        candidates, has_rows_at = cg.get_delta_roots(mat.get_timestamp(2), then)[0], 2
    else:  # a root made after version 3, a root of the newest version
        candidates, has_rows_at = cg.get_delta_roots(then)[1], LATEST
    stale = next(int(r) for r in candidates if len(mat.query_table(
        "synapses", filter_in_dict={"pre_pt_root_id": [int(r)]},
        materialization_version=has_rows_at, limit=1)))
    b = browser("synapses")
    b.set_query(filters=[{"column": "pre_pt_root_id", "op": "in", "value": str(stale)}])
    b.wait()
    assert b.count() == 0
    assert b.stale_filter == {"pre_pt_root_id": [str(stale)]}
    updated = b.update_filter_roots()
    suggestion = [int(i) for i in updated[str(stale)]]
    assert suggestion and all(cg.is_latest_roots(suggestion, timestamp=then))
    assert b.filters[0]["value"] == ", ".join(map(str, suggestion))
    assert b.count() > 0 and "updated to the latest" in b.message
    b.wait()
    assert b.stale_filter == {}
