"""Explorer / browse(): the three widgets on one client."""

import pytest

import cave_widgets
from cave_widgets import CAVEclient
from cave_widgets.widgets import DatastackSelector, Explorer, LoginWidget, TableBrowser


@pytest.fixture()
def client(demo_server, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    return CAVEclient(demo_server.datastack, server_address=demo_server.url,
                      auth_token=demo_server.token, write_server_cache=False)


def test_explorer_holds_the_three_widgets_on_one_client(client):
    explorer = Explorer(client)
    try:
        expected = [LoginWidget, DatastackSelector, TableBrowser]
        assert len(explorer.children) == 3
        assert all(isinstance(c, k) for c, k in zip(explorer.children, expected))
        explorer.browser.wait()
        explorer.browser.open_table("nuclei")
        explorer.browser.wait()
        assert len(explorer.df) == explorer.browser.count() > 0
        assert "query_table(" in explorer.code and '"nuclei"' in explorer.code
        client.version = 3  # one state: the browser follows the client
        explorer.browser.wait()
        assert "materialization_version=3" in explorer.browser.code
    finally:
        for child in explorer.children:
            child.close()


def test_browse_builds_a_client_when_given_none(demo_server, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    explorer = cave_widgets.browse(datastack_name=demo_server.datastack,
                                   server_address=demo_server.url, auth_token=demo_server.token,
                                   write_server_cache=False)
    try:
        assert isinstance(explorer, Explorer) and explorer.client.datastack_name == "demo_local"
    finally:
        for child in explorer.children:
            child.close()
