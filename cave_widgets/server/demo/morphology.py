"""Neuron shapes for the demo, deterministic from the seed: somas, axons, and dendrites that
grow to where their synapses are.

Every cell has an axon (a random-walk trunk and a few collaterals). A cell receives synapses
from a handful of partner cells whose axons pass near its soma: for each partner a dendrite
grows from the soma (or branches off an earlier dendrite) to the partner's axon and then
runs alongside it for a few micrometres; the synapses of that connection sit along this run,
the presynaptic point on the axon, the postsynaptic point on the dendrite ``RUN_OFFSET``
away. So branches pass through their synapses, and a cell's shape follows its synapses and
soma. Lengths are in nm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

UM = 1000.0
AXON_RADIUS = 0.15 * UM
DENDRITE_RADIUS = (0.35 * UM, 0.6 * UM)
RUN_OFFSET = 0.8 * UM  # axon centre line to dendrite centre line along a synaptic run
SYNAPSE_SPACING = 0.7 * UM


@dataclass
class Morphology:
    soma: np.ndarray  # (cells, 3)
    soma_radius: np.ndarray
    pl_cell: np.ndarray  # polylines
    pl_kind: np.ndarray  # 0 axon, 1 dendrite
    pl_radius: np.ndarray
    pl_parent: np.ndarray  # parent polyline, -1 = the soma
    pl_parent_vertex: np.ndarray  # vertex (≥ 1) of the parent polyline it starts at
    pl_offset: np.ndarray  # (polylines + 1,) into vertices
    vertices: np.ndarray  # (V, 3)
    # connections: post cell, pre cell, the presynaptic run (points along the pre axon, flat
    # by run_offset), the offset from the axon to the dendrite, and its synapse count
    contact_post: np.ndarray
    contact_pre: np.ndarray
    contact_count: np.ndarray
    run_offset: np.ndarray  # (contacts + 1,)
    run_points: np.ndarray
    run_shift: np.ndarray  # (contacts, 3)


def _unit(v):
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def _walk(rng, start, direction, steps, step_len, lo, hi, wiggle=0.35):
    """Random walks from start (n,3): (n, steps+1, 3), reflected off the volume's walls."""
    n = len(start)
    pts = np.empty((n, steps + 1, 3))
    pts[:, 0] = start
    d = _unit(direction)
    for k in range(steps):
        d = _unit(d + wiggle * rng.normal(size=(n, 3)) * [1, 1, 0.5])
        nxt = pts[:, k] + d * step_len[:, None]
        out_lo, out_hi = nxt < lo, nxt > hi
        d = np.where(out_lo | out_hi, -d, d)
        pts[:, k + 1] = np.clip(nxt, lo, hi)
    return pts


def _polyline_arcs(vertices: np.ndarray, offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Arc length of every vertex from its polyline's start, and each vertex's polyline."""
    sizes = np.diff(offset)
    pl_of = np.repeat(np.arange(len(sizes)), sizes)
    step = np.zeros(len(vertices))
    if len(vertices) > 1:
        step[1:] = np.linalg.norm(np.diff(vertices, axis=0), axis=1)
    step[offset[:-1][sizes > 0]] = 0.0
    total = np.cumsum(step)
    return total - total[offset[:-1][pl_of]], pl_of


class _Along:
    """Points at arc lengths along many polylines at once: np.interp over one increasing key,
    (polyline × a stride longer than any polyline) + arc length."""

    def __init__(self, vertices: np.ndarray, offset: np.ndarray):
        self.vertices, self.offset = vertices, offset
        self.arc, self.pl_of = _polyline_arcs(vertices, offset)
        last = offset[1:] - 1
        self.length = np.where(np.diff(offset) > 0, self.arc[np.maximum(last, 0)], 0.0)
        self.stride = float(self.arc.max(initial=0.0)) + 1e6
        self.key = self.pl_of * self.stride + self.arc

    def points(self, pl: np.ndarray, s: np.ndarray) -> np.ndarray:
        q = pl * self.stride + s
        return np.stack([np.interp(q, self.key, self.vertices[:, i]) for i in range(3)], 1)


def _ragged(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(owner, index within owner) for groups of the given sizes."""
    owner = np.repeat(np.arange(len(counts)), counts)
    within = np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)
    return owner, within


