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


def test_cloudvolume_missing_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "cloudvolume", None)
    with pytest.raises(ImportError, match=r"needs cloud-volume: pip install cloud-volume"):
        optional.cloudvolume()


def test_cloudvolume_paths_as_caveclient_formats_them():
    from cave_widgets.client.info import cloudvolume_path

    graphene = "graphene://http://127.0.0.1:9/segmentation/table/demo_pcg"
    assert cloudvolume_path(graphene) == graphene
    assert cloudvolume_path("precomputed://gs://b/seg") == "precomputed://gs://b/seg"
    assert cloudvolume_path("gs://bucket/em") == (
        "precomputed://https://storage.googleapis.com/bucket/em")
    assert cloudvolume_path("https://h/em") == "precomputed://https://h/em"
    assert cloudvolume_path("ftp://h/em") is None
    assert cloudvolume_path(None) is None


def test_the_token_goes_to_cloudvolume_only_for_the_clients_servers():
    from cave_widgets.client.http import BearerAuth

    auth = BearerAuth("f" * 32, {"127.0.0.1:9"})
    assert auth.token_for("http://127.0.0.1:9/segmentation/table/t") == "f" * 32
    assert auth.token_for("https://storage.googleapis.com/b") is None
    assert "f" * 32 not in repr(auth)
