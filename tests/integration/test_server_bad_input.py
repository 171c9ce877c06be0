"""Bad input to the materialization and info services: every mistake is a 4xx JSON answer
whose `message` names the problem — never a 500, never a hang (every call has a timeout)."""

from __future__ import annotations

import pytest
import requests
from helpers.server_http import LATEST

# --- helpers ---------------------------------------------------------------------------------


def refused(response: requests.Response, status: int, *words: str) -> str:
    assert response.status_code == status, f"{response.status_code}: {response.text[:300]}"
    assert response.headers["Content-Type"] == "application/json"
    message = response.json()["message"]
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    return message


# --- unknown names ------------------------------------------------------------------------------


@pytest.mark.parametrize("api", ["v2", "v3"])
@pytest.mark.parametrize(
    "method, suffix",
    [
        ("GET", "versions"),
        ("GET", "metadata"),
        ("GET", f"version/{LATEST}"),
        ("GET", f"version/{LATEST}/tables"),
        ("GET", f"version/{LATEST}/table/nuclei/count"),
        ("POST", f"version/{LATEST}/table/nuclei/query"),
        ("POST", f"version/{LATEST}/query"),
        ("POST", "query"),
        ("GET", f"version/{LATEST}/views"),
        ("GET", "table/cell_types/unique_string_values"),
    ],
)
def test_unknown_datastack_is_404_naming_it(session, root, api, method, suffix):
    r = session.request(method, f"{root}/{api}/datastack/minnie65_public/{suffix}", json={})
    refused(r, 404, "minnie65_public")


def test_unknown_datastack_in_the_info_service(session, demo_server):
    for path in ("/info/api/v2/datastack/full/nope", "/info/api/v2/datastack/nope/image_sources"):
        refused(session.get(demo_server.url + path), 404, "nope")
    for path in ("/info/api/v2/aligned_volume/nope", "/info/api/v2/aligned_volume/id/7",
                 "/info/api/v2/aligned_volume/nope/datastacks"):
        r = session.get(demo_server.url + path)
        assert r.status_code == 404 and r.json()["message"]


def test_unknown_table_view_and_version(session, root):
    v3 = f"{root}/v3/datastack/demo_local"
    refused(session.post(f"{v3}/version/{LATEST}/table/nope/query", json={}), 404, "'nope'")
    refused(session.get(f"{v3}/version/{LATEST}/table/nope/metadata"), 404, "'nope'")
    refused(session.get(f"{v3}/table/nope/unique_string_values"), 404, "'nope'")
    refused(session.post(f"{v3}/version/{LATEST}/views/nope/query", json={}), 404, "'nope'")
    refused(session.get(f"{v3}/version/{LATEST}/views/nope/schema"), 404, "'nope'")
    message = refused(session.get(f"{v3}/version/99/tables"), 404, "99")
    assert str(LATEST) in message  # says which versions exist
    refused(session.post(f"{v3}/version/0/table/nuclei/query", json={}), 404, "0")
    refused(session.post(f"{v3}/version/-3/table/nuclei/query", json={}), 404, "-3")


@pytest.mark.parametrize("version", ["abc", "5.0", "1e3", "five"])
def test_non_integer_version_in_the_path_is_400(session, root, version):
    v3 = f"{root}/v3/datastack/demo_local"
    refused(session.get(f"{v3}/version/{version}/tables"), 400, "version", version)
    refused(session.post(f"{v3}/version/{version}/table/nuclei/query", json={}), 400, "version")
    refused(session.get(f"{v3}/version/{version}"), 400, "version")


# --- query bodies ---------------------------------------------------------------------------------

NUC = "nuclei"


