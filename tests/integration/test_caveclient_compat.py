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

import pytest
from helpers.caveclient_env import ensure_caveclient_env
from helpers.processes import serve_command
from helpers.smoke import run_smoke

MIN_PASSED = 70

# A package, run as python -m caveclient_smoke (run_smoke puts tests/compat on PYTHONPATH).
SMOKE_PACKAGE = "caveclient_smoke"


@pytest.mark.slow
def test_real_caveclient_against_embedded_server(tmp_path):
    python, how = ensure_caveclient_env()

    # Edits go to a second server of their own, so the read checks see the demo unchanged.
    with serve_command() as (_, server), serve_command() as (_, editable):
        run_smoke(python, ["-m", SMOKE_PACKAGE, "--url", server.url, "--datastack",
                           server.datastack, "--edit-url", editable.url],
                  [server.token, editable.token], tmp_path, f"caveclient env {how}",
                  extra_env={"CAVE_DEMO_EDIT_TOKEN": editable.token}, timeout=420,
                  min_passed=MIN_PASSED)
