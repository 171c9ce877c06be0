"""Chunkedgraph and level-2 cache at scale: get_roots of 1,000,000 supervoxels, get_l2data of
100,000 level-2 ids and level2_chunk_graph of the demo's largest neuron, for our client and,
side by side in the same run against the same server, for the real caveclient 8.2.1.

    .venv/bin/python bench/chunkedgraph_bench.py [--scale default] [--repeat 5] [--rounds 5]
        [--ops get_roots,get_l2data,level2_chunk_graph]

Starts ``cave-widgets serve --demo --scale S``, picks the inputs from the data (every
supervoxel id, repeated up to 1,000,000 when the demo has fewer; the stored level-2 ids,
repeated up to 100,000 when there are fewer; the current root with the most level-2 nodes),
then times each call `--repeat` times after one warm-up per client (medians; the two clients
take turns, `--rounds` of them, so both see the same load), checks that both clients give
the same answer, and measures the peak Python memory of one call of each
(tracemalloc, in a separate untimed run: tracing slows allocation-heavy code).

caveclient 8 pins pandas<3, so it runs in the throwaway virtualenv ``.venv-caveclient`` (built
by tests/integration/test_caveclient_compat.py) in a subprocess; the token travels in the
CAVE_DEMO_TOKEN environment variable, never on a command line, and both clients get a
temporary HOME.
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

import numpy as np
from demo_process import REPO, served_demo, throwaway_python

N_SUPERVOXELS = 1_000_000
N_LEVEL2 = 100_000
OPS = ("get_roots", "get_l2data", "level2_chunk_graph")


# Runs in either environment and answers commands on stdin, one line each (so the two
# clients can take turns and see the same load): "warm" calls each operation once and keeps
# its answer, "time OP N" times N calls, "peak OP" traces one call, "save" writes the answers
# next to the inputs. Each answer is one stdout line starting with @@. CLIENT is the module
# to import CAVEclient from.
TIMER = r'''
import json, os, sys, time, tracemalloc, warnings, logging
import numpy as np
logging.disable(logging.WARNING)
warnings.simplefilter("ignore")
url, datastack, folder, tag = sys.argv[1:5]
from {module} import CAVEclient
client = CAVEclient(datastack, server_address=url, auth_token=os.environ["CAVE_DEMO_TOKEN"],
                    write_server_cache=False)
svs = np.load(os.path.join(folder, "svs.npy"))
l2s = np.load(os.path.join(folder, "l2s.npy"))
root = int(np.load(os.path.join(folder, "root.npy")))
ts = client.chunkedgraph.get_root_timestamps([root])[0]  # any fixed time: same answer twice
calls = {{
    "get_roots": lambda: client.chunkedgraph.get_roots(svs, timestamp=ts),
    "get_l2data": lambda: client.l2cache.get_l2data(l2s),
    "level2_chunk_graph": lambda: client.chunkedgraph.level2_chunk_graph(root),
}}
answers = {{}}


def timed(call, n):
    times = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def peak(call):
    tracemalloc.start()
    call()
    found = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return found


def save():
    if "get_roots" in answers:
        np.save(os.path.join(folder, tag + "-roots.npy"),
                np.asarray(answers["get_roots"], np.uint64))
    if "get_l2data" in answers:
        with open(os.path.join(folder, tag + "-l2data.json"), "w") as f:
            json.dump(answers["get_l2data"], f)
    if "level2_chunk_graph" in answers:
        with open(os.path.join(folder, tag + "-graph.json"), "w") as f:
            json.dump(np.asarray(answers["level2_chunk_graph"], np.uint64).tolist(), f)


print("@@ready", flush=True)
for line in sys.stdin:
    command, *args = line.split()
    if command == "warm":  # connections, server caches, metadata
        answers.update((op, calls[op]()) for op in args)
        result = None
    elif command == "time":
        result = timed(calls[args[0]], int(args[1]))
    elif command == "peak":
        result = peak(calls[args[0]])
    elif command == "save":
        result = save()
    else:
        break
    print("@@" + json.dumps(result), flush=True)
'''


class Timer:
    """One client in its own environment, timing calls when told to."""

    def __init__(self, python: Path, module: str, url: str, datastack: str, token: str,
                 folder: Path, tag: str):
        home = folder / f"home-{tag}"
        home.mkdir()
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
               and not k.startswith("XDG_")}
        env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"),
                   XDG_CONFIG_HOME=str(home / ".config"), CAVE_DEMO_TOKEN=token,
                   PYTHONDONTWRITEBYTECODE="1")
        if module == "cave_widgets":
            env["PYTHONPATH"] = str(REPO)
        self.module = module
        self.proc = subprocess.Popen(
            [str(python), "-c", TIMER.format(module=module), url, datastack, str(folder), tag],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=env, cwd=home, bufsize=1)
        self._answer()

    def _answer(self):
        for line in self.proc.stdout:
            if line.startswith("@@ready"):
                return None
            if line.startswith("@@"):
                return json.loads(line[2:])
        self.proc.wait(timeout=30)
        raise SystemExit(f"{self.module} timing failed:\n{self.proc.stderr.read()}")

    def ask(self, *command):
        self.proc.stdin.write(" ".join(map(str, command)) + "\n")
        self.proc.stdin.flush()
        return self._answer()

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def pick_inputs(url: str, datastack: str, token: str, folder: Path) -> dict:
    """Supervoxels, level-2 ids and the largest neuron, from the served data."""
    import duckdb

    from cave_widgets import CAVEclient
    from cave_widgets.server.demo.build import ensure_demo_database

    db = duckdb.connect(str(ensure_demo_database(os.environ["BENCH_SCALE"])), read_only=True)
    svs = db.sql("SELECT DISTINCT sv FROM sv_spans ORDER BY sv").fetchnumpy()["sv"]
    l2s = db.sql("SELECT DISTINCT l2 FROM l2_attributes ORDER BY l2").fetchnumpy()["l2"]
    db.close()
    svs, l2s = svs.astype(np.uint64), l2s.astype(np.uint64)
    # Shuffled (fixed seed) so batches do not follow the storage order.
    rng = np.random.default_rng(0)
    all_svs = svs.copy()
    svs = rng.permutation(np.resize(svs, N_SUPERVOXELS))
    l2s = rng.permutation(np.resize(l2s, N_LEVEL2))
    client = CAVEclient(datastack, server_address=url, auth_token=token,
                        write_server_cache=False)
    cg = client.chunkedgraph
    roots = cg.get_roots(all_svs)
    l2_now = cg.get_roots(all_svs, stop_layer=2)
    live = roots != 0
    pairs = np.unique(np.stack([roots[live], l2_now[live]]), axis=1)
    owners, counts = np.unique(pairs[0], return_counts=True)
    root = owners[np.argmax(counts)]
    np.save(folder / "svs.npy", svs)
    np.save(folder / "l2s.npy", l2s)
    np.save(folder / "root.npy", np.uint64(root))
    return {"svs": len(all_svs), "l2s": int(len(np.unique(l2s))), "root": int(root),
            "root_l2": int(counts.max())}


def same_answers(folder: Path, ops: list[str]) -> dict[str, bool]:
    def load(name):
        with open(folder / name) as f:
            return json.load(f)
    checks = {
        "get_roots": lambda: bool(np.array_equal(np.load(folder / "ours-roots.npy"),
                                                 np.load(folder / "theirs-roots.npy"))),
        # Same keys, same values, same key order.
        "get_l2data": lambda: list(load("ours-l2data.json").items())
        == list(load("theirs-l2data.json").items()),
        "level2_chunk_graph": lambda: load("ours-graph.json") == load("theirs-graph.json"),
    }
    return {op: checks[op]() for op in ops}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="default", choices=["small", "default", "large"])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5,
                        help="turns the two clients take (the repeats are split over them)")
    parser.add_argument("--ops", default=",".join(OPS),
                        help=f"comma-separated operations to time (default: {','.join(OPS)})")
    args = parser.parse_args()
    ops = [op for op in OPS if op in args.ops.split(",")]
    if not ops:
        parser.error(f"--ops: choose among {', '.join(OPS)}")
    os.environ["BENCH_SCALE"] = args.scale
    theirs_python = throwaway_python(".venv-caveclient",
                                     "tests/integration/test_caveclient_compat.py")

    started = time.perf_counter()
    with served_demo(args.scale) as server, tempfile.TemporaryDirectory() as tmp:
        url, datastack, token = server.url, server.datastack, server.token
        folder = Path(tmp)
        picked = pick_inputs(url, datastack, token, folder)
        print(f"server (scale {args.scale}) and inputs ready in "
              f"{time.perf_counter() - started:.1f} s", flush=True)
        print(f"inputs: {N_SUPERVOXELS:,} supervoxel ids ({picked['svs']:,} distinct, "
              f"repeated); {N_LEVEL2:,} level-2 ids ({picked['l2s']:,} distinct"
              f"{', repeated' if picked['l2s'] < N_LEVEL2 else ''}); largest neuron "
              f"{picked['root']} ({picked['root_l2']:,} level-2 nodes)", flush=True)
        timers = {
            "ours": Timer(Path(sys.executable), "cave_widgets", url, datastack, token,
                          folder, "ours"),
            "theirs": Timer(theirs_python, "caveclient", url, datastack, token, folder,
                            "theirs"),
        }
        results = {tag: {"times": {op: [] for op in ops}, "peaks": {}} for tag in timers}
        try:
            for timer in timers.values():
                timer.ask("warm", *ops)
            # Turns: a few calls of one client, then of the other, first one first, then
            # the other, so both see the machine as busy as it is.
            rounds = max(1, min(args.rounds, args.repeat))
            per_round = -(-args.repeat // rounds)
            for turn in range(rounds):
                order = ("ours", "theirs") if turn % 2 == 0 else ("theirs", "ours")
                for op in ops:
                    for tag in order:
                        results[tag]["times"][op] += timers[tag].ask("time", op, per_round)
            for tag, timer in timers.items():
                for op in ops:
                    results[tag]["peaks"][op] = timer.ask("peak", op)
                timer.ask("save")
        finally:
            for timer in timers.values():
                timer.close()
        print("timed cave_widgets and caveclient 8.2.1", flush=True)
        same = same_answers(folder, ops)

    n = len(next(iter(results["ours"]["times"].values())))
    print(f"\nmedian of {n} calls (after one warm-up; clients took turns), seconds; peak = "
          "tracemalloc peak of one call\n")
    header = (f"{'operation':<20}{'ours (s)':>10}{'caveclient (s)':>16}{'ratio':>8}"
              f"{'ours peak':>12}{'cc peak':>12}  same answer")
    print(header)
    print("-" * len(header))
    for op in ops:
        ours = statistics.median(results["ours"]["times"][op])
        theirs = statistics.median(results["theirs"]["times"][op])
        print(f"{op:<20}{ours:>10.3f}{theirs:>16.3f}{ours / theirs:>8.2f}"
              f"{results['ours']['peaks'][op] / 2**20:>9.1f} MB"
              f"{results['theirs']['peaks'][op] / 2**20:>9.1f} MB  {same[op]}")
    print()
    for tag, name in (("ours", "cave_widgets"), ("theirs", "caveclient 8.2.1")):
        runs = "; ".join(f"{op} " + (" ".join(f"{t:.3f}" for t in ts) if len(ts) <= 10 else
                                     f"min {min(ts):.4f} max {max(ts):.4f}")
                         for op, ts in results[tag]["times"].items())
        print(f"  {name}: {runs}")
    if not all(same.values()):
        raise SystemExit(f"the clients disagree: {same}")


if __name__ == "__main__":
    main()
