"""live_live_query over real HTTP: rows and root ids at an arbitrary timestamp.

Independent checks: at a version's timestamp the live answer equals that frozen version;
after the newest version it differs (the demo history has edits and new rows after it), and
every live root id equals what the chunkedgraph's roots_binary says for its supervoxel then.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from helpers.server_http import LATEST, as_user, frame, roots_binary, same

from cave_widgets.server.demo import catalog

LIVE_PARAMS = {"return_pyarrow": "True", "arrow_format": "True", "merge_reference": "False",
               "allow_missing_lookups": "False", "allow_invalid_root_ids": "False",
               "direct_sql_pandas": "True"}


# --- helpers ---------------------------------------------------------------------------------


def iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).isoformat()  # what caveclient sends: with +00:00


# --- fixtures (session, base, cg, full, version_time and now come from conftest.py) ------------


@pytest.fixture(scope="module")
def live(session, base):
    cache: dict = {}

    def get(table: str, when: datetime, **params) -> pd.DataFrame:
        key = (table, when, tuple(sorted(params.items())))
        if key not in cache:
            cache[key] = frame(session.post(f"{base}/query", params={**LIVE_PARAMS, **params},
                                            json={"table": table, "timestamp": iso(when)}))
        return cache[key]

    return get


def roots_at(session, cg, svs, when: datetime) -> np.ndarray:
    return roots_binary(session, cg, svs, when.timestamp()).astype(np.int64)


@pytest.fixture(scope="module")
def edits_after_latest(session, cg, version_time, now):
    r = session.get(f"{cg}/delta_roots", params={
        "timestamp_past": version_time[LATEST].timestamp(), "timestamp_future": now.timestamp()})
    delta = r.json()
    # The demo's proofreading history continues after the newest version: the premise of
    # every "live differs from the latest version" test below.
    assert delta["old_roots"] and delta["new_roots"], delta
    return delta


# --- live equals frozen at a version's time; differs after the newest one -------------------------


@pytest.mark.parametrize("table", ["synapses", "nuclei", "cell_types", "cell_type_ref"])
@pytest.mark.parametrize("version", [3, 4])
def test_live_at_a_version_time_equals_that_version(live, full, version_time, table, version):
    when = version_time[version] + timedelta(milliseconds=1)
    got = live(table, when)
    expected = full(table, version).drop(columns="valid")
    assert "valid" not in got.columns
    assert list(got.columns) == list(expected.columns)
    same(got, expected)


def test_live_rows_after_the_latest_version_differ(live, full, now, edits_after_latest):
    got = live("synapses", now)
    latest = full("synapses", LATEST)
    new_ids = set(got["id"]) - set(latest["id"])
    gone_ids = set(latest["id"]) - set(got["id"])
    assert new_ids, "rows were added after the newest version"
    assert len(new_ids) + len(gone_ids) < 0.05 * len(latest)
    assert got["id"].is_unique and got["id"].is_monotonic_increasing


def test_live_root_ids_after_the_latest_version_differ_and_follow_the_chunkedgraph(
    session, cg, live, full, now, version_time, edits_after_latest
):
    got = live("synapses", now)
    latest = full("synapses", LATEST)
    both = got.merge(latest, on="id", suffixes=("", "_v"))
    assert (both["pre_pt_supervoxel_id"] == both["pre_pt_supervoxel_id_v"]).all()
    changed = both[both["pre_pt_root_id"] != both["pre_pt_root_id_v"]]
    assert len(changed) > 0, "an edit after the newest version changes some root ids"
    # The ids that changed are exactly the retired ones → their successors.
    assert set(changed["pre_pt_root_id_v"]) <= set(edits_after_latest["old_roots"])
    assert set(changed["pre_pt_root_id"]) <= set(edits_after_latest["new_roots"])
    for side in ("pre", "post"):
        expected = roots_at(session, cg, got[f"{side}_pt_supervoxel_id"], now)
        np.testing.assert_array_equal(got[f"{side}_pt_root_id"].to_numpy(), expected)
        expected_v = roots_at(session, cg, latest[f"{side}_pt_supervoxel_id"], version_time[LATEST])
        np.testing.assert_array_equal(latest[f"{side}_pt_root_id"].to_numpy(), expected_v)


def test_live_between_versions_has_roots_of_that_moment(session, cg, live, version_time):
    when = version_time[3] + (version_time[4] - version_time[3]) / 2
    got = live("nuclei", when)
    np.testing.assert_array_equal(got["pt_root_id"].to_numpy(),
                                  roots_at(session, cg, got["pt_supervoxel_id"], when))
    assert (got["pt_root_id"] == 0).sum() == (got["pt_supervoxel_id"] == 0).sum() > 0


def test_tables_that_did_not_exist_yet_are_404_live(session, base, version_time, demo_server):
    """No two valid versions differ in their tables (all postdate cell_type_ref), so the
    catalog's table creation times are checked through live queries before the first one."""
    created = next(t.created for t in catalog.TABLES if t.name == "cell_type_ref")
    early = min(version_time.values()) - timedelta(days=12)
    early_rel = (early - demo_server.context.store.anchor).total_seconds()
    assert catalog.HISTORY_START < early_rel < created  # the catalog premise of this test
    r = session.post(f"{base}/query", params=LIVE_PARAMS,
                     json={"table": "cell_type_ref", "timestamp": iso(early)})
    assert r.status_code == 404 and "cell_type_ref" in r.json()["message"]
    after = demo_server.context.store.anchor + timedelta(seconds=created + 60)
    r = session.post(f"{base}/query", params=LIVE_PARAMS,
                     json={"table": "cell_type_ref", "timestamp": iso(after)})
    assert r.status_code == 200
    r = session.post(f"{base}/query", params=LIVE_PARAMS,
                     json={"table": "synapses", "timestamp": iso(early), "limit": 5})
    assert len(frame(r)) == 5


