"""The AnnotationEngine of the embedded server over raw HTTP (reference
annotation-schema-wire.md §3, §4): tables, rows and their life (create, post, get, update,
delete, count), visibility to materialization live queries and to versions materialized
later, permissions, validation errors in AE's words, the batch limit."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import requests
from helpers.own_server import own_server as demo_server  # noqa: F401  (this module's own)
from helpers.server_http import LATEST, TIMEOUT

from cave_widgets.server.demo import catalog

AE = f"/annotation/api/v2/aligned_volume/{catalog.ALIGNED_VOLUME}"
ME = f"/materialize/api/v3/datastack/{catalog.DATASTACK}"


class Api:
    def __init__(self, server, token):
        self.url = server.url
        self.s = requests.Session()
        self.s.headers["Authorization"] = f"Bearer {token}"

    def __call__(self, method, path, **kw):
        return self.s.request(method, self.url + path, timeout=TIMEOUT, **kw)


@pytest.fixture(scope="module")
def api(demo_server):
    return Api(demo_server, demo_server.token)


@pytest.fixture(scope="module")
def nucleus(api):
    """A point inside a cell (a nucleus of the demo, in 4x4x40 voxels)."""
    r = api("POST", f"{ME}/version/{LATEST}/table/nuclei/query",
            params={"return_pyarrow": "False", "arrow_format": "True"},
            json={"filter_greater_dict": {"nuclei": {"pt_root_id": 0}}, "limit": 1})
    row = r.json()[0]
    pos = row.get("pt_position") or [row[f"pt_position_{a}"] for a in "xyz"]
    return [int(p) for p in pos], row["id"]


def _create(api, name, schema="cell_type_local", **meta):
    body = {"schema_type": schema, "table_name": name,
            "metadata": {"description": "test table", "voxel_resolution_x": 4.0,
                         "voxel_resolution_y": 4.0, "voxel_resolution_z": 40.0, **meta}}
    return api("POST", f"{AE}/table", json=body)


def _row(pos, cell_type="BC", **extra):
    return {"pt": {"position": pos}, "cell_type": cell_type, "classification_system": "Exc",
            **extra}


def _live(api, table):
    now = datetime.now(timezone.utc).isoformat()
    r = api("POST", f"{ME}/query", params={"return_pyarrow": "False", "arrow_format": "True"},
            json={"table": table, "timestamp": now})
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture(scope="module")
def ct_table(api):
    r = _create(api, "my_cells", notice_text="work in progress")
    assert r.status_code == 200 and r.text == "my_cells"
    return "my_cells"


def test_create_lists_and_describes(api, ct_table):
    assert ct_table in api("GET", f"{AE}/table").json()
    r = api("GET", f"{AE}/table/{ct_table}")
    assert r.status_code == 201
    assert r.headers["Warning"] == "Table Owner Notice: work in progress"
    meta = r.json()
    assert meta["schema_type"] == "cell_type_local" and meta["user_id"] == "1"
    assert meta["reference_table"] is None and meta["voxel_resolution_z"] == 40.0
    assert (meta["read_permission"], meta["write_permission"]) == ("PUBLIC", "PRIVATE")
    assert _create(api, ct_table).json()["message"] == f"400 Bad Request: Table {ct_table} " \
                                                       "already exists"


def test_row_life(api, ct_table, nucleus, demo_server):
    pos, _ = nucleus
    ids = api("POST", f"{AE}/table/{ct_table}/annotations",
              json={"annotations": [_row(pos), _row([p + 1 for p in pos], "MC")]}).json()
    assert len(ids) == 2 and ids[1] == ids[0] + 1
    got = api("GET", f"{AE}/table/{ct_table}/annotations",
              params={"annotation_ids": ",".join(map(str, ids))}).json()
    assert [g["cell_type"] for g in got] == ["BC", "MC"]
    assert got[0]["pt_position"] == pos and got[0]["deleted"] == "None" and got[0]["valid"]
    assert " " in got[0]["created"] and "pt_root_id" not in got[0]

    live = {r["id"]: r for r in _live(api, ct_table)}
    assert set(live) == set(ids)
    sv, root = live[ids[0]]["pt_supervoxel_id"], live[ids[0]]["pt_root_id"]
    assert sv != 0
    roots = api("POST", f"/segmentation/api/v1/table/{catalog.PCG_TABLE}/roots",
                json={"node_ids": [sv]}).json()["root_ids"]
    assert roots == [root]

    mapping = api("PUT", f"{AE}/table/{ct_table}/annotations",
                  json={"annotations": [{"id": ids[0], **_row(pos, "NGC")}]}).json()
    new = mapping[str(ids[0])]
    old, fresh = api("GET", f"{AE}/table/{ct_table}/annotations",
                     params={"annotation_ids": f"{ids[0]},{new}"}).json()
    assert (old["valid"], old["superceded_id"]) == (False, new) and old["deleted"] != "None"
    assert fresh["cell_type"] == "NGC" and fresh["valid"]
    again = api("PUT", f"{AE}/table/{ct_table}/annotations",
                json={"annotations": [{"id": ids[0], **_row(pos)}]})
    assert again.status_code == 409 and "already been superseded" in again.json()["message"]
    assert {r["id"]: r["cell_type"] for r in _live(api, ct_table)} == {ids[1]: "MC", new: "NGC"}

    assert api("DELETE", f"{AE}/table/{ct_table}/annotations",
               json={"annotation_ids": [ids[1], 999999]}).json() == [ids[1]]
    assert [r["id"] for r in _live(api, ct_table)] == [new]
    missing = api("DELETE", f"{AE}/table/{ct_table}/annotations", json={"annotation_ids": [7777]})
    assert missing.status_code == 404 and isinstance(missing.json(), str)
    # count: every row ever written, deleted and superseded ones included (§3.8)
    assert api("GET", f"{AE}/table/{ct_table}/count").json() == 3


def test_versions_see_rows_only_once_materialized(api, ct_table, nucleus):
    pos, _ = nucleus
    [rid] = api("POST", f"{AE}/table/{ct_table}/annotations", json={"annotations": [_row(pos)]}
                ).json()
    assert ct_table not in api("GET", f"{ME}/version/{LATEST}/tables").json()
    r = api("POST", f"/materialize/api/v2/materialize/run/create_frozen/datastack/"
            f"{catalog.DATASTACK}")
    assert r.status_code == 200, r.text
    v = r.json()["version"]
    assert v == LATEST + 1 and v in api("GET", f"{ME}/versions").json()
    assert ct_table in api("GET", f"{ME}/version/{v}/tables").json()
    meta = api("GET", f"{ME}/version/{v}/table/{ct_table}/metadata").json()
    assert meta["schema_type"] == "cell_type_local"
    rows = api("POST", f"{ME}/version/{v}/table/{ct_table}/query",
               params={"return_pyarrow": "False", "arrow_format": "True"}, json={}).json()
    assert rid in [row["id"] for row in rows]


def test_reference_table_targets(api, nucleus):
    _, nucleus_id = nucleus
    body = {"reference_table": "nuclei", "track_target_id_updates": True}
    assert _create(api, "nucleus_notes", "cell_type_reference",
                   table_metadata=body).status_code == 200
    url = f"{AE}/table/nucleus_notes/annotations"
    row = {"cell_type": "exc", "classification_system": "coarse"}
    assert api("POST", url, json={"annotations": [{**row, "target_id": nucleus_id}]}
               ).status_code == 200
    bad = api("POST", url, json={"annotations": [{**row, "target_id": 10**12}]})
    assert bad.status_code == 400
    assert bad.json()["message"].startswith("404 Not Found: annotation 0: target_id")
    no_target = _create(api, "plain_ref", "cell_type_reference")
    assert no_target.status_code == 400
    wrong = _create(api, "bad_ref", "cell_type_local", table_metadata=body)
    assert "ReferenceAnnotation" in wrong.json()["message"]


def test_validation_errors_name_row_and_field(api, ct_table, nucleus):
    pos, _ = nucleus
    url = f"{AE}/table/{ct_table}/annotations"
    before = api("GET", f"{AE}/table/{ct_table}/count").json()
    r = api("POST", url, json={"annotations": [_row(pos), {"cell_type": "BC",
                                                           "classification_system": "x"}]})
    assert r.status_code == 400
    assert r.json() == {"code": 400, "message": "422 Unprocessable Entity: annotation 1: "
                        "{'pt': ['Missing data for required field.']}"}
    r = api("POST", url, json={"annotations": [_row(pos, cell_type=5)]})
    assert "'cell_type': ['Not a valid string.']" in r.json()["message"]
    r = api("POST", url, json={"annotations": [{**_row(pos), "pt": {"position": pos, "x": 1}}]})
    assert "{'pt': {'x': ['Unknown field.']}}" in r.json()["message"]
    assert api("GET", f"{AE}/table/{ct_table}/count").json() == before  # nothing written
    r = _create(api, "extra_keys", table_alias="x")
    assert r.status_code == 400
    assert r.json() == {"schema_errors": {"metadata": {"table_alias": ["Unknown field."]}}}
    assert _create(api, "Bad-Name").json()["message"].startswith("400 Bad Request: Table name")
    assert "not a known annotation type" in _create(api, "nope", "no_such_schema").json()[
        "message"]


def test_batch_limit(api, ct_table, nucleus):
    pos, _ = nucleus
    r = api("POST", f"{AE}/table/{ct_table}/annotations",
            json={"annotations": [_row(pos)] * 10_001})
    assert r.status_code == 413
    assert "The insertion limit is 10000, 10001 were attempted" in r.json()["message"]


def test_permissions(api, demo_server, ct_table, nucleus):
    pos, _ = nucleus
    url = f"{AE}/table/{ct_table}/annotations"
    for who in ("guest", "new"):
        other = Api(demo_server, demo_server.tokens[who])
        assert other("POST", url, json={"annotations": [_row(pos)]}).status_code == 403
        assert other("POST", f"{AE}/table", json={}).status_code == 403
    tos = Api(demo_server, demo_server.tokens["new"])("POST", url, json={"annotations": []})
    assert tos.json()["error"] == "missing_tos"
    # a table owned by someone else (ownership given away at creation), private to write
    assert _create(api, "theirs", user_id="42").status_code == 200
    r = api("POST", f"{AE}/table/theirs/annotations", json={"annotations": [_row(pos)]})
    assert r.status_code == 403
    assert r.json()["message"] == ("401 Unauthorized: Unauthorized: The table can only be "
                                   "written to by owner")
    assert api("DELETE", f"{AE}/table/theirs").status_code == 403
    # built-in demo tables are read-only here
    assert api("POST", f"{AE}/table/nuclei/annotations",
               json={"annotations": []}).status_code == 403
    # the owner may change metadata; an empty notice clears it
    r = api("PUT", f"{AE}/table", json={"table_name": ct_table,
                                       "metadata": {"notice_text": "", "description": "d2"}})
    assert r.status_code == 200 and r.json()["notice_text"] is None
    assert r.json()["description"] == "d2"


def test_delete_table_keeps_it_listed(api):
    assert _create(api, "short_lived").status_code == 200
    assert api("DELETE", f"{AE}/table/short_lived").json() is True
    assert "short_lived" in api("GET", f"{AE}/table").json()
    assert api("GET", f"{AE}/table/short_lived").json()["deleted"] is not None
