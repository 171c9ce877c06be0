"""The chunkedgraph's history routes: lineage graphs, id mapping across time, delta roots,
change logs and the operation log (PyChunkedGraph's lineage and segmenthistory)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from .chunkedgraph_http import (
    body_ids,
    cg,
    check_roots,
    epoch,
    iso_space,
    ms,
    node_path,
    now,
    pcg_json,
    time_param,
)
from .context import Call, route_options
from .errors import BadRequest


def _lineage(call: Call, roots: np.ndarray, past: float, future: float) -> dict:
    """The requested roots' ancestors and descendants, as PCG walks them: backwards through
    former roots from every node not older than `past`, forwards through successors from
    every node not newer than `future` (so one node beyond each cutoff shows). Each walk
    keeps its own direction: an ancestor's other descendants, or a descendant's other
    ancestors (what a later merge brought in), are not this lineage."""
    r = call.ctx.segmentation.graph.roots
    idx, _ = r.index(np.asarray(roots, dtype=np.uint64))
    created = dict(zip(roots.tolist(), r.created[idx].tolist()))
    nodes, links = set(roots.tolist()), set()
    for step, within in ((r.former, lambda t: t >= past), (r.successors, lambda t: t <= future)):
        frontier = list(roots.tolist())
        seen = set(frontier)
        while frontier:
            node = frontier.pop()
            if node not in created:
                created[node] = float(r.created[r.index([node])[0][0]])
            if not within(created[node]):
                continue
            for other in step.get(node, []):
                links.add((other, node) if step is r.former else (node, other))
                nodes.add(other)
                if other not in seen:
                    seen.add(other)
                    frontier.append(other)
    out_nodes = []
    for node in sorted(nodes):
        i = r.index([node])[0][0]
        entry = {"id": node, "timestamp": epoch(call, float(r.created[i]))}
        if r.op_retired[i]:
            entry["operation_id"] = int(r.op_retired[i])
        out_nodes.append(entry)
    return {"directed": True, "multigraph": False, "graph": {}, "nodes": out_nodes,
            "links": [{"source": s, "target": t} for s, t in sorted(links)]}


def lineage_graph_multiple(call: Call):
    cg(call)
    ids = body_ids(call, "root_ids")
    check_roots(call, ids, "root_ids")
    past = time_param(call, "timestamp_past", float("-inf"))
    future = time_param(call, "timestamp_future", now(call))
    return pcg_json(_lineage(call, ids, past, future))


def lineage_graph_one(call: Call):
    cg(call)
    node = node_path(call)
    check_roots(call, [node])
    past = time_param(call, "timestamp_past", float("-inf"))
    future = time_param(call, "timestamp_future", now(call))
    return pcg_json(_lineage(call, np.array([node], np.uint64), past, future))


def past_id_mapping(call: Call):
    ids = body_ids(call, "root_ids")
    check_roots(call, ids, "root_ids")
    past = time_param(call, "timestamp_past", float("-inf"))
    t_now = now(call)
    past_map, future_map = {}, {}
    for root in ids.tolist():
        back = _lineage(call, np.array([root], np.uint64), past, float("-inf"))
        has_parent = {link["target"] for link in back["links"]}
        sources = sorted(n["id"] for n in back["nodes"] if n["id"] not in has_parent
                         and _linked_back(back, n["id"], root))
        past_map[str(root)] = sources or [root]
        for p in past_map[str(root)]:
            fwd = _lineage(call, np.array([p], np.uint64), float("inf"), t_now)
            if any(len([x for x in fwd["links"] if x["source"] == n["id"]]) > 1
                   for n in fwd["nodes"]):
                continue  # a split on the way: ambiguous
            sinks = [n["id"] for n in fwd["nodes"]
                     if not any(x["source"] == n["id"] for x in fwd["links"])]
            if len(sinks) == 1:
                future_map[str(p)] = sinks[0]
    return pcg_json({"past_id_map": past_map, "future_id_map": future_map})


def _linked_back(graph: dict, node: int, root: int) -> bool:
    """Whether `node` is an ancestor of (or is) `root` in the lineage graph."""
    forward: dict[int, list[int]] = {}
    for link in graph["links"]:
        forward.setdefault(link["source"], []).append(link["target"])
    stack, seen = [node], {node}
    while stack:
        n = stack.pop()
        if n == root:
            return True
        for m in forward.get(n, []):
            if m not in seen:
                seen.add(m)
                stack.append(m)
    return False


def delta_roots(call: Call):
    g = cg(call).graph
    if call.query("timestamp_past") is None:
        raise BadRequest("timestamp_past is required")
    past = time_param(call, "timestamp_past", None)
    future = time_param(call, "timestamp_future", now(call))
    if past > future:
        raise BadRequest("timestamp_past must not be after timestamp_future")
    r = g.roots
    c, ret = r.created, r.retired
    new = (c > past) & (c <= future) & (ret > future)
    old = (ret > past) & (ret <= future) & (c <= past)
    return pcg_json({"old_roots": r.ids[old], "new_roots": r.ids[new]})


def oldest_timestamp(call: Call):
    seg = cg(call)
    return pcg_json({"iso": str(call.ctx.store.to_datetime(seg.oldest))})


# --- change logs ------------------------------------------------------------------------------


def _past_operations(call: Call, root: int) -> list[int]:
    graph = _lineage(call, np.array([root], np.uint64), float("-inf"), float("-inf"))
    ancestors = {n["id"] for n in graph["nodes"] if _linked_back(graph, n["id"], root)}
    ops = {n.get("operation_id") for n in graph["nodes"] if n["id"] in ancestors
           and n["id"] != root}
    ops.discard(None)
    # an operation retiring an ancestor counts only if it led towards this root
    return sorted(int(o) for o in ops)


def _is_merge(log: dict) -> bool:
    return "added_edges" in log


def change_log(call: Call):
    seg = cg(call)
    root = node_path(call, "root_id")
    check_roots(call, [root])
    ops = _past_operations(call, root)
    logs = seg.graph.operations
    info: dict[str, dict] = {}
    past_ids = []
    for op in ops:
        log = logs[op]
        user = info.setdefault(str(log.get("user", "")), {"n_mergers": 0, "n_splits": 0})
        user["n_mergers" if _is_merge(log) else "n_splits"] += 1
        past_ids += log["old_roots"]
    merges = sum(_is_merge(logs[o]) for o in ops)
    return pcg_json({"n_mergers": merges, "n_splits": len(ops) - merges,
                     "operations_ids": ops, "past_ids": past_ids, "user_info": info})


def merge_log(call: Call):
    seg = cg(call)
    root = node_path(call, "root_id")
    check_roots(call, [root])
    logs = [seg.graph.operations[o] for o in _past_operations(call, root)]
    merges = [log for log in logs if _is_merge(log)]
    return pcg_json({"merge_edges": [log["added_edges"] for log in merges],
                     "merge_edge_coords": [[log.get("source_coords", []),
                                            log.get("sink_coords", [])] for log in merges]})


def _tabular(call: Call, root: int, filtered: bool) -> str:
    seg = cg(call)
    g = seg.graph
    users = call.ctx.auth.users
    rows = []
    for op in _past_operations(call, root):
        log = g.operations[op]
        edited = np.unique(np.array([x for e in log.get("added_edges", [])
                                     + log.get("removed_edges", []) for x in e], np.uint64))
        now_roots = g.roots_of(edited, now(call))
        merge = _is_merge(log)
        in_neuron = bool((now_roots == root).all() if merge else (now_roots == root).any())
        before = g.roots_of(edited, log["t"] - 1e-6)
        relevant = bool(len(np.unique(before)) > 1) if merge else True
        after = [r for r in log["roots"] if _linked_back(
            _lineage(call, np.array([r], np.uint64), float("-inf"), now(call)), r, root)]
        user = log.get("user", "")
        record = users.get(int(user)) if str(user).isdigit() else None
        rows.append({"operation_id": op, "timestamp": ms(call, log["t"]), "user_id": str(user),
                     "before_root_ids": log["old_roots"], "after_root_ids": after[:1],
                     "is_merge": merge, "in_neuron": in_neuron, "is_relevant": relevant,
                     "user_name": record.name if record else "unknown",
                     "user_affiliation": record.affiliation if record else "unknown"})
    df = pd.DataFrame(rows, columns=["operation_id", "timestamp", "user_id", "before_root_ids",
                                     "after_root_ids", "is_merge", "in_neuron", "is_relevant",
                                     "user_name", "user_affiliation"])
    if filtered and len(df):
        df = df[df["in_neuron"] & df["is_relevant"]].drop(columns=["in_neuron", "is_relevant"])
    return df.to_json()


def tabular_change_log_many(call: Call):
    cg(call)
    ids = body_ids(call, "root_ids")
    check_roots(call, ids, "root_ids")
    filtered = call.flag("filtered", False)
    return pcg_json({str(r): _tabular(call, r, filtered) for r in ids.tolist()})


def tabular_change_log_one(call: Call):
    cg(call)
    root = node_path(call, "root_id")
    check_roots(call, [root])
    return pcg_json(json.loads(_tabular(call, root, call.flag("filtered", False))))


def _details(call: Call, log: dict) -> dict:
    out = {k: v for k, v in log.items() if k not in ("t", "old_roots", "new_l2_ids")}
    out["operation_ts"] = out["timestamp"] = iso_space(call, log["t"])
    return out


def operation_details(call: Call):
    seg = cg(call)
    text = call.query("operation_ids")
    try:
        wanted = json.loads(text) if text is not None else []
    except ValueError:
        raise BadRequest(f"operation_ids must be a list of integers, got {text!r}") from None
    if not isinstance(wanted, list) or not all(isinstance(i, int) for i in wanted):
        raise BadRequest(f"operation_ids must be a list of integers, got {text!r}")
    logs = seg.graph.operations
    return pcg_json({str(o): _details(call, logs[o]) for o in wanted if o in logs})


@route_options(permission="admin_view")
def user_operations(call: Call):
    seg = cg(call)
    user = call.query("user_id")
    start = time_param(call, "start_time", float("-inf"))
    if call.query("end_time") is None:
        raise BadRequest("end_time is required")
    end = time_param(call, "end_time", None)
    include_undone = call.flag("include_undone", False)
    logs = seg.graph.operations
    undone = _undone(logs)
    rows = [(op, ms(call, log["t"])) for op, log in sorted(logs.items())
            if user is not None and str(log.get("user")) == str(user) and start <= log["t"] <= end
            and (include_undone or (op not in undone and "undo_operation_id" not in log
                                    and "redo_operation_id" not in log))]
    df = pd.DataFrame(rows, columns=["operation_id", "timestamp"])
    return pcg_json(json.loads(df.to_json()))


def _undone(logs: dict) -> set[int]:
    state: dict[int, bool] = {}
    for _, log in sorted(logs.items()):
        if "undo_operation_id" in log:
            state[log["undo_operation_id"]] = True
        if "redo_operation_id" in log:
            state[log["redo_operation_id"]] = False
    return {op for op, gone in state.items() if gone}


TABLE = "/segmentation/api/v1/table/{table}"
ROUTES = (
    ("POST", TABLE + "/lineage_graph_multiple", lineage_graph_multiple),
    ("GET", TABLE + "/root/{node_id}/lineage_graph", lineage_graph_one),
    ("GET POST", TABLE + "/past_id_mapping", past_id_mapping),
    ("GET", TABLE + "/delta_roots", delta_roots),
    ("GET", TABLE + "/oldest_timestamp", oldest_timestamp),
    ("GET", TABLE + "/root/{root_id}/change_log", change_log),
    ("GET", TABLE + "/root/{root_id}/merge_log", merge_log),
    ("GET", TABLE + "/root/{root_id}/tabular_change_log", tabular_change_log_one),
    ("GET", TABLE + "/tabular_change_log_many", tabular_change_log_many),
    ("GET", TABLE + "/operation_details", operation_details),
    ("GET", TABLE + "/user_operations", user_operations),
)
