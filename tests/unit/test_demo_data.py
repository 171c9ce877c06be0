"""The synthetic demo datastack: deterministic, cached, and internally consistent."""

import duckdb
import numpy as np
import pytest

from cave_widgets.server.chunkedgraph.storage import load_graph
from cave_widgets.server.demo import build, catalog
from cave_widgets.server.demo.segmentation import graph_meta


@pytest.fixture(scope="module")
def small_db(tmp_path_factory):
    return build.ensure_demo_database("small", tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def con(small_db):
    c = duckdb.connect()
    c.execute(f"ATTACH '{small_db}' AS demo (READ_ONLY)")
    yield c
    c.close()


def table_digest(path, name):
    c = duckdb.connect(str(path), read_only=True)
    try:
        return c.execute(f"SELECT count(*), sum(hash(COLUMNS(*))) FROM {name}").fetchall()
    finally:
        c.close()


def test_build_is_deterministic_and_cached(small_db, tmp_path):
    again = build.ensure_demo_database("small", tmp_path)
    for name in ("synapses", "nuclei", "cell_types", "cell_type_ref", "sv_spans", "lineage"):
        assert table_digest(small_db, name) == table_digest(again, name)
    mtime = again.stat().st_mtime_ns
    assert build.ensure_demo_database("small", tmp_path) == again
    assert again.stat().st_mtime_ns == mtime  # served from the cache, not rebuilt


def test_generator_change_rebuilds_and_drops_stale(tmp_path, monkeypatch):
    first = build.ensure_demo_database("small", tmp_path)
    monkeypatch.setattr(build, "SEED", build.SEED + 1)
    second = build.ensure_demo_database("small", tmp_path)
    assert second != first and second.exists() and not first.exists()


def test_unknown_scale_is_refused(tmp_path):
    with pytest.raises(ValueError, match="small, default, large"):
        build.ensure_demo_database("huge", tmp_path)


def test_ids_look_like_real_ones(con):
    svs, roots = con.execute(
        "SELECT list(DISTINCT pre_pt_supervoxel_id), list(DISTINCT pre_pt_root_id) "
        "FROM demo.synapses").fetchone()
    assert all(2**56 <= s < 2**57 for s in svs)
    assert all(r >> 56 == 12 and str(r).startswith("864691135") for r in roots)
    assert con.execute("SELECT count(*) FROM demo.synapses").fetchone()[0] == 20_000


def test_every_supervoxel_has_one_root_at_any_time(con):
    for t in [catalog.HISTORY_START, -20 * catalog.DAY, 0.0]:
        bad = con.execute(
            "SELECT count(*) FROM (SELECT sv, count(*) n FROM demo.sv_spans "
            "WHERE t_from <= ? AND (t_to IS NULL OR t_to > ?) GROUP BY sv) WHERE n <> 1",
            [t, t]).fetchone()[0]
        assert bad == 0


def test_lineage_edges_point_from_retired_to_new(con):
    rows = con.execute(
        "SELECT l.t, p.retired, c.created FROM demo.lineage l "
        "JOIN demo.roots p ON p.root = l.parent JOIN demo.roots c ON c.root = l.child").fetchall()
    assert rows and all(t == retired == created for t, retired, created in rows)


def test_edits_fall_between_every_pair_of_versions_and_after_the_last(con):
    times = sorted(v.time_stamp for v in catalog.VERSIONS) + [0.0]
    edits = [t for (t,) in con.execute("SELECT DISTINCT t FROM demo.lineage").fetchall()]
    for lo, hi in zip(times, times[1:]):
        assert any(lo < t <= hi for t in edits), (lo, hi)


def test_stored_roots_are_those_of_the_base_time(con):
    graph = load_graph(con.cursor(), graph_meta(), catalog.HISTORY_START)
    base = con.execute("SELECT base_time FROM demo.meta").fetchone()[0]
    svs, roots = con.execute(
        "SELECT list(post_pt_supervoxel_id), list(post_pt_root_id) FROM demo.synapses").fetchone()
    got = graph.roots_of(np.array(svs, dtype=np.uint64), base)
    assert np.array_equal(got.astype(np.int64), np.array(roots))


def test_autapses_are_invalid(con):
    bad = con.execute("SELECT count(*) FROM demo.synapses WHERE valid AND "
                      "pre_pt_root_id = post_pt_root_id").fetchone()[0]
    invalid = con.execute("SELECT count(*) FROM demo.synapses WHERE NOT valid").fetchone()[0]
    assert invalid > 0
    # A valid row may only look like an autapse if a merge joined its two cells later.
    assert bad < invalid


def test_stored_tables_have_the_catalogues_columns_in_order(con):
    from cave_widgets import schema_catalogue

    for table in catalog.TABLES:
        want = []
        for column, sql_type in schema_catalogue.columns(table.schema):
            geometry = sql_type.startswith("geometry")
            want += [f"{column}_{a}" for a in "xyz"] if geometry else [column]
        got = [row[0] for row in con.execute(f"DESCRIBE demo.{table.name}").fetchall()]
        assert got == want + ["created", "deleted"], table.name