def test_live_row_counts_grow_with_time(live, version_time, now):
    early = min(version_time.values()) - timedelta(days=12)
    counts = [len(live("synapses", t)) for t in (early, version_time[3], now)]
    assert counts[0] < counts[1] < counts[2], counts


# --- filters and root-id validity ----------------------------------------------------------------


def test_live_filters_equal_pandas_filtering(session, base, live, now):
    everything = live("synapses", now)
    roots = everything["post_pt_root_id"].value_counts().index[:4].tolist()
    size = float(everything["size"].median())
    body = {
        "table": "synapses", "timestamp": iso(now),
        "filter_in_dict": {"synapses": {"post_pt_root_id": roots}},
        "filter_greater_dict": {"synapses": {"size": size}},
    }
    got = frame(session.post(f"{base}/query", params=LIVE_PARAMS, json=body))
    expected = everything[everything["post_pt_root_id"].isin(roots)
                          & (everything["size"].astype("float64") > size)]
    assert len(expected) > 0
    same(got, expected)


@pytest.mark.parametrize("key", ["filter_in_dict", "filter_equal_dict"])
def test_root_ids_not_valid_at_the_timestamp_are_400(session, base, full, now,
                                                     edits_after_latest, key):
    latest = full("synapses", LATEST)
    retired = [r for r in edits_after_latest["old_roots"] if r in set(latest["pre_pt_root_id"])]
    assert retired
    old = int(retired[0])
    value = [old] if key == "filter_in_dict" else old
    body = {"table": "synapses", "timestamp": iso(now),
            key: {"synapses": {"pre_pt_root_id": value}}}
    r = session.post(f"{base}/query", params=LIVE_PARAMS, json=body)
    assert r.status_code == 400
    message = r.json()["message"]
    assert "not valid at the query timestamp" in message and str(old) in message


