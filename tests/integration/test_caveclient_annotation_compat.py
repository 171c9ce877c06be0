"""The real caveclient 8.2.1 writes annotations to the embedded server, and the two clients
read each other's rows: caveclient creates a table, posts, sees the rows in a live query,
updates, deletes, uploads staged rows (tests/compat/caveclient_annotation.py, in the
throwaway environment of test_caveclient_compat.py); cave_widgets reads what caveclient
left, caveclient reads what cave_widgets posted — same ids, same values, same supervoxel and
root ids.

Nothing here skips: if the environment cannot be built, the test fails and says why."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from helpers.caveclient_env import ensure_caveclient_env
from helpers.client_materialize import home, make_client  # noqa: F401  (home: a fixture)
from helpers.own_server import own_server as demo_server  # noqa: F401  (this module's own)
from helpers.smoke import run_smoke

SCRIPT = Path(__file__).resolve().parents[1] / "compat" / "caveclient_annotation.py"
RESULT = re.compile(r"^RESULT (.*)$", re.MULTILINE)
LIVE_COLUMNS = ["cell_type", "classification_system", "pt_position", "pt_supervoxel_id",
                "pt_root_id"]


def live_rows(client, table: str) -> dict[str, dict]:
    df = client.materialize.live_live_query(table, datetime.now(timezone.utc),
                                            log_warning=False)
    return {str(int(r["id"])): {c: ([int(v) for v in r[c]] if c.endswith("position")
                                    else (int(r[c]) if c.endswith("_id") else r[c]))
                                for c in LIVE_COLUMNS}
            for _, r in df.iterrows()}


@pytest.mark.slow
def test_caveclient_and_cave_widgets_write_and_read_each_others_annotations(
        demo_server, home, tmp_path):
    python, how = ensure_caveclient_env()
    ours = make_client(demo_server)
    nuclei = ours.materialize.query_table("nuclei", filter_greater_dict={"pt_root_id": 0},
                                          limit=8).sort_values("id")
    positions = [[int(v) for v in p] for p in nuclei.pt_position]
    ours.annotation.create_table("from_cave_widgets", "cell_type_local", "ours",
                                 [4, 4, 40])
    posted = [{"cell_type": t, "classification_system": "cave_widgets",
               "pt": {"position": p}} for t, p in zip(("L23", "L4"), positions[6:8])]
    our_ids = ours.annotation.post_annotation("from_cave_widgets", posted)

    smoke = run_smoke(python, [SCRIPT, "--url", demo_server.url, "--datastack",
                               demo_server.datastack, "--table", "from_caveclient",
                               "--read-table", "from_cave_widgets",
                               "--read-ids", ",".join(map(str, our_ids))],
                      [demo_server.token], tmp_path, f"caveclient env {how}", min_passed=9)
    assert smoke.passed == 9, smoke.output
    result = json.loads(RESULT.findall(smoke.stdout)[-1])

    # caveclient read our rows as we posted them, and live as we see them
    read = result["read"]
    assert sorted(map(int, read["annotations"])) == sorted(our_ids)
    for row_id, row in zip(our_ids, posted):
        theirs = read["annotations"][str(row_id)]
        assert {k: theirs[k] for k in ("cell_type", "classification_system")} == {
            k: row[k] for k in ("cell_type", "classification_system")}
        assert theirs["pt_position"] == row["pt"]["position"]
    assert ours.annotation.get_annotation("from_cave_widgets", our_ids) == sorted(
        read["annotations"].values(), key=lambda r: r["id"])
    assert read["live"] == live_rows(ours, "from_cave_widgets")

    # we read caveclient's rows: the same ids, the same values, the same segment ids
    written = result["written"]
    assert written["table"] == "from_caveclient"
    assert sorted(map(int, written["live"])) == sorted(written["ids"])
    assert live_rows(ours, "from_caveclient") == written["live"]
    got = {r["id"]: r for r in ours.annotation.get_annotation("from_caveclient",
                                                              written["ids"])}
    assert sorted(got) == sorted(written["ids"])
    for row_id in written["ids"]:
        mine, theirs = got[row_id], written["live"][str(row_id)]
        assert mine["pt_position"] == theirs["pt_position"]
        assert mine["cell_type"] == theirs["cell_type"] and mine["valid"] is True
    assert {r["cell_type"] for r in got.values()} == {"BC-updated", "NGC", "staged", "from_df"}
    meta = ours.annotation.get_table_metadata("from_caveclient")
    assert (meta["description"], meta["notice_text"]) == ("changed", None)
