"""Helpers for the client integration tests (tests/integration/test_client_*.py): watch which
requests a CAVEclient sends, and give it a private HOME."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from cave_widgets.client import http


def record_requests(monkeypatch) -> list[tuple[str, str]]:
    """From now on, every session a client builds records (method, path) of each answered
    request in the returned list."""
    seen: list[tuple[str, str]] = []
    make = http.make_session

    def recording_session(*args, **kwargs):
        session = make(*args, **kwargs)

        def hook(response, *a, **k):
            seen.append((response.request.method, urlsplit(response.request.url).path))

        session.hooks["response"].append(hook)
        return session

    monkeypatch.setattr(http, "make_session", recording_session)
    return seen


def private_home(tmp_path: Path, monkeypatch) -> Path:
    """Point HOME at an empty folder so ~/.cloudvolume is never the real one."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    return home


def secrets(home: Path) -> Path:
    return home / ".cloudvolume" / "secrets"


# Fixtures shared by the client test modules (import them by name to use them).


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    return private_home(tmp_path, monkeypatch)


@pytest.fixture()
def client(demo_server):
    """A datastack client on the demo server, signed in as the demo user."""
    from cave_widgets import CAVEclient

    return CAVEclient(demo_server.datastack, server_address=demo_server.url,
                      auth_token=demo_server.token)
