"""Every merge and split of the demo's proofreading history, seen through the client's public
API over HTTP, tells one story: the ids that ask for roots just before and just after the
operation, root timestamps, is_latest_roots, the lineage graph, past/latest id maps, delta
roots, change logs (plain and tabular), the operation details, and live materialization
queries before and after all agree with the operation log the server keeps.

The operation log is read from the server's context only to know which operations exist and
what each one did (old roots, new roots, time, edited supervoxels); every fact checked comes
back over HTTP. Each test walks all operations and reports every disagreement at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pytest

EPS = timedelta(seconds=1)  # operations are minutes apart in the demo
STAMP_TOLERANCE = timedelta(milliseconds=2)  # get_root_timestamps(latest=True) is 1 ms early


@dataclass(frozen=True)
class Op:
    id: int
    when: datetime
    merge: bool
    old: tuple[int, ...]
    new: tuple[int, ...]
    edited: tuple[int, ...]  # supervoxels at the ends of the added / removed edges

    @property
    def before(self) -> datetime:
        return self.when - EPS

    @property
    def after(self) -> datetime:
        return self.when + EPS


@pytest.fixture(scope="module")
def client(demo_server):
    from cave_widgets import CAVEclient

    return CAVEclient(demo_server.datastack, server_address=demo_server.url,
                      auth_token=demo_server.token, write_server_cache=False)


@pytest.fixture(scope="module")
def cg(client):
    return client.chunkedgraph


@pytest.fixture(scope="module")
def ops(demo_server) -> list[Op]:
    graph = demo_server.context.segmentation.graph
    store = demo_server.context.store
    out = []
    for op_id, log in sorted(graph.operations.items()):
        edges = log.get("added_edges", []) + log.get("removed_edges", [])
        out.append(Op(op_id, store.to_datetime(log["t"]), "added_edges" in log,
                      tuple(sorted(map(int, log["old_roots"]))),
                      tuple(sorted(map(int, log["roots"]))),
                      tuple(sorted({int(x) for e in edges for x in e}))))
    assert len(out) >= 20 and any(o.merge for o in out) and any(not o.merge for o in out), (
        "the demo history should hold merges and splits")
    return out


@pytest.fixture(scope="module")
def ancestry(ops) -> dict[int, set[int]]:
    """Every root's past operations (the operations that retired one of its ancestors)."""
    made_by = {r: o for o in ops for r in o.new}
    memo: dict[int, set[int]] = {}

    def past(root: int) -> set[int]:
        if root not in memo:
            op = made_by.get(root)
            memo[root] = set() if op is None else {op.id}.union(*(past(r) for r in op.old))
        return memo[root]

    return {r: past(r) for o in ops for r in o.old + o.new}


def report(problems: list[str]) -> None:
    assert not problems, f"{len(problems)} disagreement(s):\n" + "\n".join(problems[:40])


def test_operation_details_match_the_log(cg, ops):
    details = cg.get_operation_details([o.id for o in ops])
    problems = []
    for o in ops:
        d = details.get(str(o.id))
        if d is None:
            problems.append(f"op {o.id}: no details")
            continue
        when = datetime.fromisoformat(d["timestamp"])
        if abs(when - o.when) > timedelta(microseconds=1) or d["operation_ts"] != d["timestamp"]:
            problems.append(f"op {o.id}: timestamp {d['timestamp']} != {o.when}")
        if tuple(sorted(d["roots"])) != o.new:
            problems.append(f"op {o.id}: roots {d['roots']} != {o.new}")
        if ("added_edges" in d) != o.merge or ("removed_edges" in d) == o.merge:
            problems.append(f"op {o.id}: edge keys {sorted(d)} for a "
                            f"{'merge' if o.merge else 'split'}")
        edges = d.get("added_edges", []) + d.get("removed_edges", [])
        if tuple(sorted({x for e in edges for x in e})) != o.edited:
            problems.append(f"op {o.id}: edited supervoxels differ")
    report(problems)


