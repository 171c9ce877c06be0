"""TableBrowser "Open in neuroglancer", Python side, against the embedded demo server: the
link for the selected rows and for the current filter is a state-service link
(`client.state.build_neuroglancer_url`) to a state holding the rows' points (an annotation
layer named after the table, each point linked to its row's segments) and their root ids as
the segments shown, from the precomputed mirror at the moment the rows come from — so each
root id labels its segment there (checked in the mirror's chunks); the request from the
browser answers with the same link, or says why not (no selection, over the cap)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
import requests
from helpers.client_materialize import (  # noqa: F401  (fixtures)
    LATEST,
    client,
    fresh_client,
    home,
    sent,
)
from helpers.precomputed import chunk_name, chunk_shape, decode_compressed_segmentation
from helpers.widget_table_browser import browser, browsers_for  # noqa: F401  (fixture)

from cave_widgets.client.errors import QueryValidationError
from cave_widgets.widgets.table_browser.neuroglancer import MAX_ROWS

OLD = 3
RES = np.array([4.0, 4.0, 40.0])


def state_of(client, url: str) -> dict:
    return client.state.get_state_json(url)


def layers_by_name(state: dict) -> dict:
    return {layer["name"]: layer for layer in state["layers"]}


def mirror_label(source: str, point_voxels) -> int:
    """The label the mirror `source` (precomputed://...) holds at a point (4x4x40 voxels),
    read from its finest level's chunk."""
    base = source.removeprefix("precomputed://")
    info = requests.get(f"{base}/info", timeout=30).json()
    scale = info["scales"][0]
    voxel = np.floor(np.asarray(point_voxels, float) * RES / scale["resolution"]).astype(int)
    name = chunk_name(scale, voxel)
    response = requests.get(f"{base}/{scale['key']}/{name}", timeout=60)
    assert response.status_code == 200
    labels = decode_compressed_segmentation(response.content, chunk_shape(name),
                                            scale["compressed_segmentation_block_size"])
    x, y, z = voxel - np.array([int(p.split("-")[0]) for p in name.split("_")])
    return int(labels[z, y, x])


def test_selected_rows_become_points_and_segments_through_the_state_service(browser, client,
                                                                             demo_server):
    b = browser("synapses")
    rows = client.materialize.query_table("synapses", limit=3, materialization_version=LATEST,
                                          split_positions=False)
    b.selection = [str(i) for i in rows["id"]]
    with sent(client) as spy:
        url = b.neuroglancer_url()
        again = b.neuroglancer_url()
    assert url == again
    assert len([p for p, _, _ in spy.posts if p.startswith("/nglstate/")]) == 1  # stored once
    viewer = client.info.viewer_site()
    assert url.startswith(f"{viewer}?json_url={demo_server.url}/nglstate/api/v1/")
    assert demo_server.token not in url
    state = state_of(client, url)
    layers = layers_by_name(state)
    assert list(layers) == ["img", "seg", "synapses"]
    assert layers["img"]["source"] == client.info.image_source()
    when = client.materialize.get_timestamp(LATEST).timestamp()
    mirror = client.info.get_datastack_info()["segmentation_mirror_source"]
    assert layers["seg"]["source"] == f"{mirror}/at/{when:.6f}"
    roots = {str(r) for c in ("pre_pt_root_id", "post_pt_root_id") for r in rows[c]}
    assert set(layers["seg"]["segments"]) == roots
    points = layers["synapses"]["annotations"]
    assert [p["point"] for p in points] == [[float(v) for v in p] for p in rows["ctr_pt_position"]]
    assert [p["description"] for p in points] == [f"synapses id {i}" for i in rows["id"]]
    for point, (_, row) in zip(points, rows.iterrows()):
        assert set(point["segments"][0]) == {str(row["pre_pt_root_id"]),
                                             str(row["post_pt_root_id"])}
    assert layers["synapses"]["linkedSegmentationLayer"] == {"segments": "seg"}
    assert state["position"] == pytest.approx(
        np.mean(np.stack(rows["ctr_pt_position"].to_numpy()), axis=0).tolist())
    assert demo_server.token not in str(state)


def test_root_ids_of_an_older_version_select_their_segments(fresh_client):
    """Rows of version 3 whose roots changed since: the link's mirror is labelled with the
    roots of version 3, so those very ids are the labels at the rows' points."""
    fresh_client.version = OLD
    old = fresh_client.materialize.query_table("cell_types", split_positions=False)
    latest = fresh_client.chunkedgraph.get_roots(old["pt_supervoxel_id"].to_numpy(),
                                                 timestamp=datetime.now(timezone.utc))
    moved = old[(old["pt_root_id"].to_numpy() != latest) & (old["pt_root_id"] != 0)]
    assert len(moved), "no cell changed root since version 3: the demo history should edit some"
    for make in browsers_for(fresh_client):
        b = make("cell_types")
        assert b.at == f"version {OLD}"
        chosen = moved.head(2)
        b.selection = [str(i) for i in chosen["id"]]
        seg = layers_by_name(state_of(fresh_client, b.neuroglancer_url()))["seg"]
        assert seg["segments"] == [str(r) for r in chosen["pt_root_id"]]
        for _, row in chosen.iterrows():
            assert mirror_label(seg["source"], row["pt_position"]) == int(row["pt_root_id"])
        # the same rows, were they shown at the latest roots, would miss: the moment matters
        latest_source = seg["source"].split("/at/")[0]
        assert mirror_label(latest_source, chosen["pt_position"].iloc[0]) != int(
            chosen["pt_root_id"].iloc[0])


def test_a_live_timestamp_gives_the_mirror_at_that_time(fresh_client):
    when = datetime.now(timezone.utc) - timedelta(minutes=5)
    fresh_client.timestamp = when
    for make in browsers_for(fresh_client):
        b = make("nuclei")
        some = fresh_client.materialize.live_live_query("nuclei", when, limit=3)["id"]
        b.set_query(filters=[{"column": "id", "op": "in",
                              "value": ", ".join(str(i) for i in some)}])
        url = b.neuroglancer_url(selected=False)
        layers = layers_by_name(state_of(fresh_client, url))
        assert layers["seg"]["source"].endswith(f"/at/{when.timestamp():.6f}")
        rows = b.df
        assert len(layers["nuclei"]["annotations"]) == len(rows) > 0
        for _, row in rows.iterrows():
            if int(row["pt_root_id"]):
                assert mirror_label(layers["seg"]["source"], row["pt_position"]) == int(
                    row["pt_root_id"])


def test_the_filter_link_holds_every_matching_row_and_refuses_over_the_cap(browser, client):
    b = browser("synapses")
    with pytest.raises(QueryValidationError, match=f"at most {MAX_ROWS:,}"):
        b.neuroglancer_url(selected=False)
    sample = client.materialize.query_table("synapses", limit=200, select_columns=[
        "id", "post_pt_root_id"], materialization_version=LATEST)
    root = int(sample["post_pt_root_id"].value_counts().index[0])
    b.set_query(filters=[{"column": "post_pt_root_id", "op": "equal", "value": str(root)}])
    total = b.count()
    assert 0 < total <= MAX_ROWS
    state = state_of(client, b.neuroglancer_url(selected=False))
    layers = layers_by_name(state)
    assert len(layers["synapses"]["annotations"]) == total
    assert str(root) in layers["seg"]["segments"]
    assert all(str(root) in p["segments"][0] for p in layers["synapses"]["annotations"])
    assert b.neuroglancer_url(selected=False) == b.neuroglancer_url(selected=False)


def test_requests_from_the_browser_answer_the_link_or_why_not(browser, client):
    b = browser("nuclei")
    replies = []
    b.send = lambda content, buffers=None: replies.append(content)
    b._on_browser_message(b, {"type": "neuroglancer", "id": "n1", "scope": "selected"}, [])
    b.wait()
    assert replies[-1]["id"] == "n1" and replies[-1]["error"]["kind"] == "invalid"
    assert "No rows are selected" in replies[-1]["error"]["message"]
    b.selection = ["1", "2"]
    b._on_browser_message(b, {"type": "neuroglancer", "id": "n2", "scope": "selected"}, [])
    b._on_browser_message(b, {"type": "neuroglancer", "id": "n3", "scope": "everything"}, [])
    b.wait()
    by_id = {r["id"]: r for r in replies}
    assert by_id["n2"]["ok"]["url"] == b.neuroglancer_url(selected=True)
    assert "scope" in by_id["n3"]["error"]["message"]
    assert b.neuroglancer_max_rows == MAX_ROWS


def test_a_table_with_nothing_to_show_says_so(browser):
    b = browser("cell_type_ref")
    b.selection = ["1"]
    with pytest.raises(QueryValidationError, match="no positions and no root ids"):
        b.neuroglancer_url()
