"""The demo segmentation: neuron shapes cut into supervoxels and level-2 chunks, the
chunkedgraph hierarchy over them, and a proofreading history replayed as real edits.

Cells are made by morphology.py; geometry.py cuts their segments and somas into pieces per
level-2 chunk; a supervoxel is a run of pieces of one branch inside one chunk (or a soma's
piece of a chunk). Supervoxel edges join consecutive runs, branch points, and the soma's
pieces. The initial segmentation has errors a proofreader fixes later: detached fragments
(a branch edge missing, merged back later) and false merges (an extra edge between two cells
where one's axon runs along the other's dendrite, split later). The edits run through
chunkedgraph/edits.py, the same code that applies users' edits on the server.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..chunkedgraph import edits, hierarchy
from ..chunkedgraph.geometry import Geometry, ball_chunks, chunk_key, segment_pieces
from ..chunkedgraph.graph import INF, Edges, Graph, Roots
from ..chunkedgraph.meta import GraphMeta
from ..chunkedgraph.sorting import distinct, inverse, stable_argsort
from ..chunkedgraph.spans import Grouped, SpanIndex
from . import morphology
from .catalog import DAY, HISTORY_START, LAST_EDIT, SEGMENTATION_RESOLUTION, VERSIONS

ROOT_BASE = 864691135_000_000_000  # top byte 12: minnie65-style root ids
VOLUME_MIN = np.array([100_000, 100_000, 15_000])  # 4×4×40 nm voxels
VOLUME_MAX = np.array([400_000, 300_000, 27_000])
VOXEL_NM = np.array([4.0, 4.0, 40.0])
DEMO_USER = "1"


def graph_meta() -> GraphMeta:
    res = np.array(SEGMENTATION_RESOLUTION)
    lo = (VOLUME_MIN * VOXEL_NM / res).astype(int)
    hi = (VOLUME_MAX * VOXEL_NM / res).astype(int)
    return GraphMeta((256, 256, 512), tuple(SEGMENTATION_RESOLUTION), tuple(lo), tuple(hi - lo))


@dataclass
class Segmentation:
    meta: GraphMeta
    morph: morphology.Morphology
    geometry: Geometry
    graph: Graph
    sv_cell: np.ndarray  # cell of each supervoxel (graph.sv_ids order)
    next_root: int


def make_somas(rng: np.random.Generator, n_cells: int) -> np.ndarray:
    soma = rng.integers(VOLUME_MIN + 5_000, VOLUME_MAX - 5_000, size=(n_cells, 3))
    soma[:, 2] = rng.integers(VOLUME_MIN[2] + 500, VOLUME_MAX[2] - 500, size=n_cells)
    return soma * VOXEL_NM


def build(rng: np.random.Generator, n_cells: int, n_synapses: int, n_operations: int,
          per_contact: float, stage=lambda name: None) -> tuple[Segmentation, np.ndarray]:
    """The segmentation and each cell's output weight (for the synapse table); `stage(name)`
    is called as each step ends (the build's timing log)."""
    meta = graph_meta()
    soma = make_somas(rng, n_cells)
    out_weight = rng.lognormal(0, 1.0, size=n_cells)
    in_weight = rng.lognormal(0, 0.7, size=n_cells)
    # A few percent more synapses than asked: points that land on another cell are dropped.
    in_counts = rng.multinomial(int(n_synapses * 1.04) + 8, in_weight / in_weight.sum())
    lo, hi = VOLUME_MIN * VOXEL_NM, VOLUME_MAX * VOXEL_NM
    morph = morphology.make_morphology(rng, soma, lo, hi, in_counts, out_weight / out_weight.sum(),
                                       per_contact)
    stage("morphology")
    geo, sv_cell, true_edges, sv_pos = _cut(meta, morph, rng)
    stage("supervoxels")
    graph, next_root, errors = _initial_graph(meta, geo, sv_cell, true_edges, morph, rng,
                                              n_operations)
    stage("initial graph")
    seg = Segmentation(meta, morph, geo, graph, sv_cell, next_root)
    _replay_history(seg, errors, sv_pos, rng)
    stage("history")
    return seg, out_weight


# --- geometry → supervoxels ------------------------------------------------------------------


def _cut(meta: GraphMeta, m: morphology.Morphology, rng):
    n_pl = len(m.pl_cell)
    size = np.diff(m.pl_offset)
    seg_pl = np.repeat(np.arange(n_pl), size - 1)
    seg_first = np.concatenate([[0], np.cumsum(size - 1)])  # first segment of each polyline
    seg_start = np.arange(len(seg_pl)) + (m.pl_offset[:-1] - seg_first[:-1])[seg_pl]
    a, b = m.vertices[seg_start], m.vertices[seg_start + 1]
    seg, t0, t1, chunk, _, _ = segment_pieces(meta, a, b)
    keep = t1 - t0 > 1e-9
    seg, t0, t1, chunk = seg[keep], t0[keep], t1[keep], chunk[keep]
    key = chunk_key(chunk)
    pl = seg_pl[seg]
    new_run = np.r_[True, (pl[1:] != pl[:-1]) | (key[1:] != key[:-1])]
    run = np.cumsum(new_run) - 1
    n_runs = int(run[-1]) + 1
    run_pl = pl[new_run]
    run_cell = m.pl_cell[run_pl]
    run_first = np.flatnonzero(new_run)
    run_mid = (a[seg[run_first]] + b[seg[run_first]]) / 2
    # Soma pieces: every chunk the ball meets.
    cell_of, soma_chunk = ball_chunks(meta, m.soma, m.soma_radius)
    soma_key = chunk_key(soma_chunk)
    # Supervoxels: runs, then soma pieces (a supervoxel's position is its index here); ids
    # numbered per chunk in that order, so sorting the ids is sorting (chunk, position).
    sv_chunk = np.concatenate([chunk[new_run], soma_chunk])
    sv_cell = np.concatenate([run_cell, cell_of])
    flat = _flat_chunks(sv_chunk)
    order = stable_argsort(flat)
    start = np.r_[True, flat[order][1:] != flat[order][:-1]]
    rank = np.arange(len(order)) - np.maximum.accumulate(np.where(start, np.arange(len(order)),
                                                                  0))
    seg_id = np.empty(len(order), dtype=np.uint64)
    seg_id[order] = (rank + 1).astype(np.uint64)
    sv = meta.pack(1, sv_chunk, seg_id)
    sorted_sv = sv[order]
    soma_at = _soma_pieces(cell_of, soma_chunk)  # position of the soma piece (cell, chunk)

    ea, eb = [], []  # edges between positions
    same_pl = np.flatnonzero(run_pl[1:] == run_pl[:-1])
    ea.append(same_pl)
    eb.append(same_pl + 1)
    # branch points: a child's first run joins the parent's run holding the attach vertex
    pl_first_run = np.full(n_pl, -1)
    pl_first_run[run_pl[::-1]] = np.arange(n_runs)[::-1]
    child = np.flatnonzero(m.pl_parent >= 0)
    attach_seg = seg_first[m.pl_parent[child]] + m.pl_parent_vertex[child] - 1
    last_piece = np.searchsorted(seg, attach_seg, "right") - 1
    ea.append(pl_first_run[child])
    eb.append(run[last_piece])
    # root branches join the soma's piece in their first chunk
    rooted = np.flatnonzero(m.pl_parent < 0)
    first = pl_first_run[rooted]
    s = soma_at(m.pl_cell[rooted], chunk[new_run][first])
    ea.append(first[s >= 0])
    eb.append(n_runs + s[s >= 0])
    # soma pieces in face-adjacent chunks
    for axis in range(3):
        step = np.zeros(3, np.int64)
        step[axis] = 1
        nb = soma_at(cell_of, soma_chunk + step)
        ea.append(n_runs + np.flatnonzero(nb >= 0))
        eb.append(n_runs + nb[nb >= 0])
    # distinct pairs of ids (smaller first) in id order, as one integer per pair of ranks
    where = inverse(order)
    ra, rb = where[np.concatenate(ea)], where[np.concatenate(eb)]
    ok = ra != rb
    pair = distinct(np.minimum(ra[ok], rb[ok]) * len(sv) + np.maximum(ra[ok], rb[ok]))
    edges = np.stack([sorted_sv[pair // len(sv)], sorted_sv[pair % len(sv)]], 1)

    pieces_key = np.concatenate([key, soma_key])
    pieces_kind = np.r_[np.zeros(len(key), np.int64), np.ones(len(soma_key), np.int64)]
    pieces_ref = np.concatenate([seg, cell_of])
    pieces_sv = np.concatenate([sv[:n_runs][run], sv[n_runs:]])
    o = stable_argsort(_flat_chunks(np.concatenate([chunk, soma_chunk])))
    geo = Geometry(
        meta=meta, soma_centre=m.soma, soma_radius=m.soma_radius, seg_a=a, seg_b=b,
        seg_radius=m.pl_radius[seg_pl], seg_cell=m.pl_cell[seg_pl],
        piece_key=pieces_key[o], piece_kind=pieces_kind[o], piece_ref=pieces_ref[o],
        piece_sv=pieces_sv[o],
        piece_t0=np.concatenate([t0, np.zeros(len(soma_key))])[o],
        piece_t1=np.concatenate([t1, np.zeros(len(soma_key))])[o])
    sv_pos = np.concatenate([run_mid, m.soma[cell_of]])[order]
    return geo, sv_cell[order], edges, (sorted_sv, sv_pos)


def _flat_chunks(chunk: np.ndarray, lo=None, dims=None) -> np.ndarray:
    """Chunk coordinates (n, 3) as one non-negative integer each, in (x, y, z) order."""
    lo = chunk.min(0) if lo is None else lo
    dims = chunk.max(0) - lo + 1 if dims is None else dims
    c = chunk - lo
    return (c[:, 0] * dims[1] + c[:, 1]) * dims[2] + c[:, 2]


def _soma_pieces(cell: np.ndarray, chunk: np.ndarray):
    """A lookup of the pieces (cell, chunk) (distinct pairs): position or -1 for queries."""
    lo, hi = chunk.min(0) - 1, chunk.max(0) + 1  # one chunk of margin for out-of-range queries
    dims = hi - lo + 1
    n_chunks = int(np.prod(dims))
    keys = cell.astype(np.int64) * n_chunks + _flat_chunks(chunk, lo, dims)
    order = np.argsort(keys)
    keys = keys[order]

    def find(cells, chunks):
        c = np.clip(chunks, lo, hi)
        inside = np.all(c == chunks, axis=1)
        k = cells.astype(np.int64) * n_chunks + _flat_chunks(c, lo, dims)
        i = np.minimum(np.searchsorted(keys, k), len(keys) - 1)
        return np.where(inside & (keys[i] == k), order[i], -1)

    return find


# --- the initial graph, with its errors ------------------------------------------------------


def _initial_graph(meta, geo, sv_cell, true_edges, m, rng, n_operations):
    svs = np.sort(geo.piece_sv[np.unique(geo.piece_sv, return_index=True)[1]])
    n = len(m.soma)
    cell_of = lambda ids: sv_cell[np.searchsorted(svs, ids)]
    # detached fragments: a branch edge (between chunks, not at the soma) missing at first
    ca, cb = cell_of(true_edges[:, 0]), cell_of(true_edges[:, 1])
    cross = chunk_key(meta.chunk(true_edges[:, 0])) != chunk_key(meta.chunk(true_edges[:, 1]))
    n_false = min(n_operations * 2 // 5, n // 4)
    n_frag = min(n_operations - n_false, n // 2)
    soma_svs = set(geo.piece_sv[geo.piece_kind == 1].tolist())
    candidates = np.flatnonzero(cross & (ca == cb))
    rng.shuffle(candidates)
    frag_edges, used = [], set()
    for e in candidates.tolist():
        c = int(ca[e])
        a, b = true_edges[e].tolist()
        if c in used or a in soma_svs or b in soma_svs:
            continue
        used.add(c)
        frag_edges.append(e)
        if len(frag_edges) == n_frag:
            break
    # false merges: where one cell's axon runs along another's dendrite
    false_edges, paired = [], set()
    for k in rng.permutation(len(m.contact_post)).tolist():
        post, pre = int(m.contact_post[k]), int(m.contact_pre[k])
        if post == pre or post in paired or pre in paired:
            continue
        p = m.run_points[m.run_offset[k]]
        sv_pre, sv_post = geo.supervoxel_at(np.stack([p, p + m.run_shift[k]]))
        if 0 in (sv_pre, sv_post) or cell_of([sv_pre])[0] != pre or cell_of([sv_post])[0] != post:
            continue
        if np.abs(meta.chunk([sv_pre])[0] - meta.chunk([sv_post])[0]).sum() > 1:
            continue
        paired |= {post, pre}
        false_edges.append(sorted((int(sv_pre), int(sv_post))))
        if len(false_edges) == n_false:
            break
    false_edges = np.array(false_edges, dtype=np.uint64).reshape(-1, 2)
    missing = np.zeros(len(true_edges), bool)
    missing[frag_edges] = True
    all_edges = np.concatenate([true_edges, false_edges])
    n_true, n_all = len(true_edges), len(all_edges)
    t_from = np.full(n_all, HISTORY_START)
    t_to = np.full(n_all, INF)
    t_from[:n_true][missing] = INF  # added by their merge during the history
    affinity = np.concatenate([rng.uniform(0.7, 1.0, n_true), rng.uniform(0.05, 0.3,
                                                                          len(false_edges))])
    area = np.concatenate([rng.integers(200, 2000, n_true), rng.integers(5, 60, len(false_edges))])
    edges = Edges.undirected(all_edges[:, 0], all_edges[:, 1], t_from, t_to, affinity, area)

    active = t_from <= HISTORY_START
    act = all_edges[active]
    obj = edits.components(svs, act[:, 0], act[:, 1])
    key = chunk_key(meta.chunk(svs))
    ia, ib = np.searchsorted(svs, act[:, 0]), np.searchsorted(svs, act[:, 1])
    within = key[ia] == key[ib]
    l2_label = edits.components(svs, act[within, 0], act[within, 1])
    labels, first, l2_of = np.unique(l2_label, return_index=True, return_inverse=True)
    l2_ids = hierarchy.bulk_allocate(meta)(2, meta.chunk(svs[first]), None)
    sv_l2 = l2_ids[l2_of]
    objects, obj_index = np.unique(obj, return_inverse=True)
    l2_obj = obj_index[first]
    child, parent, owner = hierarchy.build(meta, l2_obj, l2_ids, hierarchy.bulk_allocate(meta))
    n_obj = len(objects)
    roots = (ROOT_BASE + np.arange(n_obj) * edits.ROOT_STEP
             + rng.integers(0, 1_000, n_obj)).astype(np.uint64)
    parent = np.where(parent == hierarchy.ROOT, roots[owner], parent)
    keys = np.concatenate([svs, child])
    values = np.concatenate([sv_l2, parent])
    graph = Graph(
        meta, svs, edges,
        sv_root=SpanIndex(svs, np.full(len(svs), HISTORY_START), roots[obj_index]),
        parent=SpanIndex(keys, np.full(len(keys), HISTORY_START), values),
        children=Grouped(values, keys),
        roots=Roots(roots, np.full(n_obj, HISTORY_START), np.full(n_obj, INF),
                    np.zeros(n_obj, np.int64), np.zeros(n_obj, np.int64)),
        operations={}, history_start=HISTORY_START)
    errors = {"fragments": true_edges[frag_edges], "false": false_edges}
    return graph, int(roots.max()), errors


def _replay_history(seg: Segmentation, errors: dict, sv_pos, rng) -> None:
    ids, pos = sv_pos
    ops = [("merge", e) for e in errors["fragments"]] + [("split", e) for e in errors["false"]]
    ops = [ops[i] for i in rng.permutation(len(ops))]
    marks = sorted(v.time_stamp for v in VERSIONS) + [LAST_EDIT]
    times = _edit_times(rng, len(ops), marks)
    _place_visible_edits(seg, ops, times, marks)
    alloc = edits.Allocators(seg.graph, seg.next_root)
    res = np.array(seg.meta.resolution)

    def voxel(sv):  # (a Python int against uint64 ids would make numpy convert all of ids)
        return np.rint(pos[np.searchsorted(ids, np.uint64(sv))] / res).astype(int).tolist()

    for op, ((kind, (a, b)), t) in enumerate(zip(ops, times), start=1):
        a, b = int(a), int(b)
        record = {"user": DEMO_USER, "operation_status": 0, "operation_exception": ""}
        if kind == "merge":
            record.update(source_coords=[voxel(a)], sink_coords=[voxel(b)])
            edits.apply(seg.graph, alloc, op, float(t), add=[(a, b)], record=record)
        else:
            record.update(source_ids=[a], sink_ids=[b], source_coords=[voxel(a)],
                          sink_coords=[voxel(b)], bb_offset=[240, 240, 24])
            edits.apply(seg.graph, alloc, op, float(t), remove=[(a, b)], record=record)
    seg.next_root = alloc.next_root


def _edit_times(rng, n: int, marks: list) -> np.ndarray:
    """Sorted edit times with at least one edit between every two versions and one after the
    newest (before LAST_EDIT), as far as `n` allows. A time is only ever taken from a span
    that keeps one, or from before the first version, so filling one span never empties
    another."""
    times = np.sort(rng.uniform(HISTORY_START + DAY, LAST_EDIT, size=n))
    for _ in range(len(marks)):
        span = np.searchsorted(marks, times, side="left") - 1  # -1: before the first version
        counts = np.bincount(span + 1, minlength=len(marks))  # [before, (m0, m1], ...]
        empty = [i for i in range(1, len(marks)) if counts[i] == 0]
        donors = np.flatnonzero((counts > 1) | ((np.arange(len(counts)) == 0) & (counts > 0)))
        if not empty or not len(donors):
            break
        take = int(np.flatnonzero(span + 1 == donors[np.argmax(counts[donors])])[0])
        i = empty[-1]
        times[take] = rng.uniform(marks[i - 1], marks[i])
        times = np.sort(times)
    return times


def _place_visible_edits(seg: Segmentation, ops: list, times: np.ndarray, marks: list) -> None:
    """Reorder `ops` (in place) so that every span between versions, and the span after the
    newest one, has an edit that changes the root of a cell with output synapses: live
    queries and version diffs then see root ids change. After the newest version that is the
    edit touching the most synapses. Later spans are served first and only take edits from
    earlier positions, so an earlier span that gave its edit away is checked afterwards."""
    m = seg.morph
    output = np.bincount(m.contact_pre, weights=m.contact_count, minlength=len(m.soma))

    def cell(sv) -> int:
        return int(seg.sv_cell[np.searchsorted(seg.graph.sv_ids, np.uint64(sv))])

    # Both sides' roots change (a merge retires the cell's and the fragment's root; a split
    # the merged root of both cells).
    score = np.array([output[list({cell(a), cell(b)})].sum() for _, (a, b) in ops])
    span = np.searchsorted(marks, times, side="left") - 1
    for i in range(len(marks) - 1, 0, -1):
        here = np.flatnonzero(span == i - 1)
        if not len(here):
            continue
        last_span = i == len(marks) - 1
        if not last_span and (score[here] > 0).any():
            continue
        pool = np.arange(here[-1] + 1) if last_span else np.arange(here[0])
        if not len(pool):
            continue
        best = int(pool[np.argmax(score[pool])])
        if score[best] <= score[here[-1]]:
            continue
        j = int(here[-1])
        ops[j], ops[best] = ops[best], ops[j]
        score[j], score[best] = score[best], score[j]
