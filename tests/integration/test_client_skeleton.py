"""client.skeleton against the embedded demo server: every method, skeletons consistent with
the level-2 graph and the L2 cache they are made from, the formats round-trip, the Arrow
answers our client gets give exactly what the JSON answers give, and the per-root cache (and
its encoded answers) is dropped by an edit (on a server of this module's own)."""

from __future__ import annotations

import gzip
import io
import json
import struct
import warnings

import numpy as np
import pandas as pd
import pytest
from helpers.client_wire import client, home  # noqa: F401  (fixtures)
from helpers.own_server import own_server  # noqa: F401  (a fixture)
from helpers.typed_values import typed

from cave_widgets import CAVEclient
from cave_widgets.client import skeleton as skmod
from cave_widgets.client.errors import InvalidRequestError, QueryValidationError
from cave_widgets.server.demo import catalog
from cave_widgets.server.skeletons.cache import cache_of
from cave_widgets.wire import skeleton_rows

PCG = f"/segmentation/api/v1/table/{catalog.PCG_TABLE}"


@pytest.fixture(scope="module")
def roots(demo_server):
    """Latest roots of a few neurons with a nucleus (soma), and one from the synapses."""
    c = CAVEclient(demo_server.datastack, server_address=demo_server.url,
                   auth_token=demo_server.token, write_server_cache=False)
    nuc = c.materialize.query_table("nuclei", limit=20)
    ids = [int(r) for r in nuc.pt_root_id if r]
    latest = c.chunkedgraph.is_latest_roots(ids)
    ids = [r for r, ok in zip(ids, latest) if ok][:3]
    assert len(ids) >= 2
    return ids


def level2(client, root) -> np.ndarray:
    s = client.skeleton.session
    r = s.get(f"{client.local_server}{PCG}/node/{root}/leaves", params={"stop_layer": 2})
    r.raise_for_status()
    return np.array(r.json()["leaf_ids"], dtype=np.uint64)


def test_versions(client):
    assert str(client.skeleton.get_version()) == "0.23.11"
    assert client.skeleton.get_versions() == [-1, 0, 1, 2, 3, 4]


def test_get_skeleton_dict_consistent_with_the_l2_graph(client, roots):
    root = roots[0]
    sk = client.skeleton.get_skeleton(root)
    v, e = sk["vertices"], sk["edges"]
    assert v.shape[1] == 3 and e.shape[1] == 2 and sk["root"] == 0
    assert sk["meta"]["root_id"] == root and sk["meta"]["skeleton_version"] == 4
    l2 = level2(client, root)
    # every level-2 node of the root maps to a vertex
    assert sorted(sk["lvl2_ids"].tolist()) == sorted(l2.tolist())
    assert len(sk["mesh_to_skel_map"]) == len(l2)
    assert set(sk["mesh_to_skel_map"].tolist()) == set(range(len(v)))
    # vertices outside the soma sit at the nodes' rep_coord_nm (nm)
    data = client.l2cache.get_l2data(sk["lvl2_ids"], attributes=["rep_coord_nm"])
    for i, l2id in enumerate(sk["lvl2_ids"].tolist()):
        vert = sk["mesh_to_skel_map"][i]
        if vert != sk["root"]:
            assert np.allclose(v[vert], data[str(l2id)]["rep_coord_nm"])
    # a tree toward the root: one parent per non-root vertex
    assert len(e) == len(v) - 1
    assert len(set(e[:, 0].tolist())) == len(e) and sk["root"] not in e[:, 0]
    lengths = np.linalg.norm(v[e[:, 0]] - v[e[:, 1]], axis=1)
    assert (lengths > 0).all()
    cable = lengths.sum()
    assert 10_000 < cable < 1e8  # 10 µm .. 100 mm of cable in nm: a neuron's range
    assert (sk["radius"] > 0).all() and sk["compartment"][0] == 1
    # the root point is the soma: the nucleus position of this root
    nuc = client.materialize.query_table("nuclei", filter_equal_dict={"pt_root_id": root})
    res = np.asarray(nuc.attrs.get("dataframe_resolution", (1, 1, 1)), float)
    soma = np.asarray(nuc.pt_position.iloc[0], float) * res
    assert np.linalg.norm(v[0] - soma) < 10_000


