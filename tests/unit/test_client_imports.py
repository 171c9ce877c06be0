"""Importing the package or the client, even building a client, loads neither pandas nor
pyarrow: they load when a query needs them. Each check runs in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("pandas", "pyarrow")
REPORT = "import json, sys; print(json.dumps([m for m in {heavy!r} if m in sys.modules]))"


def loaded_after(code: str, home) -> list[str]:
    script = f"{code}\n{REPORT.format(heavy=HEAVY)}"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env={"HOME": str(home), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("code", [
    "import cave_widgets",
    "from cave_widgets import CAVEclient",
    "from cave_widgets import CAVEclient, set_session_defaults, get_session_defaults",
    "import cave_widgets.client",
    # Building a global client needs no network and no data libraries either.
    "from cave_widgets import CAVEclient\n"
    "c = CAVEclient(server_address='http://127.0.0.1:9')\n"
    "assert c.datastack_name is None",
])
def test_no_pandas_or_pyarrow_on_import(code, tmp_path):
    assert loaded_after(code, tmp_path) == []


def test_the_check_itself_sees_pandas_when_it_is_loaded(tmp_path):
    # Guards against a check that could never fail.
    assert "pandas" in loaded_after("import pandas", tmp_path)
