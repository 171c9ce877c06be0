"""Compatibility check of annotation writes: the real, unmodified ``caveclient`` (8.x) creates
a table on a CAVE-compatible server, posts rows, sees them in a live query with supervoxel and
root ids, updates one (a new id supersedes the old), deletes one (gone from the live query),
uploads staged rows; and it reads back rows another client (cave_widgets) posted.

Standalone on purpose (caveclient, numpy, pandas and the standard library only): it runs in
the throwaway virtualenv of tests/integration/test_caveclient_compat.py. The token is read
from CAVE_DEMO_TOKEN, never from the command line.

    CAVE_DEMO_TOKEN=... python caveclient_annotation.py --url http://127.0.0.1:8000 \
        --datastack demo_local --table cc_calls --read-table ours --read-ids 1,2

Prints ``PASS name`` / ``FAIL name: reason`` per check, then one line ``RESULT <json>``
(what it read of the other client's rows and what it left in its own table, for the test to
compare with what cave_widgets reads), then ``N passed, M failed``; exit status 1 when any
check failed.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from types import SimpleNamespace

import pandas as pd
import requests
from smoke_runner import CheckFailed, Checks, ensure, run_checks, server_arguments, token_from_env

RESOLUTION = [4, 4, 40]
CHECKS = Checks()
check = CHECKS.check


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def live(s, table: str) -> pd.DataFrame:
    df = s.client.materialize.live_live_query(table, now())
    return df.set_index("id")


def plain(value):
    """Values of a DataFrame cell as JSON-able Python values (positions as lists of ints)."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, list):
        return [int(v) for v in value]
    return value


def rows_of(df: pd.DataFrame, columns: list[str]) -> dict[str, dict]:
    return {str(int(i)): {c: plain(row[c]) for c in columns} for i, row in df.iterrows()}


LIVE_COLUMNS = ["cell_type", "classification_system", "pt_position", "pt_supervoxel_id",
                "pt_root_id"]


def row(s, i: int, cell_type: str) -> dict:
    return {"cell_type": cell_type, "classification_system": "caveclient",
            "pt": {"position": s.positions[i]}}


# --------------------------------------------------------------------------------------


@check("construct the client; points to annotate from the nuclei table")
def _(s):
    from caveclient import CAVEclient

    s.client = CAVEclient(s.datastack, server_address=s.url, auth_token=s.token,
                          write_server_cache=False)
    nuclei = s.client.materialize.query_table("nuclei", filter_greater_dict={"pt_root_id": 0},
                                              limit=6)
    ensure(len(nuclei) == 6, f"{len(nuclei)} nuclei")
    s.positions = [[int(v) for v in p] for p in nuclei.pt_position]
    s.nucleus_svs = [int(v) for v in nuclei.pt_supervoxel_id]


@check("read the rows cave_widgets posted (get_annotation and live_live_query)")
def _(s):
    if not s.read_table:
        return
    got = s.client.annotation.get_annotation(s.read_table, s.read_ids)
    ensure(sorted(r["id"] for r in got) == sorted(s.read_ids), f"ids {got!r}")
    s.result["read"] = {"annotations": {str(r["id"]): r for r in got},
                        "live": rows_of(live(s, s.read_table), LIVE_COLUMNS)}


@check("create_table, get_tables, get_table_metadata")
def _(s):
    ann = s.client.annotation
    response = ann.create_table(s.table, "cell_type_local", "made by caveclient", RESOLUTION,
                                notice_text="written by the compatibility test")
    ensure(response.status_code == 200 and response.text == s.table,
           f"create answered {response.status_code} {response.text!r}")
    ensure(s.table in ann.get_tables(), "the new table is not listed")
    meta = ann.get_table_metadata(s.table)
    ensure(meta["voxel_resolution"] == [float(v) for v in RESOLUTION], f"metadata {meta!r}")
    ensure(meta["schema_type"] == "cell_type_local" and meta["reference_table"] is None,
           f"metadata {meta!r}")
    ensure(ann.get_annotation_count(s.table) == 0, "a new table has rows")