def test_allow_invalid_root_ids_drops_them_with_a_warning(session, base, live, full, now,
                                                          version_time, edits_after_latest):
    latest = full("synapses", LATEST)
    in_latest = set(latest["pre_pt_root_id"])
    old = int(next(r for r in edits_after_latest["old_roots"] if r in in_latest))
    everything = live("synapses", now)
    current = int(everything["pre_pt_root_id"].value_counts().index[0])
    body = {"table": "synapses", "timestamp": iso(now),
            "filter_in_dict": {"synapses": {"pre_pt_root_id": [old, current]}}}
    r = session.post(f"{base}/query", params={**LIVE_PARAMS, "allow_invalid_root_ids": "True"},
                     json=body)
    got = frame(r)
    assert str(old) in r.headers["Warning"]
    same(got, everything[everything["pre_pt_root_id"] == current])
    # The same retired id is fine at a time when it was current (the newest version's time).
    body = {"table": "synapses", "timestamp": iso(version_time[LATEST] + timedelta(milliseconds=1)),
            "filter_in_dict": {"synapses": {"pre_pt_root_id": [old]}}}
    got = frame(session.post(f"{base}/query", params=LIVE_PARAMS, json=body))
    expected = latest[latest["pre_pt_root_id"] == old].drop(columns="valid")
    assert len(expected) > 0
    same(got, expected)


# --- columns, joins, paging -----------------------------------------------------------------------


def test_live_select_columns_as_a_table_keyed_dict(session, base, live, now):
    body = {"table": "synapses", "timestamp": iso(now),
            "select_columns": {"synapses": ["post_pt_root_id", "size", "ctr_pt_position"]},
            "limit": 100}
    r = session.post(f"{base}/query", params=LIVE_PARAMS, json=body)
    got = frame(r)
    # table order, as real synapse tables have it (the catalogue's): post_pt before ctr_pt
    cols = ["post_pt_supervoxel_id", "post_pt_root_id",
            "ctr_pt_position_x", "ctr_pt_position_y", "ctr_pt_position_z", "size"]
    assert list(got.columns) == cols
    same(got, live("synapses", now)[cols].iloc[:100])
    assert '201 - "Limited query to 100 rows' in r.headers["Warning"]
    assert r.headers["dataframe_resolution"] == "4.0, 4.0, 40.0"


def test_live_desired_resolution(session, base, live, now):
    body = {"table": "nuclei", "timestamp": iso(now), "desired_resolution": [8, 8, 40]}
    r = session.post(f"{base}/query", params=LIVE_PARAMS, json=body)
    got = frame(r)
    assert r.headers["dataframe_resolution"] == "8.0, 8.0, 40.0"
    everything = live("nuclei", now)
    np.testing.assert_allclose(got["pt_position_x"], everything["pt_position_x"] / 2)
    np.testing.assert_allclose(got["pt_position_z"], everything["pt_position_z"])


def test_live_join_tables_equals_a_pandas_merge(session, base, live, now):
    body = {"table": "cell_type_ref", "timestamp": iso(now),
            "join_tables": [["cell_type_ref", "target_id", "nuclei", "id"]],
            "suffixes": {"cell_type_ref": "", "nuclei": "_ref"},
            "select_columns": {"cell_type_ref": ["id", "cell_type"],
                               "nuclei": ["id", "pt_root_id"]}}
    r = session.post(f"{base}/query", params=LIVE_PARAMS, json=body)
    got = frame(r)
    ref = live("cell_type_ref", now)
    nuc = live("nuclei", now)
    expected = ref[["id", "target_id", "cell_type"]].merge(
        nuc[["id", "pt_supervoxel_id", "pt_root_id"]].rename(columns={"id": "id_ref"}),
        left_on="target_id", right_on="id_ref").drop(columns="target_id")
    expected = expected.sort_values(["id", "id_ref"])
    assert list(got.columns) == ["id", "cell_type", "id_ref", "pt_supervoxel_id", "pt_root_id"]
    same(got, expected[list(got.columns)])
    assert "Table Owner Notice on cell_type_ref" in r.headers["Warning"]


def test_live_paging(session, base, live, now):
    everything = live("nuclei", now)
    pages = [
        frame(session.post(f"{base}/query", params=LIVE_PARAMS, json={
            "table": "nuclei", "timestamp": iso(now), "offset": off, "limit": 150}))
        for off in range(0, len(everything), 150)
    ]
    same(pd.concat(pages), everything)


