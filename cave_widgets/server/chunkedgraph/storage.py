"""The chunkedgraph's tables in DuckDB: written once by the demo build, read by the server,
which appends what users' edits make to the same tables in the writable database (store.py).

| table | rows |
| --- | --- |
| sv_spans(sv, root, t_from, t_to) | supervoxel → root over time (materialization reads it too) |
| node_spans(child, parent, t_from) | parent pointers at every layer below the root |
| roots(root, created, retired, operation, retired_by) | every root ever made |
| lineage(parent, child, operation, t) | former root → new root per operation |
| edges(a, b, t_from, t_to, affinity, area) | supervoxel edges and when they were active |
| operations(operation, t, user_id, record) | the operation log (record: JSON) |
| l2_attributes(l2, size_nm3, …) | the level-2 cache |
| geo_somas, geo_segments, geo_pieces | the neuron geometry (geometry.py) |
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa

from .geometry import Geometry
from .graph import INF, Edges, Graph, Roots
from .l2stats import l2_attributes, piece_stats
from .meta import GraphMeta
from .sorting import distinct
from .spans import Grouped, SpanIndex


def _nullable(a):
    a = np.asarray(a, float)
    return pa.array(np.where(np.isinf(a), np.nan, a), pa.float64(), from_pandas=True)


def graph_tables(graph: Graph) -> dict[str, pa.Table]:
    sv, t, root = graph.sv_root.rows()
    same = np.r_[sv[1:] == sv[:-1], False]
    t_to = np.where(same, np.r_[t[1:], INF], INF)
    child, pt, parent = graph.parent.rows()
    r = graph.roots
    lineage = [(p, c, int(r.op_created[graph.roots.index([c])[0][0]]),
                float(r.created[graph.roots.index([c])[0][0]]))
               for c, ps in r.former.items() for p in ps]
    lin = np.array(lineage, dtype=object).reshape(-1, 4)
    e = graph.edges
    once = e.a < e.b
    ops = sorted(graph.operations.items())
    return {
        "sv_spans": pa.table({"sv": sv.astype(np.int64), "root": root.astype(np.int64),
                              "t_from": t, "t_to": _nullable(t_to)}),
        "node_spans": pa.table({"child": pa.array(child, pa.uint64()),
                                "parent": pa.array(parent, pa.uint64()), "t_from": pt}),
        "roots": pa.table({"root": r.ids.astype(np.int64), "created": r.created,
                           "retired": _nullable(r.retired), "operation": r.op_created,
                           "retired_by": r.op_retired}),
        "lineage": pa.table({"parent": lin[:, 0].astype(np.int64),
                             "child": lin[:, 1].astype(np.int64),
                             "operation": lin[:, 2].astype(np.int64),
                             "t": lin[:, 3].astype(float)}),
        "edges": pa.table({"a": pa.array(e.a[once], pa.uint64()),
                           "b": pa.array(e.b[once], pa.uint64()),
                           "t_from": _nullable(e.t_from[once]), "t_to": _nullable(e.t_to[once]),
                           "affinity": e.affinity[once].astype(np.float32),
                           "area": e.area[once].astype(np.int64)}),
        "operations": pa.table({"operation": [k for k, _ in ops],
                                "t": [v["t"] for _, v in ops],
                                "user_id": [str(v.get("user", "")) for _, v in ops],
                                "record": [json.dumps(v) for _, v in ops]},
                               schema=pa.schema([("operation", pa.int64()), ("t", pa.float64()),
                                                 ("user_id", pa.string()),
                                                 ("record", pa.string())])),
    }


def geometry_tables(geo: Geometry) -> dict[str, pa.Table]:
    return {
        "geo_somas": pa.table({"cell": np.arange(len(geo.soma_radius)),
                               "x": geo.soma_centre[:, 0], "y": geo.soma_centre[:, 1],
                               "z": geo.soma_centre[:, 2], "radius": geo.soma_radius}),
        "geo_segments": pa.table({
            "seg": np.arange(len(geo.seg_radius)), "cell": geo.seg_cell,
            "ax": geo.seg_a[:, 0], "ay": geo.seg_a[:, 1], "az": geo.seg_a[:, 2],
            "bx": geo.seg_b[:, 0], "by": geo.seg_b[:, 1], "bz": geo.seg_b[:, 2],
            "radius": geo.seg_radius.astype(np.float32)}),
        "geo_pieces": pa.table({"chunk": geo.piece_key, "kind": geo.piece_kind.astype(np.int8),
                                "ref": geo.piece_ref, "sv": pa.array(geo.piece_sv, pa.uint64()),
                                "t0": geo.piece_t0, "t1": geo.piece_t1}),
    }


def l2_table(geo: Geometry, l2_ids: np.ndarray, children: Grouped) -> pa.Table:
    """Level-2 cache rows for `l2_ids`, from the pieces of their supervoxels."""
    owner, svs = children.many(l2_ids)
    # A supervoxel is a child of every level-2 id it has had (an edit gives the touched ones
    # a new level-2 node and the old node keeps its children), so its pieces count once per
    # (level-2 node, supervoxel) pair, not once per supervoxel.
    count, pieces = geo.pieces_by_sv(svs)
    group = np.repeat(owner, count)
    attrs = l2_attributes(geo.meta, piece_stats(geo, pieces), group, len(l2_ids))
    return attribute_table(l2_ids, attrs)


def attribute_table(l2_ids, attrs: dict) -> pa.Table:
    def fixed(values, n, typ):
        flat = pa.array(np.asarray(values).reshape(-1), typ)
        return pa.FixedSizeListArray.from_arrays(flat, n)

    return pa.table({
        "l2": pa.array(np.asarray(l2_ids, np.uint64), pa.uint64()),
        "size_nm3": attrs["size_nm3"].astype(np.int64),
        "area_nm2": attrs["area_nm2"].astype(np.int64),
        "max_dt_nm": attrs["max_dt_nm"].astype(np.int64),
        "mean_dt_nm": attrs["mean_dt_nm"].astype(np.float32),
        "rep_coord_nm": fixed(attrs["rep_coord_nm"], 3, pa.float64()),
        "pca": fixed(attrs["pca"].astype(np.float32), 9, pa.float32()),
        "pca_val": fixed(attrs["pca_val"].astype(np.float32), 3, pa.float32()),
        "chunk_intersect_count": fixed(attrs["chunk_intersect_count"].astype(np.int64), 6,
                                       pa.int64()),
    })


def all_l2_ids(graph: Graph) -> np.ndarray:
    keys = np.concatenate([graph.children.keys,
                           np.array(list(graph.children.added), dtype=np.uint64)])
    return distinct(keys[graph.meta.layer(keys) == 2])


def load_graph(cursor, meta: GraphMeta, history_start: float, schemas=("demo",)) -> Graph:
    """The graph from the tables of `schemas` (the demo file, then the writable one)."""

    def union(table, cols, order=None):
        sql = " UNION ALL ".join(f"SELECT {cols} FROM {s}.{table}" for s in schemas)
        return cursor.execute(f"SELECT * FROM ({sql})" + (f" ORDER BY {order}" if order else "")
                              ).fetchnumpy()

    sv = union("sv_spans", "sv, root, t_from")
    spans = union("node_spans", "child, parent, t_from")
    roots = union("roots", "root, created, coalesce(retired, 'inf'::DOUBLE) AS retired, "
                  "operation, retired_by", "root")
    lineage = union("lineage", "parent, child")
    edges = union("edges", "a, b, coalesce(t_from, 'inf'::DOUBLE) AS t_from, "
                  "coalesce(t_to, 'inf'::DOUBLE) AS t_to, affinity, area")
    ops = union("operations", "operation, record")
    r = Roots(roots["root"].astype(np.uint64), roots["created"], roots["retired"],
              roots["operation"], roots["retired_by"])
    for p, c in zip(lineage["parent"].tolist(), lineage["child"].tolist()):
        r.former.setdefault(int(c), []).append(int(p))
        r.successors.setdefault(int(p), []).append(int(c))
    child = spans["child"].astype(np.uint64)
    parent = spans["parent"].astype(np.uint64)
    svs = np.unique(sv["sv"].astype(np.uint64))
    return Graph(
        meta, svs,
        Edges.undirected(edges["a"].astype(np.uint64), edges["b"].astype(np.uint64),
                         edges["t_from"], edges["t_to"], edges["affinity"], edges["area"]),
        sv_root=SpanIndex(sv["sv"].astype(np.uint64), sv["t_from"], sv["root"].astype(np.uint64)),
        parent=SpanIndex(child, spans["t_from"], parent),
        children=Grouped(parent, child),
        roots=r,
        operations={int(k): json.loads(v) for k, v in zip(ops["operation"], ops["record"])},
        history_start=history_start,
    )
