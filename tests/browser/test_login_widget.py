"""LoginWidget in a real JupyterLab and Chromium: sign in through the server's popup, or by
pasting a token; the kernel's client ends up verified; the saved notebook holds no token.

The notebooks never contain a token: the kernel starts anonymous (HOME points at an empty
folder, so no token file is read) and the test types the token into the browser itself.
JupyterLab is told to save widget state into notebooks, so the saved file holds every synced
trait of the widget, which must not include a token either."""

from __future__ import annotations

import json
import re
import time

import pytest
import requests

WIDGET_SETTINGS = "/lab/api/settings/@jupyter-widgets/jupyterlab-manager:plugin"


def cells(server_url: str) -> list[str]:
    return [
        "import os, tempfile\n"
        "os.environ['HOME'] = tempfile.mkdtemp(prefix='cw-login-home-')  # no real token file\n"
        "from cave_widgets import CAVEclient\n"
        "from cave_widgets.widgets import LoginWidget\n"
        f"client = CAVEclient(server_address={server_url!r})\n"
        "login = LoginWidget(client)\n"
        "login",
        "print(f'auth_state={client.auth_state} user={client.user_name}')",
    ]


@pytest.fixture()
def widget_state_saved(jupyter_lab):
    """Turn on "Save Jupyter widget state in notebooks" (off by default) for this test."""
    url = jupyter_lab["url"] + WIDGET_SETTINGS
    headers = {"Authorization": f"token {jupyter_lab['token']}"}

    def put(value: bool):
        r = requests.put(url, headers=headers, timeout=30,
                         data=json.dumps({"raw": json.dumps({"saveState": value})}))
        assert r.status_code in (200, 204), r.text

    put(True)
    try:
        yield
    finally:
        put(False)


def open_login_notebook(open_notebook, name: str, server_url: str):
    """Open a notebook showing a LoginWidget, run it, and return (page, notebook panel).

    Everything is looked up inside this notebook's own panel: JupyterLab restores the
    notebooks earlier tests opened as background tabs, with their own widgets in the page.
    Two races of the shared fixture are absorbed here (see the report for a fixture fix):
    "Run All Cells" can reach a restored background notebook instead of this one, or come
    before the kernel is attached, in which case JupyterLab asks for a kernel instead (we
    answer with the default Python 3 and run again)."""
    page = open_notebook(name, cells(server_url))
    tab = page.locator("#jp-main-dock-panel .lm-TabBar-tab", has_text=f"{name}.ipynb")
    panel = page.locator(f"[id='{tab.get_attribute('data-id')}']")
    widget = panel.locator(".cw-login")
    first_prompt = panel.locator(".jp-Cell").first.locator(".jp-InputPrompt")
    started, reruns = time.monotonic(), 0
    while not (widget.count() and widget.first.is_visible()):
        asked = page.locator(".jp-Dialog", has_text="Select Kernel")
        answered = asked.count() > 0 and asked.first.is_visible()
        if answered:
            asked.first.locator(".jp-mod-accept").click()  # "Select": the default Python 3
            asked.first.wait_for(state="hidden", timeout=10_000)
        never_ran = re.sub(r"\s", "", first_prompt.inner_text()) == "[]:"
        if never_ran and (answered or time.monotonic() - started > 5) and reruns < 3:
            tab.click()
            panel.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(
                timeout=90_000)
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_text("Run All Cells", exact=True).click()
            started, reruns = time.monotonic(), reruns + 1
        if time.monotonic() - started > 120:
            raise AssertionError("the LoginWidget did not show up")
        time.sleep(0.25)
    return page, panel


def run_cell(page, panel, index: int, expect_text: str):
    """Run one cell as a person would (click it, Shift+Enter) and wait for its output."""
    cell = panel.locator(".jp-Cell").nth(index)
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    cell.locator(".jp-OutputArea-output", has_text=expect_text).wait_for(timeout=60_000)
    return cell.locator(".jp-OutputArea-output").inner_text()


