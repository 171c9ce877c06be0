"""The real nglui (4.x) against the embedded server: it shortens links and attaches segment
properties through the real caveclient and through cave_widgets' CAVEclient.

nglui needs caveclient (pandas<3) and the neuroglancer wheel: it runs in a throwaway
virtualenv at ``<repo>/.venv-nglui``, built on first use and reused, driving
``tests/compat/nglui_smoke.py`` in a subprocess against ``cave-widgets serve --demo``. The
token travels in CAVE_DEMO_TOKEN and HOME is a temporary folder. Nothing here skips: an env
that cannot be built fails the test and says why.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.processes import serve_command
from helpers.smoke import run_smoke
from helpers.venvs import ensure_env, python_tag

NGLUI_VERSION = "4.9.0"
CAVECLIENT_VERSION = "8.2.1"
# What cave_widgets' client needs besides what nglui and caveclient bring.
REQUIREMENTS = [f"nglui=={NGLUI_VERSION}", f"caveclient=={CAVECLIENT_VERSION}", "pandas<3",
                "pyarrow", "traitlets", "packaging"]
MIN_PASSED = 15

REPO = Path(__file__).resolve().parents[2]
ENV_DIR = REPO / ".venv-nglui"
SMOKE_SCRIPT = REPO / "tests" / "compat" / "nglui_smoke.py"
PROBE = ("import sys, nglui, caveclient, pyarrow, traitlets; "
         "print(nglui.__version__, caveclient.__version__, '%d.%d' % sys.version_info[:2])")


@pytest.mark.slow
def test_real_nglui_with_caveclient_and_with_our_client(tmp_path):
    python, how = ensure_env(ENV_DIR, REQUIREMENTS, PROBE,
                             f"{NGLUI_VERSION} {CAVECLIENT_VERSION} {python_tag()}")
    with serve_command() as (_, server):
        run_smoke(python, [SMOKE_SCRIPT, "--url", server.url, "--datastack", server.datastack,
                           "--repo", REPO], [server.token], tmp_path, f"nglui env {how}",
                  extra_env={"NGLUI_DISABLE_CAPABILITY_PROBE": "1"}, min_passed=MIN_PASSED)
