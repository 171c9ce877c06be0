"""Running a compatibility smoke script of tests/compat/ with a throwaway environment's
Python: a fresh HOME, tokens in the environment only (never on the command line or in the
output), a time limit, and its ``N passed, M failed`` summary checked."""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers.caveclient_env import script_env
from helpers.venvs import describe, run

REPO = Path(__file__).resolve().parents[2]
COMPAT = REPO / "tests" / "compat"  # on PYTHONPATH: the scripts share compat/smoke_runner.py
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed$", re.MULTILINE)


@dataclass
class SmokeRun:
    passed: int
    stdout: str
    output: str  # the command, status, stdout and stderr, tokens hidden


def run_smoke(python: Path, args: list, tokens: list[str], tmp_path: Path, label: str, *,
              extra_env: dict[str, str] | None = None, timeout: float = 300,
              min_passed: int = 1) -> SmokeRun:
    """Run `python *args` (the first token as CAVE_DEMO_TOKEN); fail unless it exits 0 with
    no failed check and at least `min_passed` passed."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = script_env(home, tokens[0])
    env["PYTHONPATH"] = str(COMPAT)
    env.update(extra_env or {})

    def hidden(text: str) -> str:
        for token in tokens:
            text = text.replace(token, "<token>")
        return text

    started = time.perf_counter()
    try:
        proc = run([python, *args], timeout=timeout, env=env, cwd=tmp_path)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        pytest.fail(f"{label}: did not finish in {exc.timeout} s:\n{hidden(out)}", pytrace=False)
    output = hidden(describe(proc))
    print(f"{label}; ran in {time.perf_counter() - started:.1f} s\n{output}")
    found = SUMMARY.findall(proc.stdout)
    assert found, f"no summary line in the smoke script's output:\n{output}"
    passed, failed = map(int, found[-1])
    assert proc.returncode == 0 and failed == 0, f"{failed} check(s) failed:\n{output}"
    assert passed >= min_passed, f"only {passed} checks passed (want >= {min_passed}):\n{output}"
    return SmokeRun(passed, proc.stdout, output)
