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
