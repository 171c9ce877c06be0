"""Import cost: `import cave_widgets` and `from cave_widgets import CAVEclient`, side by side
with `import pandas` and (when its throwaway env exists) `import caveclient`.

    .venv/bin/python bench/import_bench.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CAVECLIENT_PY = REPO / ".venv-caveclient" / "bin" / "python"


def best_of(python: str, code: str, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([python, "-c", code], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    cases = [
        ("python -c pass (interpreter start)", sys.executable, "pass"),
        ("import cave_widgets", sys.executable, "import cave_widgets"),
        ("from cave_widgets import CAVEclient", sys.executable,
         "from cave_widgets import CAVEclient"),
        ("import pandas", sys.executable, "import pandas"),
    ]
    if CAVECLIENT_PY.exists():
        cases.append(("import caveclient (8.2.1)", str(CAVECLIENT_PY), "import caveclient"))
    print(f"{'command':40} {'median of 5':>12}")
    for name, python, code in cases:
        print(f"{name:40} {best_of(python, code) * 1e3:10.0f} ms")


if __name__ == "__main__":
    main()
