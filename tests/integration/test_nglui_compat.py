"""The real nglui (4.x) against the embedded server: it shortens links and attaches segment
properties through the real caveclient and through cave_widgets' CAVEclient.

nglui needs caveclient (pandas<3) and the neuroglancer wheel: it runs in a throwaway
virtualenv at ``<repo>/.venv-nglui``, built on first use and reused, driving
``tests/compat/nglui_smoke.py`` in a subprocess against ``cave-widgets serve --demo``. The
token travels in CAVE_DEMO_TOKEN and HOME is a temporary folder. Nothing here skips: an env
that cannot be built fails the test and says why.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest
from helpers.processes import serve_command
from helpers.venvs import clean_environ, describe, ensure_env, python_tag, run

NGLUI_VERSION = "4.9.0"
CAVECLIENT_VERSION = "8.2.1"
# What cave_widgets' client needs besides what nglui and caveclient bring.
REQUIREMENTS = [f"nglui=={NGLUI_VERSION}", f"caveclient=={CAVECLIENT_VERSION}", "pandas<3",
                "pyarrow", "traitlets", "packaging"]
MIN_PASSED = 15

REPO = Path(__file__).resolve().parents[2]
ENV_DIR = REPO / ".venv-nglui"
SMOKE_SCRIPT = REPO / "tests" / "compat" / "nglui_smoke.py"
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed$", re.MULTILINE)
PROBE = ("import sys, nglui, caveclient, pyarrow, traitlets; "
         "print(nglui.__version__, caveclient.__version__, '%d.%d' % sys.version_info[:2])")


@pytest.mark.slow
def test_real_nglui_with_caveclient_and_with_our_client(tmp_path):
    python, how = ensure_env(ENV_DIR, REQUIREMENTS, PROBE,
                             f"{NGLUI_VERSION} {CAVECLIENT_VERSION} {python_tag()}")
    home = tmp_path / "home"
    home.mkdir()
    env = clean_environ(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"),
                        XDG_CONFIG_HOME=str(home / ".config"), PYTHONDONTWRITEBYTECODE="1",
                        NGLUI_DISABLE_CAPABILITY_PROBE="1")
    with serve_command() as (_, server):
        env["CAVE_DEMO_TOKEN"] = server.token
        started = time.perf_counter()
        try:
            proc = run([python, SMOKE_SCRIPT, "--url", server.url, "--datastack",
                        server.datastack, "--repo", REPO], timeout=300, env=env, cwd=tmp_path)
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"the smoke script did not finish in {exc.timeout} s", pytrace=False)
        elapsed = time.perf_counter() - started

    output = describe(proc).replace(server.token, "<token>")
    print(f"nglui env {how}; smoke script ran in {elapsed:.1f} s\n{output}")
    found = SUMMARY.findall(proc.stdout)
    assert found, f"no summary line in the smoke script's output:\n{output}"
    passed, failed = map(int, found[-1])
    assert proc.returncode == 0 and failed == 0, f"{failed} check(s) failed:\n{output}"
    assert passed >= MIN_PASSED, f"only {passed} checks passed (want >= {MIN_PASSED}):\n{output}"