def test_live_random_sample(session, base, live, now):
    r = session.post(f"{base}/query", params={**LIVE_PARAMS, "random_sample": "50"},
                     json={"table": "synapses", "timestamp": iso(now)})
    got = frame(r)
    everything = live("synapses", now).set_index("id")
    assert len(got) == 50 and got["id"].is_unique
    same(got.set_index("id"), everything.loc[got["id"]])


def test_concurrent_live_queries_at_many_times_are_consistent(demo_server, base, version_time):
    """More distinct timestamps than the server caches snapshots for, from several threads at
    once; each answer must equal the same request made alone afterwards."""
    from concurrent.futures import ThreadPoolExecutor

    start = min(version_time.values())
    times = [start + timedelta(hours=17 * i) for i in range(24)]

    def one(when):
        with as_user(demo_server.token) as s:
            return frame(s.post(f"{base}/query", params=LIVE_PARAMS,
                                json={"table": "nuclei", "timestamp": iso(when)}))

    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(one, times))
    for when, got in zip(times, together):
        same(got, one(when))
    assert len({tuple(f["pt_root_id"]) for f in together}) > 1  # the times really differ


# --- bad live requests ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, status, words",
    [
        ({"timestamp": "NOW"}, 400, "table"),
        ({"table": 5, "timestamp": "NOW"}, 400, "table"),
        ({"table": "synapses"}, 400, "timestamp"),
        ({"table": "synapses", "timestamp": "yesterday"}, 400, "yesterday"),
        ({"table": "synapses", "timestamp": 1717582201.2}, 400, "timestamp"),
        ({"table": "synapses", "timestamp": "2999-01-01T00:00:00+00:00"}, 400, "future"),
        ({"table": "synapses", "timestamp": "2001-01-01T00:00:00+00:00"}, 400, "oldest"),
        ({"table": "nope", "timestamp": "NOW"}, 404, "nope"),
        ({"table": "synapses", "timestamp": "NOW", "filter_in_dict": [1, 2]},
         400, "filter_in_dict"),
        ({"table": "synapses", "timestamp": "NOW", "filter_equal_dict": "x"},
         400, "filter_equal_dict"),
        ({"table": "synapses", "timestamp": "NOW",
          "filter_in_dict": {"synapses": {"pre_pt_root_id": "abc"}}}, 400, "pre_pt_root_id"),
        ({"table": "synapses", "timestamp": "NOW",
          "filter_in_dict": {"synapses": ["pre_pt_root_id"]}}, 400, "filter_in_dict"),
        ({"table": "synapses", "timestamp": "NOW",
          "filter_equal_dict": {"synapses": {"nope": 1}}}, 400, "nope"),
        ({"table": "synapses", "timestamp": "NOW", "join_tables": [["synapses", "id"]]},
         400, "join_tables"),
        ({"table": "synapses", "timestamp": "NOW",
          "join_tables": [[["x"], "id", "nuclei", "id"]]}, 400, "join_tables"),
        ({"table": "cell_type_ref", "timestamp": "NOW",
          "join_tables": [["cell_type_ref", "target_id", "nuclei", "id"]],
          "select_columns": ["cell_type", "volume"]}, 200, None),
        ({"table": "cell_type_ref", "timestamp": "NOW",
          "join_tables": [["cell_type_ref", "target_id", "nuclei", "id"]],
          "select_columns": 7}, 400, "select_columns"),
        ({"table": "synapses", "timestamp": "NOW", "select_columns": {"synapses": "size"}},
         400, "select_columns"),
        ({"table": "synapses", "timestamp": "NOW", "limit": 0}, 400, "limit"),
    ],
)
def test_bad_live_requests_are_4xx_naming_the_problem(session, base, now, body, status, words):
    body = {k: (iso(now) if v == "NOW" else v) for k, v in body.items()}
    r = session.post(f"{base}/query", params=LIVE_PARAMS, json=body)
    assert r.status_code == status, r.text[:300]
    if status == 200:
        assert len(frame(r)) > 0
    else:
        assert r.headers["Content-Type"] == "application/json"
        assert words in r.json()["message"]
