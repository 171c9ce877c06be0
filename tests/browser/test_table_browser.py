"""TableBrowser in real JupyterLab and headless Chromium, as a person uses it: open the
synapses table, see "N rows match", filter by an id range and by a pasted root id, page
forward, sort within the page, select rows, then read browser.selected_df and browser.df in
a new cell. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re

import pytest
from helpers.browser import NOTEBOOK, ensure_ran

pytestmark = pytest.mark.slow


@pytest.fixture()
def expected(demo_for_browser, tmp_path_factory):
    """What the same queries give when asked directly (in this process)."""
    from cave_widgets import CAVEclient

    client = CAVEclient(demo_for_browser.datastack, server_address=demo_for_browser.url,
                        auth_token=demo_for_browser.token, write_server_cache=False)
    return client.materialize


def count_of(page) -> int:
    text = page.locator(".cw-count").inner_text()
    match = re.match(r"([\d,]+) rows? match", text)
    assert match, text
    return int(match.group(1).replace(",", ""))


def wait_count(page, old: int | None = None) -> int:
    page.locator(".cw-count", has_text=re.compile(r"rows? match")).wait_for(timeout=60_000)
    if old is not None:
        page.wait_for_function(
            "old => { const t = document.querySelector('.cw-count')?.textContent || '';"
            " const m = t.match(/^([\\d,]+) rows? match/);"
            " return m && Number(m[1].replace(/,/g, '')) !== old; }", arg=old, timeout=60_000)
    return count_of(page)


def run_new_cell(page, code: str) -> None:
    """Type code into a new cell at the end and run it (Shift+Enter), as a person would.
    Running the last cell leaves an empty one below it: that one is used."""
    last = page.locator(f"{NOTEBOOK} .jp-Cell").last
    if last.locator(".cm-content").inner_text().strip():
        last.locator(".jp-InputPrompt").click()
        page.keyboard.press("Escape")
        page.keyboard.press("b")
        last = page.locator(f"{NOTEBOOK} .jp-Cell").last
    last.locator(".cm-content").click()
    page.keyboard.type(code)
    page.keyboard.press("Shift+Enter")


def test_browse_filter_page_sort_select_and_get_frames(open_notebook, demo_for_browser,
                                                       token_file, expected, artifacts):
    setup = (
        "from cave_widgets import CAVEclient\n"
        "from cave_widgets.widgets.table_browser import TableBrowser\n"
        f"client = CAVEclient({demo_for_browser.datastack!r}, "
        f"server_address={demo_for_browser.url!r}, auth_token_file={str(token_file)!r}, "
        "write_server_cache=False)\n"
        "browser = TableBrowser(client, page_size=100)\n"
        "browser"
    )
    page = open_notebook("table_browser", [setup])
    ensure_ran(page)
    page.locator(".cw-table-browser").wait_for(timeout=120_000)
    synapses = page.locator(".cw-tb-table[data-table='synapses']")
    synapses.wait_for(timeout=60_000)
    n_synapses = expected.get_annotation_count("synapses")
    page.locator(".cw-tb-table-meta", has_text=f"{n_synapses:,} rows").first.wait_for(
        timeout=60_000)
    page.screenshot(path=str(artifacts / "table-browser-1-tables.png"), full_page=True)

    # open the synapse table: its columns, "N rows match", the first page
    synapses.click()
    total = wait_count(page)
    assert total == expected.get_annotation_count("synapses")
    assert "pre_pt_root_id" in page.locator(".cw-tb-coltypes").inner_text()
    page.locator(".cw-grid-row").first.wait_for(timeout=60_000)
    assert page.locator(".cw-grid-row").count() == 100
    first_ids = page.locator(".cw-grid-row").evaluate_all("rows => rows.map(r => r.dataset.key)")
    assert all(re.fullmatch(r"\d+", k) for k in first_ids)

    # an id range filter: the count changes
    page.locator(".cw-filter-add-column").select_option("id")
    page.locator(".cw-filter-add").click()
    page.locator(".cw-filter-row .cw-filter-op").last.select_option("range")
    page.locator(".cw-filter-row .cw-filter-min").last.fill("1000")
    page.locator(".cw-filter-row .cw-filter-max").last.fill("9000")
    page.locator(".cw-filter-apply").click()
    in_range = wait_count(page, total)
    assert in_range == int(expected.query_table(
        "synapses", filter_greater_equal_dict={"id": 1000}, filter_less_equal_dict={"id": 9000},
        get_counts=True)["count"].iloc[0])

    # an invalid filter is explained next to it, nothing changes
    page.locator(".cw-filter-row .cw-filter-max").last.fill("nine")
    page.locator(".cw-filter-apply").click()
    page.locator(".cw-filter-error", has_text="not a whole number").wait_for(timeout=30_000)
    assert count_of(page) == in_range
    page.locator(".cw-filter-row .cw-filter-max").last.fill("9000")

    # a pasted root id (one that has synapses in the range)
    sample = expected.query_table("synapses", filter_greater_equal_dict={"id": 1000},
                                  filter_less_equal_dict={"id": 9000},
                                  select_columns=["id", "pre_pt_root_id"])
    root = int(sample["pre_pt_root_id"].value_counts().index[0])
    page.locator(".cw-filter-add-column").select_option("pre_pt_root_id")
    page.locator(".cw-filter-add").click()
    page.locator(".cw-filter-row .cw-filter-op").last.select_option("in")
    page.locator(".cw-filter-row textarea.cw-filter-value").last.fill(f"  {root},\n")
    page.locator(".cw-filter-apply").click()
    with_root = wait_count(page, in_range)
    assert with_root == int((sample["pre_pt_root_id"] == root).sum())
    page.screenshot(path=str(artifacts / "table-browser-2-filtered.png"), full_page=True)

    # back to the id range only, then page forward
    page.locator(".cw-filter-remove").last.click()
    assert wait_count(page, with_root) == in_range
    page.locator(".cw-grid-row").first.wait_for(timeout=30_000)
    first_key = page.locator(".cw-grid-row").first.get_attribute("data-key")
    page.locator(".cw-next").click()
    page.locator(".cw-tb-range", has_text="rows 101–200").wait_for(timeout=30_000)
    assert "by offset" not in page.locator(".cw-tb-range").inner_text()  # keyset paging
    page.wait_for_function(
        "k => document.querySelector('.cw-grid-row')?.dataset.key !== k", arg=first_key)
    keys = page.locator(".cw-grid-row").evaluate_all("rows => rows.map(r => r.dataset.key)")
    expected_ids = [str(v) for v in expected.query_table(
        "synapses", filter_greater_equal_dict={"id": 1000}, filter_less_equal_dict={"id": 9000},
        select_columns=["id"], offset=100, limit=100)["id"]]
    assert keys == expected_ids

    # sort by size: the whole result (the embedded server sorts), both ways
    header = page.locator(".cw-grid-th[data-column='size']")
    column = list(page.locator(".cw-grid-th").evaluate_all("hs => hs.map(h => h.dataset.column)"))
    index = column.index("size")
    for direction, descending in (("ascending", False), ("descending", True)):
        header.click()
        page.locator(f".cw-grid-th[data-column='size'][aria-sort='{direction}']").wait_for(
            timeout=30_000)
        page.locator(".cw-tb-range", has_text="rows 1–100").wait_for(timeout=30_000)
        truth = expected.query_table(
            "synapses", filter_greater_equal_dict={"id": 1000},
            filter_less_equal_dict={"id": 9000}, select_columns=["id", "size"])
        truth = truth.sort_values("size", ascending=not descending, kind="stable")
        want = [str(i) for i in truth["id"][:100]]
        page.wait_for_function(
            "k => document.querySelector('.cw-grid-row')?.dataset.key === k", arg=want[0],
            timeout=30_000)
        keys = page.locator(".cw-grid-row").evaluate_all("rows => rows.map(r => r.dataset.key)")
        assert keys == want  # the true order of every matching row, not of one page
        sizes = page.locator(".cw-grid-row").evaluate_all(
            f"rows => rows.map(r => Number(r.children[{index}].textContent))")
        assert sizes == sorted(sizes, reverse=descending) and len(sizes) == 100
        assert "this page only" not in header.inner_text()

    # select: click, then shift-click two rows further, then ctrl-click one more
    rows = page.locator(".cw-grid-row")
    rows.nth(1).click()
    rows.nth(3).click(modifiers=["Shift"])
    rows.nth(7).click(modifiers=["Control"])
    page.locator(".cw-selection", has_text="4 selected").wait_for(timeout=30_000)
    chosen = page.locator(".cw-grid-row.cw-selected").evaluate_all(
        "rows => rows.map(r => r.dataset.key)")
    assert len(chosen) == 4
    page.screenshot(path=str(artifacts / "table-browser-3-selected.png"), full_page=True)

    # the selection, in a new cell
    run_new_cell(page, "sel = browser.selected_df\n"
                       "print('selected ids:', ' '.join(str(i) for i in sel['id']))")
    out = page.locator(".jp-OutputArea-output", has_text="selected ids:")
    out.wait_for(timeout=60_000)
    printed = out.inner_text().split("selected ids:")[1].split()
    assert printed == sorted(chosen, key=int)

    # the whole filtered result, in another new cell
    run_new_cell(page, "df = browser.df\n"
                       "print(f'df rows: {len(df)} first id: {df.id.iloc[0]}')")
    out = page.locator(".jp-OutputArea-output", has_text="df rows:")
    out.wait_for(timeout=60_000)
    assert f"df rows: {in_range} first id: " in out.inner_text()
    page.locator(".cw-fetch-text", has_text=f"browser.df holds {in_range:,} rows").wait_for(
        timeout=30_000)
    assert page.locator(f"{NOTEBOOK} .jp-OutputArea-output[data-mime-type="
                        "'application/vnd.jupyter.stderr']",
                        has_text="Traceback").count() == 0
    page.screenshot(path=str(artifacts / "table-browser-4-frames.png"), full_page=True)

    # the widget follows the client: another version, then an expired one (error + Retry)
    run_new_cell(page, "client.version = 3")
    page.locator(".cw-tb-at", has_text="version 3").wait_for(timeout=60_000)
    at_v3 = int(expected.query_table(
        "synapses", filter_greater_equal_dict={"id": 1000}, filter_less_equal_dict={"id": 9000},
        get_counts=True, materialization_version=3)["count"].iloc[0])
    assert at_v3 != in_range
    assert wait_count(page, in_range) == at_v3
    run_new_cell(page, "import warnings; warnings.simplefilter('ignore')\nclient.version = 1")
    error = page.locator(".cw-tb-error-slot .cw-error")
    error.wait_for(timeout=60_000)
    assert error.locator("button", has_text="Retry").count() == 1
    error.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "table-browser-5-expired.png"), full_page=True)
    run_new_cell(page, "client.version = None")
    page.locator(".cw-tb-at", has_text="version 5").wait_for(timeout=60_000)
    error.wait_for(state="detached", timeout=60_000)
    assert wait_count(page) == in_range
