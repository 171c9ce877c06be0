"""Chunkedgraph reads: roots, past ids, lineage, latest/delta roots, leaves, timestamps."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from .checks import (
    as_utc,
    check,
    ensure,
    need,
)

# --------------------------------------------------------------------------------------
# chunkedgraph
# --------------------------------------------------------------------------------------


@check("chunkedgraph.get_roots")
def _(s):
    syn, latest_ts = need(s, "syn", "latest_ts")
    sample = syn.drop_duplicates("pre_pt_root_id").head(200)
    svids = sample["pre_pt_supervoxel_id"].to_numpy(np.uint64)
    cg = s.client.chunkedgraph
    # At the version's time the chunkedgraph must agree with the materialized root ids.
    roots = cg.get_roots(svids, timestamp=latest_ts)
    ensure(len(roots) == len(svids), f"{len(roots)} roots for {len(svids)} supervoxels")
    ensure(np.array_equal(np.asarray(roots, np.int64), sample["pre_pt_root_id"].to_numpy(np.int64)),
           "roots at the version timestamp differ from the table's root ids")
    now_roots = np.asarray(cg.get_roots(svids), np.int64)
    ensure((now_roots > 0).all(), "some supervoxels have no root now")
    old_roots = np.asarray(cg.get_roots(svids, timestamp=need(s, "old_ts")), np.int64)
    s.sample_svids = svids
    s.now_roots = now_roots
    s.old_roots = old_roots
    changed = np.flatnonzero(old_roots != now_roots)
    ensure(len(changed) > 0, "no root in the sample changed between the old version and now")
    s.changed_pairs = [(int(old_roots[i]), int(now_roots[i])) for i in changed[:12]]
    s.changed_sv = int(svids[changed[0]])
    s.changed_old = int(old_roots[changed[0]])
    s.changed_new = int(now_roots[changed[0]])


@check("chunkedgraph.get_root_id")
def _(s):
    svids, now_roots, old_roots, old_ts = need(
        s, "sample_svids", "now_roots", "old_roots", "old_ts"
    )
    cg = s.client.chunkedgraph
    ensure(int(cg.get_root_id(int(svids[0]))) == int(now_roots[0]),
           "root now differs from get_roots")
    ensure(int(cg.get_root_id(int(svids[0]), timestamp=old_ts)) == int(old_roots[0]),
           "root at the old version differs from get_roots")


@check("chunkedgraph.is_latest_roots")
def _(s):
    now_roots, old, new = need(s, "now_roots", "changed_old", "changed_new")
    cg = s.client.chunkedgraph
    flags = cg.is_latest_roots(now_roots)
    ensure(len(flags) == len(now_roots) and bool(np.all(flags)),
           "current roots not reported latest")
    pair = cg.is_latest_roots([old, new])
    ensure(list(map(bool, pair)) == [False, True], f"is_latest_roots([old, new]) = {list(pair)}")
    ensure(bool(cg.is_latest_roots([old], timestamp=need(s, "old_ts"))[0]),
           "the old root is not latest at the old version's time")


@check("chunkedgraph.get_root_timestamps")
def _(s):
    old, new, old_ts = need(s, "changed_old", "changed_new", "old_ts")
    cg = s.client.chunkedgraph
    now = dt.datetime.now(dt.timezone.utc)
    created = cg.get_root_timestamps([old, new])
    ensure(len(created) == 2 and all(isinstance(t, dt.datetime) for t in created), f"{created!r}")
    ensure(created[0] <= old_ts, f"old root created {created[0]} after the old version {old_ts}")
    ensure(created[0] < created[1] <= now, f"creation order {created[0]}, {created[1]}")
    retired = cg.get_root_timestamps([old], latest=True)
    ensure(created[0] < retired[0] <= created[1] + dt.timedelta(seconds=1),
           f"old root retired at {retired[0]}, created {created[0]}, successor {created[1]}")


@check("chunkedgraph.get_past_ids")
def _(s):
    new, old, old_ts = need(s, "changed_new", "changed_old", "old_ts")
    r = s.client.chunkedgraph.get_past_ids([new], timestamp_past=old_ts)
    ensure(set(r) >= {"past_id_map", "future_id_map"}, f"keys {sorted(r)}")
    ensure(new in r["past_id_map"], f"{new} not a key of past_id_map {list(r['past_id_map'])[:5]}")
    ensure(old in r["past_id_map"][new],
           f"old root {old} not among past ids {r['past_id_map'][new]}")
    # future_id_map keeps a past root only when its way to now is unambiguous (no split on
    # it, one sink; reference §4.5): check that against the lineage of every changed root.
    cg = s.client.chunkedgraph
    pairs = need(s, "changed_pairs")
    got = cg.get_past_ids(sorted({n for _, n in pairs}), timestamp_past=old_ts)
    forward, ambiguous = 0, 0
    for o, n in pairs:
        ensure(o in got["past_id_map"][n], f"old root {o} not among past ids of {n}")
        now = dt.datetime.now(dt.timezone.utc)  # past = now: from `o` forwards only
        links = cg.get_lineage_graph(o, timestamp_past=now, timestamp_future=now)["links"]
        out = pd.Series([link["source"] for link in links]).value_counts()
        sinks = {link["target"] for link in links} - {link["source"] for link in links}
        if (out > 1).any() or len(sinks) != 1:  # a split on the way: ambiguous, left out
            ensure(o not in got["future_id_map"], f"{o} has a split after it, yet is mapped")
            ambiguous += 1
        else:
            ensure(got["future_id_map"].get(o) == n,
                   f"future_id_map[{o}] = {got['future_id_map'].get(o)}, expected {n}")
            forward += 1
    ensure(forward > 0, f"no changed root with an unambiguous history among {len(pairs)} "
                        f"({ambiguous} split on the way)")


@check("chunkedgraph.get_lineage_graph")
def _(s):
    new, old, old_ts = need(s, "changed_new", "changed_old", "old_ts")
    cg = s.client.chunkedgraph
    graph = cg.get_lineage_graph(new, timestamp_past=old_ts)
    ensure(isinstance(graph, dict) and "nodes" in graph and "links" in graph,
           f"graph keys {list(graph)}")
    ids = {int(n["id"]) for n in graph["nodes"]}
    ensure(new in ids and old in ids, f"lineage of {new} lacks it or {old}")
    # Edges run from retired roots to their successors: there must be a path old -> new.
    succ: dict[int, set[int]] = {}
    for link in graph["links"]:
        succ.setdefault(int(link["source"]), set()).add(int(link["target"]))
    seen, todo = {old}, [old]
    while todo:
        for nxt in succ.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    ensure(new in seen, f"no path {old} -> {new} along the lineage links")
    nxg = cg.get_lineage_graph(new, timestamp_past=old_ts, as_nx_graph=True)
    ensure(nxg.is_directed() and nxg.has_node(new) and nxg.has_node(old),
           "the networkx form of the graph lacks the roots")
    ensure(nxg.number_of_edges() == len(graph["links"]), "the networkx form lost edges")


@check("chunkedgraph.get_latest_roots")
def _(s):
    old, new = need(s, "changed_old", "changed_new")
    latest = [int(r) for r in s.client.chunkedgraph.get_latest_roots(old)]
    ensure(new in latest, f"{new} not among latest roots {latest} of {old}")
    ensure(bool(np.all(s.client.chunkedgraph.is_latest_roots(latest))),
           "a 'latest' root is not latest")


@check("chunkedgraph.get_delta_roots")
def _(s):
    old, new, old_ts = need(s, "changed_old", "changed_new", "old_ts")
    gone, born = s.client.chunkedgraph.get_delta_roots(old_ts)
    gone, born = {int(i) for i in gone}, {int(i) for i in born}
    ensure(old in gone, f"{old} not among the {len(gone)} retired roots")
    ensure(new in born, f"{new} not among the {len(born)} new roots")
    ensure(not (gone & born), f"ids both retired and new: {sorted(gone & born)[:5]}")
    # A window that ends at the old version holds neither the old root's retirement nor
    # the new root's creation.
    older_gone, older_born = s.client.chunkedgraph.get_delta_roots(
        old_ts - dt.timedelta(days=1), old_ts
    )
    ensure(old not in {int(i) for i in older_gone}, f"{old} retired before {old_ts}")
    ensure(new not in {int(i) for i in older_born}, f"{new} created before {old_ts}")


@check("chunkedgraph.get_leaves")
def _(s):
    sv, new = need(s, "changed_sv", "changed_new")
    leaves = [int(x) for x in s.client.chunkedgraph.get_leaves(new)]
    ensure(sv in leaves, f"supervoxel {sv} not among the {len(leaves)} leaves of {new}")


@check("chunkedgraph.get_oldest_timestamp / base_resolution")
def _(s):
    old_ts = need(s, "old_ts")
    cg = s.client.chunkedgraph
    oldest = cg.get_oldest_timestamp()
    ensure(isinstance(oldest, dt.datetime), f"oldest timestamp {oldest!r}")
    ensure(as_utc(oldest) <= old_ts, f"oldest timestamp {oldest} after version time {old_ts}")
    res = cg.base_resolution
    ensure(len(res) == 3 and all(r > 0 for r in res), f"base_resolution {res!r}")