def test_get_skeleton_swc_and_versions(client, roots):
    root = roots[0]
    d = client.skeleton.get_skeleton(root)
    swc = client.skeleton.get_skeleton(root, output_format="swc")
    assert list(swc.columns) == ["id", "type", "x", "y", "z", "radius", "parent"]
    assert len(swc) == len(d["vertices"]) and (swc.parent == -1).sum() == 1
    assert swc.iloc[0].parent == -1 and swc.iloc[0].type == 1
    assert np.allclose(swc.iloc[0][["x", "y", "z"]].to_numpy(float), d["vertices"][0] / 1000,
                       atol=1e-3)
    assert (swc.parent < swc.id).all()  # parents first
    v2 = client.skeleton.get_skeleton(root, skeleton_version=2)
    assert "lvl2_ids" not in v2 and v2["compartment"].dtype.kind == "f"
    v1 = client.skeleton.get_skeleton(root, skeleton_version=1)
    assert "radius" not in v1
    with pytest.raises(ValueError, match="Unknown skeleton version"):
        client.skeleton.get_skeleton(root, skeleton_version=7)
    with pytest.raises(ValueError, match="Unknown output format"):
        client.skeleton.get_skeleton(root, output_format="h5")


def test_bad_ids(client, roots):
    for bad in (float(roots[0]), True, "123", -1):
        with pytest.raises(QueryValidationError):
            client.skeleton.get_skeleton(bad)
    with pytest.raises(QueryValidationError):
        client.skeleton.skeletons_exist(root_ids=[1.5])
    sv = int(level2(client, roots[0])[0])  # a level-2 id is not a root
    with pytest.raises(InvalidRequestError, match="Invalid root id"):
        client.skeleton.get_skeleton(sv)
    unknown = (catalog_root_layer(client) << 56) + 12345
    with pytest.raises(InvalidRequestError, match="doesn't exist"):
        client.skeleton.get_skeleton(unknown)


def catalog_root_layer(client) -> int:
    return client.chunkedgraph.segmentation_info["graph"]["n_layers"]


def test_bulk_fetch_exists_and_generate(client, roots):
    sk = client.skeleton
    bulk = sk.get_bulk_skeletons(roots[:2])
    assert set(bulk) == {str(r) for r in roots[:2]}
    assert isinstance(bulk[str(roots[0])]["vertices"], list)
    swcs = sk.get_bulk_skeletons(roots[:2], output_format="swc")
    assert all(isinstance(f, pd.DataFrame) for f in swcs.values())
    with pytest.warns(UserWarning, match="not a valid root"):
        assert sk.get_bulk_skeletons([int(level2(client, roots[0])[0])]) == {}
    assert sk.skeletons_exist(root_ids=roots[0]) is True
    assert sk.skeletons_exist(root_ids=roots[:2]) == {roots[0]: True, roots[1]: True}
    est = sk.generate_bulk_skeletons_async(roots, skeleton_version=4)
    assert isinstance(est, float) and est >= 0
    assert all(sk.skeletons_exist(root_ids=roots).values())
    fetched = sk.fetch_skeletons(roots)
    assert set(fetched) == {str(r) for r in roots}
    assert fetched[str(roots[0])]["vertices"] == bulk[str(roots[0])]["vertices"]
    assert set(sk.fetch_skeletons(roots[:2], output_format="swc")) == {str(r) for r in roots[:2]}
    contents = sk.get_cache_contents()
    assert contents["num_found"] >= len(roots)
    assert any(f"rid-{roots[0]}" in f for f in contents["files"])
    assert sk.get_cache_contents(root_id_prefixes=[str(roots[0])], limit=1)["num_found"] == 1
    refusal = sk.get_refusal_list()
    assert list(refusal.columns) == ["DATASTACK_NAME", "ROOT_ID"] and len(refusal) == 0
    info = sk.get_precomputed_skeleton_info(2)
    assert info["@type"] == "neuroglancer_skeletons"
    assert [a["data_type"] for a in info["vertex_attributes"]] == ["float32", "float32"]


def test_fetch_gcs_needs_h5py(client, roots):
    try:
        import h5py  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match=r"cave_widgets\[h5\]"):
            client.skeleton.fetch_skeletons(roots[:1], method="gcs")
    else:
        pytest.skip("h5py is installed")