def test_roots_of_edited_supervoxels_before_and_after(cg, ops):
    problems = []
    for o in ops:
        svs = np.array(o.edited, np.uint64)
        before = set(cg.get_roots(svs, timestamp=o.before).tolist())
        after = cg.get_roots(svs, timestamp=o.after)
        if before != set(o.old):
            problems.append(f"op {o.id}: roots before {sorted(before)} != old roots {o.old}")
        if o.merge and set(after.tolist()) != set(o.new):
            problems.append(f"op {o.id}: merge, roots after {after.tolist()} != {o.new}")
        if not o.merge and not set(after.tolist()) <= set(o.new):
            problems.append(f"op {o.id}: split, roots after {after.tolist()} not in {o.new}")
        if not o.merge and len(o.new) == 2 and len(set(after.tolist())) != 2:
            problems.append(f"op {o.id}: split, the cut edge's ends share root {after}")
        # Every supervoxel of an old root is in a new root right after (and vice versa).
        members = cg.get_leaves_many(list(o.new))
        svs_new = np.concatenate([members[np.int64(r)] for r in o.new])
        roots = cg.get_roots(svs_new, timestamp=o.before)
        if not set(roots.tolist()) <= set(o.old):
            problems.append(f"op {o.id}: the new roots' supervoxels were not all in the old "
                            f"roots before ({sorted(set(roots.tolist()) - set(o.old))})")
        for r in o.new:
            if set(cg.get_roots(members[np.int64(r)], timestamp=o.after).tolist()) != {r}:
                problems.append(f"op {o.id}: leaves of {r} do not all map to it right after")
    report(problems)


def test_root_timestamps_and_is_latest(cg, ops):
    new = [r for o in ops for r in o.new]
    old = [r for o in ops for r in o.old]
    born = dict(zip(new, cg.get_root_timestamps(new)))
    retired = dict(zip(old, cg.get_root_timestamps(old, latest=True)))
    problems = []
    for o in ops:
        for r in o.new:
            if abs(born[r] - o.when) > STAMP_TOLERANCE:
                problems.append(f"op {o.id}: new root {r} born {born[r]}, op at {o.when}")
        for r in o.old:
            if abs(retired[r] - o.when) > STAMP_TOLERANCE:
                problems.append(f"op {o.id}: old root {r} last alive {retired[r]}, "
                                f"op at {o.when}")
        ids = list(o.old + o.new)
        expect_before = [True] * len(o.old) + [False] * len(o.new)
        expect_after = [False] * len(o.old) + [True] * len(o.new)
        for when, expect in ((o.before, expect_before), (o.after, expect_after)):
            got = cg.is_latest_roots(ids, timestamp=when).tolist()
            if got != expect:
                problems.append(f"op {o.id}: is_latest_roots({ids}) at {when} = {got}, "
                                f"want {expect}")
    report(problems)


def test_lineage_graph_holds_every_operation(cg, ops):
    every = sorted({r for o in ops for r in o.old + o.new})
    graph = cg.get_lineage_graph(every)
    links = {(link["source"], link["target"]) for link in graph["links"]}
    nodes = {n["id"]: n for n in graph["nodes"]}
    expected = {(a, b) for o in ops for a in o.old for b in o.new}
    problems = []
    if links != expected:
        problems.append(f"lineage links: {len(links - expected)} extra, "
                        f"{len(expected - links)} missing")
    for o in ops:
        for r in o.old:
            if nodes.get(r, {}).get("operation_id") != o.id:
                problems.append(f"op {o.id}: lineage node {r} says operation "
                                f"{nodes.get(r, {}).get('operation_id')}")
        for r in o.new:
            stamp = nodes.get(r, {}).get("timestamp")
            if stamp is None or abs(stamp - o.when.timestamp()) > 1e-3:
                problems.append(f"op {o.id}: lineage node {r} timestamp {stamp}")
        # A window around the operation shows exactly its links once later roots are
        # dropped (the server shows one step beyond each end of the window).
        local = cg.get_lineage_graph(list(o.new), timestamp_past=o.before,
                                     timestamp_future=o.after, exclude_links_to_future=True)
        seen = {(link["source"], link["target"]) for link in local["links"]}
        if seen != {(a, b) for a in o.old for b in o.new}:
            problems.append(f"op {o.id}: windowed lineage links {sorted(seen)}")
    report(problems)


