"""Embedded server figures: demo build time, start-up, query latency and server memory.

Each HTTP query is timed side by side with the same query run straight on DuckDB in this
process (the floor: no HTTP, no Arrow IPC, no JSON), so the server's own overhead shows.

    .venv/bin/python bench/server_bench.py --scale small default large [--rebuild]

--rebuild builds each scale into a temporary folder to time the build (large: ~1 minute).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa
import requests
from demo_process import served_demo

from cave_widgets import CAVEclient
from cave_widgets.server.demo.build import ensure_demo_database


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def bench_scale(scale: str, rebuild: bool) -> None:
    print(f"\n== scale {scale} ==")
    if rebuild:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            ensure_demo_database(scale, Path(tmp))
            print(f"build from scratch: {time.perf_counter() - start:8.1f} s")
    db = ensure_demo_database(scale)
    start = time.perf_counter()
    with served_demo(scale) as server:
        url, datastack, token = server.url, server.datastack, server.token
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {token}"
        versions = f"{url}/materialize/api/v3/datastack/{datastack}/versions"
        http.get(versions).raise_for_status()
        print(f"server start-up:    {time.perf_counter() - start:8.2f} s "
              f"(RSS {rss_mb(server.pid):.0f} MB)")
        query_url = f"{url}/materialize/api/v3/datastack/{datastack}/version/5/table/synapses/query"

        def post(body, target=query_url, **params):
            r = http.post(target, json=body, headers={"Accept-Encoding": "zstd"},
                          params={"arrow_format": True, **params})
            r.raise_for_status()
            return pa.ipc.open_stream(r.content).read_all(), len(r.content)

        floor = duckdb.connect()
        floor.execute(f"ATTACH '{db}' AS demo (READ_ONLY)")
        root = floor.execute(
            "SELECT pre_pt_root_id FROM demo.synapses WHERE valid GROUP BY 1 "
            "ORDER BY count(*) DESC LIMIT 1").fetchall()[0][0]
        cases = [
            ("filtered (1 pre root)", {"filter_in_dict": {"synapses": {"pre_pt_root_id": [root]}}},
             f"SELECT * FROM demo.synapses WHERE valid AND pre_pt_root_id = {root} ORDER BY id"),
            ("200,000 rows", {"limit": 200_000},
             "SELECT * FROM demo.synapses WHERE valid ORDER BY id LIMIT 200000"),
            ("spatial box", {"filter_spatial_dict": {"synapses": {"post_pt_position": [
                [200_000, 150_000, 20_000], [220_000, 170_000, 21_000]]}}},
             "SELECT * FROM demo.synapses WHERE valid AND post_pt_position_x BETWEEN 200000 AND "
             "220000 AND post_pt_position_y BETWEEN 150000 AND 170000 AND post_pt_position_z "
             "BETWEEN 20000 AND 21000 ORDER BY id"),
        ]
        print(f"{'query':24} {'rows':>9} {'HTTP+Arrow':>11} {'DuckDB floor':>13} {'bytes':>11}")
        for name, body, sql in cases:
            t_http, (table, size) = timed(lambda body=body: post(body), 5)
            t_floor, _ = timed(lambda sql=sql: floor.sql(sql).to_arrow_table(), 5)
            print(f"{name:24} {table.num_rows:9,d} {t_http * 1e3:9.1f}ms {t_floor * 1e3:11.1f}ms "
                  f"{size:11,d}")
        # Older versions and live times correct root ids from the proofreading history.
        older_url = query_url.replace("/version/5/", "/version/2/")
        live_url = f"{url}/materialize/api/v3/datastack/{datastack}/query"
        now = datetime.now(timezone.utc).isoformat()
        # A live query refuses root ids that are not current at its time: the same neuron's
        # root now, after the proofreading edits that came after version 5.
        client = CAVEclient(datastack, server_address=url, auth_token=token,
                            write_server_cache=False)
        live_root = int(client.chunkedgraph.get_latest_roots(root)[0])
        for name, target, body in [
            ("filtered, version 2", older_url,
             {"filter_in_dict": {"synapses": {"pre_pt_root_id": [root]}}}),
            ("filtered, live now", live_url,
             {"table": "synapses", "timestamp": now,
              "filter_in_dict": {"synapses": {"pre_pt_root_id": [live_root]}}}),
        ]:
            t_http, (table, size) = timed(
                lambda body=body, target=target: post(body, target=target), 5)
            print(f"{name:24} {table.num_rows:9,d} {t_http * 1e3:9.1f}ms {'—':>13} {size:11,d}")
        t_count, (table, _) = timed(lambda: post({}, count=True), 5)
        print(f"{'count all':24} {table.column('count')[0].as_py():9,d} {t_count * 1e3:9.1f}ms")
        print(f"server RSS after queries: {rss_mb(server.pid):.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", nargs="+", default=["small", "default"])
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    for scale in args.scale:
        bench_scale(scale, args.rebuild)


if __name__ == "__main__":
    main()