def test_formats_round_trip(client, roots):
    root = roots[0]
    s = client.skeleton.session
    base = (f"{client.local_server}/skeletoncache/api/v1/{client.datastack_name}"
            f"/precomputed/skeleton")
    d = client.skeleton.get_skeleton(root, skeleton_version=2)
    r = s.get(f"{base}/2/{root}/precomputed")
    r.raise_for_status()
    raw = r.content
    n, ne = struct.unpack_from("<II", raw)
    verts = np.frombuffer(raw, "<f4", n * 3, 8).reshape(n, 3)
    edges = np.frombuffer(raw, "<u4", ne * 2, 8 + 12 * n).reshape(ne, 2)
    off = 8 + 12 * n + 8 * ne
    radius = np.frombuffer(raw, "<f4", n, off)
    comp = np.frombuffer(raw, "<f4", n, off + 4 * n)
    assert len(raw) == off + 8 * n  # exactly the attributes info lists
    assert np.allclose(verts, d["vertices"], rtol=1e-6) and (edges == d["edges"]).all()
    assert np.allclose(radius, d["radius"], rtol=1e-5) and (comp == d["compartment"]).all()
    assert s.get(f"{base}/{root}").content == raw  # the neuroglancer route is v2
    full = s.get(f"{base}/4/{root}/json").json()
    assert full["vertices"] == d["vertices"].tolist()
    assert set(full["vertex_properties"]) == {"radius", "compartment"}
    assert json.loads(gzip.decompress(s.get(f"{base}/4/{root}/jsoncompressed").content)) == full
    arrays = s.get(f"{base}/4/{root}/arrays").json()
    assert set(arrays) == {"vertices", "edges", "vertex_properties"}
    text = s.get(f"{base}/4/{root}/swc").text
    swc = pd.read_csv(io.StringIO(text), sep=" ", header=None)
    assert swc.shape == (len(d["vertices"]), 7)
    h5 = s.get(f"{base}/4/{root}/h5")
    assert h5.status_code == 500 and "h5py" in h5.json()["Error"]



def test_arrow_and_json_answers_give_the_same_skeletons(client, roots, monkeypatch):
    sk = client.skeleton
    base = f"{client.local_server}/skeletoncache/api/v1/{client.datastack_name}"
    sk.generate_bulk_skeletons_async(roots, skeleton_version=4)
    # the server answers Arrow only to who asks for it (caveclient does not)
    url = f"{base}/async/get_skeleton/4/{roots[0]}/flatdict"
    asked = sk.session.get(url, headers={"Accept": skeleton_rows.ACCEPT})
    plain = sk.session.get(url)
    assert asked.headers["Content-Type"] == skeleton_rows.MEDIA_TYPE
    assert asked.content.endswith(b"\xff\xff\xff\xff\x00\x00\x00\x00")
    assert plain.headers["Content-Type"] == "application/octet-stream"

    # edge cases: a retired root (made on request, not kept), a level-2 id and an id that
    # does not exist (markers in a bulk answer: left out with a warning), a root never made
    # (fetch_skeletons leaves it out)
    cg = client.chunkedgraph
    syn = client.materialize.query_table("synapses")
    seen_roots = np.unique(np.concatenate([syn.pre_pt_root_id, syn.post_pt_root_id]))
    seen_roots = seen_roots[seen_roots != 0]
    latest = cg.is_latest_roots(seen_roots)
    retired = [int(r) for r in seen_roots[~latest][:1]]
    unmade = [int(r) for r in seen_roots[latest][-40:]
              if int(r) not in roots and not sk.skeletons_exist(root_ids=int(r))][:1]
    assert retired and unmade, "the demo has no retired root, or no root without a skeleton"
    odd = [int(level2(client, roots[0])[0]), int(max(roots)) + 10**9]
    bulk_ids, fetch_ids = roots + retired + odd, roots + unmade

    def answers():
        out = {}
        for v in (1, 2, 4):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                bulk = sk.get_bulk_skeletons(bulk_ids, skeleton_version=v)
            assert len([w for w in caught if "not a valid root" in str(w.message)]) == 2
            out[v] = (sk.get_skeleton(roots[0], skeleton_version=v), bulk,
                      sk.fetch_skeletons(fetch_ids, skeleton_version=v))
        return out

    seen: list[str] = []

    def hook(r, *a, **k):
        seen.append(r.headers.get("Content-Type", ""))

    sk.session.hooks["response"].append(hook)
    try:
        arrow = answers()
        assert seen.count(skeleton_rows.MEDIA_TYPE) == 9  # every one of them came as Arrow
        seen.clear()
        monkeypatch.setattr(skmod, "_accept", lambda output_format: {})  # as a real service
        json_ = answers()
        assert skeleton_rows.MEDIA_TYPE not in seen
    finally:
        sk.session.hooks["response"].remove(hook)
    assert typed(arrow) == typed(json_)
    one, bulk, fetched = arrow[4]
    assert set(bulk) == {str(r) for r in roots + retired}
    assert set(fetched) == {str(r) for r in roots}
    assert not sk.skeletons_exist(root_ids=unmade[0])  # asking did not make it
    assert one["vertices"].tolist() == bulk[str(roots[0])]["vertices"]
    assert "compartment" not in arrow[1][0] and arrow[2][0]["compartment"].dtype.kind == "f"


