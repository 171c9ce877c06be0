"""Shared fixtures: one embedded demo server (small scale) per test session, over real HTTP
on 127.0.0.1, stopped at the end whatever happens."""

from __future__ import annotations

import pytest
import requests
from helpers.own_server import running_demo

# jp_fetch / jp_serverapp for testing the Jupyter server extension.
pytest_plugins = ["pytest_jupyter.jupyter_server"]


@pytest.fixture(scope="session")
def demo_server():
    with running_demo() as server:
        yield server


@pytest.fixture()
def http(demo_server):
    """A requests session that signs in as the demo user."""
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {demo_server.token}"
        yield session
