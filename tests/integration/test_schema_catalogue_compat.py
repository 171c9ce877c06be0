"""The checked-in schema catalogue (cave_widgets/schema_catalogue/catalogue.json) is exactly what
the real emannotationschemas package gives.

emannotationschemas pins numpy<2 and SQLAlchemy<2, so it cannot live in the development
environment: this test builds (or reuses) a throwaway virtualenv at
``<repo>/.venv-emannotationschemas`` holding the generator's pinned requirements, runs
tools/generate_schema_catalogue.py there into a temporary file and compares it with the
checked-in one: same data (a failure names every schema that differs and where), then the same
bytes (key order and layout).

Nothing here skips: if the environment cannot be built, the test fails and says why.
"""

from __future__ import annotations

import difflib
import importlib.util
import json
from pathlib import Path

import pytest
from helpers.venvs import clean_environ, describe, ensure_env, python_tag, run

REPO = Path(__file__).resolve().parents[2]
ENV_DIR = REPO / ".venv-emannotationschemas"
GENERATOR = REPO / "tools" / "generate_schema_catalogue.py"
CHECKED_IN = REPO / "cave_widgets" / "schema_catalogue" / "catalogue.json"
MAX_PATHS = 8  # differences listed per schema


def load_generator():
    spec = importlib.util.spec_from_file_location("generate_schema_catalogue", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ensure_emannotationschemas_env(requirements: list[str]) -> tuple[Path, str]:
    names = [r.split("==")[0] for r in requirements]
    code = ("import sys; from importlib.metadata import version; "
            f"print(' '.join(n + '==' + version(n) for n in {names!r}), "
            "'%d.%d' % sys.version_info[:2])")
    return ensure_env(ENV_DIR, requirements, code, f"{' '.join(requirements)} {python_tag()}")


# --- comparing two catalogues -------------------------------------------------------------------


def _paths(want, got, path: str):
    """Where two JSON values differ: 'path: want != got' lines (key order included)."""
    if isinstance(want, dict) and isinstance(got, dict):
        for key in want.keys() - got.keys():
            yield f"{path}.{key}: missing (was {json.dumps(want[key])[:120]})"
        for key in got.keys() - want.keys():
            yield f"{path}.{key}: new ({json.dumps(got[key])[:120]})"
        for key in want.keys() & got.keys():
            yield from _paths(want[key], got[key], f"{path}.{key}")
        common = [k for k in want if k in got]
        if common != [k for k in got if k in want]:
            yield f"{path}: key order {common} != {[k for k in got if k in want]}"
    elif isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        for i, (a, b) in enumerate(zip(want, got)):
            yield from _paths(a, b, f"{path}[{i}]")
    elif want != got or type(want) is not type(got):
        yield f"{path}: {json.dumps(want)[:200]} != {json.dumps(got)[:200]}"


def differences(want: dict, got: dict) -> list[str]:
    """Human-readable differences between the checked-in catalogue (`want`) and a fresh one."""
    out = []
    for key in ("about", "format", "versions", "types"):
        if want.get(key) != got.get(key):
            if key == "types":
                gone = [n for n in want.get(key, []) if n not in got.get(key, [])]
                new = [n for n in got.get(key, []) if n not in want.get(key, [])]
                out.append(f"types: removed {gone}, added {new}" if gone or new
                           else "types: same names in another order")
            else:
                out.append(f"{key}: {want.get(key)!r} != {got.get(key)!r}")
    for section in ("schemas", "columns"):
        mine, theirs = want.get(section, {}), got.get(section, {})
        for name in [*mine, *(n for n in theirs if n not in mine)]:
            if name not in theirs:
                out.append(f"{section}[{name}]: no longer generated")
            elif name not in mine:
                out.append(f"{section}[{name}]: new, not in the checked-in file")
            elif mine[name] != theirs[name] or list(mine) != list(theirs):
                found = list(_paths(mine[name], theirs[name], ""))
                shown = "\n    ".join(found[:MAX_PATHS])
                more = f"\n    ... {len(found) - MAX_PATHS} more" if len(found) > MAX_PATHS else ""
                if found:
                    out.append(f"{section}[{name}] differs:\n    {shown}{more}")
    extra = set(want) ^ set(got)
    if extra:
        out.append(f"top-level keys differ: {sorted(extra)}")
    return out


def text_difference(want: str, got: str) -> str:
    diff = difflib.unified_diff(want.splitlines(), got.splitlines(), "checked in", "generated",
                                lineterm="", n=2)
    return "\n".join(list(diff)[:40])


# --- the tests ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_checked_in_catalogue_is_what_emannotationschemas_generates(tmp_path):
    generator = load_generator()
    python, how = ensure_emannotationschemas_env(generator.REQUIREMENTS)
    output = tmp_path / "catalogue.json"
    proc = run([python, GENERATOR, "--output", output], timeout=540, env=clean_environ(),
               cwd=tmp_path)
    print(f"emannotationschemas env {how}\n{describe(proc)}")
    assert proc.returncode == 0, f"the generator failed:\n{describe(proc)}"

    want_text = CHECKED_IN.read_text(encoding="utf-8")
    got_text = output.read_text(encoding="utf-8")
    found = differences(json.loads(want_text), json.loads(got_text))
    assert not found, (
        f"{len(found)} difference(s) between {CHECKED_IN.relative_to(REPO)} and what "
        f"{' '.join(generator.REQUIREMENTS)} generate (regenerate with "
        f"`python tools/generate_schema_catalogue.py --venv DIR`):\n" + "\n".join(found))
    assert got_text == want_text, (
        "same data but not the same bytes (key order or layout):\n"
        + text_difference(want_text, got_text))


def test_the_comparison_names_what_changed():
    # The slow test is only as honest as `differences`: it must see each kind of change.
    want = json.loads(CHECKED_IN.read_text(encoding="utf-8"))
    assert differences(want, json.loads(json.dumps(want))) == []

    got = json.loads(json.dumps(want))
    got["schemas"]["synapse"]["definitions"]["SynapseSchema"]["properties"]["size"][
        "description"] = "changed"
    got["columns"]["bound_tag"][-1] = ["tag", "TEXT"]
    del got["schemas"]["contact"]
    got["versions"]["emannotationschemas"] = "0.0.0"
    bound = got["schemas"]["cell_type_local"]["definitions"]["BoundSpatialPoint"]
    got["schemas"]["cell_type_local"]["definitions"]["BoundSpatialPoint"] = dict(
        reversed(bound.items()))
    report = "\n".join(differences(want, got))
    assert "schemas[synapse] differs" in report and "'changed'" not in report
    assert ".definitions.SynapseSchema.properties.size.description" in report
    assert "columns[bound_tag] differs" in report and "TEXT" in report
    assert "schemas[contact]: no longer generated" in report
    assert "versions:" in report
    assert "schemas[cell_type_local] differs" in report and "key order" in report