def make_morphology(rng: np.random.Generator, soma: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                    in_counts: np.ndarray, out_weight: np.ndarray,
                    synapses_per_contact: float) -> Morphology:
    """Shapes for cells with somas at `soma` (nm) inside [lo, hi], receiving in_counts[c]
    synapses each from partners chosen by out_weight."""
    n = len(soma)
    spacing = float(np.prod(hi - lo) / n) ** (1 / 3)
    margin = 2 * UM
    wlo, whi = lo + margin, hi - margin
    radius = rng.uniform(3.5, 5.0, n) * UM

    # Axons: a trunk and two collaterals per cell, all random walks; polylines 3c, 3c+1, 3c+2.
    trunk_steps, coll_steps = 8, 4
    d0 = _unit(rng.normal(size=(n, 3)) * [1, 1, 0.6])
    step = rng.uniform(0.8, 1.3, n) * min(max(spacing * 0.3, 8 * UM), 14 * UM)
    trunk = _walk(rng, soma + d0 * radius[:, None], d0, trunk_steps, step, wlo, whi)
    coll_at = rng.integers(2, trunk_steps, size=(n, 2))
    coll_dir = _unit(np.take_along_axis(trunk, coll_at[..., None] + 1, 1)
                     - np.take_along_axis(trunk, coll_at[..., None], 1)
                     + rng.normal(size=(n, 2, 3)) * 0.9)
    collateral = [
        _walk(rng, trunk[np.arange(n), coll_at[:, k]], coll_dir[:, k], coll_steps,
              step * 0.7, wlo, whi)
        for k in range(2)
    ]
    axon_vertices = np.concatenate([trunk, *collateral], axis=1).reshape(-1, 3)
    axon_sizes = np.tile([trunk_steps + 1, coll_steps + 1, coll_steps + 1], n)
    axon_offset = np.concatenate([[0], np.cumsum(axon_sizes)])
    axon_parent = np.stack([np.full(n, -1), 3 * np.arange(n), 3 * np.arange(n)], 1).ravel()
    axon_parent_vertex = np.concatenate([np.full((n, 1), -1), coll_at], 1).ravel()
    axons = _Along(axon_vertices, axon_offset)

    # Where axons pass: samples along every axon segment, with their polyline and arc length.
    samples = _axon_samples(axons, max_step=3 * UM)
    partners = _choose_partners(rng, soma, samples, in_counts, out_weight,
                                synapses_per_contact, spacing)
    dend = _grow_dendrites(rng, axons, soma, radius, samples, partners, in_counts, out_weight,
                           first_pl=3 * n)
    sizes = np.concatenate([axon_sizes, dend["sizes"]])
    return Morphology(
        soma=soma, soma_radius=radius,
        pl_cell=np.concatenate([np.repeat(np.arange(n), 3), dend["cell"]]),
        pl_kind=np.concatenate([np.zeros(3 * n, np.int64), np.ones(len(dend["cell"]),
                                                                   np.int64)]),
        pl_radius=np.concatenate([np.full(3 * n, AXON_RADIUS), dend["radius"]]),
        pl_parent=np.concatenate([axon_parent, dend["parent"]]),
        pl_parent_vertex=np.concatenate([axon_parent_vertex, dend["parent_vertex"]]),
        pl_offset=np.concatenate([[0], np.cumsum(sizes)]),
        vertices=np.clip(np.concatenate([axon_vertices, dend["vertices"]]), lo + UM,
                         hi - UM),  # stray fillers
        **dend["contacts"],
    )


@dataclass
class _Samples:
    point: np.ndarray
    cell: np.ndarray
    polyline: np.ndarray
    arc: np.ndarray  # arc length from the polyline's start


