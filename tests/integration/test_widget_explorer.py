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
        assert isinstance(explorer.children[0], LoginWidget)
        assert isinstance(explorer.children[1], DatastackSelector)
        assert isinstance(explorer.children[2].children[0], TableBrowser)
        assert explorer.children[2].children[1] is explorer.lineage
        explorer.browser.wait()
        explorer.browser.open_table("nuclei")
        explorer.browser.wait()
        assert len(explorer.df) == explorer.browser.count() > 0
        assert "query_table(" in explorer.code and '"nuclei"' in explorer.code
        client.version = 3  # one state: the browser follows the client
        explorer.browser.wait()
        assert "materialization_version=3" in explorer.browser.code
    finally:
        explorer.close()


def test_browse_builds_a_client_when_given_none(demo_server, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    explorer = cave_widgets.browse(datastack_name=demo_server.datastack,
                                   server_address=demo_server.url, auth_token=demo_server.token,
                                   write_server_cache=False)
    try:
        assert isinstance(explorer, Explorer) and explorer.client.datastack_name == "demo_local"
    finally:
        explorer.close()


def test_the_lineage_panel_tells_a_selected_rows_history(client):
    """One row selected: the history of its segment beside the browser — the edit that made
    it and its past roots, checked against the chunkedgraph."""
    import time

    cg, mat = client.chunkedgraph, client.materialize
    _, made = cg.get_delta_roots(mat.get_timestamp(2))  # roots made by edits since version 2
    rows = mat.query_table("nuclei", filter_in_dict={"pt_root_id": [int(r) for r in made]})
    row = rows.iloc[0]
    root = int(row["pt_root_id"])
    explorer = Explorer(client)
    try:
        explorer.browser.wait()
        explorer.browser.open_table("nuclei")
        explorer.browser.selection = [str(int(row["id"]))]
        deadline = time.monotonic() + 30
        while "Root" not in explorer.lineage.text.value and time.monotonic() < deadline:
            time.sleep(0.05)
        text = explorer.lineage.text.value
        log = cg.get_change_log(root)
        parents = [link["source"] for link in cg.get_lineage_graph(root)["links"]
                   if link["target"] == root]
        assert f"Root {root}" in text and parents
        assert all(str(p) in text for p in parents)  # the roots it was made from
        assert ("split" in text) or ("merge" in text)  # the edit that made it
        assert f"{log['n_mergers']} merges and {log['n_splits']} splits" in text
        explorer.browser.selection = []
        assert "Select one row" in explorer.lineage.text.value
    finally:
        explorer.close()

