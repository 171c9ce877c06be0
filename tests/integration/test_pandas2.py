"""The client under pandas 2: the development environment has the newest pandas (3), so the
materialization tests also run in a throwaway environment with pandas<3.

The environment lives at <repo>/.venv-pandas2 and is reused while it still has pandas 2 and
the package installed from this checkout; building it is part of the test, never a skip.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ENV = REPO / ".venv-pandas2"
PYTHON = ENV / "bin" / "python"
SUITES = [
    "tests/unit/test_client_wire.py",
    "tests/unit/test_positions.py",
    "tests/integration/test_client_materialize.py",
    "tests/integration/test_client_materialize_queries.py",
    "tests/integration/test_client_materialize_tables.py",
]
PROBE = ("import pandas, cave_widgets, pathlib; "
         "import pytest_jupyter; assert pandas.__version__.startswith('2.'); "
         "print(pathlib.Path(cave_widgets.__file__).resolve().parents[1])")


def _run(cmd, **kw):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)


def ensure_env() -> None:
    if PYTHON.exists():
        probe = _run([PYTHON, "-c", PROBE], timeout=120)
        if probe.returncode == 0 and Path(probe.stdout.strip()) == REPO:
            return
    steps = [
        [sys.executable, "-m", "venv", "--clear", ENV],
        [PYTHON, "-m", "pip", "install", "--quiet", "pandas>=2,<3",
         "-e", f"{REPO}[server]", "pytest>=8", "pytest-timeout", "responses>=0.25",
         "pytest-jupyter[server]>=0.10"],
    ]
    for step in steps:
        done = _run(step, timeout=900, env={k: v for k, v in os.environ.items()
                                            if k not in ("PYTHONPATH", "VIRTUAL_ENV")})
        if done.returncode != 0:
            pytest.fail(f"building {ENV} failed at {step}:\n{done.stdout}\n{done.stderr}",
                        pytrace=False)


@pytest.mark.slow
def test_client_suites_pass_under_pandas_2():
    ensure_env()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = _run([PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SUITES],
                timeout=900, cwd=REPO, env=env)
    tail = "\n".join(done.stdout.splitlines()[-15:])
    assert done.returncode == 0, f"under pandas 2:\n{tail}\n{done.stderr[-2000:]}"
    assert " passed" in tail and "failed" not in tail
