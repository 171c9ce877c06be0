"""What the benchmarks share: the embedded demo server in a process of its own (so its work
is not counted in the client's process), always stopped; and the Python of a throwaway
environment built by a compatibility test, where the real caveclient runs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINE = re.compile(r"CAVE demo server at (\S+) datastack=(\S+) token=(\S+)")


@dataclass
class DemoProcess:
    url: str
    datastack: str
    token: str
    pid: int
    startup: float  # seconds from launch to its first line (the server answers from then)


@contextmanager
def served_demo(scale: str, *extra_args: str) -> Iterator[DemoProcess]:
    """`cave-widgets serve --demo --scale <scale> <extra_args>`, from this checkout."""
    started = time.perf_counter()
    # stderr to a file: a pipe nobody reads would block a chatty server
    with tempfile.TemporaryFile("w+") as errors:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cave_widgets.cli", "serve", "--demo", "--scale", scale,
             *extra_args],
            stdout=subprocess.PIPE, stderr=errors, text=True,
            env=dict(os.environ, PYTHONPATH=str(REPO)),
        )
        try:
            first = proc.stdout.readline()
            match = LINE.search(first)
            if match is None:
                errors.seek(0)
                raise SystemExit(f"the server did not start: {first!r}\n{errors.read()}")
            yield DemoProcess(*match.groups(), proc.pid, time.perf_counter() - started)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def throwaway_python(env_dir: str, built_by: str) -> Path:
    """The Python of <repo>/<env_dir>, which the test `built_by` builds on its first run."""
    python = REPO / env_dir / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"{env_dir} is missing: run {built_by} once to build it")
    return python
