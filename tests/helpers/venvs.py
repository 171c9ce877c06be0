"""Throwaway virtualenvs for the outside-referee tests: packages whose pins conflict with the
development environment (caveclient pins pandas<3, emannotationschemas numpy<2) run in an env
of their own under <repo>/.venv-<name>, built on first use and reused while a probe still
reports what it should. Nothing here skips: an env that cannot be built fails the test and
says why."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

# Variables of the development environment that must not leak into a throwaway one.
LEAKY = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")


def env_python(env_dir: Path) -> Path:
    return env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def run(cmd: list, timeout: float, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, check=False,
        **kwargs,
    )


def describe(proc: subprocess.CompletedProcess) -> str:
    return (
        f"$ {' '.join(map(str, proc.args))}\nexit status {proc.returncode}\n"
        f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
    )


def clean_environ(**extra: str) -> dict[str, str]:
    """os.environ without the development environment's Python variables, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in LEAKY}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", **extra)
    return env


def python_tag() -> str:
    """'<major>.<minor>' of the interpreter running the tests (throwaway envs use it too)."""
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


def probe(python: Path, code: str) -> str | None:
    """What `code` prints in the env, stripped, or None if the env is unusable."""
    if not python.exists():
        return None
    try:
        proc = run([python, "-c", code], timeout=120, env=clean_environ())
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


@contextmanager
def build_lock(env_dir: Path):
    """Two test runs must not build the same environment at once (POSIX only; elsewhere a
    no-op)."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    key = hashlib.sha1(str(env_dir).encode()).hexdigest()[:12]
    path = Path(tempfile.gettempdir()) / f"cave_widgets-env-{key}.lock"
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_env(env_dir: Path, requirements: list[str], probe_code: str,
               wanted: str) -> tuple[Path, str]:
    """The python of a virtualenv at env_dir holding `requirements`, and how it was obtained
    (reused / built in N s). The env is reused while `probe_code` prints `wanted` there."""
    python = env_python(env_dir)
    with build_lock(env_dir):
        if probe(python, probe_code) == wanted:
            return python, "reused"
        started = time.perf_counter()
        # Same interpreter as the one running the tests; --clear replaces a stale env.
        proc = run([sys.executable, "-m", "venv", "--clear", env_dir], timeout=300)
        if proc.returncode != 0:
            pytest.fail(f"could not create {env_dir}:\n{describe(proc)}", pytrace=False)
        proc = run([python, "-m", "pip", "install", "--quiet", *requirements], timeout=540,
                   env=clean_environ())
        if proc.returncode != 0:
            pytest.fail(
                f"could not install {' '.join(requirements)} into {env_dir}:\n{describe(proc)}",
                pytrace=False,
            )
        found = probe(python, probe_code)
        if found != wanted:
            pytest.fail(f"{env_dir} was built but reports {found!r} instead of {wanted!r}",
                        pytrace=False)
        return python, f"built in {time.perf_counter() - started:.1f} s"
