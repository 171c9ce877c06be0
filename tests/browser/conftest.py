"""A real `jupyter lab` on a free port with a random token, and headless Debian Chromium
driven by Playwright. Both are always stopped, even when a test fails."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from helpers.browser import run_all_cells
from helpers.own_server import running_demo
from helpers.processes import stop

from cave_widgets.server.demo.build import cache_dir

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = os.environ.get("CAVE_WIDGETS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # nothing may reach out of this machine
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(autouse=True)
def jp_asyncio_loop():
    """Shadows pytest-jupyter's autouse fixture of this name (and jp_server_cleanup below,
    which uses it): at teardown it closes the event loop Playwright's sync API is still
    running ("Cannot close a running event loop"). Browser tests use none of pytest-jupyter's
    server fixtures."""
    yield None


@pytest.fixture(autouse=True)
def jp_server_cleanup():
    yield


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def jupyter_lab(tmp_path_factory, demo_for_browser):
    """JupyterLab (and Notebook 7, served by the same server) as a first-time user runs it:
    a fresh HOME with no token anywhere. The shipped notebooks read the server to use from
    CAVE_SERVER_ADDRESS / CAVE_DATASTACK: here, the embedded demo server."""
    work = tmp_path_factory.mktemp("lab")
    notebooks = work / "notebooks"
    shutil.copytree(REPO / "notebooks", notebooks)
    home = work / "home"
    home.mkdir()
    port, token = free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "HOME": str(home),
        # the demo data built by this session, not a rebuild in the new HOME
        "CAVE_WIDGETS_CACHE_DIR": str(cache_dir()),
        "CAVE_SERVER_ADDRESS": demo_for_browser.url,
        "CAVE_DATASTACK": demo_for_browser.datastack,
        "CAVE_WIDGETS_DEMO_SCALE": "small",
        "JUPYTER_CONFIG_DIR": str(work / "config"),
        "JUPYTERLAB_WORKSPACES_DIR": str(work / "workspaces"),
        "JUPYTER_RUNTIME_DIR": str(work / "runtime"),
    }
    log = open(work / "jupyter.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
         f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={notebooks}",
         "--ServerApp.open_browser=False", "--allow-root"],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                log_text = (work / "jupyter.log").read_text()
                raise RuntimeError(f"jupyter lab exited early:\n{log_text}")
            try:
                if requests.get(f"{url}/api/status", params={"token": token}, timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("jupyter lab did not answer within 120 s")
            time.sleep(0.5)
        yield {"url": url, "token": token, "root": notebooks, "home": home}
    finally:
        stop(proc)
        log.close()


@pytest.fixture(scope="module")
def browser():
    # Module scope: Playwright's sync API keeps an event loop running while it is open,
    # which pytest-jupyter's fixtures in later (non-browser) tests would try to close.
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's chromium package")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture()
def artifacts() -> Path:
    """Where screenshots go (kept by CI as test artifacts)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture()
def page(browser, request):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    try:
        yield pg
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}-final.png"), full_page=True)
        context.close()


@pytest.fixture(scope="session")
def demo_for_browser():
    """An embedded demo server the browser and the notebook kernels both reach."""
    with running_demo() as server:
        yield server


@pytest.fixture()
def token_file(demo_for_browser, tmp_path):
    """The demo token in a private file the kernel reads (never in the notebook itself)."""
    from cave_widgets.client import tokens

    path = tmp_path / "secrets" / "demo-token.json"
    tokens.write_key(path, demo_for_browser.token)
    return path


@pytest.fixture()
def open_notebook(jupyter_lab, page):
    """Write a notebook of code cells into the lab's folder, open it in JupyterLab, run all
    cells as a person would (Run > Run All Cells), and return the page.

    Usage: page = open_notebook("name", ["from cave_widgets.widgets import ...", "..."])
    """
    import nbformat

    def run(name: str, cells: list[str], wait_for: str | None = None):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}
        nbformat.write(nb, jupyter_lab["root"] / f"{name}.ipynb")
        # ?reset: no tabs restored from earlier tests (Run All must run this notebook)
        page.goto(f"{jupyter_lab['url']}/lab/tree/{name}.ipynb?reset&token={jupyter_lab['token']}")
        run_all_cells(page)
        if wait_for:
            page.locator(wait_for).first.wait_for(timeout=120_000)
        return page

    return run
