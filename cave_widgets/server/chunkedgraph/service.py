"""The chunkedgraph as the routes see it: the graph loaded from the demo file, users' edits
applied in memory and written to the store's writable database, the geometry (loaded on
first need) and the level-2 cache.

Edits are kept as their operation log in ``work.operations``; the rows materialization reads
(``work.sv_spans_live``, ``work.retired``) and the new level-2 nodes' cache rows
(``work.l2_attributes``) are written with them. A server started on an existing writable
file replays its operations, which rebuilds the same ids.
"""

from __future__ import annotations

import json

import numpy as np

from ..demo.catalog import HISTORY_START
from . import edits
from .geometry import Geometry, point_segment_distance
from .graph import Graph
from .level2 import Level2Graphs
from .meta import GraphMeta
from .storage import l2_table, load_graph

WORK_TABLES = {
    "operations": "operation BIGINT, t DOUBLE, user_id VARCHAR, record VARCHAR",
    "sv_spans_live": "sv BIGINT, root BIGINT, t_from DOUBLE, t_to DOUBLE",
    "retired": "root BIGINT, t DOUBLE",
}
SPANS_VIEW = "work.sv_spans"


class ChunkedGraph:
    def __init__(self, store, meta: GraphMeta):
        self.store = store
        self.meta = meta
        cur = store.cursor()
        self.graph: Graph = load_graph(cur, meta, HISTORY_START)
        [(next_root,)] = cur.execute("SELECT next_root FROM demo.meta").fetchall()
        self.alloc = edits.Allocators(self.graph, int(next_root))
        self.level2 = Level2Graphs(self.graph)  # level-2 graphs of roots, kept
        self._geometry: Geometry | None = None
        # called with the roots an edit retires (the skeleton cache drops theirs)
        self.retire_listeners: list = []

        def create(c):
            for name, cols in WORK_TABLES.items():
                c.execute(f"CREATE TABLE IF NOT EXISTS work.{name} ({cols})")
            c.execute("CREATE TABLE IF NOT EXISTS work.l2_attributes AS "
                      "SELECT * FROM demo.l2_attributes LIMIT 0")

        store.write(create)
        replay = cur.execute("SELECT operation, record FROM work.operations ORDER BY 1").fetchall()
        for op, record in replay:
            self._apply(int(op), json.loads(record))
        if replay:
            self._use_edited_spans()

    # --- facts used by other services ------------------------------------------------------

    def is_latest(self, roots, t: float) -> np.ndarray:
        return self.graph.is_latest(np.asarray(roots, dtype=np.uint64), t)

    def known(self, roots) -> np.ndarray:
        return self.graph.known_roots(np.asarray(roots, dtype=np.uint64))

    @property
    def geometry(self) -> Geometry:
        if self._geometry is None:
            self._geometry = Geometry.from_cursor(self.store.cursor(), self.meta)
        return self._geometry

    @property
    def oldest(self) -> float:
        return HISTORY_START

    # --- level-2 cache -------------------------------------------------------------------

    def l2_rows(self, ids: np.ndarray):
        """Arrow table of the stored level-2 rows among `ids` (unknown ids are absent)."""
        import pyarrow as pa

        cur = self.store.cursor()
        cur.register("wanted", pa.table({"l2": pa.array(np.unique(ids), pa.uint64())}))
        try:
            return cur.sql(
                "SELECT a.* FROM (SELECT * FROM demo.l2_attributes UNION ALL "
                "SELECT * FROM work.l2_attributes) a JOIN wanted USING (l2)").to_arrow_table()
        finally:
            cur.unregister("wanted")

    # --- edits ---------------------------------------------------------------------------

    def next_operation(self) -> int:
        return max(self.graph.operations, default=0) + 1

    def edit(self, record: dict, t: float, add=(), remove=()) -> dict:
        """Apply and persist one operation; returns its log record."""
        with self.graph.lock:
            op = self.next_operation()
            record = dict(record, **({"pending_add": [list(map(int, e)) for e in add]}
                                     if add else {}),
                          **({"pending_remove": [list(map(int, e)) for e in remove]}
                             if remove else {}), t=t)
            log = self._apply(op, record)
            self._persist(op, log, t)
        for listener in list(self.retire_listeners):
            listener(log["old_roots"])
        return log

    def _apply(self, op: int, record: dict) -> dict:
        record = dict(record)
        add = record.pop("pending_add", None) or record.get("added_edges") or []
        remove = record.pop("pending_remove", None) or record.get("removed_edges") or []
        for key in ("added_edges", "removed_edges", "roots", "old_roots", "new_l2_ids"):
            record.pop(key, None)
        t = record.pop("t")
        return edits.apply(self.graph, self.alloc, op, t, add=add, remove=remove, record=record)

    def _persist(self, op: int, log: dict, t: float) -> None:
        g = self.graph
        rows = [(int(sv), int(root), t) for root in log["roots"]
                for sv in g.members_of(root).tolist()]
        l2 = np.array(log["new_l2_ids"], dtype=np.uint64)
        attrs = l2_table(self.geometry, l2, g.children) if len(l2) else None

        def write(c):
            c.execute("INSERT INTO work.operations VALUES (?, ?, ?, ?)",
                      [op, t, str(log.get("user", "")), json.dumps(log)])
            if rows:
                c.executemany("INSERT INTO work.sv_spans_live VALUES (?, ?, ?, NULL)", rows)
            c.executemany("INSERT INTO work.retired VALUES (?, ?)",
                          [(int(r), t) for r in log["old_roots"]])
            if attrs is not None:
                c.register("incoming", attrs)
                c.execute("INSERT INTO work.l2_attributes SELECT * FROM incoming")
                c.unregister("incoming")

        self.store.write(write)
        self._use_edited_spans()

    def _use_edited_spans(self) -> None:
        if self.store.spans_table == SPANS_VIEW:
            return
        self.store.write(lambda c: c.execute(
            f"CREATE OR REPLACE VIEW {SPANS_VIEW} AS "
            "SELECT s.sv, s.root, s.t_from, coalesce(s.t_to, r.t) AS t_to FROM "
            "(SELECT sv, root, t_from, t_to FROM demo.sv_spans UNION ALL "
            "SELECT sv, root, t_from, t_to FROM work.sv_spans_live) s "
            "LEFT JOIN work.retired r ON r.root = s.root AND s.t_to IS NULL"))
        self.store.use_edited_spans(SPANS_VIEW)

    # --- resolving edit points -----------------------------------------------------------

    def supervoxel_near(self, node: int, point_nm, t: float) -> int:
        """The supervoxel for an edit point [id, x, y, z]: a supervoxel id is taken as is;
        for another node, its supervoxel nearest the point."""
        if self.meta.layer(node) == 1:
            return int(node) if self.graph.known_sv([node])[0] else 0
        root = self.graph.roots_of(np.array([node], np.uint64), t)[0] if \
            self.meta.layer(node) < self.meta.n_layers else np.uint64(node)
        svs = self.graph.members_of(int(root))
        if len(svs) == 0:
            return 0
        here = int(self.geometry.supervoxel_at([point_nm])[0])
        if here and here in set(svs.tolist()):
            return here
        geo = self.geometry
        pieces = geo.pieces_of(svs)
        p = np.broadcast_to(np.asarray(point_nm, float), (len(pieces), 3))
        depth = geo._depth(p, pieces)
        return int(geo.piece_sv[pieces[np.argmin(depth)]])

    def distance_to(self, svs, point_nm) -> float:
        geo = self.geometry
        pieces = geo.pieces_of(svs)
        seg = pieces[geo.piece_kind[pieces] == 0]
        if len(seg) == 0:
            return 0.0
        s = geo.piece_ref[seg]
        p = np.broadcast_to(np.asarray(point_nm, float), (len(s), 3))
        return float(point_segment_distance(p, geo.seg_a[s], geo.seg_b[s]).min())
