"""Starting and always stopping the processes tests launch."""

from __future__ import annotations

import re
import subprocess
import sys
from contextlib import contextmanager
from types import SimpleNamespace

SERVE_LINE = re.compile(
    r"^CAVE demo server at (http://127\.0\.0\.1:\d+) datastack=(\w+) token=([0-9a-f]{32})$"
)


def stop(proc: subprocess.Popen, timeout: float = 20) -> None:
    """Terminate, give it `timeout` seconds, then kill."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def serve_command(scale: str = "small"):
    """`cave-widgets serve --demo` on a free port, as a user starts it. Yields the process and
    what its first line announced (url, datastack, token)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "cave_widgets.cli", "serve", "--demo", "--scale", scale,
         "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        first = proc.stdout.readline().strip()
        match = SERVE_LINE.match(first)
        if match is None:
            stop(proc)
            raise AssertionError(f"unexpected first line {first!r}; stderr:\n{proc.stderr.read()}")
        url, datastack, token = match.groups()
        yield proc, SimpleNamespace(url=url, datastack=datastack, token=token)
    finally:
        stop(proc)
