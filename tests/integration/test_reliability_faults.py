"""Never a wrong answer: a few hundred queries of every kind, and skeletons in every encoding
(Arrow, gzip, bulk JSON), through a proxy that spoils about half of the answers (drops,
429/502/503/504, bodies cut at several points with and without a Content-Length, resets,
stalls). Each result is the fault-free answer, or a typed error; nothing hangs past the
client's timeouts. The counts are printed (pytest -s shows them)."""

from __future__ import annotations

import time
import warnings
from collections import Counter
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from helpers.fault_proxy import FAULTS, FaultPlan, fault_proxy

from cave_widgets import CAVEclient
from cave_widgets.client import errors, get_session_defaults, set_session_defaults
from cave_widgets.server import serve_demo

pytestmark = pytest.mark.slow
QUERIES = 300
ROW_CAP = 2_000  # small, so some queries page past it
READ_TIMEOUT = 1.0
HANG = 30.0  # seconds after which a query counts as hung


@pytest.fixture(scope="module")
def server():
    with serve_demo(scale="small", row_cap=ROW_CAP) as s:
        yield s


@pytest.fixture()
def quick_retries():
    saved = dict(get_session_defaults())
    set_session_defaults(max_retries=3, backoff_factor=0.01, backoff_max=0.1,
                         read_timeout=READ_TIMEOUT, connect_timeout=2.0)
    yield
    set_session_defaults(**saved)


def queries(mat, roots, when):
    """(name, call) pairs covering every kind of query the client makes."""
    return [
        ("filtered", lambda m: m.query_table("synapses", filter_in_dict={
            "pre_pt_root_id": roots})),
        ("version 3", lambda m: m.query_table("nuclei", materialization_version=3)),
        ("split positions, columns", lambda m: m.query_table(
            "synapses", filter_in_dict={"post_pt_root_id": roots}, split_positions=True,
            select_columns=["id", "size", "post_pt_root_id", "ctr_pt_position"])),
        ("live", lambda m: m.query_table("synapses", timestamp=when,
                                          filter_in_dict={"pre_pt_root_id": roots})),
        ("live_live", lambda m: m.live_live_query("nuclei", when)),
        ("join", lambda m: m.join_query([["nuclei", "id"], ["cell_type_ref", "target_id"]])),
        ("reference table", lambda m: m.query_table("cell_type_ref")),
        ("view", lambda m: m.query_view("nucleus_types")),
        ("past the row cap", lambda m: m.query_table("synapses", limit=5_000)),
        ("page after the cap", lambda m: m.query_table("synapses", offset=ROW_CAP,
                                                      limit=ROW_CAP)),
        ("count", lambda m: m.query_table("synapses", get_counts=True)),
        ("metadata", lambda m: pd.DataFrame([{k: v for k, v in m.get_table_metadata(
            "cell_type_ref").items() if "source" not in k}])),  # sources name the server
    ]


