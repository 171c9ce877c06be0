"""ChunkedGraphClient edits (merge, split preview, split, undo, remesh) on a demo server of
their own, so the session-wide server never changes. Each edit is checked against the
server's lookups: a merge makes one root of two, a split two of one, undo restores."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.own_server import own_server  # noqa: F401  (a fixture)

from cave_widgets import CAVEclient

LAYER = 56


@pytest.fixture(scope="module")
def own(own_server):
    return CAVEclient(own_server.datastack, server_address=own_server.url,
                      auth_token=own_server.token)


@pytest.fixture(scope="module")
def points(own):
    """Synapse pre points (supervoxel, voxel position, root), live roots."""
    syn = own.materialize.query_table("synapses")
    res = np.asarray(syn.attrs.get("dataframe_resolution", (4, 4, 40)), float)
    svs = syn["pre_pt_supervoxel_id"].to_numpy()
    roots = own.chunkedgraph.get_roots(svs).astype(np.int64)
    return svs, np.stack(syn["pre_pt_position"].to_numpy()).astype(float), roots, res


def test_merge_then_undo(own, points):
    cg = own.chunkedgraph
    svs, pos, roots, res = points
    chunk = cg.segmentation_info["graph"]["chunk_size"]
    pcg_res = np.asarray(cg.base_resolution, float)
    vox = pos * res / pcg_res // chunk
    for i in range(len(svs)):
        near = np.abs(vox - vox[i]).max(axis=1) <= 2
        others = np.flatnonzero(near & (roots != roots[i]))
        if len(others):
            j = int(others[0])
            break
    else:
        pytest.skip("no two nearby objects")
    before = {int(roots[i]), int(roots[j])}
    result = cg.do_merge([svs[i], svs[j]], [pos[i], pos[j]], resolution=res)
    merged = result["new_root_ids"]
    assert len(merged) == 1
    assert cg.get_roots([svs[i], svs[j]]).tolist() == merged * 2
    graph = cg.get_lineage_graph(merged[0])
    assert {(e["source"], e["target"]) for e in graph["links"]} >= {
        (r, merged[0]) for r in before}
    undone = cg.undo_operation(result["operation_id"])
    assert undone["operation_id"] is not None
    after = cg.get_roots([svs[i], svs[j]]).tolist()
    assert after[0] != after[1]
    assert cg.get_change_log(merged[0])["n_mergers"] >= 1


def test_preview_then_split(own, points):
    cg = own.chunkedgraph
    svs, pos, roots, res = points
    values, counts = np.unique(roots, return_counts=True)
    root = int(values[np.argmax(counts)])
    mine = np.flatnonzero(roots == root)
    far = np.linalg.norm((pos[mine] - pos[mine[0]]) * res, axis=1)
    a, b = int(mine[0]), int(mine[np.argmax(far)])
    src, snk = [pos[a] * res], [pos[b] * res]
    cc0, cc1, ok = cg.preview_split(src, snk, root, [svs[a]], [svs[b]])
    assert ok and int(svs[a]) in cc0 and int(svs[b]) in cc1
    operation, new_roots = cg.execute_split(src, snk, root, [svs[a]], [svs[b]])
    assert len(new_roots) >= 2
    got = cg.get_roots([svs[a], svs[b]]).tolist()
    assert got[0] != got[1] and set(got) <= set(new_roots)
    assert not cg.is_latest_roots([root])[0]
    assert str(operation) in cg.get_operation_details([operation])
    l2 = [int(n) for r in new_roots for n in cg.get_leaves(r, stop_layer=2)[:2]]
    assert all(n >> LAYER == 2 for n in l2)
    assert cg.remesh_level2_chunks(l2) is None
