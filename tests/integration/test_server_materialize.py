"""Materialization metadata routes over real HTTP: service versions, materialization
versions (listing, metadata, expiry), tables and their metadata and row counts per version,
views and unique string values. Both the v2 and v3 prefixes are exercised.

Expectations come from the demo catalog (demo/catalog.py) and from full-table queries.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
import requests
from helpers.server_http import LATEST, TIMEOUT, VALID, frame, ok
from packaging.version import Version

from cave_widgets.server.demo import catalog

EXPIRED = sorted(v.version for v in catalog.VERSIONS if v.expired)
ALL = sorted(v.version for v in catalog.VERSIONS)
TABLES = [t.name for t in catalog.TABLES]
NAIVE_US = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}$")
APIS = ["v2", "v3"]


# --- helpers ---------------------------------------------------------------------------------


def parse_naive(text: str) -> datetime:
    assert NAIVE_US.match(text), f"not a naive timestamp with 6 fractional digits: {text!r}"
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=timezone.utc)


# --- fixtures (session, root and full come from conftest.py) ----------------------------------


@pytest.fixture(scope="module")
def anchor(demo_server):
    """The server's notion of 'time zero' for the catalog's relative times."""
    return demo_server.context.store.anchor


# --- service versions --------------------------------------------------------------------------


def test_service_version_and_api_versions_need_no_token(root):
    versions = requests.get(f"{root}/versions", timeout=TIMEOUT, allow_redirects=False)
    assert versions.status_code == 200 and versions.json() == [2, 3]
    server = requests.get(f"{root.rsplit('/api', 1)[0]}/version", timeout=TIMEOUT,
                          allow_redirects=False)
    assert server.status_code == 200
    assert isinstance(server.json(), str) and Version(server.json()) >= Version("5.13.0")


# --- materialization versions -----------------------------------------------------------------


@pytest.mark.parametrize("api", APIS)
def test_versions_listing_with_and_without_expired(session, root, api):
    base = f"{root}/{api}/datastack/demo_local"
    assert sorted(ok(session.get(f"{base}/versions"))) == VALID
    assert sorted(ok(session.get(f"{base}/versions", params={"expired": "False"}))) == VALID
    assert sorted(ok(session.get(f"{base}/versions", params={"expired": "True"}))) == ALL
    assert sorted(ok(session.get(f"{base}/versions", params={"expired": "true"}))) == ALL
    assert EXPIRED, "the demo is expected to carry an expired version"


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("version", ALL)
def test_version_metadata_is_naive_with_microseconds_and_matches_the_catalog(
    session, root, anchor, api, version
):
    meta = ok(session.get(f"{root}/{api}/datastack/demo_local/version/{version}"))
    spec = next(v for v in catalog.VERSIONS if v.version == version)
    assert meta["version"] == version and meta["datastack"] == "demo_local"
    assert isinstance(meta["id"], int)
    assert meta["is_merged"] is True
    stamp = parse_naive(meta["time_stamp"])
    assert stamp == anchor + timedelta(seconds=spec.time_stamp)
    assert meta["valid"] is (not spec.expired)
    assert meta["status"] == ("EXPIRED" if spec.expired else "AVAILABLE")
    if spec.days_to_expire is None:
        assert meta["expires_on"] is None
    else:
        expires = parse_naive(meta["expires_on"])
        assert expires - stamp == timedelta(days=spec.days_to_expire) - timedelta(hours=1)


def test_version_timestamps_grow_with_the_version_number(session, root):
    meta = ok(session.get(f"{root}/v3/datastack/demo_local/metadata", params={"expired": "True"}))
    stamps = [parse_naive(m["time_stamp"]) for m in sorted(meta, key=lambda m: m["version"])]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert stamps[-1] < datetime.now(timezone.utc)


@pytest.mark.parametrize("api", APIS)
def test_versions_metadata_lists_valid_or_all(session, root, api):
    base = f"{root}/{api}/datastack/demo_local"
    valid = ok(session.get(f"{base}/metadata", params={"expired": "False"}))
    assert sorted(m["version"] for m in valid) == VALID
    assert all(m["valid"] and m["status"] == "AVAILABLE" for m in valid)
    everything = ok(session.get(f"{base}/metadata", params={"expired": "True"}))
    assert sorted(m["version"] for m in everything) == ALL
    for m in everything:
        assert m == ok(session.get(f"{base}/version/{m['version']}"))


def test_unknown_version_metadata_is_404(session, root):
    r = session.get(f"{root}/v3/datastack/demo_local/version/99")
    assert r.status_code == 404
    assert "No version found" in r.json()["message"]


# --- expired versions answer 410 -----------------------------------------------------------------


@pytest.mark.parametrize("version", EXPIRED)
@pytest.mark.parametrize(
    "method, suffix, body",
    [
        ("GET", "tables", None),
        ("GET", "tables/metadata", None),
        ("GET", "table/synapses/metadata", None),
        ("GET", "table/synapses/count", None),
        ("POST", "table/synapses/query", {"limit": 1}),
        ("POST", "query", {"tables": [["cell_type_ref", "target_id"], ["nuclei", "id"]]}),
        ("GET", "views", None),
        ("GET", "views/schemas", None),
        ("GET", "views/nucleus_types/metadata", None),
        ("GET", "views/nucleus_types/schema", None),
        ("POST", "views/nucleus_types/query", {}),
    ],
)
def test_expired_version_answers_410(session, root, version, method, suffix, body):
    for api in APIS:
        r = session.request(method, f"{root}/{api}/datastack/demo_local/version/{version}/{suffix}",
                            json=body)
        assert r.status_code == 410, (api, suffix, r.text)
        message = r.json()["message"]
        assert "not available" in message and str(version) in message


# --- tables, metadata, counts per version -------------------------------------------------------


def expected_tables(version: int) -> list[str]:
    spec = next(v for v in catalog.VERSIONS if v.version == version)
    return [t.name for t in catalog.TABLES if t.created <= spec.time_stamp]


def test_catalog_tables_differ_between_versions():
    """cell_type_ref arrives after the oldest valid version, so valid versions differ in their
    tables. This pins down the catalog facts the server tests below rely on."""
    assert "cell_type_ref" not in expected_tables(EXPIRED[0])
    assert "cell_type_ref" not in expected_tables(VALID[0])
    assert "cell_type_ref" in expected_tables(LATEST)


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("version", VALID)
def test_tables_of_each_version_follow_the_catalog(session, root, api, version):
    names = ok(session.get(f"{root}/{api}/datastack/demo_local/version/{version}/tables"))
    assert names == expected_tables(version)


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("version", VALID)
def test_tables_metadata_of_each_version(session, root, api, version):
    base = f"{root}/{api}/datastack/demo_local/version/{version}"
    every = ok(session.get(f"{base}/tables/metadata"))
    assert [m["table_name"] for m in every] == expected_tables(version)
    for meta in every:
        spec = next(t for t in catalog.TABLES if t.name == meta["table_name"])
        assert meta == ok(session.get(f"{base}/table/{spec.name}/metadata"))
        assert meta["schema"] == meta["schema_type"] == spec.schema
        # present for every table: null unless it is a reference table (as real AE/ME send)
        assert "reference_table" in meta and meta["reference_table"] == spec.reference_table
        assert meta["description"] == spec.description
        assert meta["notice_text"] == spec.notice_text
        assert [meta[f"voxel_resolution_{a}"] for a in "xyz"] == list(catalog.VOXEL_RESOLUTION)
        assert meta["aligned_volume"] == catalog.ALIGNED_VOLUME
        assert meta["pcg_table_name"] == catalog.PCG_TABLE
        assert meta["segmentation_source"].endswith("/" + catalog.PCG_TABLE)
        assert isinstance(meta["id"], int) and meta["valid"] is True
        parse_naive(meta["created"])
        parse_naive(meta["last_modified"])
    assert len({m["id"] for m in every}) == len(every)


def test_reference_table_metadata_names_its_target(session, root):
    base = f"{root}/v3/datastack/demo_local/version/{LATEST}"
    meta = ok(session.get(f"{base}/table/cell_type_ref/metadata"))
    assert meta["reference_table"] == "nuclei"
    meta = ok(session.get(f"{base}/table/synapses/metadata"))
    assert "reference_table" in meta and meta["reference_table"] is None  # null, never ""


@pytest.mark.parametrize("version, table", [
    (v.version, t.name) for v in catalog.VERSIONS if not v.expired
    for t in catalog.TABLES if t.created <= v.time_stamp
])
def test_count_route_matches_count_query_and_full_length(session, root, full, version, table):
    counts = [
        ok(session.get(f"{root}/{api}/datastack/demo_local/version/{version}/table/{table}/count"))
        for api in APIS
    ]
    query = frame(session.post(
        f"{root}/v3/datastack/demo_local/version/{version}/table/{table}/query",
        params={"count": "True", "arrow_format": "True"}, json={}))
    assert counts[0] == counts[1] == int(query["count"].iloc[0]) == len(full(table, version))


def test_row_counts_and_rows_differ_between_versions(session, root, full):
    for table in ("synapses", "cell_types", "cell_type_ref"):
        counts = [len(full(table, v)) for v in VALID if table in expected_tables(v)]
        assert len(set(counts)) > 1, (table, counts)
    # Not only the counts: the sets of rows differ, and the older version is no subset
    # of the newer one when rows were deleted in between (cell_types deletes some).
    first, last = full("cell_types", VALID[0]), full("cell_types", LATEST)
    assert set(first["id"]) != set(last["id"])
    assert set(last["id"]) - set(first["id"])


def test_root_ids_differ_between_versions_for_the_same_rows(full):
    first, last = full("synapses", VALID[0]), full("synapses", LATEST)
    both = first.merge(last, on="id", suffixes=("_old", "_new"))
    assert len(both) > 0.9 * len(first)
    assert (both["pre_pt_supervoxel_id_old"] == both["pre_pt_supervoxel_id_new"]).all()
    changed = both["pre_pt_root_id_old"] != both["pre_pt_root_id_new"]
    assert 0 < changed.sum() < len(both)


@pytest.mark.parametrize("api", APIS)
def test_unknown_table_in_a_version_is_404_naming_it(session, root, api):
    for suffix in ("table/nope/metadata", "table/nope/count"):
        r = session.get(f"{root}/{api}/datastack/demo_local/version/{LATEST}/{suffix}")
        assert r.status_code == 404 and "'nope'" in r.json()["message"]


# --- views ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("api", APIS)
def test_views_listing_metadata_schema_and_schemas(session, root, api):
    base = f"{root}/{api}/datastack/demo_local/version/{LATEST}"
    views = ok(session.get(f"{base}/views"))
    expected_names = [v.name for v in catalog.VIEWS]
    assert list(views) == expected_names
    spec = catalog.VIEWS[0]
    listed = views[spec.name]
    assert listed["description"] == spec.description
    assert listed["datastack_name"] == "demo_local"
    assert [listed[f"voxel_resolution_{a}"] for a in "xyz"] == list(catalog.VOXEL_RESOLUTION)
    assert {"id", "notice_text", "live_compatible"} <= set(listed)
    meta = ok(session.get(f"{base}/views/{spec.name}/metadata"))
    assert meta == {**listed, "table_name": spec.name}
    schema = ok(session.get(f"{base}/views/{spec.name}/schema"))
    assert schema == {
        "id": {"type": "integer"},
        "volume": {"type": "float"},
        "pt_position": {"type": "SpatialPoint"},
        "pt_supervoxel_id": {"type": "integer"},
        "pt_root_id": {"type": "integer"},
        "classification_system": {"type": "string"},
        "cell_type": {"type": "string"},
    }
    assert ok(session.get(f"{base}/views/schemas")) == {spec.name: schema}


def test_view_columns_in_the_schema_match_the_query_columns(session, root):
    base = f"{root}/v3/datastack/demo_local/version/{LATEST}"
    schema = ok(session.get(f"{base}/views/nucleus_types/schema"))
    got = frame(session.post(f"{base}/views/nucleus_types/query",
                             params={"arrow_format": "True"}, json={"limit": 3}))
    split = []
    for name, spec in schema.items():
        split += [f"{name}_{a}" for a in "xyz"] if spec["type"] == "SpatialPoint" else [name]
    assert list(got.columns) == split


def test_unknown_view_is_404(session, root):
    base = f"{root}/v3/datastack/demo_local/version/{LATEST}"
    for r in (session.get(f"{base}/views/nope/metadata"), session.get(f"{base}/views/nope/schema"),
              session.post(f"{base}/views/nope/query", json={})):
        assert r.status_code == 404 and "'nope'" in r.json()["message"]


# --- unique string values -----------------------------------------------------------------------


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("table", TABLES)
def test_unique_string_values_match_the_latest_table(session, root, full, api, table):
    values = ok(session.get(
        f"{root}/{api}/datastack/demo_local/table/{table}/unique_string_values"))
    df = full(table, LATEST)
    text_columns = [c for c in df.columns
                    if pd.api.types.is_string_dtype(df[c]) and not c.endswith(("_x", "_y", "_z"))]
    assert sorted(values) == sorted(text_columns)
    for column, listed in values.items():
        assert sorted(listed) == sorted(df[column].dropna().unique().tolist())
        assert len(listed) == len(set(listed))
    if table == "cell_types":
        assert "BC" in values["cell_type"] and len(values["classification_system"]) == 2
