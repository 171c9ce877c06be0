"""Optional dependencies: imported on demand, or an ImportError that says what to install."""

from __future__ import annotations

import sys

import pytest

from cave_widgets.client import optional


def test_networkx_is_the_module_when_installed():
    nx = pytest.importorskip("networkx")
    assert optional.networkx() is nx


def test_networkx_missing_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "networkx", None)  # makes `import networkx` fail
    with pytest.raises(ImportError, match=r"needs networkx: pip install 'cave_widgets\[graph\]'"):
        optional.networkx()
