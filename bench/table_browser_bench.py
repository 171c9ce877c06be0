"""TableBrowser figures on a big table, measured on the Python (kernel) side through the same
request/reply path the browser uses, and side by side the cost of handing ipydatagrid a
million-row DataFrame.

    .venv/bin/python bench/table_browser_bench.py [--scale large] [--pages 100]

The demo server runs in its own process (`cave-widgets serve --demo`), so the RSS figures
are this process's: the kernel's. ipydatagrid is not a dependency: it is installed with pip
into --datagrid-dir (not into the venv) and measured in a child process.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import psutil
from demo_process import served_demo

DATAGRID = ["ipydatagrid==1.4.0", "bqplot", "bqscales", "py2vega", "traittypes", "gast"]
ME = psutil.Process()


def rss_mb() -> float:
    gc.collect()
    return ME.memory_info().rss / 2**20


class Wire:
    """Plays the browser: sends {type, id, ...} to the widget and waits for the reply."""

    def __init__(self, browser):
        self.browser, self.n = browser, 0
        self.replies: dict = {}
        self.cond = threading.Condition()
        browser.send = self._receive

    def _receive(self, content, buffers=None):
        with self.cond:
            self.replies[content.get("id")] = (time.perf_counter(), content, buffers or [])
            self.cond.notify_all()

    def ask(self, kind: str, **payload) -> str:
        self.n += 1
        rid = f"bench:{self.n}"
        self.browser._on_browser_message(self.browser, {"type": kind, "id": rid, **payload}, [])
        return rid

    def reply(self, rid: str, timeout: float = 600):
        with self.cond:
            if not self.cond.wait_for(lambda: rid in self.replies, timeout):
                raise TimeoutError(rid)
            when, content, buffers = self.replies.pop(rid)
        if "error" in content:
            raise RuntimeError(content["error"]["details"])
        return when, content, buffers

    @staticmethod
    def size(content, buffers) -> int:
        return len(json.dumps(content)) + sum(len(b) for b in buffers)


def open_to_first_page(browser, wire: Wire, table: str) -> dict:
    """What a click on a table costs: open, then (on the new generation) count and page 0,
    asked for together as the front end does."""
    browser._pages.clear()
    browser._counts.clear()
    start = time.perf_counter()
    wire.reply(wire.ask("open", table=table))
    opened = time.perf_counter()
    count_id, page_id = wire.ask("count"), wire.ask("page", page=0)
    page_at, content, buffers = wire.reply(page_id)
    count_at, count, _ = wire.reply(count_id)
    return {"open": opened - start, "page": page_at - start, "count": count_at - start,
            "rows": count["ok"]["total"], "bytes": Wire.size(content, buffers)}


def turn_pages(wire: Wire, first: int, n: int) -> tuple[list, list, list]:
    times, sizes, rss = [], [], [rss_mb()]
    for number in range(first, first + n):
        start = time.perf_counter()
        at, content, buffers = wire.reply(wire.ask("page", page=number))
        times.append(at - start)
        sizes.append(Wire.size(content, buffers))
        if (number - first + 1) % 50 == 0:
            rss.append(rss_mb())
    return times, sizes, rss


def datagrid_child(frame_path: Path, target: Path) -> dict:
    """DataGrid(df) for the frame in frame_path, in a child process with ipydatagrid on its
    path: construction, the state it sends to the browser on display, RSS growth."""
    code = textwrap.dedent(f"""
        import gc, json, sys, time, warnings
        warnings.simplefilter("ignore")
        sys.path.insert(0, {str(target)!r})
        import pandas as pd, psutil, pyarrow.feather as feather
        from ipydatagrid import DataGrid
        from ipywidgets.widgets.widget import _remove_buffers
        df = feather.read_table({str(frame_path)!r}).to_pandas()
        me = psutil.Process(); gc.collect(); before = me.memory_info().rss
        start = time.perf_counter()
        grid = DataGrid(df)
        built = time.perf_counter()
        state, _, buffers = _remove_buffers(grid.get_state())
        text = json.dumps(state)
        done = time.perf_counter()
        gc.collect()
        ids = grid.get_state()["_data"]["data"]["pre_pt_root_id"]
        print(json.dumps({{"rows": len(df), "construct": built - start,
            "serialize": done - built, "json_bytes": len(text),
            "buffer_bytes": sum(memoryview(b).nbytes for b in buffers),
            "rss_growth_mb": (me.memory_info().rss - before) / 2**20,
            "root_id_dtype": ids.get("dtype"), "real_first_root": int(df.pre_pt_root_id.iloc[0]),
            "sent_first_root": int(__import__("numpy").frombuffer(ids["value"],
                dtype=ids["dtype"])[0])}}))
    """)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=1800, check=False)
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def ensure_datagrid(target: Path) -> str | None:
    """Install ipydatagrid into target (not the venv); None when it works, else why not."""
    probe = [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(target)!r}); "
             "import warnings; warnings.simplefilter('ignore'); import ipydatagrid"]
    if subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return None
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                          "--target", str(target), *DATAGRID], capture_output=True, text=True,
                         check=False)
    if pip.returncode:
        return f"pip could not install {' '.join(DATAGRID)}: {pip.stderr.strip()[-500:]}"
    result = subprocess.run(probe, capture_output=True, text=True, check=False)
    if result.returncode == 0:
        return None
    return f"ipydatagrid does not import: {result.stderr[-500:]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", default="large")
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows for df / ipydatagrid")
    parser.add_argument("--datagrid-dir", type=Path,
                        default=Path(tempfile.gettempdir()) / "cw-datagrid")
    args = parser.parse_args()

    home = tempfile.mkdtemp(prefix="cw-bench-home-")
    os.environ.update(HOME=home, XDG_CACHE_HOME=os.environ.get("XDG_CACHE_HOME") or
                      str(Path.home() / ".cache"))
    from cave_widgets import CAVEclient
    from cave_widgets.widgets.table_browser import TableBrowser

    rows: list[tuple[str, str]] = []
    with served_demo(args.scale) as server:
        url, datastack, token = server.url, server.datastack, server.token
        startup = server.startup
        rss_start = rss_mb()
        client = CAVEclient(datastack, server_address=url, auth_token=token,
                            write_server_cache=False)
        start = time.perf_counter()
        browser = TableBrowser(client, page_size=args.page_size)
        browser.wait(600)
        rows.append(("server start-up (separate process)", f"{startup:.2f} s"))
        rows.append(("list tables + row counts", f"{time.perf_counter() - start:.2f} s"))
        wire = Wire(browser)

        cold = open_to_first_page(browser, wire, "synapses")
        warm = [open_to_first_page(browser, wire, "synapses") for _ in range(5)]
        rows.append(("synapse table rows", f"{cold['rows']:,}"))
        rows.append(("choose table → first page ready (first time)",
                     f"{cold['page'] * 1e3:.0f} ms"))
        rows.append(("choose table → first page ready (median of 5)",
                     f"{statistics.median(w['page'] for w in warm) * 1e3:.0f} ms"))
        rows.append(("choose table → 'N rows match' (median of 5)",
                     f"{statistics.median(w['count'] for w in warm) * 1e3:.0f} ms"))

        times, sizes, rss = turn_pages(wire, 1, args.pages)
        times.sort()
        rows.append((f"turn a page, keyset (median / p95 of {args.pages})",
                     f"{statistics.median(times) * 1e3:.1f} / "
                     f"{times[int(0.95 * len(times)) - 1] * 1e3:.1f} ms"))
        rows.append((f"bytes sent per page ({args.page_size} rows, IPC + JSON)",
                     f"{statistics.median(sizes):,.0f} B"))
        rows.append((f"kernel RSS while paging {args.pages} pages",
                     " → ".join(f"{r:.0f}" for r in rss) + f" MB (growth {rss[-1] - rss[0]:+.1f})"))
        more_times, _, more_rss = turn_pages(wire, 1 + args.pages, args.pages)
        rows.append((f"… the next {args.pages} pages",
                     f"RSS {more_rss[0]:.0f} → {more_rss[-1]:.0f} MB "
                     f"(growth {more_rss[-1] - more_rss[0]:+.1f}), median "
                     f"{statistics.median(more_times) * 1e3:.1f} ms"))

        deep = cold["rows"] // args.page_size // 2
        start = time.perf_counter()
        wire.reply(wire.ask("page", page=deep))
        jump = time.perf_counter() - start
        start = time.perf_counter()
        wire.reply(wire.ask("page", page=deep + 1))
        after = time.perf_counter() - start
        rows.append((f"jump to page {deep:,} (id at offset, then by key) / the next page",
                     f"{jump * 1e3:.0f} ms / {after * 1e3:.1f} ms"))
        from cave_widgets.widgets.table_browser.paging import PageCursor, fetch_page

        start = time.perf_counter()
        fetch_page(client.materialize, browser.query, PageCursor(args.page_size), deep + 2,
                   probe=False)
        rows.append(("… the same jump as a plain offset query (for comparison)",
                     f"{(time.perf_counter() - start) * 1e3:.0f} ms"))
        for size in (50, 500):
            browser.set_query(page_size=size)
            _, content, buffers = wire.reply(wire.ask("page", page=0))
            start = time.perf_counter()
            _, content, buffers = wire.reply(wire.ask("page", page=1))
            rows.append((f"page of {size}: time / bytes",
                         f"{(time.perf_counter() - start) * 1e3:.1f} ms / "
                         f"{Wire.size(content, buffers):,} B"))
        browser.set_query(page_size=args.page_size)

        # the whole result of a ~1M-row filter, into the kernel, in chunks
        browser.set_query(filters=[{"column": "id", "op": "range",
                                    "max": str(int(args.rows * 1.05))}])
        before = rss_mb()
        start = time.perf_counter()
        df = browser.df
        fetch_time = time.perf_counter() - start
        job = browser._job
        rows.append((f"browser.df: {len(df):,} rows in {job.requests} chunks (≤ row cap)",
                     f"{fetch_time:.2f} s, RSS {rss_mb() - before:+.0f} MB"))

        frame_path = Path(home) / "frame.feather"
        import pyarrow as pa
        from pyarrow import feather

        # the same rows with split positions (numeric columns only: DataGrid's best case)
        flat = df.iloc[:args.rows].copy()
        for column in [c for c in flat.columns if str(flat[c].dtype) == "position"]:
            xyz = flat.pop(column).array._data
            for i, axis in enumerate("xyz"):
                flat[f"{column}_{axis}"] = xyz[:, i]
        feather.write_feather(pa.Table.from_pandas(flat, preserve_index=False), frame_path)
        why_not = ensure_datagrid(args.datagrid_dir)
        if why_not:
            rows.append(("ipydatagrid DataGrid(df)", f"not measured: {why_not}"))
        else:
            grid = datagrid_child(frame_path, args.datagrid_dir)
            rows.append((f"ipydatagrid 1.4.0 DataGrid(df), {grid['rows']:,} rows: build",
                         f"{grid['construct']:.2f} s"))
            rows.append(("… serialize its state (what display sends)",
                         f"{grid['serialize']:.2f} s, "
                         f"{(grid['json_bytes'] + grid['buffer_bytes']) / 2**20:,.0f} MB "
                         f"({grid['buffer_bytes'] / 2**20:,.0f} MB binary)"))
            rows.append(("… kernel RSS growth", f"{grid['rss_growth_mb']:+.0f} MB"))
            rows.append(("… root ids as sent",
                         f"dtype {grid['root_id_dtype']}: {grid['real_first_root']} arrives "
                         f"as {grid['sent_first_root']}"))
        rows.append(("kernel RSS, whole run", f"{rss_start:.0f} → {rss_mb():.0f} MB"))
        browser.close()

    width = max(len(name) for name, _ in rows)
    print(f"\nTableBrowser on the {args.scale} demo (page size {args.page_size})\n")
    print(f"{'measure':{width}}  value")
    print(f"{'-' * width}  {'-' * 40}")
    for name, value in rows:
        print(f"{name:{width}}  {value}")


if __name__ == "__main__":
    main()
