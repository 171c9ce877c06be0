"""TableBrowser, Python side, no browser: against the embedded demo server over real HTTP
(HOME in a temporary folder). Listing, columns, filters → client calls and their validation,
counts, the page buffers the browser gets, the request/reply channel, `code`, and what is
synced (never a token, never rows).

Paging: test_widget_table_browser_paging.py; fetching df / selected_df and cancel:
test_widget_table_browser_fetch.py; following the client: test_widget_table_browser_follow.py.
"""

from __future__ import annotations

import ast
import json

import pandas as pd
import pyarrow as pa
import pytest
from helpers.client_materialize import (  # noqa: F401  (fixtures)
    LATEST,
    client,
    home,
    sent,
)
from helpers.widget_table_browser import browser  # noqa: F401  (fixture)

from cave_widgets.client.errors import QueryValidationError
from cave_widgets.widgets.table_browser.filters import check_specs, split_values

ROOTS = "synapses"




def run_code(code: str, client) -> pd.DataFrame:
    """Execute browser.code as a person would paste it: statements, then the expression."""
    tree = ast.parse(code)
    *body, last = tree.body
    assert isinstance(last, ast.Expr), "code ends with the client call"
    scope = {"client": client}
    exec(compile(ast.Module(body=body, type_ignores=[]), "<code>", "exec"), scope)
    return eval(compile(ast.Expression(last.value), "<code>", "eval"), scope)


def some_roots(client, n: int = 3) -> list[int]:
    df = client.materialize.query_table("synapses", limit=500, select_columns=["id",
                                        "pre_pt_root_id"], materialization_version=LATEST)
    return [int(v) for v in df["pre_pt_root_id"].value_counts().index[:n]]


# --- listing and opening ---------------------------------------------------------------------


def test_lists_tables_and_views_with_description_schema_and_rows(browser, client):
    b = browser()
    assert b.status == "ready" and b.at == f"version {LATEST}"
    by_name = {t["name"]: t for t in b.tables}
    assert set(by_name) == {"synapses", "nuclei", "cell_types", "cell_type_ref", "nucleus_types"}
    assert by_name["nucleus_types"]["kind"] == "view"
    assert by_name["synapses"]["schema"] == "synapse"
    assert "synapses" in by_name["synapses"]["description"].lower()
    assert by_name["cell_type_ref"]["reference"] == "nuclei"
    for name in ("synapses", "nuclei", "cell_types", "cell_type_ref"):
        assert by_name[name]["rows"] == client.materialize.get_annotation_count(name)
    assert by_name["nucleus_types"]["rows"] == len(
        client.materialize.query_view("nucleus_types", materialization_version=LATEST))


def test_opening_a_table_shows_its_columns_and_kinds(browser):
    b = browser()
    b.open_table("synapses")
    kinds = {c["name"]: c["kind"] for c in b.columns}
    assert kinds["pre_pt_root_id"] == "integer" and kinds["size"] == "float"
    assert kinds["post_pt_position"] == "position" and kinds["valid"] == "boolean"
    ops = {c["name"]: c["ops"] for c in b.columns}
    assert "in" in ops["pre_pt_root_id"] and ops["post_pt_position"] == ["bbox"]
    assert b.table == "synapses" and b.table_info["key"] == "id" and b.filters == []
    assert b.code == f'client.materialize.query_table("synapses", materialization_version={LATEST})'


def test_text_columns_get_value_suggestions_and_views_open(browser):
    b = browser("cell_types")
    assert "5P-IT" in b.suggestions["cell_type"]
    b.open_table("nucleus_types")
    assert b.table_info["kind"] == "view"
    assert {c["name"] for c in b.columns} >= {"id", "cell_type", "pt_position"}
    assert b.code.startswith('client.materialize.query_view("nucleus_types"')


# --- filters -----------------------------------------------------------------------------------


def test_pasted_ids_split_on_whitespace_commas_and_brackets():
    assert split_values("integer", "864691135000497261, 864691135000113052\n1\t2;3") == [
        864691135000497261, 864691135000113052, 1, 2, 3]
    assert split_values("integer", "[5, 6, 5]") == [5, 6]  # a pasted Python list, deduplicated
    assert split_values("string", "5P-IT, 23P\nBC") == ["5P-IT", "23P", "BC"]
    assert split_values("integer", [7, 8]) == [7, 8]


