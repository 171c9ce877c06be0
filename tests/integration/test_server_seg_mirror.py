"""The precomputed mirror of the demo segmentation (`/demo/seg`), over real HTTP with no
token, read back with independent readers (helpers/precomputed.py): the volume's chunks carry
the root ids of the moment the URL names (those of a version's rows at its timestamp, the
latest ones otherwise), agree with the geometry's supervoxels and keep every neurite visible
at every level; meshes enclose their neuron, skeletons are the skeleton service's, segment
properties are the cell types of that moment; bad names are refused in neuroglancer's terms
(404 = nothing there)."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest
import requests
from helpers.client_materialize import make_client
from helpers.own_server import own_server  # noqa: F401  (a fixture)
from helpers.precomputed import (
    chunk_name,
    chunk_shape,
    decode_compressed_segmentation,
    parse_legacy_mesh,
    parse_skeleton,
)

from cave_widgets.client.neuroglancer_state import viewer_segmentation_source

OLD = 3  # an older version: some roots changed since
RES = np.array([4.0, 4.0, 40.0])


@pytest.fixture(scope="module")
def client(demo_server):
    return make_client(demo_server)


@pytest.fixture(scope="module")
def base(demo_server):
    return f"{demo_server.url}/demo/seg"


@pytest.fixture(scope="module")
def info(base):
    response = requests.get(f"{base}/info", timeout=30)
    assert response.status_code == 200
    return response.json()


@pytest.fixture(scope="module")
def changed_cell(client):
    """A cell-type row whose root at version OLD is no longer the latest root: (row at OLD,
    root at OLD, latest root)."""
    old = client.materialize.query_table("cell_types", materialization_version=OLD,
                                         split_positions=True)
    now = client.materialize.live_query("cell_types", client.materialize.get_timestamp(5),
                                        split_positions=True)
    latest = client.chunkedgraph.get_roots(old["pt_supervoxel_id"].to_numpy())
    moved = old[(old["pt_root_id"].to_numpy() != latest) & (old["pt_root_id"] != 0)]
    assert len(moved), "no cell changed root since version 3: the demo history should edit some"
    row = moved.iloc[0]
    assert int(row["id"]) in set(now["id"])
    return row, int(row["pt_root_id"]), int(latest[moved.index[0]])


def unix(client, version: int) -> float:
    return client.materialize.get_timestamp(version).timestamp()


def label_at(url: str, info: dict, point_nm, level: int = 0) -> int:
    scale = info["scales"][level]
    voxel = np.floor(np.asarray(point_nm) / scale["resolution"]).astype(np.int64)
    name = chunk_name(scale, voxel)
    response = requests.get(f"{url}/{scale['key']}/{name}", timeout=60)
    assert response.status_code == 200, response.text
    labels = decode_compressed_segmentation(response.content, chunk_shape(name),
                                            scale["compressed_segmentation_block_size"])
    start = np.array([int(p.split("-")[0]) for p in name.split("_")])
    x, y, z = voxel - start
    return int(labels[z, y, x])


def test_the_datastack_advertises_the_mirror_and_keeps_graphene(client, base):
    record = client.info.get_datastack_info()
    assert record["segmentation_source"].startswith("graphene://")
    assert record["segmentation_mirror_source"] == f"precomputed://{base}"


def test_info_is_open_to_every_origin_without_a_token(base, info):
    response = requests.get(f"{base}/info", headers={"Origin": "https://example.org"},
                            timeout=30)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.json() == info
    assert info["type"] == "segmentation" and info["data_type"] == "uint64"
    for sub in ("mesh", "skeletons", "segment_properties"):
        assert isinstance(info[sub], str) and "/" not in info[sub]


def test_chunks_carry_the_roots_of_the_moment_in_the_url(client, base, info, changed_cell):
    row, old_root, new_root = changed_cell
    point_nm = np.array([row[f"pt_position_{a}"] for a in "xyz"], float) * RES
    at_old = viewer_segmentation_source(client.info.get_datastack_info(), unix(client, OLD))
    assert at_old.startswith(f"precomputed://{base}/at/")
    old_url = at_old.removeprefix("precomputed://")
    assert label_at(old_url, info, point_nm) == old_root
    assert label_at(base, info, point_nm) == new_root  # latest roots
    assert label_at(f"{base}/at/{unix(client, 5)}", info, point_nm) == int(
        client.chunkedgraph.get_roots([int(row["pt_supervoxel_id"])],
                                      timestamp=client.materialize.get_timestamp(5))[0])
    for level in range(1, len(info["scales"])):  # coarser levels: the same cell there
        assert label_at(old_url, info, point_nm, level) == old_root


def test_cache_headers_say_which_moments_can_change(client, base, info, changed_cell):
    past = requests.get(f"{base}/at/{unix(client, OLD)}/info", timeout=30)
    assert "max-age" in past.headers["cache-control"]
    assert requests.get(f"{base}/info", timeout=30).headers["cache-control"] == "no-cache"
    future = requests.get(f"{base}/at/{unix(client, 5) + 10 * 86400}/info", timeout=30)
    assert future.status_code == 200 and future.headers["cache-control"] == "no-cache"


def test_labels_are_the_geometry_supervoxels_and_neurites_stay_visible(demo_server, base, info,
                                                                       changed_cell):
    """Where the geometry puts a cell at a voxel centre, the mirror's chunk holds the root of
    that supervoxel (all but a sliver at supervoxel borders); and at every level, each piece
    of centre line in the chunk lies in a labelled voxel (axons are thinner than a voxel)."""
    geo = demo_server.context.segmentation.geometry
    graph = demo_server.context.segmentation.graph
    now = demo_server.context.store.now()
    row, _, _ = changed_cell
    point_nm = np.array([row[f"pt_position_{a}"] for a in "xyz"], float) * RES
    for level, scale in enumerate(info["scales"]):
        res = np.array(scale["resolution"])
        name = chunk_name(scale, np.floor(point_nm / res).astype(np.int64))
        response = requests.get(f"{base}/{scale['key']}/{name}", timeout=60)
        shape = chunk_shape(name)
        labels = decode_compressed_segmentation(response.content, shape,
                                                scale["compressed_segmentation_block_size"])
        start = np.array([int(p.split("-")[0]) for p in name.split("_")])
        if level == 0:
            grid = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1)
            centres = (grid.reshape(-1, 3) + start + 0.5) * res
            exact = graph.roots_of(geo.supervoxel_at(centres), now).reshape(shape)
            exact = exact.transpose(2, 1, 0)  # (z, y, x) as the chunk
            inside = exact != 0
            assert inside.sum() > 1000
            assert (labels[inside] == exact[inside]).mean() > 0.98
        lo, hi = start * res, (start + np.array(shape)) * res
        mid = (geo.seg_a + geo.seg_b) / 2
        here = np.flatnonzero(((mid > lo + res) & (mid < hi - res)).all(axis=1))
        assert len(here) > 0
        voxel = np.floor(mid[here] / res).astype(np.int64) - start
        found = labels[voxel[:, 2], voxel[:, 1], voxel[:, 0]]
        assert (found != 0).all(), f"{scale['key']}: {(found == 0).sum()} neurites not drawn"


def test_bad_chunk_names_and_moments_are_refused(base, info):
    scale = info["scales"][0]
    x, y, z = scale["voxel_offset"]
    off_grid = f"{x + 1}-{x + 65}_{y}-{y + 64}_{z}-{z + 64}"
    outside = f"{x - 64}-{x}_{y}-{y + 64}_{z}-{z + 64}"
    assert requests.get(f"{base}/{scale['key']}/{off_grid}", timeout=30).status_code == 400
    assert requests.get(f"{base}/{scale['key']}/{outside}", timeout=30).status_code == 404
    assert requests.get(f"{base}/1nm/{off_grid}", timeout=30).status_code == 404
    assert requests.get(f"{base}/at/yesterday/info", timeout=30).status_code == 400
    assert requests.get(f"{base}/at/inf/info", timeout=30).status_code == 400
    before = requests.get(f"{base}/at/1000/info", timeout=30)
    assert before.status_code == 404 and "history" in before.json()["message"]


def test_a_mesh_encloses_its_neuron(client, base, changed_cell):
    row, _, root = changed_cell
    manifest = requests.get(f"{base}/mesh/{root}:0", timeout=30)
    assert manifest.status_code == 200 and manifest.headers["access-control-allow-origin"] == "*"
    fragments = manifest.json()["fragments"]
    assert len(fragments) == 1
    data = requests.get(f"{base}/mesh/{fragments[0]}", timeout=60)
    assert data.status_code == 200
    vertices, triangles = parse_legacy_mesh(data.content)
    assert len(triangles) > 100 and triangles.max() < len(vertices)
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    soma_nm = np.array([row[f"pt_position_{a}"] for a in "xyz"], float) * RES
    inputs = client.materialize.live_query(
        "synapses", datetime.now(timezone.utc), filter_equal_dict={"post_pt_root_id": root},
        split_positions=True)
    assert len(inputs) > 0
    points = np.concatenate([[soma_nm], inputs[[f"post_pt_position_{a}" for a in "xyz"]]
                             .to_numpy(float) * RES])
    # every synapse on the neuron (and its soma) lies within the mesh's box
    assert ((points >= lo - 1000) & (points <= hi + 1000)).all()
    # the box is the neuron's, not the volume's
    assert (hi - lo).max() < 600_000
    assert requests.get(f"{base}/mesh/info", timeout=30).json() == {
        "@type": "neuroglancer_legacy_mesh"}


def test_meshes_and_skeletons_of_non_roots_are_missing(client, base, changed_cell):
    row, _, root = changed_cell
    supervoxel = int(row["pt_supervoxel_id"])
    for path in (f"mesh/{supervoxel}:0", f"mesh/{root + 1}:0", "mesh/abc:0",
                 f"mesh/{root}:1", f"skeletons/{supervoxel}", "skeletons/-5"):
        assert requests.get(f"{base}/{path}", timeout=30).status_code == 404, path


def test_skeletons_are_the_skeleton_services_and_leave_its_cache_alone(client, base,
                                                                       demo_server):
    info = requests.get(f"{base}/skeletons/info", timeout=30).json()
    assert info["@type"] == "neuroglancer_skeletons"
    assert [a["id"] for a in info["vertex_attributes"]] == ["radius", "compartment"]
    roots = client.materialize.live_query("cell_types", client.materialize.get_timestamp(5))
    latest = client.chunkedgraph.get_roots(roots["pt_supervoxel_id"].to_numpy())
    root = next(int(r) for r in latest[::-1]
                if r and not client.skeleton.skeletons_exist(root_ids=[int(r)]))
    mirrored = requests.get(f"{base}/skeletons/{root}", timeout=60)
    assert mirrored.status_code == 200
    skeleton = parse_skeleton(mirrored.content, info)
    assert skeleton["unread"] == 0
    assert len(skeleton["vertices"]) > 1 and skeleton["edges"].max() < len(skeleton["vertices"])
    assert (skeleton["radius"] > 0).all() and set(np.unique(skeleton["compartment"])) <= {1, 3}
    assert client.skeleton.skeletons_exist(root_ids=[root]) is False
    service = requests.get(
        f"{demo_server.url}/skeletoncache/api/v1/{demo_server.datastack}/precomputed/skeleton/"
        f"{root}", headers={"Authorization": f"Bearer {demo_server.token}"}, timeout=60)
    assert service.status_code == 200 and service.content == mirrored.content


def test_segment_properties_are_the_cell_types_of_the_moment(client, base, changed_cell):
    _, old_root, _ = changed_cell
    shown_ids = []
    for version in (OLD, 5):
        doc = requests.get(f"{base}/at/{unix(client, version)}/props/info", timeout=60).json()
        assert doc["@type"] == "neuroglancer_segment_properties"
        ids = doc["inline"]["ids"]
        label = next(p for p in doc["inline"]["properties"] if p["type"] == "label")
        tags = next(p for p in doc["inline"]["properties"] if p["type"] == "tags")
        assert len(label["values"]) == len(tags["values"]) == len(ids)
        table = client.materialize.query_table("cell_types", materialization_version=version)
        table = table[table["pt_root_id"] != 0]
        assert set(ids) == {str(r) for r in table["pt_root_id"]}
        shown = dict(zip(ids, label["values"]))
        for root, group in table.groupby("pt_root_id"):
            assert shown[str(root)] == " / ".join(sorted(set(group["cell_type"])))
        for values in tags["values"]:
            assert values == sorted(values) and all(0 <= i < len(tags["tags"]) for i in values)
        shown_ids.append(set(ids))
    assert str(old_root) in shown_ids[0] and shown_ids[0] != shown_ids[1]


def test_an_edit_relabels_the_latest_roots_and_leaves_past_moments(own_server):
    """Two cells merged: the latest labels at both somas become the new root (chunks cached
    before the edit included), a moment before the edit still shows the two old roots, and
    the new root's mesh holds both cells."""
    client = make_client(own_server)
    base = f"{own_server.url}/demo/seg"
    info = requests.get(f"{base}/info", timeout=30).json()
    nuclei = client.materialize.query_table("nuclei", split_positions=True)
    nuclei = nuclei[nuclei["pt_root_id"] != 0]
    soma_of = {int(r): np.array([row[f"pt_position_{a}"] for a in "xyz"], float) * RES
               for r, (_, row) in zip(nuclei["pt_root_id"], nuclei.iterrows())}
    syn = client.materialize.query_table("synapses", split_positions=False)
    svs = syn["pre_pt_supervoxel_id"].to_numpy()
    roots = client.chunkedgraph.get_roots(svs)
    pos = np.stack(syn["pre_pt_position"].to_numpy()).astype(float)
    chunk = np.asarray(client.chunkedgraph.segmentation_info["graph"]["chunk_size"])
    vox = pos * RES / np.asarray(client.chunkedgraph.base_resolution, float) // chunk
    pair = next((i, j) for i in range(len(svs)) if int(roots[i]) in soma_of
                for j in np.flatnonzero((np.abs(vox - vox[i]).max(axis=1) <= 2)
                                        & (roots != roots[i])).tolist()
                if int(roots[j]) in soma_of)
    a, b = (int(roots[k]) for k in pair)
    for root in (a, b):  # cached now, at the latest roots before the edit
        assert label_at(base, info, soma_of[root]) == root
    before = datetime.now(timezone.utc).timestamp()  # a moment before the merge
    i, j = pair
    merged = client.chunkedgraph.do_merge([svs[i], svs[j]], [pos[i], pos[j]],
                                          resolution=RES)["new_root_ids"]
    assert len(merged) == 1 and merged[0] not in (a, b)
    for root in (a, b):
        assert label_at(base, info, soma_of[root]) == merged[0]
        assert label_at(f"{base}/at/{before}", info, soma_of[root]) == root
    fragment = requests.get(f"{base}/mesh/{merged[0]}:0:all", timeout=60)
    vertices, _ = parse_legacy_mesh(fragment.content)
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    for root in (a, b):
        assert ((soma_of[root] > lo) & (soma_of[root] < hi)).all()
        old = requests.get(f"{base}/mesh/{root}:0:all", timeout=60)  # a retired root's mesh
        assert old.status_code == 200 and len(old.content) < len(fragment.content)
