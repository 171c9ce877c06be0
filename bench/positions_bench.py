"""Recombining split positions: query_table(split_positions=False) vs (split_positions=True)
at 1 million synapse rows, for our client and, side by side in the same run against the same
server, for the real caveclient 8.2.1.

    .venv/bin/python bench/positions_bench.py [--rows 1000000] [--repeat 3]

Starts ``cave-widgets serve --demo --scale default --row-cap <rows>`` (about 2 million
synapses), then times each client and mode `--repeat` times after one warm-up query, modes
interleaved, and prints the medians and the combined/split ratio per client.

caveclient 8 pins pandas<3, so it runs in the throwaway virtualenv ``.venv-caveclient`` (built
by tests/integration/test_caveclient_compat.py) in a subprocess; the token travels in the
CAVE_DEMO_TOKEN environment variable, never on a command line, and both clients get a
temporary HOME so nothing is written into the real one.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from demo_process import served_demo, throwaway_python

# Runs in either environment: times query_table in both modes and prints one JSON line.
# The client is made by the caller-provided expression CLIENT (module import differs).
TIMER = r'''
import json, os, sys, time, warnings, logging
import numpy as np
logging.disable(logging.WARNING)  # caveclient logs the server's "Limited query" header
warnings.simplefilter("ignore")
url, datastack, rows, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
from {module} import CAVEclient
client = CAVEclient(datastack, server_address=url, auth_token=os.environ["CAVE_DEMO_TOKEN"],
                    write_server_cache=False)
mat = client.materialize

def query(split):
    start = time.perf_counter()
    df = mat.query_table("synapses", limit=rows, split_positions=split)
    return time.perf_counter() - start, df

query(True)  # warm-up: server caches, metadata, connection pool
times = {{"split": [], "combined": []}}
for _ in range(repeat):
    for mode, split in (("split", True), ("combined", False)):
        elapsed, df = query(split)
        times[mode].append(elapsed)
        if mode == "combined":
            first = df["post_pt_position"].iloc[0]
            check = {{
                "rows": len(df),
                "columns": list(df.columns),
                "id_sum": int(df["id"].astype("int64").sum()),
                "position_sum": int(np.stack(df["post_pt_position"].to_numpy()[:10000]).sum()),
                "cell_type": type(first).__name__, "cell_dtype": str(first.dtype),
            }}
print(json.dumps({{"times": times, "check": check}}))
'''


def run_timer(python: Path, module: str, url: str, datastack: str, token: str, rows: int,
              repeat: int, home: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV") and not k.startswith("XDG_")}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"),
               XDG_CONFIG_HOME=str(home / ".config"), CAVE_DEMO_TOKEN=token,
               PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run(
        [str(python), "-c", TIMER.format(module=module), url, datastack, str(rows), str(repeat)],
        capture_output=True, text=True, env=env, timeout=3600, cwd=home,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{module} timing failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    caveclient_python = throwaway_python(".venv-caveclient",
                                         "tests/integration/test_caveclient_compat.py")

    started = time.perf_counter()
    with served_demo("default", "--row-cap", str(args.rows)) as server:
        url, datastack, token = server.url, server.datastack, server.token
        print(f"server (scale default, row cap {args.rows:,}) up in "
              f"{time.perf_counter() - started:.1f} s at {url}", flush=True)
        results = {}
        with tempfile.TemporaryDirectory() as tmp:
            for name, python, module in (
                ("cave_widgets", Path(sys.executable), "cave_widgets"),
                ("caveclient 8.2.1", caveclient_python, "caveclient"),
            ):
                home = Path(tmp) / name.split()[0]
                home.mkdir()
                results[name] = run_timer(python, module, url, datastack, token, args.rows,
                                          args.repeat, home)
                print(f"timed {name}", flush=True)

    ours, theirs = results["cave_widgets"]["check"], results["caveclient 8.2.1"]["check"]
    print(f"\nquery_table('synapses', limit={args.rows:,}): median of {args.repeat} "
          "(after one warm-up), seconds\n")
    header = f"{'client':<18}{'split=True':>12}{'split=False':>13}{'combined/split':>16}"
    print(header)
    print("-" * len(header))
    for name, result in results.items():
        split = statistics.median(result["times"]["split"])
        combined = statistics.median(result["times"]["combined"])
        print(f"{name:<18}{split:>12.3f}{combined:>13.3f}{combined / split:>15.2f}x")
    print()
    for name, result in results.items():
        runs = ", ".join(f"{mode} " + " ".join(f"{t:.3f}" for t in ts)
                         for mode, ts in result["times"].items())
        print(f"  {name}: {runs}")
    same = all(ours[k] == theirs[k] for k in ("rows", "columns", "id_sum", "position_sum"))
    print(f"\nrows {ours['rows']:,} vs {theirs['rows']:,}; same columns, ids and positions: "
          f"{same}; position cells: {ours['cell_type']}[{ours['cell_dtype']}] vs "
          f"{theirs['cell_type']}[{theirs['cell_dtype']}]")
    if not same:
        print(json.dumps(results, indent=1))
        raise SystemExit(1)


if __name__ == "__main__":
    main()
