"""The installed package: a cheap import, the bundled front end, the command."""

import subprocess
import sys
from pathlib import Path

import cave_widgets


def test_front_end_bundle_was_built_on_install():
    bundle = Path(cave_widgets.__file__).parent / "static" / "index.js"
    assert bundle.exists(), "the js/ build did not run: reinstall with npm available"
    assert "idToString" in bundle.read_text()


def test_import_stays_cheap():
    code = ("import sys, cave_widgets, cave_widgets.server, cave_widgets.client; "
            "heavy = [m for m in ('pandas', 'pyarrow', 'duckdb', 'ipywidgets', 'starlette') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
