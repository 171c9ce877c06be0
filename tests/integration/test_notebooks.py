"""The quickstart notebook runs top to bottom unattended, on the small demo."""

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@pytest.mark.slow
def test_quickstart_runs_and_shows_a_query_result(monkeypatch):
    monkeypatch.setenv("CAVE_WIDGETS_DEMO_SCALE", "small")
    nb = nbformat.read(NOTEBOOKS / "quickstart.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    text = "\n".join(
        out.get("text", "") + str(out.get("data", {}).get("text/plain", ""))
        for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
    )
    assert "signed in as Demo User" in text
    assert "version 1:" in text and "expired" in text
    assert "synapses" in text and "nuclei" in text
    assert "synapses from 864691135" in text
    assert "version 3 (" in text
    assert "browser.df: " in text and "client.materialize.query_table(" in text
    assert "wrote 3 rows to my_cell_types" in text and "L2/3 IT" in text  # the editor
    html = [out["data"]["text/html"] for cell in nb.cells if cell.cell_type == "code"
            for out in cell.outputs if "text/html" in out.get("data", {})]
    assert any("post_pt_root_id" in h for h in html)  # the DataFrame of the query
    assert " vertices, " in text and "µm of cable" in text  # the skeleton view
    assert html and "direction" in html[-1] and "x_nm" in html[-1]  # ... and its synapses
    assert all(o.get("output_type") != "error" for c in nb.cells for o in c.get("outputs", []))


@pytest.mark.slow
def test_real_deployment_notebook_runs_against_any_server(monkeypatch, tmp_path, demo_server):
    """Its cells read the server from one variable: point it at the embedded server, with the
    token saved where a signed-in user would have it."""
    from cave_widgets.client import tokens

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    netloc = demo_server.url.split("//", 1)[1]
    tokens.write_key(tokens.server_file(netloc), demo_server.token)
    monkeypatch.setenv("CAVE_SERVER_ADDRESS", demo_server.url)
    monkeypatch.setenv("CAVE_DATASTACK", demo_server.datastack)
    nb = nbformat.read(NOTEBOOKS / "real_deployment.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "\n".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                     for out in cell.outputs)
    assert "rows match the current query" in text and "rows in browser.df" in text
    assert demo_server.token not in json.dumps(nb)


@pytest.mark.slow
def test_real_deployment_notebook_signed_out_runs_without_an_error(monkeypatch, tmp_path,
                                                                  demo_server):
    """A first-time user (no token anywhere) runs every cell: no cell fails; the last one
    says to sign in."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CAVE_SERVER_ADDRESS", demo_server.url)
    monkeypatch.setenv("CAVE_DATASTACK", demo_server.datastack)
    nb = nbformat.read(NOTEBOOKS / "real_deployment.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert all(o.get("output_type") != "error" for o in outputs)
    assert not [o for o in outputs if o.get("name") == "stderr" and "Error" in o.get("text", "")]
    text = "\n".join(o.get("text", "") for o in outputs)
    assert "Sign in above" in text