@pytest.mark.parametrize(
    "body, words",
    [
        # unknown columns, named together with the table
        ({"filter_in_dict": {NUC: {"nope": [1]}}}, ["'nope'", "nuclei"]),
        ({"select_columns": ["id", "nope"]}, ["'nope'"]),
        ({"filter_spatial_dict": {NUC: {"nope_position": [[0, 0, 0], [1, 1, 1]]}}},
         ["nope_position"]),
        # malformed shapes
        ({"filter_in_dict": [1, 2]}, ["filter_in_dict"]),
        ({"filter_in_dict": {NUC: [1, 2]}}, ["filter_in_dict"]),
        ({"filter_in_dict": {NUC: {"id": 5}}}, ["list", "'id'"]),
        ({"filter_in_dict": {"synapses": {"id": [1]}}}, ["synapses", "nuclei"]),
        ({"filter_equal_dict": {NUC: {"id": [1, 2]}}}, ["'id'"]),
        ({"filter_notin_dict": "id"}, ["filter_notin_dict"]),
        ({"select_columns": "id"}, ["select_columns"]),
        ({"select_columns": [1, 2]}, ["select_columns"]),
        ({"desired_resolution": [4, 4]}, ["desired_resolution"]),
        ({"desired_resolution": [4, 4, "40"]}, ["desired_resolution"]),
        ({"desired_resolution": [4, 4, -40]}, ["desired_resolution"]),
        # wrong-typed values
        ({"filter_in_dict": {NUC: {"pt_root_id": ["864691135000043443"]}}},
         ["pt_root_id", "integers"]),
        ({"filter_equal_dict": {NUC: {"id": 100006.0}}}, ["'id'", "100006.0"]),
        ({"filter_equal_dict": {NUC: {"id": True}}}, ["'id'"]),
        ({"filter_greater_dict": {NUC: {"volume": "big"}}}, ["volume", "numbers"]),
        ({"filter_in_dict": {NUC: {"pt_root_id": [2**64]}}}, ["64-bit"]),
        ({"filter_equal_dict": {NUC: {"valid": 1}}}, ["valid"]),
        ({"filter_in_dict": {NUC: {"pt_position": [[1, 2, 3]]}}},
         ["pt_position", "filter_spatial_dict"]),
        # bounding boxes
        ({"filter_spatial_dict": {NUC: {"pt_position": [[10, 10, 10], [10, 20, 20]]}}},
         ["minimum", "maximum"]),
        ({"filter_spatial_dict": {NUC: {"pt_position": [[30, 10, 10], [20, 20, 20]]}}},
         ["minimum"]),
        ({"filter_spatial_dict": {NUC: {"pt_position": [[0, 0, 0]]}}}, ["bounding box"]),
        ({"filter_spatial_dict": {NUC: {"pt_position": [[0, 0], [1, 1]]}}}, ["bounding box"]),
        ({"filter_spatial_dict": {NUC: {"pt_position": [[0, 0, "a"], [1, 1, 1]]}}},
         ["bounding box"]),
        ({"filter_spatial_dict": {NUC: {"volume": [[0, 0, 0], [1, 1, 1]]}}}, ["position"]),
        # regular expressions
        ({"filter_regex_dict": {NUC: {"volume": "1"}}}, ["text columns"]),
        # paging
        ({"offset": -1}, ["offset", "-1"]),
        ({"offset": "10"}, ["offset"]),
        ({"offset": 2**70}, ["offset"]),
        ({"limit": 0}, ["limit", "0"]),
        ({"limit": -5}, ["limit"]),
        ({"limit": 2.5}, ["limit"]),
    ],
)
def test_bad_table_query_bodies_are_400_naming_the_problem(session, root, body, words):
    url = f"{root}/v3/datastack/demo_local/version/{LATEST}/table/{NUC}/query"
    refused(session.post(url, json=body), 400, *words)


@pytest.mark.parametrize("pattern", ["([", "[a-", "a{2,1}", "(?<=x)y", "*"])
def test_invalid_regex_is_400_naming_the_regex(session, root, pattern):
    url = f"{root}/v3/datastack/demo_local/version/{LATEST}/table/cell_types/query"
    body = {"filter_regex_dict": {"cell_types": {"cell_type": pattern}}}
    message = refused(session.post(url, json=body), 400, "regular expression")
    assert "filter_regex_dict" in message