def same(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    sort = [c for c in ("id", "id_ref", "count") if c in a.columns]
    if sort:
        a, b = a.sort_values(sort), b.sort_values(sort)
    try:
        pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
        return True
    except AssertionError:
        return False


def through_faults(server, plan: FaultPlan, n: int, cases, truth, service: str, same_):
    """`n` calls of `cases` (name, call(service client)) through a fault proxy, fresh clients
    every 25: (outcome counts, typed error counts, wrong answers, untyped errors, slowest
    call, faults by kind, requests seen)."""
    outcome: Counter = Counter()
    typed: Counter = Counter()
    wrong, untyped, slowest = [], [], 0.0
    with fault_proxy(server.url, plan, stall_seconds=READ_TIMEOUT * 2.5) as proxy:
        client = None
        for i in range(n):
            if i % 25 == 0:  # new clients: their metadata requests meet faults too
                try:
                    client = CAVEclient(server.datastack, server_address=proxy.url,
                                        auth_token=server.token, write_server_cache=False)
                except errors.CAVEError as exc:
                    typed[type(exc).__name__] += 1
                    outcome["typed error"] += 1
                    continue
            name, call = cases[i % len(cases)]
            started = time.monotonic()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    got = call(getattr(client, service))
            except errors.CAVEError as exc:
                typed[type(exc).__name__] += 1
                outcome["typed error"] += 1
            except Exception as exc:  # counted: the test fails on any
                untyped.append(f"{name}: {type(exc).__module__}.{type(exc).__name__}: {exc}")
                outcome["untyped error"] += 1
            else:
                if same_(got, truth[name]):
                    outcome["right answer"] += 1
                else:
                    wrong.append(f"{name}: {describe(got)} instead of {describe(truth[name])}")
                    outcome["wrong answer"] += 1
            slowest = max(slowest, time.monotonic() - started)
        faults = dict(proxy.faults)
        requests_seen = proxy.requests
    print(f"\n{n} calls, {requests_seen} requests through the proxy, "
          f"{sum(faults.values())} faults injected: {dict(sorted(faults.items()))}")
    print(f"outcomes: {dict(outcome)}; typed errors: {dict(typed)}; slowest {slowest:.1f} s")
    return outcome, wrong, untyped, slowest, faults


def describe(x) -> str:
    return f"{len(x)} rows" if isinstance(x, pd.DataFrame) else f"{len(x)} items"


def test_no_wrong_answer_under_faults(server, quick_retries):
    direct = CAVEclient(server.datastack, server_address=server.url, auth_token=server.token,
                        write_server_cache=False)
    sample = direct.materialize.query_table("synapses", limit=200)
    roots = [int(r) for r in sample["pre_pt_root_id"].value_counts().index[:4]]
    when = direct.materialize.get_timestamp(4) + timedelta(hours=2)
    cases = queries(direct.materialize, roots, when)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the row cap warns; both sides alike
        truth = {name: call(direct.materialize) for name, call in cases}
    assert len(truth["past the row cap"]) == ROW_CAP  # the cap is really in play

    plan = FaultPlan(seed=20261130, rate=0.5, max_run=2)
    outcome, wrong, untyped, slowest, faults = through_faults(
        server, plan, QUERIES, cases, truth, "materialize", same)
    assert wrong == []
    assert untyped == []
    assert slowest < HANG
    assert set(faults) == set(FAULTS)  # every kind of fault really happened
    assert outcome["right answer"] >= QUERIES * 0.8  # retries get most queries through


SKELETON_CALLS = 130


def skeleton_calls(roots):
    """Skeletons as our client gets them from our server (dict: Arrow), and as a real service
    would answer (swc: gzip, and bulk JSON of hex values)."""
    return [
        ("get_skeleton", lambda s: s.get_skeleton(roots[0])),
        ("get_skeleton swc", lambda s: s.get_skeleton(roots[1], output_format="swc")),
        ("get_bulk_skeletons", lambda s: s.get_bulk_skeletons(roots)),
        ("get_bulk_skeletons swc", lambda s: s.get_bulk_skeletons(roots[:3],
                                                                  output_format="swc")),
        ("fetch_skeletons", lambda s: s.fetch_skeletons(roots)),
    ]


def comparable(x):
    """x with its types spelled out (arrays: dtype and values; frames: columns and dtypes)."""
    if isinstance(x, dict):
        return {k: comparable(v) for k, v in x.items()}
    if isinstance(x, pd.DataFrame):
        return ("frame", x.to_dict("list"), [str(d) for d in x.dtypes])
    if isinstance(x, np.ndarray):
        return ("array", x.dtype.str, x.tolist())
    return x


def test_no_wrong_skeleton_under_faults(server, quick_retries):
    direct = CAVEclient(server.datastack, server_address=server.url, auth_token=server.token,
                        write_server_cache=False)
    sample = direct.materialize.query_table("synapses", limit=200)
    roots = [int(r) for r in sample["pre_pt_root_id"].value_counts().index[:8]]
    roots = [r for r, ok in zip(roots, direct.chunkedgraph.is_latest_roots(roots)) if ok][:5]
    assert len(roots) >= 3
    direct.skeleton.generate_bulk_skeletons_async(roots, skeleton_version=4)
    cases = skeleton_calls(roots)
    truth = {name: comparable(call(direct.skeleton)) for name, call in cases}
    assert len(truth["fetch_skeletons"]) == len(roots)

    plan = FaultPlan(seed=20261201, rate=0.5, max_run=2,
                     eligible=lambda method, path: path.startswith("/skeletoncache/"))
    outcome, wrong, untyped, slowest, faults = through_faults(
        server, plan, SKELETON_CALLS, cases, truth, "skeleton",
        lambda got, want: comparable(got) == want)
    assert wrong == []
    assert untyped == []
    assert slowest < HANG
    assert set(faults) == set(FAULTS)
    assert outcome["right answer"] >= SKELETON_CALLS * 0.8
