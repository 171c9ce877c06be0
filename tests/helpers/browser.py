"""Driving JupyterLab in the browser tests."""


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