def save_and_read(page, panel, path, must_contain: str) -> str:
    """Save with Ctrl+S and return the file once the save has landed."""
    panel.locator(".jp-Cell").first.locator(".jp-InputPrompt").click()
    page.keyboard.press("Control+s")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = path.read_text()
        if must_contain in text:
            return text
        time.sleep(0.25)
    raise AssertionError(f"{path.name} was not saved with {must_contain!r} in it")


def server_tokens(server) -> list[str]:
    """Every token the demo server knows: initial keys, login tokens from the popup, minted keys."""
    return list(server.context.auth._tokens)


@pytest.mark.slow
def test_sign_in_through_the_popup(demo_for_browser, open_notebook, jupyter_lab, page, artifacts,
                                   widget_state_saved):
    page, panel = open_login_notebook(open_notebook, "login_popup", demo_for_browser.url)
    widget = panel.locator(".cw-login")
    widget.locator(".cw-login-signin").wait_for(timeout=60_000)
    assert widget.get_attribute("data-status") == "signed_out"
    assert demo_for_browser.url in widget.locator(".cw-login-server").inner_text()
    panel.locator(".jp-OutputArea-output", has_text="auth_state=anonymous").wait_for(timeout=60_000)
    widget.screenshot(path=str(artifacts / "login-signed-out.png"))

    # Closing the sign-in window without signing in offers a retry.
    with page.expect_popup() as info:
        widget.locator(".cw-login-signin").click()
    popup = info.value
    popup.locator("button[data-user='1']").wait_for(timeout=30_000)
    popup.close()
    widget.locator(".cw-login-popup-status", has_text="Login window closed").wait_for(
        timeout=30_000)
    assert "Retry" in widget.locator(".cw-login-popup-status").inner_text()

    # Retry. While the sign-in window is open, a token posted by anyone else (here: the
    # notebook page itself) is ignored.
    with page.expect_popup() as info:
        widget.locator(".cw-login-retry").click()
    popup = info.value
    assert popup.url.startswith(f"{demo_for_browser.url}/sticky_auth/api/v1/authorize")
    popup.locator("button[data-user='1']").wait_for(timeout=30_000)
    page.evaluate("token => window.postMessage({token}, '*')", demo_for_browser.tokens["guest"])
    time.sleep(1.0)
    assert widget.get_attribute("data-status") == "signed_out"
    assert widget.locator(".cw-login-name").inner_text() == ""

    # Sign in as the demo user in the popup.
    popup.locator("button[data-user='1']").click()
    widget.locator(".cw-login-name", has_text="Demo User").wait_for(timeout=60_000)
    assert widget.get_attribute("data-status") == "signed_in"
    assert "demo@example.org" in widget.locator(".cw-login-email").inner_text()
    widget.screenshot(path=str(artifacts / "login-signed-in-popup.png"))
    if not popup.is_closed():  # the widget closes the sign-in window once it has the token
        popup.wait_for_event("close", timeout=30_000)

    # The kernel's client is signed in too.
    assert "auth_state=verified user=Demo User" in run_cell(page, panel, 1, "auth_state=verified")

    saved = save_and_read(page, panel, jupyter_lab["root"] / "login_popup.ipynb",
                          "auth_state=verified")
    assert "application/vnd.jupyter.widget-state+json" in saved  # widget state was saved
    assert "Demo User" in saved  # the synced user name is in the saved widget state ...
    leaked = [t for t in server_tokens(demo_for_browser) if t in saved]
    assert not leaked, "a token was saved in the notebook"  # ... no token is

    # Log out: the widget goes back to the sign-in button, and so does the client.
    widget.locator(".cw-login-logout").click()
    widget.locator(".cw-login-signin").wait_for(timeout=30_000)
    assert widget.get_attribute("data-status") == "signed_out"
    assert "Signed out." in widget.inner_text()
    assert "auth_state=anonymous" in run_cell(page, panel, 1, "auth_state=anonymous")