@check("post_annotation: rows are live at once, with supervoxel and root ids")
def _(s):
    ann = s.client.annotation
    s.ids = ann.post_annotation(s.table, [row(s, 0, "BC"), row(s, 1, "MC"), row(s, 2, "NGC")])
    ensure(len(s.ids) == 3 and all(isinstance(i, int) for i in s.ids), f"ids {s.ids!r}")
    rows = live(s, s.table)
    ensure(sorted(rows.index) == sorted(s.ids), f"live ids {sorted(rows.index)} vs {s.ids}")
    ensure([int(v) for v in rows.loc[s.ids, "pt_supervoxel_id"]] == s.nucleus_svs[:3],
           "the rows' supervoxels are not those of the nuclei at the same points")
    svs = [int(v) for v in rows.loc[s.ids, "pt_supervoxel_id"]]
    roots = [int(r) for r in s.client.chunkedgraph.get_roots(svs, timestamp=now())]
    ensure([int(v) for v in rows.loc[s.ids, "pt_root_id"]] == roots, "root ids differ from "
           "the chunkedgraph's roots of their supervoxels")
    got = {r["id"]: r for r in ann.get_annotation(s.table, s.ids)}
    ensure(got[s.ids[0]]["pt_position"] == s.positions[0], f"read back {got[s.ids[0]]!r}")


@check("update_annotation: a new id supersedes the old")
def _(s):
    ann = s.client.annotation
    old = s.ids[0]
    mapping = ann.update_annotation(s.table, [{"id": old, **row(s, 0, "BC-updated")}])
    ensure(list(mapping) == [str(old)], f"mapping {mapping!r}")
    new = int(mapping[str(old)])
    ensure(new != old, "the update kept the id")
    rows = live(s, s.table)
    ensure(new in rows.index and old not in rows.index, f"live ids {sorted(rows.index)}")
    ensure(rows.loc[new, "cell_type"] == "BC-updated", "the new row has the old value")
    was = ann.get_annotation(s.table, [old])[0]
    ensure(was["valid"] is False and was["superceded_id"] == new, f"old row {was!r}")
    s.ids[0] = new


@check("delete_annotation: gone from the live query")
def _(s):
    ann = s.client.annotation
    gone = s.ids.pop(1)
    ensure(ann.delete_annotation(s.table, [gone]) == [gone], "delete answered otherwise")
    ensure(gone not in live(s, s.table).index, "a deleted row is still live")


@check("stage_annotations + upload_staged_annotations, post_annotation_df")
def _(s):
    ann = s.client.annotation
    staged = ann.stage_annotations(s.table)
    staged.add(cell_type="staged", classification_system="caveclient",
               pt_position=s.positions[3])
    new = ann.upload_staged_annotations(staged, progress=False)
    ensure(len(new) == 1, f"upload answered {new!r}")
    df = pd.DataFrame({"cell_type": ["from_df"], "classification_system": ["caveclient"],
                       "pt_position": [s.positions[4]]})
    from_df = ann.post_annotation_df(s.table, df, position_columns=None)
    s.ids += [int(new[0]), int(from_df[0])]
    ensure(sorted(live(s, s.table).index) == sorted(s.ids), "live ids after staging")
    ensure(ann.get_annotation_count(s.table) == 6, "count is every row ever written")


@check("a refused row: HTTPError, nothing written; update_metadata")
def _(s):
    ann = s.client.annotation
    before = ann.get_annotation_count(s.table)
    try:
        ann.post_annotation(s.table, [row(s, 5, "ok"), {"cell_type": "no point"}])
    except requests.HTTPError as exc:
        ensure("pt" in str(exc), f"the error does not name the field: {exc}")
    else:
        raise CheckFailed("a row without its point was accepted")
    ensure(ann.get_annotation_count(s.table) == before, "part of a refused batch was written")
    meta = ann.update_metadata(s.table, notice_text="none", description="changed")
    ensure(meta["notice_text"] is None and meta["description"] == "changed", f"{meta!r}")


@check("what the table holds now")
def _(s):
    s.result["written"] = {"table": s.table, "ids": s.ids,
                           "live": rows_of(live(s, s.table), LIVE_COLUMNS)}


def main(argv=None) -> int:
    parser = server_arguments(__doc__.split("\n\n")[0])
    parser.add_argument("--table", required=True, help="the table to create and write")
    parser.add_argument("--read-table", default="", help="a table another client wrote")
    parser.add_argument("--read-ids", default="", help="its annotation ids, comma-separated")
    args = parser.parse_args(argv)
    token = token_from_env()
    if not token:
        return 2
    import caveclient

    print(f"caveclient {caveclient.__version__}", flush=True)
    s = SimpleNamespace(url=args.url.rstrip("/"), datastack=args.datastack, token=token,
                        table=args.table, read_table=args.read_table,
                        read_ids=[int(i) for i in args.read_ids.split(",") if i], result={})
    status = run_checks(CHECKS, s, [token], verbose=True, stop_at_first_failure=True)
    print("RESULT " + json.dumps(s.result), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