@pytest.fixture(scope="module")
def own(own_server):
    return CAVEclient(own_server.datastack, server_address=own_server.url,
                      auth_token=own_server.token, write_server_cache=False)


def test_cached_then_dropped_by_an_edit(own, own_server):
    cg = own.chunkedgraph
    syn = own.materialize.query_table("synapses")
    res = np.asarray(syn.attrs.get("dataframe_resolution", (4, 4, 40)), float)
    svs = syn["pre_pt_supervoxel_id"].to_numpy()
    pos = np.stack(syn["pre_pt_position"].to_numpy()).astype(float)
    roots = cg.get_roots(svs).astype(np.int64)
    chunk = cg.segmentation_info["graph"]["chunk_size"]
    vox = pos * res / np.asarray(cg.base_resolution, float) // chunk
    pair = None
    for i in range(len(svs)):
        others = np.flatnonzero((np.abs(vox - vox[i]).max(axis=1) <= 2) & (roots != roots[i]))
        if len(others):
            pair = (i, int(others[0]))
            break
    if pair is None:
        pytest.skip("no two nearby objects")
    i, j = pair
    a, b = int(roots[i]), int(roots[j])
    sk = own.skeleton
    assert sk.skeletons_exist(root_ids=[a, b]) == {a: False, b: False}
    first = sk.get_skeleton(a)
    assert sk.skeletons_exist(root_ids=a) is True
    assert sk.get_skeleton(a)["vertices"].tolist() == first["vertices"].tolist()
    sk.get_skeleton(b)
    sk.get_skeleton(b, output_format="swc")
    cache = cache_of(own_server.context.segmentation)
    assert cache.encoded_keys(a) == [(4, "arrow")]  # the answer is kept with the skeleton
    assert set(cache.encoded_keys(b)) == {(4, "arrow"), (4, "swccompressed")}
    merged = cg.do_merge([svs[i], svs[j]], [pos[i], pos[j]], resolution=res)["new_root_ids"][0]
    assert sk.skeletons_exist(root_ids=[a, b]) == {a: False, b: False}  # dropped
    assert cache.encoded_keys(a) == cache.encoded_keys(b) == []  # with their answers
    new = sk.get_skeleton(merged)
    assert sorted(new["lvl2_ids"].tolist()) == sorted(level2(own, merged).tolist())
    assert len(new["lvl2_ids"]) >= len(first["lvl2_ids"])
    assert sk.skeletons_exist(root_ids=merged) is True
    # the retired root's skeleton is still made on request, but not kept
    assert sk.get_skeleton(a)["vertices"].tolist() == first["vertices"].tolist()
    assert sk.skeletons_exist(root_ids=a) is False and cache.encoded_keys(a) == []


def test_constants():
    assert skmod.MAX_BULK_CACHED_SKELETONS == 500
    assert skmod.SkeletonClient.decompressBytesToDict(
        skmod.SkeletonClient.compressDictToBytes({"a b": [1, 2]})) == {"ab": [1, 2]}