def test_filter_specs_become_the_client_arguments(browser, client):
    b = browser("synapses")
    roots = some_roots(client, 2)
    b.set_query(filters=[
        {"column": "pre_pt_root_id", "op": "in", "value": f"{roots[0]},\n {roots[1]}"},
        {"column": "size", "op": "range", "min": "100", "max": "5000.5"},
        {"column": "id", "op": "range", "min": "10"},
        {"column": "post_pt_root_id", "op": "not_in", "value": "0"},
        {"column": "valid", "op": "equal", "value": "true"},
        {"column": "post_pt_position", "op": "bbox", "min": "0, 0, 0",
         "max": "[500000, 500000, 30000]"},
    ], columns=["pre_pt_root_id", "size"])
    args = b.query.arguments()
    assert args["filter_in_dict"] == {"pre_pt_root_id": roots}
    assert args["filter_out_dict"] == {"post_pt_root_id": [0]}
    assert args["filter_greater_equal_dict"] == {"size": 100.0, "id": 10}
    assert args["filter_less_equal_dict"] == {"size": 5000.5}
    assert args["filter_equal_dict"] == {"valid": True}
    assert args["filter_spatial_dict"] == {"post_pt_position": [[0.0, 0.0, 0.0],
                                                                [500000.0, 500000.0, 30000.0]]}
    # the id stays: paging and selection are keyed on it
    assert args["select_columns"] == ["id", "pre_pt_root_id", "size"]
    assert args["materialization_version"] == LATEST
    # the synced specs keep big ids exact, as text
    assert b.filters[0]["value"].startswith(str(roots[0])[:6])
    assert b.selected_columns == ["id", "pre_pt_root_id", "size"]


def test_regex_filter_on_a_text_column(browser, client):
    b = browser("cell_types")
    b.set_query(filters=[{"column": "cell_type", "op": "regex", "value": "^5P"}])
    expected = client.materialize.query_table("cell_types", filter_regex_dict={
        "cell_type": "^5P"}, materialization_version=LATEST)
    assert b.count() == len(expected) > 0


def test_invalid_filters_are_explained_per_filter_before_any_request(browser, client):
    b = browser("synapses")
    before = b.generation
    bad = [
        {"column": "pre_pt_root_id", "op": "in", "value": "864691135000497261, abc"},
        {"column": "size", "op": "regex", "value": "1"},
        {"column": "id", "op": "range", "min": "9", "max": "3"},
        {"column": "post_pt_position", "op": "bbox", "min": "1, 2", "max": "3, 4, 5"},
        {"column": "nope", "op": "equal", "value": "1"},
        {"column": "id", "op": "range"},
        {"column": "post_pt_position", "op": "bbox", "min": "5, 5, 5", "max": "1, 9, 9"},
        {"column": "size", "op": "equal", "value": "big"},
    ]
    with sent(client) as spy, pytest.raises(QueryValidationError) as caught:
        b.set_query(filters=bad)
    # No query went out: only the schema service was asked, once, whether the table has a
    # column the shipped catalogue does not know ("nope").
    assert [c[:2] for c in spy.calls] == [("GET", "/schema/api/v2/type/synapse")]
    with sent(client) as spy, pytest.raises(QueryValidationError):
        b.set_query(filters=bad)
    assert spy.calls == []
    errors = b.filter_errors
    assert set(errors) == {str(i) for i in range(len(bad))}
    assert "'abc' is not a whole number" in errors["0"]
    assert "regex" in errors["1"] and "float" in errors["1"]
    assert "minimum is above the maximum" in errors["2"]
    assert "three numbers" in errors["3"]
    assert "has no column 'nope'" in errors["4"]  # the client's own message
    assert "minimum, a maximum or both" in errors["5"]
    assert "each minimum must be below its maximum" in errors["6"]  # the client's bbox check
    assert "not a number" in errors["7"]
    assert "filter 1:" in str(caught.value)
    assert b.generation == before and b.filters == []  # the query in force did not change
    b.set_query(filters=[{"column": "id", "op": "range", "min": "1", "max": "50"}])
    assert b.filter_errors == {}


def test_two_filters_of_one_kind_on_one_column_are_refused():
    from cave_widgets.client.materialize.columns import TableColumns

    columns = TableColumns("t", {"id": "integer"})
    check = check_specs([{"column": "id", "op": "in", "value": "1"},
                         {"column": "id", "op": "in", "value": "2"}], columns)
    assert list(check.errors) == ["1"] and "already has a filter" in check.errors["1"]


def test_bad_column_selection_and_page_size(browser):
    b = browser("synapses")
    with pytest.raises(QueryValidationError, match="no column 'nope'"):
        b.set_query(columns=["nope"])
    with pytest.raises(QueryValidationError, match="page size"):
        b.set_query(page_size=0)


# --- counts and code ---------------------------------------------------------------------------


def test_counts_match_the_filtered_result(browser, client):
    b = browser("synapses")
    assert b.count() == client.materialize.get_annotation_count("synapses") == b.total
    roots = some_roots(client, 3)
    b.set_query(filters=[{"column": "pre_pt_root_id", "op": "in",
                          "value": " ".join(map(str, roots))}])
    assert b.total is None  # a new query: not counted yet
    expected = client.materialize.query_table("synapses", filter_in_dict={
        "pre_pt_root_id": roots}, materialization_version=LATEST)
    assert b.count() == len(expected) == b.total and b.total_exact


