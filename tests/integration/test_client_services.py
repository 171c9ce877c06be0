"""The service pattern against the embedded server: what a common workflow costs in round
trips (each fact fetched once per client), and one client shared by 16 threads that change
its version and query at the same time."""

from __future__ import annotations

import random
import threading
from datetime import timedelta

import pandas as pd
import pytest
from helpers.client_wire import home, private_home, record_requests  # noqa: F401  (fixtures)
from helpers.server_http import VALID

from cave_widgets import CAVEclient

DS = "/materialize/api/v3/datastack/demo_local"


def workflow(demo_server):
    """construct → get_versions → get_tables → get_table_metadata → two queries (the second
    filtered by a root id from the first)."""
    client = CAVEclient(demo_server.datastack, server_address=demo_server.url,
                        auth_token=demo_server.token, write_server_cache=False)
    versions = client.materialize.get_versions()
    tables = client.materialize.get_tables()
    meta = client.materialize.get_table_metadata("synapses")
    first = client.materialize.query_table("synapses", limit=10)
    root = int(first["pre_pt_root_id"].iloc[0])
    second = client.materialize.query_table("synapses", filter_in_dict={"pre_pt_root_id": [root]})
    return versions, tables, meta, first, second, root


def test_the_common_workflow_takes_six_requests(demo_server, monkeypatch):
    seen = record_requests(monkeypatch)
    versions, tables, meta, first, second, root = workflow(demo_server)
    latest = max(versions)
    assert seen == [
        ("GET", f"/info/api/v2/datastack/full/{demo_server.datastack}"),
        ("GET", f"{DS}/metadata"),  # the versions, with their times: one request
        ("GET", f"/materialize/api/v2/datastack/demo_local/version/{latest}/tables"),
        ("GET", f"{DS}/version/{latest}/table/synapses/metadata"),
        ("POST", f"{DS}/version/{latest}/table/synapses/query"),
        ("POST", f"{DS}/version/{latest}/table/synapses/query"),
    ]
    # ...and the answers are the real ones.
    assert versions == VALID and "synapses" in tables and meta["schema"] == "synapse"
    assert len(first) == 10 and len(second) > 0
    assert (second["pre_pt_root_id"] == root).all()


def test_asking_again_asks_nothing(demo_server, monkeypatch):
    client = CAVEclient(demo_server.datastack, server_address=demo_server.url,
                        auth_token=demo_server.token, write_server_cache=False)
    mat = client.materialize
    mat.get_versions(), mat.get_tables(), mat.get_table_metadata("synapses")
    client.version = 3
    seen = record_requests(monkeypatch)
    client.change_auth(auth_token=demo_server.token)  # a new session: requests are recorded
    assert seen == []
    mat = client.materialize  # auth changed: facts are asked again, once
    mat.get_versions()
    mat.get_versions(expired=True)
    mat.get_timestamp(3), mat.get_version_metadata(4), mat.most_recent_version()
    client.version = 4
    client.version = 2
    assert seen == [("GET", f"{DS}/metadata")]


@pytest.fixture(scope="module")
def expected(demo_server):
    """The nuclei table at every valid version and at two live times, read with a client
    of its own (root ids differ between them: the proofreading history)."""
    client = CAVEclient(demo_server.datastack, server_address=demo_server.url,
                        auth_token=demo_server.token, write_server_cache=False)
    mat = client.materialize
    frames = {("version", v): mat.query_table("nuclei", materialization_version=v,
                                              split_positions=True)
              for v in VALID}
    times = [mat.get_timestamp(v) + timedelta(hours=1) for v in VALID[:2]]
    for t in times:
        frames[("live", t)] = mat.query_table("nuclei", timestamp=t, split_positions=True)
    distinct = {tuple(f.sort_values("id")["pt_root_id"]) for f in frames.values()}
    assert len(distinct) >= 3, "the snapshots must differ for this test to mean anything"
    return frames, times


def _same(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    cols = ["id", "pt_root_id", "pt_supervoxel_id", "volume"]
    a, b = a.sort_values("id")[cols].reset_index(drop=True), b.sort_values("id")[cols]
    return a.equals(b.reset_index(drop=True))


def test_sixteen_threads_share_one_fresh_client(demo_server, expected):
    frames, times = expected
    client = CAVEclient(demo_server.datastack, server_address=demo_server.url,
                        auth_token=demo_server.token, write_server_cache=False)
    errors, wrong, checked = [], [], []
    barrier = threading.Barrier(16)

    def work(seed: int):
        rng = random.Random(seed)
        barrier.wait()
        for _ in range(6):
            try:
                if rng.random() < 0.7:
                    client.version = rng.choice(VALID)
                else:
                    client.timestamp = rng.choice(times)
                # The state every thread sees is one consistent pair.
                snap = client.snapshot
                if snap.version is not None:
                    assert snap.timestamp == client.materialize.get_timestamp(snap.version)
                df = client.materialize.query_table("nuclei", split_positions=True)
                if df.attrs["live_query"]:
                    when = pd.Timestamp(df.attrs["timestamp"], tz="UTC").to_pydatetime()
                    key = ("live", when)
                else:
                    key = ("version", df.attrs["materialization_version"])
                if key not in frames or not _same(df, frames[key]):
                    wrong.append(key)
                checked.append(key)
            except Exception as exc:
                errors.append(repr(exc))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert wrong == []
    assert len(checked) == 16 * 6
    assert len(set(checked)) >= 3  # versions and live times were really mixed