def _axon_samples(axons: _Along, max_step: float) -> _Samples:
    count = np.ceil(axons.length / max_step).astype(np.int64)
    pl, k = _ragged(count)
    s = k * max_step
    return _Samples(axons.points(pl, s), pl // 3, pl, s)


def _choose_partners(rng, soma, samples: _Samples, in_counts, out_weight, per_contact,
                     spacing):
    """Partners of every cell as flat arrays sorted by cell: (cell, partner cell, the sample
    of the partner's axon nearest the soma). Candidates are the axons passing nearest the
    soma (searched on a grid, widening the search where few pass); partners are drawn from
    them without replacement by output weight and distance."""
    n = len(soma)
    grid = max(20 * UM, spacing * 0.6)  # ring 1 (27 boxes) mostly holds enough axons
    base = soma.min(0) - 2 * grid
    key3 = np.floor((samples.point - base) / grid).astype(np.int64)
    home = np.floor((soma - base) / grid).astype(np.int64)
    dims = np.maximum(key3.max(0), home.max(0)) + 12
    key = (key3[:, 0] * dims[1] + key3[:, 1]) * dims[2] + key3[:, 2]
    order = np.argsort(key, kind="stable")
    skey = key[order]
    want = np.clip(np.rint(in_counts / per_contact), 1, 12).astype(np.int64)
    found = []  # per ring: (ring, cell, pre, distance, sample), one row per (cell, pre)
    last_ring = np.full(n, -1)
    todo = np.arange(n)
    for ring in (1, 2, 4, 8):
        last_ring[todo] = ring
        offs = np.stack(np.meshgrid(*[np.arange(-ring, ring + 1)] * 3, indexing="ij"),
                        -1).reshape(-1, 3)
        batch = max(1, 2_000_000 // (len(offs) * 64))
        have = np.zeros(n, np.int64)
        for first in range(0, len(todo), batch):
            cells = todo[first:first + batch]
            k3 = (home[cells][:, None, :] + offs[None]).reshape(-1, 3)
            who = np.repeat(cells, len(offs))
            valid = np.all((k3 >= 0) & (k3 < dims), axis=1)
            k = (k3[:, 0] * dims[1] + k3[:, 1]) * dims[2] + k3[:, 2]
            lo = np.searchsorted(skey, k, "left")
            count = np.where(valid, np.searchsorted(skey, k, "right") - lo, 0)
            who = np.repeat(who, count)
            idx = order[np.repeat(lo, count) + _ragged(count)[1]]
            pre = samples.cell[idx]
            keep = pre != who
            who, idx, pre = who[keep], idx[keep], pre[keep]
            dist = np.linalg.norm(samples.point[idx] - soma[who], axis=1)
            # each (cell, pre) pair once, at its nearest sample: one integer sort, then the
            # minimum per group (the first of equal minima)
            o = np.argsort(who.astype(np.int64) * n + pre, kind="stable")
            who, idx, pre, dist = who[o], idx[o], pre[o], dist[o]
            first_of = np.flatnonzero(np.r_[True, (who[1:] != who[:-1])
                                            | (pre[1:] != pre[:-1])])
            group = np.cumsum(np.r_[False, (who[1:] != who[:-1]) | (pre[1:] != pre[:-1])])
            if len(dist):
                low = np.minimum.reduceat(dist, first_of)
                at_min = np.flatnonzero(dist == low[group])
                best = at_min[np.r_[True, group[at_min][1:] != group[at_min][:-1]]]
            else:
                best = np.zeros(0, np.int64)
            who, idx, pre, dist = who[best], idx[best], pre[best], dist[best]
            found.append((np.full(len(who), ring), who, pre, dist, idx))
            have += np.bincount(who, minlength=n)
        todo = todo[have[todo] < 3 * want[todo]]
        if len(todo) == 0:
            break
    ring, who, pre, dist, idx = (np.concatenate(x) for x in zip(*found))
    keep = ring == last_ring[who]  # each cell's widest search
    who, pre, dist, idx = who[keep], pre[keep], dist[keep], idx[keep]
    # the 3·want nearest candidates of each cell
    o = np.lexsort((pre, dist, who))
    who, pre, dist, idx = who[o], pre[o], dist[o], idx[o]
    rank = _ragged(np.bincount(who, minlength=n))[1]
    keep = rank < 3 * want[who]
    who, pre, dist, idx = who[keep], pre[keep], dist[keep], idx[keep]
    # weighted draws without replacement (Efraimidis–Spirakis keys), want[c] per cell
    w = out_weight[pre] * np.exp(-dist / (spacing * 0.7))
    draw = np.log(rng.random(len(w))) / np.maximum(w, 1e-300)
    o = np.lexsort((-draw, who))
    rank = _ragged(np.bincount(who, minlength=n))[1]
    pick = o[rank < want[who[o]]]
    pick = np.sort(pick)  # by cell, nearest first
    return who[pick], pre[pick], idx[pick]


def _runs(samples: _Samples, axons: _Along, s: np.ndarray, length: np.ndarray):
    """Points along the axon polyline of each sample s, from s for `length` (backwards if
    the polyline ends first): (flat points, offsets)."""
    pl = samples.polyline[s]
    s1 = np.minimum(samples.arc[s] + length, axons.length[pl])
    s0 = np.maximum(0.0, s1 - length)
    inner_lo = np.searchsorted(axons.key, pl * axons.stride + s0, "right")
    inner_hi = np.searchsorted(axons.key, pl * axons.stride + s1, "left")
    n_inner = np.maximum(inner_hi - inner_lo, 0)
    size = n_inner + 2
    owner, k = _ragged(size)
    t = np.where(k == 0, s0[owner], s1[owner])
    inner = (k > 0) & (k <= n_inner[owner])
    t[inner] = axons.arc[inner_lo[owner[inner]] + k[inner] - 1]
    return axons.points(pl[owner], t), np.concatenate([[0], np.cumsum(size)])


def _approach(rng, start: np.ndarray, end: np.ndarray, step=8 * UM, jitter=1.2 * UM):
    """Slightly wavy paths from start to end (k, 3): (flat points, points per path)."""
    n = np.maximum(1, (np.linalg.norm(end - start, axis=1) // step).astype(np.int64))
    owner, k = _ragged(n + 1)
    t = (k / n[owner])[:, None]
    pts = start[owner] + t * (end[owner] - start[owner])
    inner = (k > 0) & (k < n[owner])
    pts[inner] += rng.normal(size=(int(inner.sum()), 3)) * jitter * [1, 1, 0.5]
    return pts, n + 1


def _grow_dendrites(rng, axons, soma, radius, samples, partners, in_counts, out_weight,
                    first_pl: int) -> dict:
    """Dendrites for every cell, one per partner (nearest partner first), grown round by
    round: round r grows every cell's r-th dendrite at once, branching off the cell's
    dendrites of earlier rounds where one passes close to the target."""
    n = len(soma)
    p_cell, p_pre, p_anchor = partners
    n_part = np.bincount(p_cell, minlength=n)
    # synapses of each cell split among its partners by output weight
    p_first = np.concatenate([[0], np.cumsum(n_part)])
    col = np.arange(len(p_cell)) - p_first[p_cell]
    has = np.flatnonzero(n_part)
    probs = np.zeros((len(has), max(int(n_part.max(initial=0)), 1)))
    row = np.searchsorted(has, p_cell)
    probs[row, col] = out_weight[p_pre]
    probs /= probs.sum(1, keepdims=True)
    count = rng.multinomial(in_counts[has], probs)[row, col] if len(has) else \
        np.zeros(0, np.int64)
    # contacts: (cell, rank), nearest anchor first
    anchor_dist = np.linalg.norm(samples.point[p_anchor] - soma[p_cell], axis=1)
    o = np.lexsort((anchor_dist, p_cell))
    c_cell, c_pre, c_anchor, c_count = p_cell[o], p_pre[o], p_anchor[o], count[o]
    c_rank = np.arange(len(c_cell)) - p_first[c_cell]
    r_dend = rng.uniform(*DENDRITE_RADIUS, size=n)
    length = np.clip(c_count * SYNAPSE_SPACING, 3 * UM, 25 * UM)
    run_points, run_offset = _runs(samples, axons, c_anchor, length)
    run_first, run_last = run_points[run_offset[:-1]], run_points[run_offset[1:] - 1]
    along = _unit(run_last - run_first + 1e-6)
    shift = _unit(np.cross(along, rng.normal(size=(len(c_cell), 3)))) * RUN_OFFSET
    target = run_first + shift

    # polylines: per cell its contact dendrites by rank, then fillers so no cell is bare
    n_fill = np.maximum(0, 3 - n_part)
    n_dend = n_part + n_fill
    d_first = np.concatenate([[0], np.cumsum(n_dend)])
    c_pl = d_first[c_cell] + c_rank  # index among dendrite polylines
    total = int(d_first[-1])
    d_cell = np.repeat(np.arange(n), n_dend)
    parent = np.full(total, -1, np.int64)
    parent_vertex = np.full(total, -1, np.int64)
    pieces = []  # (polyline, points) per round
    pool_cell, pool_pt, pool_pl, pool_k = [], [], [], []
    for r in range(int(n_part.max(initial=0))):
        sel = np.flatnonzero(c_rank == r)  # one contact per cell, cells increasing
        cells = c_cell[sel]
        tgt = target[sel]
        to_soma = np.linalg.norm(tgt - soma[cells], axis=1) - radius[cells]
        start = soma[cells] + _unit(tgt - soma[cells]) * radius[cells][:, None]
        if pool_cell:
            pc, pp = np.concatenate(pool_cell), np.concatenate(pool_pt)
            ppl, pk = np.concatenate(pool_pl), np.concatenate(pool_k)
            po = np.argsort(pc, kind="stable")
            lo = np.searchsorted(pc[po], cells, "left")
            cnt = np.searchsorted(pc[po], cells, "right") - lo
            owner, k = _ragged(cnt)
            j = po[lo[owner] + k]
            d = np.linalg.norm(pp[j] - tgt[owner], axis=1)
            best = np.lexsort((d, owner))
            firsts = best[np.r_[True, owner[best][1:] != owner[best][:-1]]]
            o_idx, jj, dd = owner[firsts], j[firsts], d[firsts]
            near = dd < 0.6 * to_soma[o_idx]
            b_idx, b_j = o_idx[near], jj[near]
            parent[c_pl[sel[b_idx]]] = ppl[b_j] + first_pl
            parent_vertex[c_pl[sel[b_idx]]] = pk[b_j]
            start[b_idx] = pp[b_j]
        path, path_n = _approach(rng, start, tgt)
        run_n = np.diff(run_offset)[sel] - 1
        size = path_n + run_n
        owner, k = _ragged(size)
        from_path = k < path_n[owner]
        pts = np.empty((len(owner), 3))
        pts[from_path] = path
        ri = run_offset[sel][owner[~from_path]] + 1 + k[~from_path] - path_n[owner[~from_path]]
        pts[~from_path] = run_points[ri] + shift[sel][owner[~from_path]]
        pieces.append((c_pl[sel], size, pts))
        later = k > 0
        pool_cell.append(cells[owner[later]])
        pool_pt.append(pts[later])
        pool_pl.append(c_pl[sel][owner[later]])
        pool_k.append(k[later])
    # fillers: short dendrites from the soma
    f_cell = np.repeat(np.arange(n), n_fill)
    f_pl = d_first[f_cell] + n_part[f_cell] + _ragged(n_fill)[1]
    d = _unit(rng.normal(size=(len(f_cell), 3)) * [1, 1, 0.5])
    start = soma[f_cell] + d * radius[f_cell][:, None]
    end = start + d * (rng.uniform(15, 35, size=len(f_cell)) * UM)[:, None]
    path, path_n = _approach(rng, start, end)
    pieces.append((f_pl, path_n, path))
    sizes = np.zeros(total, np.int64)
    for pl, size, _ in pieces:
        sizes[pl] = size
    offset = np.concatenate([[0], np.cumsum(sizes)])
    vertices = np.empty((int(offset[-1]), 3))
    for pl, size, pts in pieces:
        owner, k = _ragged(size)
        vertices[offset[pl][owner] + k] = pts
    return dict(
        cell=d_cell, radius=r_dend[d_cell], parent=parent, parent_vertex=parent_vertex,
        sizes=sizes, vertices=vertices,
        contacts=dict(
            contact_post=c_cell.astype(np.int64), contact_pre=c_pre.astype(np.int64),
            contact_count=c_count.astype(np.int64), run_offset=run_offset,
            run_points=run_points, run_shift=shift.reshape(-1, 3)),
    )


def synapse_points(m: Morphology, rng: np.random.Generator, contacts: np.ndarray):
    """Pre, centre and post points (nm) of the synapses of `contacts`, placed at random along
    each connection's run; returns (contact index per synapse, pre, ctr, post)."""
    counts = m.contact_count[contacts]
    which = np.repeat(contacts, counts)
    u = rng.random(len(which))
    runs = _Along(m.run_points, m.run_offset)
    pre = runs.points(which, u * runs.length[which])
    shift = m.run_shift[which]
    return which, pre, pre + shift / 2, pre + shift
