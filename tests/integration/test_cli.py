"""`cave-widgets serve --demo` prints one line with URL, datastack and token, then serves."""

import signal
import subprocess
import sys

import requests
from helpers.processes import serve_command


def test_serve_demo_command_answers_and_stops_on_interrupt():
    with serve_command() as (proc, served):
        assert served.datastack == "demo_local"
        record = requests.get(f"{served.url}/info/api/v2/datastack/full/{served.datastack}",
                              headers={"Authorization": f"Bearer {served.token}"},
                              timeout=10).json()
        assert record["local_server"] == served.url
        assert requests.get(f"{served.url}/info/api/v2/datastacks", timeout=10).status_code == 401
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0


def test_serve_without_demo_explains_itself():
    out = subprocess.run([sys.executable, "-m", "cave_widgets.cli", "serve"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "--demo" in out.stderr
