"""DatastackSelector in a real JupyterLab, as a person uses it: the datastack and its
versions (dates, expiry, the expired one) show; picking a version in the widget is on the
client in the next cell; setting client.version in a cell moves the widget; Live + now pins a
timestamp on the client. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

VERSION_ROW = ".cw-ds-version[data-version='{}']"


def selected_version(page, version) -> None:
    page.locator(VERSION_ROW.format(version) + "[aria-selected='true']").wait_for(timeout=30_000)


def run_all_cells(open_notebook, page, name: str, cells: list[str], wait_for: str) -> None:
    """open_notebook, made robust against a race of its own: it clicks Run All once the
    execution indicator says idle, which JupyterLab can show before the notebook's kernel
    session exists. Run All then asks "Select Kernel" (or is partly lost) and the cells stay
    "[ ]". If so, accept the default kernel and run all again, once, when the status bar
    shows the kernel idle."""
    open_notebook(name, cells)
    target = page.locator(wait_for).first
    select_kernel = page.locator(".jp-Dialog", has_text="Select Kernel").locator(
        "button.jp-mod-accept")
    running = page.locator(".jp-Notebook .jp-InputPrompt", has_text="*")
    lost = False
    for _ in range(60):  # up to 30 s
        if target.is_visible() or running.count():
            break
        if select_kernel.is_visible():
            select_kernel.click()
            lost = True
            break
        page.wait_for_timeout(500)
    else:
        lost = True
    if lost and not target.is_visible() and not running.count():
        print("Run All did not reach the kernel; running all cells again")
        page.locator(".jp-StatusBar-TextItem", has_text="| Idle").wait_for(timeout=60_000)
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_text("Run All Cells", exact=True).click()
    target.wait_for(timeout=120_000)


def run_new_cell(page, code: str, expect: str):
    """Type `code` into a new cell at the end, run it with Shift+Enter, and wait until an
    output contains `expect`. Returns that output's locator."""
    last = page.locator(".jp-Notebook .jp-Cell").last
    last.locator(".jp-InputArea-editor").click()
    if last.locator(".cm-content").inner_text().strip():
        page.keyboard.press("Escape")  # command mode
        page.keyboard.press("b")  # insert a cell below, and select it
        page.keyboard.press("Enter")  # edit it
    # else: the empty cell Shift+Enter left at the end
    page.keyboard.insert_text(code)
    page.keyboard.press("Shift+Enter")
    output = page.locator(".jp-OutputArea-output", has_text=expect)
    output.last.wait_for(timeout=60_000)
    return output.last


@pytest.mark.slow
def test_datastack_selector_bound_both_ways_in_jupyterlab(demo_for_browser, open_notebook,
                                                          page, artifacts):
    server = demo_for_browser
    cells = [
        "from cave_widgets import CAVEclient\n"
        "from cave_widgets.widgets import DatastackSelector\n"
        # A test token of the throwaway demo server, written into a throwaway notebook.
        f"client = CAVEclient({server.datastack!r}, server_address={server.url!r}, "
        f"auth_token={server.token!r}, write_server_cache=False)",
        "selector = DatastackSelector(client)\nselector",
    ]
    run_all_cells(open_notebook, page, "datastack_selector", cells, VERSION_ROW.format(3))
    widget = page.locator(".cw-ds")

    # What a person sees: the server, the datastack with its description, the versions with
    # dates and expiry, the expired one marked as such.
    assert server.url in widget.locator(".cw-ds-server-address").inner_text()
    datastack = widget.locator(".cw-ds-datastack[data-name='demo_local']")
    assert datastack.get_attribute("aria-selected") == "true"
    datastack.locator(".cw-ds-description", has_text="Synthetic demo datastack").wait_for(
        timeout=30_000)
    assert "demo_volume" in datastack.inner_text()
    for version in (1, 2, 3, 4, 5):
        row = widget.locator(VERSION_ROW.format(version))
        assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", row.inner_text()), row.inner_text()
    expired = widget.locator(VERSION_ROW.format(1))
    assert "cw-ds-expired" in expired.get_attribute("class")
    assert expired.locator(".cw-ds-badge", has_text="expired").is_visible()
    assert "never expires" in widget.locator(VERSION_ROW.format(2)).inner_text()
    assert re.search(r"expires in \d+ days?", widget.locator(VERSION_ROW.format(5)).inner_text())
    selected_version(page, "latest")  # a new client: the newest valid version, per query
    search = widget.locator(".cw-ds-search")
    search.fill("no such datastack")
    widget.locator(".cw-ds-datastacks", has_text="No datastack matches").wait_for(timeout=5_000)
    search.fill("proofreading")  # matches the description
    datastack.wait_for(timeout=5_000)
    search.fill("")
    widget.screenshot(path=str(artifacts / "datastack-selector-versions.png"))

    # The expired version is refused, with a warning saying so.
    expired.click(force=True)  # aria-disabled: Playwright would wait for it to be enabled
    notice = widget.locator(".cw-ds-notice", has_text="expired")
    notice.wait_for(timeout=30_000)
    assert "Pick a valid version" in notice.inner_text()
    selected_version(page, "latest")
    widget.screenshot(path=str(artifacts / "datastack-selector-expired-refused.png"))

    # Picking version 3 in the widget puts it on the client for the next cell.
    widget.locator(VERSION_ROW.format(3)).click()
    selected_version(page, 3)
    assert notice.count() == 0 or not notice.is_visible()
    assert "version 3" in widget.locator(".cw-ds-summary").inner_text()
    run_new_cell(page, 'print("client.version =", client.version)', "client.version = 3")

    # Setting the version in a cell moves the widget.
    run_new_cell(page, 'client.version = 4\nprint("set to", client.version)', "set to 4")
    selected_version(page, 4)
    assert widget.locator(".cw-ds-selected[data-version]").count() == 1
    widget.screenshot(path=str(artifacts / "datastack-selector-version-4-from-cell.png"))

    # Live, then "now": the client gets a timestamp and no version.
    widget.locator(".cw-ds-mode[data-mode='live']").click()
    page.locator(".cw-ds-mode[data-mode='live'][aria-checked='true']").wait_for(timeout=30_000)
    live_time = widget.locator(".cw-ds-live-time")
    live_time.wait_for(state="visible", timeout=30_000)
    widget.locator(".cw-ds-now").click()
    widget.locator(".cw-ds-pinned", has_text="Live: queries see the data as of").wait_for(
        timeout=30_000)
    assert widget.locator(".cw-ds-versions").is_hidden()
    output = run_new_cell(
        page,
        'print("live:", client.timestamp is not None, "version:", client.version, '
        '"at", client.timestamp.isoformat())',
        "live: True version: None")
    # The widget shows the client's time, in UTC to the second (Chromium leaves ":00" out).
    printed = re.search(r"at (\S+)", output.inner_text()).group(1)
    client_time = datetime.fromisoformat(printed).replace(microsecond=0, tzinfo=None)
    assert datetime.fromisoformat(live_time.input_value()) == client_time
    widget.screenshot(path=str(artifacts / "datastack-selector-live.png"))

    assert page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                        has_text="Traceback").count() == 0
    page.screenshot(path=str(artifacts / "datastack-selector-notebook.png"), full_page=True)
