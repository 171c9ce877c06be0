"""Chunkedgraph edits (split, undo, merge, remesh), only against the --edit-url server."""

from __future__ import annotations

import numpy as np

from .checks import (
    SYNAPSES,
    CheckFailed,
    check,
    ensure,
    need,
)

# --------------------------------------------------------------------------------------
# chunkedgraph edits: only against a server of their own (--edit-url), never the read one
# --------------------------------------------------------------------------------------

@check("edit: construct a client on the edit server")
def _(s):
    from caveclient import CAVEclient

    s.editor = CAVEclient(s.datastack, server_address=s.edit_url, auth_token=s.edit_token,
                          write_server_cache=False)
    syn = s.editor.materialize.query_table(SYNAPSES, split_positions=False)
    res = np.asarray(syn.attrs.get("dataframe_resolution", (4, 4, 40)), float)
    svs = syn["pre_pt_supervoxel_id"].to_numpy(np.uint64)
    roots = np.asarray(s.editor.chunkedgraph.get_roots(svs), np.int64)
    s.edit_points = (svs, np.stack(syn["pre_pt_position"].to_numpy()).astype(float), roots, res)


@check("edit: preview_split / execute_split")
def _(s):
    cg = s.editor.chunkedgraph
    svs, pos, roots, res = need(s, "edit_points")
    values, counts = np.unique(roots, return_counts=True)
    root = int(values[np.argmax(counts)])
    mine = np.flatnonzero(roots == root)
    far = np.linalg.norm((pos[mine] - pos[mine[0]]) * res, axis=1)
    a, b = int(mine[0]), int(mine[np.argmax(far)])
    src, snk = [pos[a] * res], [pos[b] * res]
    cc0, cc1, ok = cg.preview_split(src, snk, root, [int(svs[a])], [int(svs[b])])
    ensure(ok and int(svs[a]) in cc0 and int(svs[b]) in cc1, "preview does not separate them")
    op, new_roots = cg.execute_split(src, snk, root, [int(svs[a])], [int(svs[b])])
    new_roots = [int(r) for r in new_roots]
    got = [int(r) for r in cg.get_roots([svs[a], svs[b]])]
    ensure(len(new_roots) >= 2 and got[0] != got[1] and set(got) <= set(new_roots),
           f"roots after the split {got}, new roots {new_roots}")
    ensure(list(map(bool, cg.is_latest_roots([root] + new_roots))) ==
           [False] + [True] * len(new_roots), "is_latest_roots after the split")
    # the preview's components are the new roots' leaves (among those it listed)
    leaves = {int(x) for x in cg.get_leaves(got[0])}
    ensure(set(map(int, cc0)) <= leaves, "the source side's supervoxels are not one new root")
    ensure(str(op) in cg.get_operation_details([op]), "operation details lack the split")
    log = cg.get_change_log(got[0])
    ensure(op in [int(o) for o in log["operations_ids"]], "the split is not in the change log")
    s.split = (op, root, new_roots)


@check("edit: undo_operation (split)")
def _(s):
    op, root, new_roots = need(s, "split")
    cg = s.editor.chunkedgraph
    undone = cg.undo_operation(op)
    restored = [int(r) for r in undone["new_root_ids"]]
    ensure(len(restored) == 1, f"undoing a split gave {restored}")
    ensure(not any(cg.is_latest_roots(new_roots)), "the split's roots are still latest")
    ensure(sorted(int(x) for x in cg.get_leaves(restored[0])) ==
           sorted(int(x) for x in cg.get_leaves(root)), "the undo did not restore the leaves")


@check("edit: do_merge / remesh_level2_chunks")
def _(s):
    cg = s.editor.chunkedgraph
    svs, pos, _, res = need(s, "edit_points")
    roots = np.asarray(cg.get_roots(svs), np.int64)  # after the split and its undo
    chunk = np.asarray(cg.segmentation_info["graph"]["chunk_size"], float)
    vox = pos * res / np.asarray(cg.base_resolution, float) // chunk
    for i in range(len(svs)):
        others = np.flatnonzero((np.abs(vox - vox[i]).max(axis=1) <= 2) & (roots != roots[i]))
        if len(others):
            j = int(others[0])
            break
    else:
        raise CheckFailed("no two nearby objects to merge")
    before = {int(roots[i]), int(roots[j])}
    leaves = sorted(int(x) for r in before for x in cg.get_leaves(r))
    result = cg.do_merge([int(svs[i]), int(svs[j])], [pos[i], pos[j]], resolution=res)
    merged = [int(r) for r in result["new_root_ids"]]
    ensure(len(merged) == 1, f"a merge made {merged}")
    ensure([int(r) for r in cg.get_roots([svs[i], svs[j]])] == merged * 2, "roots after merge")
    ensure(sorted(int(x) for x in cg.get_leaves(merged[0])) == leaves,
           "the merged root's leaves are not the union of the two")
    links = {(int(e["source"]), int(e["target"]))
             for e in cg.get_lineage_graph(merged[0])["links"]}
    ensure(links >= {(r, merged[0]) for r in before}, "lineage lacks the merge")
    l2 = [int(x) for x in cg.get_leaves(merged[0], stop_layer=2)[:3]]
    ensure(cg.remesh_level2_chunks(l2) is None, "remesh returned something")
