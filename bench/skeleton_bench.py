"""Skeletons: the demo's largest neuron with get_skeleton, and 100 neurons in bulk
(fetch_skeletons in one call, and get_bulk_skeletons ten at a time, its limit), for our client
and, side by side in the same run against the same server, for the real caveclient 8.2.1 (in the
pcg_skel check's throwaway env, which has the cloud-volume its get_skeleton needs).

    .venv/bin/python bench/skeleton_bench.py [--scale default] [--repeat 5]

The server makes each skeleton once and keeps it (as the real service caches H5 files), so
they are all made before the timing starts (generate_bulk_skeletons_async); the times are those of
a researcher asking for skeletons that exist: requests, transfer and decoding. Both clients
must return the same skeletons (vertices, edges, radius to the float). Inputs: the current
root with the most level-2 nodes, and the 100 current roots with most level-2 nodes (fewer
when the demo has fewer).
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
from demo_process import served_demo, throwaway_python

N_BULK = 100

TIMER = r'''
import json, os, sys, time, warnings, logging
import numpy as np
logging.disable(logging.WARNING)
warnings.simplefilter("ignore")
url, datastack, folder, repeat, tag = sys.argv[1:6]
repeat = int(repeat)
from {module} import CAVEclient
client = CAVEclient(datastack, server_address=url, auth_token=os.environ["CAVE_DEMO_TOKEN"],
                    write_server_cache=False)
sk = client.skeleton
largest = int(np.load(os.path.join(folder, "largest.npy"))[0])
bulk = [int(r) for r in np.load(os.path.join(folder, "bulk.npy"))]

def in_tens():
    out = {{}}
    for i in range(0, len(bulk), 10):
        out.update(sk.get_bulk_skeletons(bulk[i:i + 10]))
    return out

calls = {{
    "get_skeleton (largest)": lambda: sk.get_skeleton(largest, output_format="dict"),
    "fetch_skeletons (100)": lambda: sk.fetch_skeletons(bulk, output_format="dict"),
    "get_bulk_skeletons (10 x 10)": in_tens,
}}
times, answers = {{}}, {{}}
for name, call in calls.items():
    answers[name] = call()  # warm-up: connections, version checks, skeletons made
    times[name] = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times[name].append(time.perf_counter() - start)

def plain(skeleton):
    return {{k: np.asarray(skeleton[k]).tolist() for k in ("vertices", "edges", "radius")}}

with open(os.path.join(folder, tag + ".json"), "w") as f:
    json.dump({{"largest": plain(answers["get_skeleton (largest)"]),
               "fetch": {{k: plain(v) for k, v in answers["fetch_skeletons (100)"].items()}},
               "tens": {{k: plain(v) for k, v in
                        answers["get_bulk_skeletons (10 x 10)"].items()}}}}, f)
print(json.dumps({{"times": times}}))
'''


def pick_inputs(url: str, datastack: str, token: str, folder: Path) -> dict:
    from cave_widgets import CAVEclient

    client = CAVEclient(datastack, server_address=url, auth_token=token,
                        write_server_cache=False)
    cg = client.chunkedgraph
    syn = client.materialize.query_table("synapses")
    roots = np.unique(np.concatenate([syn["pre_pt_root_id"], syn["post_pt_root_id"]]))
    roots = roots[(roots != 0) & cg.is_latest_roots(roots)]
    sizes = np.array([len(cg.get_leaves(int(r), stop_layer=2)) for r in roots])
    order = np.argsort(-sizes, kind="stable")
    bulk = roots[order[:N_BULK]].astype(np.uint64)
    # Every skeleton made before any timing: fetch_skeletons returns only made ones, so
    # otherwise whichever client ran second would get more of them.
    client.skeleton.generate_bulk_skeletons_async(bulk, skeleton_version=4)
    np.save(folder / "largest.npy", bulk[:1])
    np.save(folder / "bulk.npy", bulk)
    return {"largest": int(bulk[0]), "largest_l2": int(sizes[order[0]]), "bulk": len(bulk),
            "bulk_l2": int(sizes[order[:N_BULK]].sum())}


def run_timer(python: Path, module: str, url: str, datastack: str, token: str,
              folder: Path, repeat: int, tag: str) -> dict:
    home = folder / f"home-{tag}"
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV") and not k.startswith("XDG_")}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"),
               XDG_CONFIG_HOME=str(home / ".config"), CAVE_DEMO_TOKEN=token)
    if module == "cave_widgets":
        env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    proc = subprocess.run(
        [str(python), "-c", TIMER.format(module=module), url, datastack, str(folder),
         str(repeat), tag], capture_output=True, text=True, env=env, timeout=3600, cwd=home)
    if proc.returncode != 0:
        raise SystemExit(f"{module} timing failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def same(folder: Path) -> dict[str, bool]:
    ours = json.loads((folder / "ours.json").read_text())
    theirs = json.loads((folder / "theirs.json").read_text())
    if ours["fetch"] != theirs["fetch"]:
        print("fetch_skeletons: ours", len(ours["fetch"]), "theirs", len(theirs["fetch"]),
              "common", len(set(ours["fetch"]) & set(theirs["fetch"])), "differ",
              [k for k in ours["fetch"] if k in theirs["fetch"]
               and ours["fetch"][k] != theirs["fetch"][k]][:3])
    return {"get_skeleton (largest)": ours["largest"] == theirs["largest"],
            "fetch_skeletons (100)": ours["fetch"] == theirs["fetch"],
            "get_bulk_skeletons (10 x 10)": ours["tens"] == theirs["tens"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="default", choices=["small", "default", "large"])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    # caveclient's get_skeleton decodes the root's layer with cloud-volume, so its env must
    # have it: the pcg_skel check's throwaway env does.
    theirs_python = throwaway_python(".venv-pcgskel", "tests/integration/test_pcg_skel_compat.py")
    started = time.perf_counter()
    with served_demo(args.scale) as server, tempfile.TemporaryDirectory() as tmp:
        url, datastack, token = server.url, server.datastack, server.token
        folder = Path(tmp)
        picked = pick_inputs(url, datastack, token, folder)
        print(f"server (scale {args.scale}) and inputs ready in "
              f"{time.perf_counter() - started:.1f} s; largest neuron {picked['largest']} "
              f"({picked['largest_l2']:,} level-2 nodes); bulk: {picked['bulk']} neurons "
              f"({picked['bulk_l2']:,} level-2 nodes)", flush=True)
        results = {}
        for tag, python, module in (("ours", Path(sys.executable), "cave_widgets"),
                                    ("theirs", theirs_python, "caveclient")):
            results[tag] = run_timer(python, module, url, datastack, token, folder,
                                     args.repeat, tag)
        agree = same(folder)
    print(f"\nmedian of {args.repeat} (after one warm-up), seconds\n")
    header = f"{'operation':<30}{'ours (s)':>10}{'caveclient (s)':>16}{'ratio':>8}  same answer"
    print(header)
    print("-" * len(header))
    for op, same_answer in agree.items():
        ours = statistics.median(results["ours"]["times"][op])
        theirs = statistics.median(results["theirs"]["times"][op])
        print(f"{op:<30}{ours:>10.4f}{theirs:>16.4f}{ours / theirs:>8.2f}  {same_answer}")
    if not all(agree.values()):
        raise SystemExit(f"the clients disagree: {agree}")


if __name__ == "__main__":
    main()
