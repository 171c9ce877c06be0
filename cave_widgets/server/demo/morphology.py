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


class _Builder:
    def __init__(self):
        self.cell, self.kind, self.radius, self.parent, self.parent_vertex = [], [], [], [], []
        self.vertices: list[np.ndarray] = []

    def add(self, cell, kind, radius, parent, parent_vertex, points) -> int:
        self.cell.append(cell)
        self.kind.append(kind)
        self.radius.append(radius)
        self.parent.append(parent)
        self.parent_vertex.append(parent_vertex)
        self.vertices.append(points)
        return len(self.cell) - 1


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
    b = _Builder()

    # Axons: a trunk and two collaterals per cell, all random walks.
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
    trunk_pl = np.empty(n, dtype=np.int64)
    for c in range(n):
        trunk_pl[c] = b.add(c, 0, AXON_RADIUS, -1, -1, trunk[c])
        for k in range(2):
            b.add(c, 0, AXON_RADIUS, trunk_pl[c], int(coll_at[c, k]), collateral[k][c])
    n_axon = len(b.cell)

    # Where axons pass: samples along every axon segment, with their polyline and arc length.
    samples = _axon_samples(b, n_axon, max_step=3 * UM)
    partners = _choose_partners(rng, soma, samples, in_counts, out_weight,
                                synapses_per_contact, spacing)
    contacts = _grow_dendrites(rng, b, soma, radius, samples, partners, in_counts, out_weight)
    sizes = np.array([len(v) for v in b.vertices])
    return Morphology(
        soma=soma, soma_radius=radius,
        pl_cell=np.array(b.cell), pl_kind=np.array(b.kind), pl_radius=np.array(b.radius),
        pl_parent=np.array(b.parent), pl_parent_vertex=np.array(b.parent_vertex),
        pl_offset=np.concatenate([[0], np.cumsum(sizes)]),
        vertices=np.clip(np.concatenate(b.vertices), lo + UM, hi - UM),  # stray fillers
        **contacts,
    )


@dataclass
class _Samples:
    point: np.ndarray
    cell: np.ndarray
    polyline: np.ndarray
    arc: np.ndarray  # arc length from the polyline's start


def _axon_samples(b: _Builder, n_axon: int, max_step: float) -> _Samples:
    points, cells, pls, arcs = [], [], [], []
    for pl in range(n_axon):
        v = b.vertices[pl]
        seg = np.linalg.norm(np.diff(v, axis=0), axis=1)
        arc = np.concatenate([[0], np.cumsum(seg)])
        s = np.arange(0, arc[-1], max_step)
        pts = np.stack([np.interp(s, arc, v[:, i]) for i in range(3)], 1)
        points.append(pts)
        arcs.append(s)
        cells.append(np.full(len(s), b.cell[pl]))
        pls.append(np.full(len(s), pl))
    return _Samples(np.concatenate(points), np.concatenate(cells), np.concatenate(pls),
                    np.concatenate(arcs))


def _choose_partners(rng, soma, samples: _Samples, in_counts, out_weight, per_contact,
                     spacing):
    """For each cell: (partner cells, the sample of each partner's axon nearest the soma).
    Candidates are the axons passing nearest the soma (searched on a grid, widening the
    search where few pass); partners are drawn from them by output weight and distance."""
    n = len(soma)
    grid = max(40 * UM, spacing * 1.2)
    base = soma.min(0) - 2 * grid
    key3 = np.floor((samples.point - base) / grid).astype(np.int64)
    home = np.floor((soma - base) / grid).astype(np.int64)
    dims = np.maximum(key3.max(0), home.max(0)) + 12
    key = (key3[:, 0] * dims[1] + key3[:, 1]) * dims[2] + key3[:, 2]
    order = np.argsort(key, kind="stable")
    skey = key[order]
    want = np.clip(np.rint(in_counts / per_contact), 1, 12).astype(np.int64)
    cand_pre = [np.zeros(0, np.int64)] * n
    cand_dist = [np.zeros(0)] * n
    cand_sample = [np.zeros(0, np.int64)] * n
    todo = np.arange(n)
    for ring in (1, 2, 4, 8):
        offs = np.stack(np.meshgrid(*[np.arange(-ring, ring + 1)] * 3, indexing="ij"),
                        -1).reshape(-1, 3)
        batch = max(1, 2_000_000 // (len(offs) * 64))
        for first in range(0, len(todo), batch):
            cells = todo[first:first + batch]
            k3 = (home[cells][:, None, :] + offs[None]).reshape(-1, 3)
            who = np.repeat(cells, len(offs))
            valid = np.all((k3 >= 0) & (k3 < dims), axis=1)
            k = (k3[:, 0] * dims[1] + k3[:, 1]) * dims[2] + k3[:, 2]
            lo = np.searchsorted(skey, k, "left")
            count = np.where(valid, np.searchsorted(skey, k, "right") - lo, 0)
            who = np.repeat(who, count)
            idx = order[np.repeat(lo, count) + np.arange(count.sum())
                        - np.repeat(np.cumsum(count) - count, count)]
            pre = samples.cell[idx]
            keep = pre != who
            who, idx, pre = who[keep], idx[keep], pre[keep]
            dist = np.linalg.norm(samples.point[idx] - soma[who], axis=1)
            o = np.lexsort((dist, pre, who))
            who, idx, pre, dist = who[o], idx[o], pre[o], dist[o]
            first_of = np.r_[True, (who[1:] != who[:-1]) | (pre[1:] != pre[:-1])]
            who, idx, pre, dist = who[first_of], idx[first_of], pre[first_of], dist[first_of]
            bounds = np.flatnonzero(np.r_[True, who[1:] != who[:-1], True])
            for a, z in zip(bounds[:-1], bounds[1:]):
                c = int(who[a])
                cand_pre[c], cand_dist[c], cand_sample[c] = pre[a:z], dist[a:z], idx[a:z]
        todo = np.array([c for c in todo if len(cand_pre[c]) < 3 * want[c]], dtype=np.int64)
        if len(todo) == 0:
            break
    partners = []
    for c in range(n):
        if len(cand_pre[c]) == 0:
            partners.append(([], []))
            continue
        near = np.argsort(cand_dist[c])[: 3 * want[c]]
        pres, dist, samp = cand_pre[c][near], cand_dist[c][near], cand_sample[c][near]
        w = out_weight[pres] * np.exp(-dist / (spacing * 0.7))
        k = min(int(want[c]), len(pres))
        pick = rng.choice(len(pres), size=k, replace=False, p=w / w.sum())
        partners.append(([int(pres[i]) for i in pick], [int(samp[i]) for i in pick]))
    return partners


def _run_along(samples: _Samples, b: _Builder, s: int, length: float) -> np.ndarray:
    """Points along the axon polyline of sample s, from s for `length` (backwards if the
    polyline ends first)."""
    v = b.vertices[int(samples.polyline[s])]
    arc = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(v, axis=0), axis=1))])
    s0 = float(samples.arc[s])
    s1 = min(s0 + length, arc[-1])
    s0 = max(0.0, s1 - length)
    inner = arc[(arc > s0) & (arc < s1)]
    t = np.concatenate([[s0], inner, [s1]])
    return np.stack([np.interp(t, arc, v[:, i]) for i in range(3)], 1)


