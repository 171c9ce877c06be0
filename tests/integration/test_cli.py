"""`cave-widgets serve --demo` prints one line with URL, datastack and token, then serves."""

import os
import re
import signal
import subprocess
import sys

import requests

LINE = re.compile(r"^CAVE demo server at (http://127\.0\.0\.1:\d+) datastack=(\w+) token=([0-9a-f]{32})$")


def test_serve_demo_command_answers_and_stops_on_interrupt():
    proc = subprocess.Popen(
        [sys.executable, "-m", "cave_widgets.cli", "serve", "--demo", "--scale", "small",
         "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        first = proc.stdout.readline().strip()
        match = LINE.match(first)
        assert match, f"unexpected first line {first!r}; stderr: {proc.stderr.read() if proc.poll() is not None else ''}"
        url, datastack, token = match.groups()
        assert datastack == "demo_local"
        record = requests.get(f"{url}/info/api/v2/datastack/full/{datastack}",
                              headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
        assert record["local_server"] == url
        assert requests.get(f"{url}/info/api/v2/datastacks", timeout=10).status_code == 401
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_without_demo_explains_itself():
    out = subprocess.run([sys.executable, "-m", "cave_widgets.cli", "serve"],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ})
    assert out.returncode == 2 and "--demo" in out.stderr
