"""The real pcg_skel (1.3.1) builds the same skeleton of a demo neuron through the real
caveclient and through cave_widgets' CAVEclient, against the embedded server.

pcg_skel needs caveclient (pandas<3), cloud-volume and meshparty: it runs in a throwaway
virtualenv at ``<repo>/.venv-pcgskel``, built on first use and reused, driving
``tests/compat/pcg_skel_smoke.py`` in a subprocess against the session's demo server. The
token travels in CAVE_DEMO_TOKEN and HOME is a temporary folder (caveclient and CloudVolume
write there). Nothing here skips: an env that cannot be built fails the test and says why.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.smoke import run_smoke
from helpers.venvs import ensure_env, python_tag

PCG_SKEL_VERSION = "1.3.1"
CAVECLIENT_VERSION = "8.2.1"
# What cave_widgets' client needs besides what pcg_skel and caveclient bring.
REQUIREMENTS = [f"pcg_skel=={PCG_SKEL_VERSION}", f"caveclient=={CAVECLIENT_VERSION}",
                "pandas<3", "pyarrow", "traitlets", "packaging"]
MIN_PASSED = 8

REPO = Path(__file__).resolve().parents[2]
ENV_DIR = REPO / ".venv-pcgskel"
SMOKE_SCRIPT = REPO / "tests" / "compat" / "pcg_skel_smoke.py"
PROBE = ("import sys, pcg_skel, caveclient, cloudvolume, meshparty, pyarrow, traitlets; "
         "print(pcg_skel.__version__, caveclient.__version__, '%d.%d' % sys.version_info[:2])")


@pytest.mark.slow
def test_real_pcg_skel_with_caveclient_and_with_our_client(tmp_path, demo_server):
    python, how = ensure_env(ENV_DIR, REQUIREMENTS, PROBE,
                             f"{PCG_SKEL_VERSION} {CAVECLIENT_VERSION} {python_tag()}")
    run_smoke(python, [SMOKE_SCRIPT, "--url", demo_server.url, "--datastack",
                       demo_server.datastack, "--repo", REPO], [demo_server.token], tmp_path,
              f"pcg_skel env {how}", min_passed=MIN_PASSED)
