"""Schemathesis fuzzes every route the server describes in /openapi.json, within a fixed
budget, signed in as the demo user (who may edit: a server of its own takes the edits).
Pass: no answer is a 5xx."""

from __future__ import annotations

import time

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from cave_widgets.server import serve_demo

pytestmark = pytest.mark.slow
EXAMPLES_PER_ROUTE = 6
# The viewer's event stream never ends by design (routes_viewer.events; test_server_viewer
# checks it): a fuzzer reading whole answers would wait out its timeout on every example.
ENDLESS = {"/neuroglancer/events/{token}"}


def fuzz_one(operation, server, auth: dict, failures: list) -> int:
    """Send EXAMPLES_PER_ROUTE generated requests to one operation; 5xx answers go to
    `failures`. Returns how many requests went out."""
    where = f"{operation.method.upper()} {operation.path}"
    sent = 0

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES_PER_ROUTE, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def fuzz(case):
        nonlocal sent
        response = case.call(base_url=server.url, headers=auth, timeout=60)
        sent += 1
        if response.status_code >= 500:
            failures.append(f"{where}: {response.status_code} {response.text[:200]}")

    fuzz()
    return sent


def test_no_route_answers_5xx():
    with serve_demo(scale="small") as server:
        schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
        auth = {"Authorization": f"Bearer {server.token}"}
        sent, failures, operations = 0, [], 0
        slowest = []
        for result in schema.get_all_operations():
            operation = result.ok()
            if operation.path in ENDLESS:
                continue
            operations += 1
            started = time.perf_counter()
            sent += fuzz_one(operation, server, auth, failures)
            slowest.append((time.perf_counter() - started, operation.path))
    slowest.sort(reverse=True)
    print("slowest:", ", ".join(f"{path} {took:.1f} s" for took, path in slowest[:5]))
    print(f"\n{operations} operations fuzzed, {sent} requests, {len(failures)} 5xx")
    assert operations > 100 and sent >= operations
    assert failures == []