@pytest.mark.parametrize("table, filters, columns", [
    ("synapses", [{"column": "id", "op": "range", "min": "500", "max": "3000"},
                  {"column": "size", "op": "range", "min": "300"}], ["size", "pre_pt_root_id"]),
    ("synapses", [{"column": "post_pt_position", "op": "bbox", "min": "0,0,0",
                   "max": "300000, 300000, 30000"}], None),
    ("cell_types", [{"column": "cell_type", "op": "in", "value": "5P-IT, BC"}], None),
    ("cell_type_ref", [{"column": "cell_type", "op": "regex", "value": "^exc"}],
     None),
    ("nucleus_types", [{"column": "volume", "op": "range", "max": "250"}], ["cell_type"]),
])
def test_code_reproduces_df_without_the_widget(browser, client, table, filters, columns):
    b = browser(table)
    b.set_query(filters=filters, columns=columns)
    df = b.df
    assert len(df) > 0
    again = run_code(b.code, client)
    pd.testing.assert_frame_equal(again, df)
    assert f"materialization_version={LATEST}" in b.code
    compile(b.code, "<code>", "exec")


# --- what the browser gets ----------------------------------------------------------------------


def test_ids_in_page_buffers_are_strings(browser, client):
    b = browser("synapses")
    page = b.page(0)
    table = pa.ipc.open_stream(page.ipc).read_all()
    assert table.num_rows == page.rows == b.page_size
    for name in ("id", "pre_pt_root_id", "post_pt_supervoxel_id"):
        assert table.schema.field(name).type == pa.string(), name
    assert pa.types.is_fixed_size_list(table.schema.field("pre_pt_position").type)
    assert pa.types.is_floating(table.schema.field("size").type)
    expected = client.materialize.query_table("synapses", limit=b.page_size,
                                              materialization_version=LATEST)
    assert table.column("pre_pt_root_id").to_pylist() == [
        str(v) for v in expected["pre_pt_root_id"]]
    assert max(int(v) for v in table.column("pre_pt_root_id").to_pylist()) > 2**53
    kinds = {c["name"]: c["kind"] for c in page.meta()["columns"]}
    assert kinds["id"] == "integer" and kinds["pre_pt_position"] == "position"


def test_requests_from_the_browser_get_replies_with_the_page_buffer(browser):
    b = browser("synapses")
    replies = []
    b.send = lambda content, buffers=None: replies.append((content, buffers))
    b._on_browser_message(b, {"type": "count", "id": "v1:1"}, [])
    b._on_browser_message(b, {"type": "page", "id": "v1:2", "page": 2}, [])
    b._on_browser_message(b, {"type": "open", "id": "v1:3", "table": "no_such_table"}, [])
    b.wait()
    by_id = {c["id"]: (c, bufs) for c, bufs in replies}
    assert by_id["v1:1"][0]["ok"]["total"] == b.total
    content, buffers = by_id["v1:2"]
    assert content["ok"]["page"] == 2 and content["ok"]["offset"] == 2 * b.page_size
    assert pa.ipc.open_stream(buffers[0]).read_all().num_rows == b.page_size
    failed = by_id["v1:3"][0]
    assert "error" in failed and failed["error"]["message"]
    assert b.error["retry"] == "refresh" and b.status == "error"  # the person sees it, with Retry
    b._on_browser_message(b, {"type": "refresh", "id": "v1:4"}, [])
    b.wait()
    assert b.error == {} and b.status == "ready"


def test_invalid_query_from_the_browser_replies_invalid_and_marks_filters(browser):
    b = browser("synapses")
    replies = []
    b.send = lambda content, buffers=None: replies.append(content)
    b._on_browser_message(b, {"type": "query", "id": 7, "filters": [
        {"column": "id", "op": "range", "min": "x"}]}, [])
    b.wait()
    assert replies[-1]["error"]["kind"] == "invalid"
    assert "whole number" in b.filter_errors["0"]


def test_selection_holds_ids_as_text(browser):
    b = browser("synapses")
    b.selection = ["864691135000497261", "12", "12", "not an id", 13]
    assert b.selection == ["864691135000497261", "12", "13"]


def test_no_synced_state_holds_the_token_or_rows(browser, client, demo_server):
    b = browser("synapses")
    b.set_query(filters=[{"column": "id", "op": "range", "max": "300"}])
    b.count()
    b.page(0)
    b.selection = ["5", "6"]
    _ = b.df
    state = json.dumps(b.get_state(), default=str)
    assert demo_server.token not in state
    assert "token" not in {name.lower() for name in b.get_state()}
    # rows never: no page values in the state (a root id of the first page is not there)
    table = pa.ipc.open_stream(b.page(0).ipc).read_all()
    assert table.column("pre_pt_root_id")[0].as_py() not in state
    ui_state = {k: v for k, v in b.get_state().items() if k not in ("_esm", "_css")}
    assert len(json.dumps(ui_state, default=str)) < 20_000
    assert demo_server.token not in repr(b)