def test_past_latest_and_delta_roots(cg, ops, ancestry):
    now_latest = cg.is_latest_roots([r for o in ops for r in o.new])
    latest_now = dict(zip([r for o in ops for r in o.new], now_latest.tolist()))
    problems = []
    for o in ops:
        ids = cg.get_past_ids(list(o.new), timestamp_past=o.before)
        for r in o.new:
            if sorted(ids["past_id_map"].get(r, [])) != list(o.old):
                problems.append(f"op {o.id}: past_id_map[{r}] = {ids['past_id_map'].get(r)}")
        for r in o.old:
            latest = sorted(cg.get_latest_roots(r, timestamp=o.after).tolist())
            if latest != list(o.new):
                problems.append(f"op {o.id}: latest roots of {r} right after = {latest}")
            future = ids["future_id_map"].get(r)
            if not o.merge and future is not None:
                problems.append(f"op {o.id}: split, yet future_id_map[{r}] = {future}")
            if o.merge and all(latest_now[n] for n in o.new) and future != o.new[0]:
                problems.append(f"op {o.id}: merge, future_id_map[{r}] = {future}")
        for r in o.new:
            # Asked for a time before the root existed, caveclient's get_latest_roots walks
            # the lineage back from the root to that time and drops what is older: the old
            # roots go, the root is what is left (not a split's sibling: the walk back from
            # the root never turns forwards).
            back = cg.get_latest_roots(r, timestamp=o.before).tolist()
            if back != [r]:
                problems.append(f"op {o.id}: get_latest_roots({r}, before it) = {back}")
        old, new = cg.get_delta_roots(o.before, o.after)
        if sorted(old.tolist()) != list(o.old) or sorted(new.tolist()) != list(o.new):
            problems.append(f"op {o.id}: delta roots {old.tolist()} -> {new.tolist()}")
    report(problems)


def test_change_logs_list_each_roots_past(cg, ops, ancestry):
    new = sorted({r for o in ops for r in o.new})
    tables = cg.get_tabular_change_log(new, filtered=False)
    by_id = {o.id: o for o in ops}
    problems = []
    for r in new:
        want = sorted(ancestry[r])
        log = cg.get_change_log(r, filtered=False)
        if sorted(log["operations_ids"]) != want:
            problems.append(f"root {r}: change_log operations {log['operations_ids']}, "
                            f"want {want}")
        merges = sum(by_id[i].merge for i in want)
        if (log["n_mergers"], log["n_splits"]) != (merges, len(want) - merges):
            problems.append(f"root {r}: {log['n_mergers']} merges / {log['n_splits']} splits")
        if sorted(log["past_ids"]) != sorted(x for i in want for x in by_id[i].old):
            problems.append(f"root {r}: past_ids {log['past_ids']}")
        table = tables.get(r)
        if table is None or sorted(table["operation_id"].tolist()) != want:
            problems.append(f"root {r}: tabular change log operations "
                            f"{None if table is None else table['operation_id'].tolist()}")
            continue
        for _, row in table.iterrows():
            o = by_id[int(row["operation_id"])]
            stamp = int(row["timestamp"])
            if (bool(row["is_merge"]) != o.merge or sorted(row["before_root_ids"]) != list(o.old)
                    or abs(stamp - o.when.timestamp() * 1000) > 1):
                problems.append(f"root {r}: tabular row of op {o.id} {dict(row)}")
    report(problems)


def test_live_queries_show_rows_changing_root(client, cg, ops):
    """Synapses on an operation's old roots, queried live just before (live_live_query) and
    just after (live_query): each row's root is the root of its supervoxel at that time,
    an old root before and a new root after."""
    mat = client.materialize
    oldest_version = min(v for v in mat.get_versions())
    earliest = mat.get_timestamp(oldest_version)
    checked = 0
    problems = []
    for o in ops:
        if o.before < earliest:
            continue  # live queries start from a materialized version
        before = mat.live_live_query("synapses", o.before,
                                     filter_in_dict={"synapses": {"pre_pt_root_id": list(o.old)}})
        if not len(before):
            continue
        checked += 1
        svs = before["pre_pt_supervoxel_id"].to_numpy(np.uint64)
        if not np.array_equal(before["pre_pt_root_id"].to_numpy(np.uint64),
                              cg.get_roots(svs, timestamp=o.before)):
            problems.append(f"op {o.id}: rows before do not show their supervoxels' roots")
        after = mat.live_query("synapses", o.after,
                               filter_in_dict={"id": before["id"].tolist()})
        after = after.set_index("id").loc[before["id"]]
        roots_after = after["pre_pt_root_id"].to_numpy(np.uint64)
        if not np.array_equal(roots_after, cg.get_roots(svs, timestamp=o.after)):
            problems.append(f"op {o.id}: rows after do not show their supervoxels' roots")
        in_new = np.isin(roots_after, np.array(o.new, np.uint64))
        if not in_new.all():
            problems.append(f"op {o.id}: {int((~in_new).sum())} rows not on a new root after")
    later = [o for o in ops if o.before >= earliest]
    assert checked >= len(later) // 2, (
        f"only {checked} of {len(later)} operations after the oldest version had synapses "
        "to follow")
    report(problems)
