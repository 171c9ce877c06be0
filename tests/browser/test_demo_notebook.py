"""What `make demo` gives a person: JupyterLab with the quickstart notebook, which starts the
embedded server and shows a query result when its cells run."""

import pytest
from helpers.browser import run_all_cells


@pytest.mark.slow
def test_quickstart_in_jupyterlab_shows_a_query_result(jupyter_lab, page, artifacts):
    page.goto(f"{jupyter_lab['url']}/lab/tree/quickstart.ipynb?reset&token={jupyter_lab['token']}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    title = page.locator(".jp-Notebook .jp-RenderedMarkdown h1",
                         has_text="cave_widgets quick start")
    title.wait_for(timeout=60_000)
    run_all_cells(page)  # Run > Run All Cells, as a person would
    # The last cell with output (the version-3 query) shows up once everything before it ran.
    page.locator(".jp-OutputArea-output", has_text="version 3 (").wait_for(timeout=120_000)
    assert page.locator(".jp-OutputArea-output", has_text="synapses from 864691135").count() == 2
    table = page.locator(".jp-OutputArea-output table.dataframe")
    table.first.wait_for(state="attached", timeout=30_000)
    # textContent, not innerText: JupyterLab skips rendering cells scrolled out of view.
    assert any("post_pt_root_id" in text for text in table.all_text_contents())
    # the annotation editor's cells: the editor is shown, and the rows written from code
    page.locator(".jp-OutputArea-output", has_text="wrote 3 rows to my_cell_types").wait_for(
        state="attached", timeout=120_000)
    page.locator(".cave-annotation-editor").first.wait_for(state="attached", timeout=30_000)
    assert page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                        has_text="Traceback").count() == 0
    page.screenshot(path=str(artifacts / "quickstart-query-result.png"), full_page=True)
