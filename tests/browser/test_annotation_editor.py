"""AnnotationEditor in real JupyterLab and headless Chromium, clicked through as a person
does: pick a schema, name and create a table, type the value the form asks for, select a
row in the TableBrowser beside it, stage it, correct a staged cell in the grid, upload —
the browser goes live and shows the row — then undo it. Screenshots go to
test-artifacts/."""

from __future__ import annotations

import re

import pytest

from cave_widgets.widgets.annotation_editor.grid import COLUMN, HEADER, LINE, ROW_HEADER

pytestmark = pytest.mark.slow
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
TABLE = "browser_test_tags"


@pytest.fixture()
def truth(demo_for_browser):
    from cave_widgets import CAVEclient

    return CAVEclient(demo_for_browser.datastack, server_address=demo_for_browser.url,
                      auth_token=demo_for_browser.token, write_server_cache=False)


def message(panel, text: str):
    panel.locator(".cw-ae-message", has_text=text).wait_for(timeout=60_000)
    return panel.locator(".cw-ae-message").inner_text()


def test_pick_schema_create_table_add_a_row_upload_see_it_and_undo(
        open_notebook, demo_for_browser, token_file, truth, artifacts):
    setup = (
        "from IPython.display import display\n"
        "from cave_widgets import CAVEclient\n"
        "from cave_widgets.widgets import AnnotationEditor, TableBrowser\n"
        f"client = CAVEclient({demo_for_browser.datastack!r}, "
        f"server_address={demo_for_browser.url!r}, auth_token_file={str(token_file)!r}, "
        "write_server_cache=False)\n"
        "browser = TableBrowser(client, table='nuclei')\n"
        "editor = AnnotationEditor(client, browser)\n"
        "display(browser, editor)"
    )
    page = open_notebook("annotation_editor", [setup])
    panel = page.locator(PANEL)
    editor = panel.locator(".cave-annotation-editor")
    editor.wait_for(timeout=120_000)
    browser = panel.locator(".cw-table-browser")
    browser.locator(".cw-grid-row").first.wait_for(timeout=120_000)
    message(panel, "annotation tables")
    page.screenshot(path=str(artifacts / "annotation-editor-1-open.png"), full_page=True)

    # pick a schema, name the table, create it: the form follows the schema
    editor.locator(".cw-ae-new-schema select").select_option("bound_tag")
    editor.locator(".cw-ae-new-name input").fill(TABLE)
    editor.locator(".cw-ae-create").click()
    message(panel, f"Created table {TABLE} (bound_tag)")
    tag = editor.locator(".cw-ae-field-tag input")
    tag.wait_for(timeout=30_000)
    assert editor.locator(".cw-ae-point-pt select").input_value() == "pt_position"

    # a value for the new rows, a row selected in the browser, staged
    tag.fill("seen in a browser")
    tag.press("Tab")
    row = browser.locator(".cw-grid-row").first
    nucleus_id = row.get_attribute("data-key")
    row.click()
    browser.locator(".cw-selection", has_text="1 selected").wait_for(timeout=30_000)
    editor.locator(".cw-ae-stage").click()
    message(panel, "Staged 1 row from nuclei")
    grid = editor.locator(".cw-ae-grid")
    grid.wait_for(timeout=30_000)

    # correct the staged row's tag in the grid: double-click the cell, type, Enter
    box = grid.bounding_box()
    column = ["source_id", "pt_position", "tag"].index("tag")
    page.mouse.dblclick(box["x"] + ROW_HEADER + COLUMN * column + COLUMN / 2,
                        box["y"] + HEADER + LINE / 2)
    cell = grid.locator("input").first
    cell.wait_for(timeout=30_000)
    cell.fill("corrected in the grid")
    cell.press("Enter")
    page.screenshot(path=str(artifacts / "annotation-editor-2-staged.png"), full_page=True)

    # upload: the browser goes live and shows the new table with the row
    editor.locator(".cw-ae-upload").click()
    text = message(panel, f"Uploaded 1 row to {TABLE}")
    new_id = re.search(r"\(ids (\d+)\)", text).group(1)
    browser.locator(".cw-tb-title h3", has_text=TABLE).wait_for(timeout=60_000)
    page.wait_for_function(
        "([sel, key]) => [...document.querySelectorAll(sel)].some(r => r.dataset.key === key)",
        arg=[f"{PANEL} .cw-table-browser .cw-grid-row", new_id], timeout=60_000)
    shown = browser.locator(f".cw-grid-row[data-key='{new_id}']")
    assert "corrected in the grid" in shown.inner_text()
    assert browser.locator(".cw-grid-row").count() == 1
    written = editor.locator(".cw-ae-written option")
    label = written.first.inner_text().replace("\xa0", " ")  # the list shows spaces as nbsp
    assert written.count() == 1 and label.startswith(f"{new_id} · {TABLE} · ")
    page.screenshot(path=str(artifacts / "annotation-editor-3-uploaded.png"), full_page=True)

    # what the server holds: the tag, at the nucleus' point, with its segment
    nucleus = truth.materialize.query_table("nuclei", filter_equal_dict={"id": int(nucleus_id)})
    [got] = truth.annotation.get_annotation(TABLE, [int(new_id)])
    assert got["tag"] == "corrected in the grid"
    assert got["pt_position"] == [int(v) for v in nucleus.pt_position.iloc[0]]

    # undo the row: it leaves the live browser
    editor.locator(".cw-ae-undo").click()
    message(panel, f"Removed row {new_id} from {TABLE}")
    page.wait_for_function(
        "sel => document.querySelectorAll(sel).length === 0",
        arg=f"{PANEL} .cw-table-browser .cw-grid-row", timeout=60_000)
    assert editor.locator(".cw-ae-written option").count() == 0
    page.screenshot(path=str(artifacts / "annotation-editor-4-undone.png"), full_page=True)