@pytest.mark.slow
def test_sign_in_by_pasting_a_token(demo_for_browser, open_notebook, jupyter_lab, page, artifacts,
                                    widget_state_saved):
    page, panel = open_login_notebook(open_notebook, "login_paste", demo_for_browser.url)
    widget = panel.locator(".cw-login")
    widget.locator(".cw-login-signin").wait_for(timeout=60_000)
    panel.locator(".jp-OutputArea-output", has_text="auth_state=anonymous").wait_for(timeout=60_000)

    # A browser that blocks the popup: the widget says so and offers the paste field.
    page.evaluate("window.open = () => null")
    widget.locator(".cw-login-signin").click()
    widget.locator(".cw-login-popup-status", has_text="Popup blocked").wait_for(timeout=10_000)
    field = widget.locator("input.cw-login-token")
    field.wait_for(timeout=10_000)  # revealed
    assert field.get_attribute("type") == "password"
    link = widget.locator(".cw-login-token-link")
    assert link.get_attribute("href") == f"{demo_for_browser.url}/sticky_auth/settings/tokens"

    # A wrong token first: refused, and the field is emptied anyway.
    field.fill("0" * 32)
    widget.locator(".cw-login-use-token").click()
    assert field.input_value() == ""
    widget.locator(".cw-error", has_text="did not accept that token").wait_for(timeout=60_000)
    assert widget.get_attribute("data-status") == "error"

    field.fill(demo_for_browser.token)
    widget.screenshot(path=str(artifacts / "login-paste-field.png"))  # shows dots only
    widget.locator(".cw-login-use-token").click()
    assert field.input_value() == ""
    widget.locator(".cw-login-name", has_text="Demo User").wait_for(timeout=60_000)
    assert field.input_value() == ""
    assert widget.get_attribute("data-status") == "signed_in"
    widget.screenshot(path=str(artifacts / "login-signed-in-paste.png"))

    assert "auth_state=verified user=Demo User" in run_cell(page, panel, 1, "auth_state=verified")

    saved = save_and_read(page, panel, jupyter_lab["root"] / "login_paste.ipynb",
                          "auth_state=verified")
    assert "application/vnd.jupyter.widget-state+json" in saved
    assert "Demo User" in saved  # the synced user name is in the saved widget state ...
    assert demo_for_browser.token not in saved  # ... the token is not
    leaked = [t for t in server_tokens(demo_for_browser) if t in saved]
    assert not leaked, "a token was saved in the notebook"


@pytest.mark.slow
def test_sign_in_in_a_new_tab_through_the_server_extension(demo_for_browser, open_notebook,
                                                           page, artifacts):
    """When the popup route fails, the widget falls back to CAVE's redirect flow: a new tab
    signs in and is redirected to cave_widgets' Jupyter server extension, which hands the
    token to this page once."""
    page, panel = open_login_notebook(open_notebook, "login_tab", demo_for_browser.url)
    widget = panel.locator(".cw-login")
    widget.locator(".cw-login-signin").wait_for(timeout=60_000)
    with page.expect_popup() as info:
        widget.locator(".cw-login-signin").click()
    info.value.close()  # the popup route fails
    widget.locator(".cw-login-tab").wait_for(timeout=30_000)
    with page.context.expect_page() as opened:
        widget.locator(".cw-login-tab").click()
    tab = opened.value
    tab.locator("button[data-user='1']").click()
    tab.get_by_text("Signed in. You can close this tab").wait_for(timeout=30_000)
    assert demo_for_browser.token not in tab.url and "middle_auth_token" not in tab.url
    widget.locator(".cw-login-name", has_text="Demo User").wait_for(timeout=60_000)
    assert widget.get_attribute("data-status") == "signed_in"
    widget.screenshot(path=str(artifacts / "login-signed-in-tab.png"))
    assert "auth_state=verified user=Demo User" in run_cell(page, panel, 1, "auth_state=verified")
