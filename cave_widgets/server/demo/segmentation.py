"""A synthetic proofreading history: cells made of supervoxels, and the root ids they carry
over time as merges and splits are applied.

The model follows the chunkedgraph: a root id names one connected set of supervoxels; every
edit retires the roots it touches and creates new ones, and lineage edges point from each
retired root to the roots made from it. Two kinds of edits happen here, as in real
proofreading: a detached fragment of a cell is merged back into it, and two cells that were
wrongly merged are split apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .catalog import DAY, HISTORY_START, LAST_EDIT

SUPERVOXEL_BASE = 1 << 56  # layer-1 ids live in [2^56, 2^57)
ROOT_BASE = 864691135_000_000_000  # top byte 12: minnie65-style root ids
VOLUME_MIN = np.array([100_000, 100_000, 15_000])
VOLUME_MAX = np.array([400_000, 300_000, 27_000])


@dataclass
class Cells:
    soma: np.ndarray  # (n_cells, 3) int64 voxel positions
    sv_offsets: np.ndarray  # (n_cells + 1,) start of each cell's supervoxels in `svs`
    svs: np.ndarray  # (n_svs,) int64 supervoxel ids, grouped by cell

    @property
    def n_cells(self) -> int:
        return len(self.soma)

    @property
    def sv_cell(self) -> np.ndarray:
        return np.repeat(np.arange(self.n_cells), np.diff(self.sv_offsets))


@dataclass
class History:
    """Everything the chunkedgraph routes need, as flat arrays.

    spans: supervoxel (by index into Cells.svs) → root over the interval [t_from, t_to).
    roots: every root ever made, its creation and retirement time (inf while current).
    lineage: parent → child edges with the operation and its time.
    """

    span_sv: np.ndarray
    span_root: np.ndarray
    span_from: np.ndarray
    span_to: np.ndarray
    root_id: np.ndarray
    root_created: np.ndarray
    root_retired: np.ndarray
    root_operation: np.ndarray  # operation that created it; 0 for initial roots
    lineage_parent: np.ndarray
    lineage_child: np.ndarray
    lineage_operation: np.ndarray
    lineage_time: np.ndarray

    def roots_at(self, t: float, n_svs: int) -> np.ndarray:
        """Root id of every supervoxel at time t (index-aligned with Cells.svs)."""
        live = (self.span_from <= t) & (self.span_to > t)
        out = np.zeros(n_svs, dtype=np.int64)
        out[self.span_sv[live]] = self.span_root[live]
        return out


def make_cells(rng: np.random.Generator, n_cells: int, mean_svs: int) -> Cells:
    soma = rng.integers(VOLUME_MIN + 5_000, VOLUME_MAX - 5_000, size=(n_cells, 3))
    soma[:, 2] = rng.integers(VOLUME_MIN[2] + 500, VOLUME_MAX[2] - 500, size=n_cells)
    counts = np.maximum(4, rng.poisson(mean_svs, size=n_cells))
    offsets = np.concatenate([[0], np.cumsum(counts)])
    n_svs = int(offsets[-1])
    ids = np.unique(rng.integers(0, 1 << 55, size=int(n_svs * 1.05) + 16, dtype=np.int64))
    while len(ids) < n_svs:  # astronomically unlikely, but never hand out a duplicate
        extra = rng.integers(0, 1 << 55, size=n_svs, dtype=np.int64)
        ids = np.unique(np.concatenate([ids, extra]))
    ids = rng.permutation(ids)[:n_svs] + SUPERVOXEL_BASE
    return Cells(soma=soma.astype(np.int64), sv_offsets=offsets, svs=ids)


class _HistoryBuilder:
    def __init__(self, rng: np.random.Generator, n_svs: int):
        self.rng = rng
        self.next_seq = 0
        self.sv_root = np.zeros(n_svs, dtype=np.int64)
        self.sv_span = np.zeros(n_svs, dtype=np.int64)
        self.members: dict[int, np.ndarray] = {}
        self.span_sv: list[np.ndarray] = []
        self.span_root: list[np.ndarray] = []
        self.span_from: list[np.ndarray] = []
        self.span_to = np.empty(0)
        self.n_spans = 0
        self.roots: dict[int, list] = {}  # root → [created, retired, operation]
        self.lineage: list[tuple[int, int, int, float]] = []
        # (span rows superseded, time, supervoxels): closed in finish() once all are known
        self.closing: list[tuple[np.ndarray, float, np.ndarray]] = []

    def new_root(self, sv_index: np.ndarray, t: float, operation: int) -> int:
        # Roots grow with time, like the chunkedgraph's per-chunk counters.
        root = ROOT_BASE + self.next_seq * 1_009 + int(self.rng.integers(0, 1_000))
        self.next_seq += 1
        self.members[root] = sv_index
        self.roots[root] = [t, np.inf, operation]
        start = self.n_spans
        self.span_sv.append(sv_index)
        self.span_root.append(np.full(len(sv_index), root, dtype=np.int64))
        self.span_from.append(np.full(len(sv_index), t))
        self.n_spans += len(sv_index)
        self.sv_root[sv_index] = root
        self.closing.append((self.sv_span[sv_index].copy(), t, sv_index))
        self.sv_span[sv_index] = np.arange(start, start + len(sv_index))
        return root

    def retire(self, root: int, t: float) -> np.ndarray:
        self.roots[root][1] = t
        return self.members.pop(root)

    def merge(self, a: int, b: int, t: float, operation: int) -> None:
        svs = np.concatenate([self.retire(a, t), self.retire(b, t)])
        child = self.new_root(svs, t, operation)
        self.lineage += [(a, child, operation, t), (b, child, operation, t)]

    def split(self, root: int, parts: list[np.ndarray], t: float, operation: int) -> None:
        self.retire(root, t)
        for part in parts:
            child = self.new_root(part, t, operation)
            self.lineage.append((root, child, operation, t))

    def finish(self) -> History:
        span_to = np.full(self.n_spans, np.inf)
        for old_spans, t, _ in self.closing:
            if t > HISTORY_START:  # initial roots have no earlier span to close
                span_to[old_spans] = t
        roots = np.array(sorted(self.roots), dtype=np.int64)
        info = np.array([self.roots[int(r)] for r in roots], dtype=float).reshape(-1, 3)
        lin = np.array(self.lineage, dtype=object).reshape(-1, 4)
        return History(
            span_sv=np.concatenate(self.span_sv),
            span_root=np.concatenate(self.span_root),
            span_from=np.concatenate(self.span_from),
            span_to=span_to,
            root_id=roots,
            root_created=info[:, 0],
            root_retired=info[:, 1],
            root_operation=info[:, 2].astype(np.int64),
            lineage_parent=lin[:, 0].astype(np.int64),
            lineage_child=lin[:, 1].astype(np.int64),
            lineage_operation=lin[:, 2].astype(np.int64),
            lineage_time=lin[:, 3].astype(float),
        )


def make_history(rng: np.random.Generator, cells: Cells, n_operations: int) -> History:
    """Initial segmentation with detached fragments and false merges, then the edits that fix
    them at random times between HISTORY_START and LAST_EDIT."""
    n = cells.n_cells
    off = cells.sv_offsets
    n_false = min(n_operations * 2 // 5, n // 4)
    n_frag = min(n_operations - n_false, n // 2)
    order = rng.permutation(n)
    false_pairs = order[: 2 * n_false].reshape(-1, 2)
    frag_cells = rng.choice(n, size=n_frag, replace=False)

    builder = _HistoryBuilder(rng, len(cells.svs))
    fragment: dict[int, np.ndarray] = {}
    for c in frag_cells:
        size = off[c + 1] - off[c]
        k = max(1, int(size * rng.uniform(0.1, 0.3)))
        fragment[int(c)] = np.arange(off[c + 1] - k, off[c + 1])

    def body(c: int) -> np.ndarray:
        end = off[c + 1] - len(fragment.get(c, ()))
        return np.arange(off[c], end)

    paired = {int(c) for c in false_pairs.ravel()}
    for a, b in false_pairs:
        builder.new_root(np.concatenate([body(int(a)), body(int(b))]), HISTORY_START, 0)
    for c in range(n):
        if c not in paired:
            builder.new_root(body(c), HISTORY_START, 0)
    for c in sorted(fragment):
        builder.new_root(fragment[c], HISTORY_START, 0)

    edits = [("split", int(a), int(b)) for a, b in false_pairs]
    edits += [("merge", c, -1) for c in sorted(fragment)]
    edits = [edits[i] for i in rng.permutation(len(edits))]
    times = np.sort(rng.uniform(HISTORY_START + DAY, LAST_EDIT, size=len(edits)))
    sv_cell = cells.sv_cell
    for op_id, ((kind, a, _partner), t) in enumerate(zip(edits, times), start=1):
        t = float(t)
        if kind == "merge":
            frag_root = int(builder.sv_root[fragment[a][0]])
            main_root = int(builder.sv_root[off[a]])
            if frag_root != main_root:
                builder.merge(main_root, frag_root, t, op_id)
        else:
            root = int(builder.sv_root[off[a]])
            svs = builder.members[root]
            in_a = sv_cell[svs] == a
            if in_a.all():
                continue
            builder.split(root, [svs[in_a], svs[~in_a]], t, op_id)
    return builder.finish()
