"""Driving JupyterLab in the browser tests."""

# the notebook on show (other notebooks of the session may be open in hidden tabs)
NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook"


def run_all_cells(page) -> None:
    """Run > Run All Cells, once this notebook's kernel is really there: the execution
    indicator can say idle before the kernel session exists (then Run All asks "Select
    Kernel" or is lost); the status bar's "| Idle" is the kernel's own state."""
    page.locator(".jp-StatusBar-TextItem", has_text="| Idle").wait_for(timeout=90_000)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_text("Run All Cells", exact=True).click()
    select_kernel = page.locator(".jp-Dialog", has_text="Select Kernel").locator(
        "button.jp-mod-accept")
    page.wait_for_timeout(500)
    if select_kernel.is_visible():
        select_kernel.click()


def ensure_ran(page, attempts: int = 3) -> None:
    """Run All Cells sometimes goes unheard when clicked while the new kernel is still
    settling (a busy machine): if the first cell has not started, click it again."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    started = page.locator(f"{NOTEBOOK} .jp-Cell .jp-InputPrompt").first
    for _ in range(attempts):
        try:
            page.wait_for_function(
                "el => /\\[(\\*|\\d+)\\]/.test(el.textContent)", arg=started.element_handle(),
                timeout=20_000)
            return
        except PlaywrightTimeout:
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_text("Run All Cells", exact=True).click()
    raise AssertionError("the notebook's cells never started running")


def keep_on_loopback(context) -> list[str]:
    """Abort every request of `context` (pages and their workers) that leaves 127.0.0.1: the
    offline promise. The list returned collects the aborted URLs."""
    from urllib.parse import urlsplit

    outside: list[str] = []

    def only_loopback(route):
        url = route.request.url
        if urlsplit(url).hostname == "127.0.0.1" or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    context.route("**/*", only_loopback)
    return outside