@pytest.mark.parametrize(
    "raw, words",
    [
        ("{bad json", ["JSON"]),
        ("[1, 2]", ["JSON object"]),
        ('"text"', ["JSON object"]),
        (b"\xff\xfe\x00", ["JSON"]),
    ],
)
def test_invalid_json_bodies_are_400(session, root, raw, words):
    for url in (f"{root}/v3/datastack/demo_local/version/{LATEST}/table/{NUC}/query",
                f"{root}/v3/datastack/demo_local/version/{LATEST}/query",
                f"{root}/v3/datastack/demo_local/query"):
        r = session.post(url, data=raw, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, (url, r.text)
        message = r.json()["message"]
        assert any(w in message for w in words), message


@pytest.mark.parametrize(
    "params, words",
    [
        ({"count": "maybe"}, ["count"]),
        ({"return_pyarrow": "perhaps"}, ["return_pyarrow"]),
        ({"random_sample": "abc"}, ["random_sample"]),
        ({"random_sample": "0"}, ["random_sample"]),
        ({"random_sample": "-4"}, ["random_sample"]),
    ],
)
def test_bad_query_parameters_are_400(session, root, params, words):
    url = f"{root}/v3/datastack/demo_local/version/{LATEST}/table/{NUC}/query"
    refused(session.post(url, params=params, json={}), 400, *words)


JOIN = [["nuclei", "id"], ["cell_type_ref", "target_id"]]


@pytest.mark.parametrize(
    "body, status, words",
    [
        ({}, 400, ["tables"]),
        ({"tables": [["nuclei", "id"]]}, 400, ["tables"]),
        ({"tables": [["nuclei"], ["cell_type_ref"]]}, 400, ["tables"]),
        ({"tables": [["nuclei", "id"], ["cell_type_ref", 3]]}, 400, ["tables"]),
        ({"tables": [["nuclei", "id"], ["nope", "id"]]}, 404, ["'nope'"]),
        ({"tables": [["nuclei", "nope"], ["cell_type_ref", "target_id"]]}, 400, ["'nope'"]),
        ({"tables": [["nuclei", "id"], ["nuclei", "id"]]}, 400, ["nuclei", "two different"]),
        ({"tables": JOIN, "select_column_map": {"synapses": ["id"]}}, 400, ["synapses"]),
        ({"tables": JOIN, "select_column_map": ["id"]}, 400, ["select_column_map"]),
        ({"tables": JOIN, "select_column_map": {"nuclei": "id"}}, 400, ["select_column_map"]),
        ({"tables": JOIN, "select_columns": ["nope"]}, 400, ["'nope'"]),
        ({"tables": JOIN, "suffix_map": {"nuclei": 1}}, 400, ["suffix_map"]),
        ({"tables": JOIN, "suffixes": ["_a"]}, 400, ["suffixes"]),
        ({"tables": JOIN, "filter_in_dict": {"synapses": {"id": [1]}}}, 400, ["synapses"]),
        ({"tables": JOIN, "filter_in_dict": {"cell_type_ref": {"target_id": ["1"]}}}, 400,
         ["target_id"]),
    ],
)
def test_bad_join_bodies_are_4xx_naming_the_problem(session, root, body, status, words):
    url = f"{root}/v3/datastack/demo_local/version/{LATEST}/query"
    refused(session.post(url, json=body), status, *words)


def test_bad_flags_on_listing_routes_are_400(session, root):
    refused(session.get(f"{root}/v3/datastack/demo_local/versions", params={"expired": "often"}),
            400, "expired")
    refused(session.get(f"{root}/v3/datastack/demo_local/metadata", params={"expired": "2"}),
            400, "expired")


def test_wrong_method_and_unknown_route_are_json(session, root, demo_server):
    r = session.get(f"{root}/v3/datastack/demo_local/version/{LATEST}/table/{NUC}/query")
    refused(r, 405, "GET")
    refused(session.get(f"{demo_server.url}/materialize/api/v9/datastack/demo_local/versions"), 404,
            "no route")
    refused(session.get(f"{demo_server.url}/nothing/here"), 404, "/nothing/here")


def test_trailing_slash_and_double_slash_are_not_redirected(session, root, demo_server):
    r = session.get(f"{root}/v3/datastack/demo_local/versions/")
    assert r.status_code == 404  # the hook already asserted: no redirect
    r = session.get(f"{demo_server.url}//info/api/v2/datastacks")
    assert r.status_code in (200, 404)


def test_the_server_keeps_serving_after_bad_input(session, root):
    url = f"{root}/v3/datastack/demo_local/version/{LATEST}/table/{NUC}/query"
    for _ in range(3):
        session.post(url, data="{bad")
        session.post(url, json={"offset": -1})
    r = session.post(url, params={"count": "True", "arrow_format": "True"}, json={})
    assert r.status_code == 200
