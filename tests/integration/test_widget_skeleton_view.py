"""SkeletonView against the embedded server: the plot's arrays are the skeleton service's
skeleton and the synapse table's synapses of that neuron; it follows a TableBrowser's
selection and the client's sign-in."""

from __future__ import annotations

import time

import numpy as np
import pytest

from cave_widgets import CAVEclient
from cave_widgets.widgets import SkeletonView, TableBrowser


@pytest.fixture()
def client(demo_server, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # no token file: signing out leaves nobody
    return CAVEclient(demo_server.datastack, server_address=demo_server.url,
                      auth_token=demo_server.token, write_server_cache=False)


@pytest.fixture()
def neuron(client):
    """The nucleus row whose cell has the most synapses."""
    syn = client.materialize.query_table("synapses")
    roots, counts = np.unique(syn["pre_pt_root_id"].to_numpy(), return_counts=True)
    nuclei = client.materialize.query_table("nuclei")
    busy = [int(r) for r in roots[np.argsort(-counts)] if r]
    root = next(r for r in busy if r in set(nuclei["pt_root_id"].astype(int)))
    return nuclei[nuclei["pt_root_id"].astype(int) == root].iloc[0]


def arrays(view):
    vertices = np.frombuffer(view.vertices, np.float32).reshape(-1, 3)
    edges = np.frombuffer(view.edges, np.uint32).reshape(-1, 2)
    return vertices, edges


def test_the_plot_holds_the_skeleton_and_the_neurons_synapses(client, neuron):
    root = int(neuron["pt_root_id"])
    view = SkeletonView(client, root)
    try:
        view.wait()
        assert view.status == "ready", view.error
        skeleton = client.skeleton.get_skeleton(root)
        vertices, edges = arrays(view)
        np.testing.assert_allclose(vertices, skeleton["vertices"], rtol=1e-6)
        np.testing.assert_array_equal(edges, skeleton["edges"])
        out = client.materialize.synapse_query(pre_ids=root)
        inc = client.materialize.synapse_query(post_ids=root)
        assert view.summary["outputs"] == len(out) > 0
        assert view.summary["inputs"] == len(inc)
        assert len(view.outputs) == 12 * len(out) and len(view.inputs) == 12 * len(inc)
        lengths = np.linalg.norm(vertices[edges[:, 0]] - vertices[edges[:, 1]], axis=1)
        assert view.summary["cable_um"] == pytest.approx(lengths.sum() / 1000, abs=0.1)
        # outputs in nm lie near the skeleton (within a few µm of a vertex)
        sites = np.frombuffer(view.outputs, np.float32).reshape(-1, 3)
        nearest = np.min(np.linalg.norm(sites[:, None] - vertices[None], axis=2), axis=1)
        assert np.median(nearest) < 10_000, np.median(nearest)
    finally:
        view.close()


def test_it_follows_the_row_selected_in_a_browser(client, neuron):
    browser = TableBrowser(client)
    view = SkeletonView(client, browser=browser)
    try:
        assert view.status == "empty"
        browser.wait()
        browser.open_table("nuclei")
        browser.wait()
        browser.selection = [str(int(neuron["id"]))]
        deadline = time.monotonic() + 60
        while view.root_id != str(int(neuron["pt_root_id"])) and time.monotonic() < deadline:
            time.sleep(0.05)
        view.wait()
        assert view.root_id == str(int(neuron["pt_root_id"]))
        assert view.status == "ready" and view.summary["vertices"] > 1
    finally:
        view.close()
        browser.close()


def test_signing_out_clears_the_plot_and_signing_in_brings_it_back(client, neuron, demo_server):
    view = SkeletonView(client, int(neuron["pt_root_id"]))
    try:
        view.wait()
        assert view.vertices
        client.change_auth(auth_token=None)
        view.wait()
        assert client.auth_state == "anonymous"
        assert view.status == "signed_out" and not view.vertices and not view.outputs
        assert view.skeleton is None and view.synapses is None
        client.change_auth(auth_token=demo_server.token)
        view.wait()
        assert view.status == "ready" and view.vertices
    finally:
        view.close()


def test_an_id_that_is_no_root_is_an_error_on_the_widget(client, neuron):
    view = SkeletonView(client)
    try:
        with pytest.raises(ValueError, match="uint64"):
            view.show(-1)
        view.show(int(neuron["pt_supervoxel_id"]))  # a supervoxel: the service says 400
        view.wait()
        assert view.status == "error" and view.error["message"]
        assert not view.vertices
    finally:
        view.close()


def test_a_root_edited_before_the_snapshot_shows_its_skeleton_but_no_synapses(client):
    """At the newest version a root retired by an edit has no synapses of its own (they
    belong to its successors): the view says so rather than plotting zero synapses."""
    mat, cg = client.materialize, client.chunkedgraph
    retired, _ = cg.get_delta_roots(mat.get_timestamp(2), mat.get_timestamp())
    root = int(retired[0])
    view = SkeletonView(client, root)
    try:
        view.wait()
        assert view.status == "ready" and view.summary["vertices"] > 0
        assert view.synapses is None and not view.outputs and not view.inputs
        assert "not a segment at the newest version" in view.summary["note"]
        assert "outputs" not in view.summary
    finally:
        view.close()
