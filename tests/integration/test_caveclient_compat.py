"""The real, unmodified caveclient works against the embedded server.

caveclient 8.x pins pandas<3, so it cannot live in the development environment: this test
builds (or reuses) a throwaway virtualenv at ``<repo>/.venv-caveclient`` holding only
``caveclient==8.2.1`` and its dependencies, starts the demo server, and runs the package
``tests/compat/caveclient_smoke`` there in a subprocess (``python -m caveclient_smoke`` with
only ``tests/compat`` on PYTHONPATH). The token travels in the CAVE_DEMO_TOKEN environment
variable (never on the command line) and HOME points at a temporary directory, so caveclient
writes nothing into the real home.

Nothing here skips: if the environment cannot be built, the test fails and says why.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest
from helpers.caveclient_env import ensure_caveclient_env, script_env
from helpers.processes import serve_command
from helpers.venvs import describe, run

MIN_PASSED = 70

REPO = Path(__file__).resolve().parents[2]
# A package (python -m caveclient_smoke): tests/compat goes on PYTHONPATH, nothing else.
SMOKE_DIR = REPO / "tests" / "compat"
SMOKE_PACKAGE = "caveclient_smoke"
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed$", re.MULTILINE)


@pytest.mark.slow
def test_real_caveclient_against_embedded_server(tmp_path):
    python, how = ensure_caveclient_env()

    home = tmp_path / "home"
    home.mkdir()
    # Edits go to a second server of their own, so the read checks see the demo unchanged.
    with serve_command() as (_, server), serve_command() as (_, editable):
        started = time.perf_counter()
        env = script_env(home, server.token)
        env["CAVE_DEMO_EDIT_TOKEN"] = editable.token
        env["PYTHONPATH"] = str(SMOKE_DIR)
        try:
            proc = run(
                [python, "-m", SMOKE_PACKAGE, "--url", server.url, "--datastack", server.datastack,
                 "--edit-url", editable.url],
                timeout=420,
                env=env,
                cwd=tmp_path,
            )
        except subprocess.TimeoutExpired as exc:
            out = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else exc.stdout
            pytest.fail(f"the smoke script did not finish in {exc.timeout} s:\n{out}",
                        pytrace=False)
        elapsed = time.perf_counter() - started

    output = describe(proc).replace(server.token, "<token>").replace(editable.token, "<token>")
    print(f"caveclient env {how}; smoke script ran in {elapsed:.1f} s\n{output}")
    found = SUMMARY.findall(proc.stdout)
    assert found, f"no summary line in the smoke script's output:\n{output}"
    passed, failed = map(int, found[-1])
    assert proc.returncode == 0 and failed == 0, f"{failed} check(s) failed:\n{output}"
    assert passed >= MIN_PASSED, f"only {passed} checks passed (want >= {MIN_PASSED}):\n{output}"
