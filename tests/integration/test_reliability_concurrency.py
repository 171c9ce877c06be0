"""One fresh client, 16 threads, mixed queries at once (filters, versions, live times, joins,
views, metadata, the chunkedgraph): no errors, and every answer the one a lone client
gets."""

from __future__ import annotations

import threading
import warnings
from datetime import timedelta

import pandas as pd
import pytest

from cave_widgets import CAVEclient

THREADS, ROUNDS = 16, 5


@pytest.fixture(scope="module")
def cases(demo_server):
    alone = CAVEclient(demo_server.datastack, server_address=demo_server.url,
                       auth_token=demo_server.token, write_server_cache=False)
    mat = alone.materialize
    roots = [int(r) for r in mat.query_table("synapses", limit=300)["pre_pt_root_id"]
             .value_counts().index[:3]]
    when = mat.get_timestamp(4) + timedelta(hours=3)
    calls = {
        "filtered": lambda c: c.materialize.query_table(
            "synapses", filter_in_dict={"pre_pt_root_id": roots}),
        "version 2": lambda c: c.materialize.query_table("nuclei", materialization_version=2),
        "live": lambda c: c.materialize.query_table("nuclei", timestamp=when),
        "join": lambda c: c.materialize.join_query(
            [["nuclei", "id"], ["cell_type_ref", "target_id"]]),
        "view": lambda c: c.materialize.query_view("nucleus_types"),
        "count": lambda c: c.materialize.query_table("synapses", get_counts=True),
        "metadata": lambda c: pd.DataFrame([{k: v for k, v in c.materialize.get_table_metadata(
            "cell_types").items() if k != "voxel_resolution"}]),
        "versions": lambda c: pd.DataFrame({"v": c.materialize.get_versions()}),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        truth = {name: call(alone) for name, call in calls.items()}
    return calls, truth


def _same(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    key = [c for c in ("id", "id_ref") if c in a.columns]
    if key:
        a, b = a.sort_values(key), b.sort_values(key)
    try:
        pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
        return True
    except AssertionError:
        return False


def test_sixteen_threads_mixed_queries_on_one_fresh_client(demo_server, cases):
    calls, truth = cases
    names = list(calls)
    client = CAVEclient(demo_server.datastack, server_address=demo_server.url,
                        auth_token=demo_server.token, write_server_cache=False)
    errors, wrong, done = [], [], []
    barrier = threading.Barrier(THREADS)

    def work(i: int):
        barrier.wait()  # all at once, on a client that has fetched nothing yet
        for r in range(ROUNDS):
            name = names[(i + r) % len(names)]
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    got = calls[name](client)
            except Exception as exc:  # counted: the test fails on any
                errors.append(f"{name}: {exc!r}")
                continue
            (done if _same(got, truth[name]) else wrong).append(name)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert wrong == []
    assert len(done) == THREADS * ROUNDS