def _grow_dendrites(rng, b, soma, radius, samples, partners, in_counts, out_weight) -> dict:
    posts, pres, counts, runs, shifts = [], [], [], [], []
    for c in range(len(soma)):
        pre_cells, anchors = partners[c]
        if pre_cells:
            w = out_weight[pre_cells]
            split = rng.multinomial(int(in_counts[c]), w / w.sum())
        else:
            split = []
        verts = np.zeros((0, 3))  # this cell's dendrite vertices so far, to branch from
        where = []  # (polyline, vertex index) of each
        order = np.argsort([np.linalg.norm(samples.point[a] - soma[c]) for a in anchors])
        r_dend = rng.uniform(*DENDRITE_RADIUS)
        for i in order:
            count = int(split[i])
            length = float(np.clip(count * SYNAPSE_SPACING, 3 * UM, 25 * UM))
            run = _run_along(samples, b, anchors[i], length)
            along = _unit(run[-1] - run[0] + 1e-6)
            shift = _unit(np.cross(along, rng.normal(size=3))) * RUN_OFFSET
            target = run[0] + shift
            to_soma = np.linalg.norm(target - soma[c]) - radius[c]
            parent, parent_vertex, start = -1, -1, None
            if len(verts):
                d = np.linalg.norm(verts - target, axis=1)
                j = int(np.argmin(d))
                if d[j] < 0.6 * to_soma:
                    parent, parent_vertex = where[j]
                    start = verts[j]
            if start is None:
                start = soma[c] + _unit(target - soma[c]) * radius[c]
            path = _approach(rng, start, target)
            points = np.concatenate([path, run[1:] + shift])
            pl = b.add(c, 1, r_dend, parent, parent_vertex, points)
            verts = np.concatenate([verts, points[1:]])
            where += [(pl, k) for k in range(1, len(points))]
            posts.append(c)
            pres.append(pre_cells[i])
            counts.append(count)
            runs.append(run)
            shifts.append(shift)
        for _ in range(max(0, 3 - len(pre_cells))):  # short dendrites, so no cell is bare
            d = _unit(rng.normal(size=3) * [1, 1, 0.5])
            start = soma[c] + d * radius[c]
            b.add(c, 1, r_dend, -1, -1, _approach(rng, start, start + d * rng.uniform(15, 35)
                                                  * UM))
    sizes = np.array([len(r) for r in runs], dtype=np.int64)
    return dict(
        contact_post=np.array(posts, dtype=np.int64), contact_pre=np.array(pres, dtype=np.int64),
        contact_count=np.array(counts, dtype=np.int64),
        run_offset=np.concatenate([[0], np.cumsum(sizes)]),
        run_points=np.concatenate(runs) if runs else np.zeros((0, 3)),
        run_shift=np.array(shifts).reshape(-1, 3),
    )


def _approach(rng, start, end, step=8 * UM, jitter=1.2 * UM) -> np.ndarray:
    """A slightly wavy path from start to end."""
    n = max(1, int(np.linalg.norm(end - start) // step))
    t = np.linspace(0, 1, n + 1)[:, None]
    pts = start + t * (end - start)
    pts[1:-1] += rng.normal(size=(n - 1, 3)) * jitter * [1, 1, 0.5]
    return pts


def synapse_points(m: Morphology, rng: np.random.Generator, contacts: np.ndarray):
    """Pre, centre and post points (nm) of the synapses of `contacts`, placed at random along
    each connection's run; returns (contact index per synapse, pre, ctr, post)."""
    counts = m.contact_count[contacts]
    which = np.repeat(contacts, counts)
    u = rng.random(len(which))
    pre = np.empty((len(which), 3))
    pos = 0
    for c, k in zip(contacts.tolist(), counts.tolist()):
        run = m.run_points[m.run_offset[c]:m.run_offset[c + 1]]
        arc = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(run, axis=0), axis=1))])
        s = u[pos:pos + k] * arc[-1]
        pre[pos:pos + k] = np.stack([np.interp(s, arc, run[:, i]) for i in range(3)], 1)
        pos += k
    shift = m.run_shift[which]
    return which, pre, pre + shift / 2, pre + shift
