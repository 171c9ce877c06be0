"""The throwaway environment holding the real caveclient (8.x pins pandas<3, so it cannot
live in the development environment), and the environment its scripts run with: the token
in CAVE_DEMO_TOKEN (never on the command line), HOME in a temporary folder so caveclient
writes nothing into the real home, nothing of the development environment leaking in."""

from __future__ import annotations

import os
from pathlib import Path

from helpers.venvs import ensure_env, python_tag

CAVECLIENT_VERSION = "8.2.1"
REQUIREMENTS = [f"caveclient=={CAVECLIENT_VERSION}", "pandas<3"]
REPO = Path(__file__).resolve().parents[2]
ENV_DIR = REPO / ".venv-caveclient"
PROBE = ("import sys, caveclient, pandas; "
         "print(caveclient.__version__, '%d.%d' % sys.version_info[:2])")


def ensure_caveclient_env() -> tuple[Path, str]:
    """The env's python, and how it was obtained (reused / built in N s)."""
    return ensure_env(ENV_DIR, REQUIREMENTS, PROBE, f"{CAVECLIENT_VERSION} {python_tag()}")


def script_env(home: Path, token: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        # Nothing from the development environment may leak into the throwaway one.
        if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
        and not k.startswith(("XDG_", "CAVE_"))
    }
    env.update(
        HOME=str(home),
        USERPROFILE=str(home),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_CONFIG_HOME=str(home / ".config"),
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONUNBUFFERED="1",
        CAVE_DEMO_TOKEN=token,
    )
    return env
