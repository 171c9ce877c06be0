"""The materialization client's wire format, with HTTP faked by `responses`: the exact query
strings, headers and JSON bodies caveclient 8 sends, and the decoding of hand-built Arrow IPC
streams (with and without the server's pandas metadata, position recombination, client-side
position scaling when the server does not say it scaled).

Nothing here opens a socket: `responses` answers every request, and fails any it was not told
about."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import responses

from cave_widgets import CAVEclient
from cave_widgets.client.errors import QueryValidationError, RowCapWarning, ServerError
from cave_widgets.client.materialize import decode

GLOBAL = "https://global.example.test"
LOCAL = "https://local.example.test"
DS = "wire_ds"
VERSION = 7
MAT = f"{LOCAL}/materialize/api/v3/datastack/{DS}"
TABLE_QUERY = f"{MAT}/version/{VERSION}/table/synapses/query"
JOIN_QUERY = f"{MAT}/version/{VERSION}/query"
LIVE_QUERY = f"{MAT}/query"
VIEW_QUERY = f"{MAT}/version/{VERSION}/views/nucleus_types/query"
BASE_PARAMS = "return_pyarrow=True&arrow_format=True&split_positions=True&direct_sql_pandas=True"
LIVE_PARAMS = ("return_pyarrow=True&arrow_format=True&merge_reference=False"
               "&allow_missing_lookups=False&allow_invalid_root_ids=False&direct_sql_pandas=True")

INFO = {
    "datastack_name": DS, "local_server": LOCAL, "synapse_table": "synapses",
    "aligned_volume": {"name": "vol", "id": 1, "image_source": "precomputed://x"},
    "segmentation_source": "graphene://x", "viewer_resolution_x": 4.0,
    "viewer_resolution_y": 4.0, "viewer_resolution_z": 40.0,
}

BOUND = {"$ref": "#/definitions/BoundSpatialPoint"}
POINT = {"$ref": "#/definitions/SpatialPoint"}
SCHEMAS = {
    "synapse": {"$ref": "#/definitions/SynapseSchema", "definitions": {"SynapseSchema": {
        "properties": {"pre_pt": BOUND, "ctr_pt": POINT, "post_pt": BOUND,
                       "size": {"type": ["number", "null"], "format": "float"}}}}},
    "nucleus_detection": {"$ref": "#/definitions/Nucleus", "definitions": {"Nucleus": {
        "properties": {"volume": {"type": "number", "format": "float"}, "pt": BOUND,
                       "bb_start": POINT, "bb_end": POINT}}}},
    "cell_type_reference": {"$ref": "#/definitions/Ref", "definitions": {"Ref": {
        "properties": {"target_id": {"type": "integer"}, "cell_type": {"type": "string"},
                       "classification_system": {"type": "string"}}}}},
}
TABLE_SCHEMAS = {"synapses": "synapse", "nuclei": "nucleus_detection",
                 "cell_type_ref": "cell_type_reference"}


def table_metadata(name: str) -> dict:
    return {"id": 100 + len(name), "table_name": name, "schema": TABLE_SCHEMAS[name],
            "schema_type": TABLE_SCHEMAS[name], "valid": True, "description": f"{name} table",
            "reference_table": "nuclei" if name == "cell_type_ref" else None,
            "voxel_resolution_x": 4.0, "voxel_resolution_y": 4.0, "voxel_resolution_z": 40.0,
            "notice_text": None, "created": "2024-06-05T10:10:01.203215"}


VIEW_SCHEMA = {"id": {"type": "integer"}, "volume": {"type": "float"},
               "pt_position": {"type": "SpatialPoint"}, "pt_root_id": {"type": "integer"},
               "cell_type": {"type": "string"}}


# --- Arrow streams, built by hand ----------------------------------------------------------


def pandas_metadata(table: pa.Table, numpy_types: dict) -> pa.Table:
    """The pandas metadata a server writes from a frame with nullable dtypes."""
    columns = [{"name": f.name, "field_name": f.name, "pandas_type": str(f.type),
                "numpy_type": numpy_types.get(f.name, "object"), "metadata": None}
               for f in table.schema]
    meta = {"index_columns": [], "column_indexes": [], "columns": columns}
    return table.replace_schema_metadata({b"pandas": json.dumps(meta).encode()})


def ipc(table: pa.Table, compression: str | None = "zstd") -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema,
                           options=pa.ipc.IpcWriteOptions(compression=compression)) as w:
        w.write_table(table)
    return sink.getvalue().to_pybytes()


def synapse_table(n: int = 3, metadata: bool = True) -> pa.Table:
    ids = np.arange(1, n + 1)
    cols = {"id": pa.array(ids, pa.int64()), "valid": pa.array([True] * n, pa.bool_())}
    for p in ("pre_pt", "ctr_pt", "post_pt"):
        for k, a in enumerate("xyz"):
            cols[f"{p}_position_{a}"] = pa.array(ids * 10 + k, pa.int32())
        if p != "ctr_pt":
            cols[f"{p}_supervoxel_id"] = pa.array(ids + 2**56, pa.int64())
            cols[f"{p}_root_id"] = pa.array(ids + 864691135000000000, pa.int64())
    cols["size"] = pa.array(ids * 1.5, pa.float32())
    table = pa.table(cols)
    if not metadata:
        return table
    kinds = {pa.int64(): "Int64", pa.int32(): "Int32", pa.float32(): "Float32",
             pa.bool_(): "boolean"}
    return pandas_metadata(table, {f.name: kinds[f.type] for f in table.schema})


def arrow_reply(table: pa.Table, *, resolution: str | None = "4.0, 4.0, 40.0",
                warning: str | None = None, status=200):
    headers = {"column_names": "{}"}
    if warning is not None:
        headers["Warning"] = warning
    if resolution is not None:
        headers["dataframe_resolution"] = resolution
    return dict(body=ipc(table), status=status, headers=headers, content_type="data.arrow")


# --- the faked server ----------------------------------------------------------------------


@pytest.fixture()
def fake(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / ".config"))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(f"{LOCAL}/materialize/api/versions", json=[2, 3])
        rsps.get(f"{LOCAL}/materialize/version", json="5.26.4")
        rsps.get(f"{MAT}/versions", json=[VERSION - 1, VERSION])
        rsps.get(f"{MAT}/metadata", json=[
            {"version": v, "time_stamp": f"2024-06-0{v - 4}T10:10:01.203215", "valid": True,
             "expires_on": None, "datastack": DS} for v in (VERSION - 1, VERSION)])
        rsps.get(f"{GLOBAL}/schema/versions", json=[2])
        for schema, definition in SCHEMAS.items():
            rsps.get(f"{GLOBAL}/schema/api/v2/type/{schema}", json=definition)
        for name in TABLE_SCHEMAS:
            rsps.get(f"{MAT}/version/{VERSION}/table/{name}/metadata", json=table_metadata(name))
        rsps.get(f"{MAT}/version/{VERSION}/views/nucleus_types/schema", json=VIEW_SCHEMA)
        rsps.get(f"{MAT}/version/{VERSION}/views/nucleus_types/metadata",
                 json={"id": 1, "table_name": "nucleus_types", "description": "a view",
                       "voxel_resolution_x": 4.0, "voxel_resolution_y": 4.0,
                       "voxel_resolution_z": 40.0, "live_compatible": False})
        yield rsps


@pytest.fixture()
def client(fake):
    return CAVEclient(DS, server_address=GLOBAL, auth_token="wire-token",
                      info_cache={DS: dict(INFO)}, write_server_cache=False)


@pytest.fixture()
def mat(client):
    return client.materialize


def posts(fake, url: str):
    return [c.request for c in fake.calls
            if c.request.method == "POST" and c.request.url.split("?")[0] == url]


def only_post(fake, url: str):
    [request] = posts(fake, url)
    return request


def query_string(request) -> str:
    return urlsplit(request.url).query


def body(request) -> dict:
    return json.loads(request.body)


# --- query_table -------------------------------------------------------------------------------


def test_query_table_plain_query_string_headers_and_body(fake, mat):
    fake.post(TABLE_QUERY, **arrow_reply(synapse_table()))
    mat.query_table("synapses", filter_in_dict={"pre_pt_root_id": [1, 2]},
                    filter_out_dict={"post_pt_root_id": [3]}, filter_equal_dict={"size": 5},
                    offset=0, limit=1000)
    request = only_post(fake, TABLE_QUERY)
    assert query_string(request) == BASE_PARAMS
    assert request.headers["Accept-Encoding"] == "zstd"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Authorization"] == "Bearer wire-token"
    assert body(request) == {
        "filter_in_dict": {"synapses": {"pre_pt_root_id": [1, 2]}},
        "filter_notin_dict": {"synapses": {"post_pt_root_id": [3]}},
        "filter_equal_dict": {"synapses": {"size": 5}},
        "offset": 0,
        "limit": 1000,
    }


def test_query_table_without_arguments_sends_an_empty_body(fake, mat):
    fake.post(TABLE_QUERY, **arrow_reply(synapse_table()))
    mat.query_table("synapses")
    assert body(only_post(fake, TABLE_QUERY)) == {}


def test_query_table_every_filter_and_option_in_the_body(fake, mat):
    fake.post(TABLE_QUERY, **arrow_reply(synapse_table()))
    box = [[1, 2, 3], [4, 5, 6]]
    mat.query_table("synapses", filter_greater_dict={"size": 1.5},
                    filter_less_dict={"id": np.int64(9)},
                    filter_greater_equal_dict={"pre_pt_root_id": 4},
                    filter_less_equal_dict={"post_pt_root_id": 8},
                    filter_spatial_dict={"ctr_pt_position": np.array(box)},
                    select_columns=["id", "size"], desired_resolution=np.array([1, 1, 1]))
    assert body(only_post(fake, TABLE_QUERY)) == {
        "filter_greater_dict": {"synapses": {"size": 1.5}},
        "filter_less_dict": {"synapses": {"id": 9}},
        "filter_greater_equal_dict": {"synapses": {"pre_pt_root_id": 4}},
        "filter_less_equal_dict": {"synapses": {"post_pt_root_id": 8}},
        "filter_spatial_dict": {"synapses": {"ctr_pt_position": [[1.0, 2.0, 3.0],
                                                                 [4.0, 5.0, 6.0]]}},
        "select_columns": ["id", "size"],
        "desired_resolution": [1.0, 1.0, 1.0],
    }


def test_query_table_regex_and_select_column_map(fake, mat):
    fake.post(f"{MAT}/version/{VERSION}/table/cell_type_ref/query",
              **arrow_reply(pa.table({"id": pa.array([1], pa.int64())})))
    mat.query_table("cell_type_ref", merge_reference=False,
                    filter_regex_dict={"cell_type": "^ex"},
                    select_columns={"cell_type_ref": ["id", "cell_type"]})
    assert body(only_post(fake, f"{MAT}/version/{VERSION}/table/cell_type_ref/query")) == {
        "filter_regex_dict": {"cell_type_ref": {"cell_type": "^ex"}},
        "select_column_map": {"cell_type_ref": ["id", "cell_type"]},
    }


def test_query_string_with_random_sample_and_count(fake, mat):
    fake.post(TABLE_QUERY, **arrow_reply(pa.table({"count": pa.array([12], pa.int64())})))
    counted = mat.query_table("synapses", random_sample=50, get_counts=True)
    assert query_string(only_post(fake, TABLE_QUERY)) == (
        "return_pyarrow=True&arrow_format=True&split_positions=True&random_sample=50"
        "&count=True&direct_sql_pandas=True")
    assert int(counted["count"].iloc[0]) == 12


def test_return_df_false_asks_for_json(fake, mat):
    records = [{"id": 864691135000000001, "size": 1.5}]
    fake.post(TABLE_QUERY, json=records)
    assert mat.query_table("synapses", return_df=False) == records
    request = only_post(fake, TABLE_QUERY)
    assert query_string(request) == (
        "return_pyarrow=False&arrow_format=False&split_positions=True&direct_sql_pandas=True")
    assert request.headers["Accept-Encoding"] == "gzip"


def test_merge_reference_becomes_a_join(fake, mat):
    fake.post(JOIN_QUERY, **arrow_reply(pa.table({"id": pa.array([1], pa.int64())})))
    mat.query_table("cell_type_ref", filter_equal_dict={"cell_type": "BC"}, limit=10)
    request = only_post(fake, JOIN_QUERY)
    assert query_string(request) == BASE_PARAMS
    assert body(request) == {
        "filter_equal_dict": {"cell_type_ref": {"cell_type": "BC"}},
        "tables": [["cell_type_ref", "target_id"], ["nuclei", "id"]],
        "suffix_map": {"cell_type_ref": "", "nuclei": "_ref"},
        "limit": 10,
    }


def test_validation_sends_no_query(fake, mat):
    with pytest.raises(QueryValidationError, match="nope"):
        mat.query_table("synapses", filter_in_dict={"nope": [1]})
    with pytest.raises(QueryValidationError, match="limit"):
        mat.query_table("synapses", limit=0)
    assert posts(fake, TABLE_QUERY) == []


# --- join_query, live_live_query, query_view ---------------------------------------------


def test_join_query_body(fake, mat):
    fake.post(JOIN_QUERY, **arrow_reply(pa.table({"id": pa.array([1], pa.int64())})))
    mat.join_query([["synapses", "post_pt_root_id"], ["nuclei", "pt_root_id"]],
                   filter_in_dict={"nuclei": {"id": [1, 2]}},
                   filter_greater_dict={"synapses": {"size": 100}},
                   select_columns={"synapses": ["id", "size"], "nuclei": ["volume"]},
                   suffixes={"synapses": "_syn", "nuclei": "_nuc"}, offset=5, limit=20)
    request = only_post(fake, JOIN_QUERY)
    assert query_string(request) == BASE_PARAMS
    assert request.headers["Accept-Encoding"] == "zstd"
    assert body(request) == {
        "filter_in_dict": {"nuclei": {"id": [1, 2]}},
        "filter_greater_dict": {"synapses": {"size": 100}},
        "tables": [["synapses", "post_pt_root_id"], ["nuclei", "pt_root_id"]],
        "select_column_map": {"synapses": ["id", "size"], "nuclei": ["volume"]},
        "suffix_map": {"synapses": "_syn", "nuclei": "_nuc"},
        "offset": 5,
        "limit": 20,
    }


def test_join_query_suffix_list_and_flat_select(fake, mat):
    fake.post(JOIN_QUERY, **arrow_reply(pa.table({"id": pa.array([1], pa.int64())})))
    mat.join_query([["synapses", "post_pt_root_id"], ["nuclei", "pt_root_id"]],
                   suffixes=["_a", "_b"], select_columns=["id", "volume"])
    sent = body(only_post(fake, JOIN_QUERY))
    assert sent["suffix_map"] == {"synapses": "_a", "nuclei": "_b"}
    assert sent["select_columns"] == ["id", "volume"]


def test_live_live_query_body_and_query_string(fake, mat):
    fake.post(LIVE_QUERY, **arrow_reply(pa.table({"id": pa.array([1], pa.int64())})))
    when = datetime(2024, 6, 5, 10, 10, 1, 203215, tzinfo=timezone.utc)
    mat.live_live_query("synapses", when,
                        joins=[["synapses", "post_pt_root_id", "nuclei", "pt_root_id"]],
                        filter_in_dict={"synapses": {"pre_pt_root_id": [5]}},
                        filter_out_dict={"nuclei": {"id": [3]}},
                        select_columns={"synapses": ["id"], "nuclei": ["volume"]},
                        suffixes={"synapses": "", "nuclei": "_nuc"}, limit=10,
                        desired_resolution=[1, 1, 1])
    request = only_post(fake, LIVE_QUERY)
    assert query_string(request) == LIVE_PARAMS
    assert request.headers["Accept-Encoding"] == "zstd"
    assert body(request) == {
        "table": "synapses",
        "timestamp": "2024-06-05T10:10:01.203215+00:00",
        "filter_in_dict": {"synapses": {"pre_pt_root_id": [5]}},
        "filter_notin_dict": {"nuclei": {"id": [3]}},
        "join_tables": [["synapses", "post_pt_root_id", "nuclei", "pt_root_id"]],
        "select_columns": {"synapses": ["id"], "nuclei": ["volume"]},
        "limit": 10,
        "suffixes": {"synapses": "", "nuclei": "_nuc"},
        "desired_resolution": [1.0, 1.0, 1.0],
    }


def test_live_live_query_timestamps_are_sent_in_utc(fake, mat):
    fake.post(LIVE_QUERY, **arrow_reply(pa.table({"id": pa.array([1], pa.int64())})))
    pacific = timezone(timedelta(hours=-7))
    mat.live_live_query("synapses", datetime(2024, 6, 5, 3, 10, 1, tzinfo=pacific),
                        random_sample=9, allow_invalid_root_ids=True)
    mat.live_live_query("synapses", datetime(2024, 6, 5, 10, 10, 1))  # naive = UTC
    first, second = posts(fake, LIVE_QUERY)
    assert body(first)["timestamp"] == "2024-06-05T10:10:01+00:00"
    assert body(second)["timestamp"] == "2024-06-05T10:10:01+00:00"
    assert query_string(first) == LIVE_PARAMS.replace(
        "allow_invalid_root_ids=False", "allow_invalid_root_ids=True") + "&random_sample=9"


def test_query_table_with_timestamp_goes_live(fake, mat):
    fake.post(LIVE_QUERY, **arrow_reply(pa.table({"id": pa.array([1], pa.int64())})))
    when = datetime(2024, 6, 5, tzinfo=timezone.utc)
    mat.query_table("synapses", timestamp=when, filter_equal_dict={"id": 4},
                    select_columns=["id", "size"])
    assert body(only_post(fake, LIVE_QUERY)) == {
        "table": "synapses", "timestamp": "2024-06-05T00:00:00+00:00",
        "filter_equal_dict": {"synapses": {"id": 4}},
        "select_columns": {"synapses": ["id", "size"]},
    }


def test_query_view_body(fake, mat):
    fake.post(VIEW_QUERY, **arrow_reply(pa.table({"id": pa.array([1], pa.int64())})))
    mat.query_view("nucleus_types", filter_in_dict={"cell_type": ["BC"]},
                   filter_out_dict={"id": [3]}, filter_equal_dict={"pt_root_id": 8},
                   select_columns=["id", "cell_type"], offset=0, limit=1000)
    request = only_post(fake, VIEW_QUERY)
    assert query_string(request) == BASE_PARAMS
    assert request.headers["Accept-Encoding"] == "zstd"
    assert body(request) == {
        "filter_in_dict": {"nucleus_types": {"cell_type": ["BC"]}},
        "filter_notin_dict": {"nucleus_types": {"id": [3]}},
        "filter_equal_dict": {"nucleus_types": {"pt_root_id": 8}},
        "select_columns": ["id", "cell_type"],
        "offset": 0,
        "limit": 1000,
    }


def test_synapse_query_body(fake, mat):
    fake.post(TABLE_QUERY, **arrow_reply(synapse_table()))
    mat.synapse_query(pre_ids=[1, 2], post_ids=7, include_zeros=False,
                      bounding_box=[[0, 0, 0], [10, 10, 10]])
    assert body(only_post(fake, TABLE_QUERY)) == {
        "filter_in_dict": {"synapses": {"pre_pt_root_id": [1, 2]}},
        "filter_notin_dict": {"synapses": {"pre_pt_root_id": [0], "post_pt_root_id": [0]}},
        "filter_equal_dict": {"synapses": {"post_pt_root_id": 7}},
        "filter_spatial_dict": {"synapses": {"post_pt_position": [[0.0, 0.0, 0.0],
                                                                  [10.0, 10.0, 10.0]]}},
    }


# --- decoding --------------------------------------------------------------------------------


def test_decoding_with_pandas_metadata_gives_nullable_dtypes(fake, mat):
    fake.post(TABLE_QUERY, **arrow_reply(synapse_table()))
    df = mat.query_table("synapses", split_positions=True)
    assert df["id"].dtype == pd.Int64Dtype() and df["pre_pt_root_id"].dtype == pd.Int64Dtype()
    assert df["valid"].dtype == pd.BooleanDtype()
    assert df["size"].dtype == pd.Float32Dtype()
    assert df["pre_pt_position_x"].dtype == pd.Int32Dtype()
    assert int(df["pre_pt_root_id"].iloc[0]) == 864691135000000001  # exact 64-bit id


def test_decoding_without_pandas_metadata_gives_plain_dtypes(fake, mat):
    fake.post(TABLE_QUERY, **arrow_reply(synapse_table(metadata=False)))
    df = mat.query_table("synapses", split_positions=True)
    assert df["id"].dtype == np.int64 and df["valid"].dtype == bool
    assert df["size"].dtype == np.float32 and df["pre_pt_position_x"].dtype == np.int32


def test_mixed_dtypes_of_one_arrow_type_are_each_kept():
    """Two int64 columns, one nullable Int64 and one plain int64, stay as the server said."""
    table = pa.table({"a": pa.array([1, 2], pa.int64()), "b": pa.array([3, 4], pa.int64())})
    table = pandas_metadata(table, {"a": "Int64", "b": "int64"})
    df = decode.to_dataframe(table, split_positions=True)
    assert df["a"].dtype == pd.Int64Dtype() and df["b"].dtype == np.int64


def test_positions_recombine_in_order_at_the_end(fake, mat):
    fake.post(TABLE_QUERY, **arrow_reply(synapse_table(n=4)))
    df = mat.query_table("synapses")
    assert list(df.columns) == ["id", "valid", "pre_pt_supervoxel_id", "pre_pt_root_id",
                                "post_pt_supervoxel_id", "post_pt_root_id", "size",
                                "pre_pt_position", "ctr_pt_position", "post_pt_position"]
    np.testing.assert_array_equal(df["post_pt_position"].iloc[2], [30, 31, 32])
    assert df["pre_pt_position"].iloc[0].dtype == np.int64
    np.testing.assert_array_equal(np.stack(df["ctr_pt_position"]),
                                  [[10, 11, 12], [20, 21, 22], [30, 31, 32], [40, 41, 42]])


def test_only_adjacent_xyz_triples_recombine():
    table = pa.table({"a_x": [1], "a_y": [2], "a_z": [3], "b_x": [4], "b_z": [6], "b_y": [5],
                      "c_x": [7], "id": [0], "c_y": [8], "c_z": [9]})
    df = decode.to_dataframe(table, split_positions=False)
    assert list(df.columns) == ["b_x", "b_z", "b_y", "c_x", "id", "c_y", "c_z", "a"]
    np.testing.assert_array_equal(df["a"].iloc[0], [1, 2, 3])


def test_empty_result_keeps_columns():
    table = synapse_table(n=0)
    df = decode.to_dataframe(table, split_positions=False)
    assert len(df) == 0 and list(df.columns)[-1] == "post_pt_position"
    assert df["id"].dtype == pd.Int64Dtype()


def test_client_scales_positions_when_the_server_did_not(fake, mat):
    fake.post(TABLE_QUERY, **arrow_reply(synapse_table(n=2), resolution=None))
    split = mat.query_table("synapses", desired_resolution=[1, 1, 1], split_positions=True)
    # table voxels are 4 x 4 x 40 nm (from the table metadata)
    np.testing.assert_allclose(split["pre_pt_position_x"].to_numpy(float), [40.0, 80.0])
    np.testing.assert_allclose(split["pre_pt_position_z"].to_numpy(float), [480.0, 880.0])
    assert split["pre_pt_position_x"].dtype == pd.Float64Dtype()
    assert split.attrs["dataframe_resolution"] == [1.0, 1.0, 1.0]
    combined = mat.query_table("synapses", desired_resolution=[3, 3, 30])
    np.testing.assert_allclose(combined["post_pt_position"].iloc[1],
                               [20 * 4 / 3, 21 * 4 / 3, 22 * 40 / 30])


def test_client_does_not_rescale_what_the_server_scaled(fake, mat):
    fake.post(TABLE_QUERY, **arrow_reply(synapse_table(n=2), resolution="1.0, 1.0, 1.0"))
    df = mat.query_table("synapses", desired_resolution=[1, 1, 1], split_positions=True)
    assert list(df["pre_pt_position_x"]) == [10, 20]  # as sent
    assert df.attrs["dataframe_resolution"] == [1.0, 1.0, 1.0]


def test_unknown_content_type_is_an_error(fake, mat):
    fake.post(TABLE_QUERY, body=b"{}", content_type="application/json")
    with pytest.raises(ServerError, match="data.arrow"):
        mat.query_table("synapses")


def test_row_cap_warning_counts_the_total(fake, mat):
    fake.post(TABLE_QUERY, **arrow_reply(synapse_table(n=3),
                                         warning='201 - "Limited query to 3 rows'))
    fake.post(TABLE_QUERY, **arrow_reply(pa.table({"count": pa.array([41], pa.int64())})))
    with pytest.warns(RowCapWarning, match="3 of 41"):
        df = mat.query_table("synapses", filter_greater_dict={"size": 1.0}, offset=0)
    first, count = posts(fake, TABLE_QUERY)
    assert query_string(count) == (
        "return_pyarrow=True&arrow_format=True&split_positions=True&count=True"
        "&direct_sql_pandas=True")
    assert body(count) == {"filter_greater_dict": {"synapses": {"size": 1.0}}}
    assert df.attrs["total_rows"] == 41


def test_limit_reached_by_the_users_limit_does_not_warn(fake, mat, recwarn):
    fake.post(TABLE_QUERY, **arrow_reply(synapse_table(n=3),
                                         warning='201 - "Limited query to 3 rows'))
    mat.query_table("synapses", limit=3)
    assert not [w for w in recwarn if issubclass(w.category, RowCapWarning)]
    assert len(posts(fake, TABLE_QUERY)) == 1  # no count request either


def test_attrs_from_headers(fake, mat):
    reply = arrow_reply(synapse_table(n=1))
    reply["headers"] = {"column_names": "{'synapses': {'id': 'id'}}",
                        "dataframe_resolution": "4.0, 4.0, 40.0"}
    fake.post(TABLE_QUERY, **reply)
    df = mat.query_table("synapses")
    assert df.attrs["column_names"] == "{'synapses': {'id': 'id'}}"
    assert df.attrs["dataframe_resolution"] == [4.0, 4.0, 40.0]
    assert df.attrs["table_id"] == table_metadata("synapses")["id"]
    assert df.attrs["table_voxel_resolution"] == [4.0, 4.0, 40.0]


def test_resolution_header_parsing():
    class R:
        headers = {"dataframe_resolution": "4.0, 4.0, 40.0"}

    assert decode.resolution_header(R()) == [4.0, 4.0, 40.0]
    R.headers = {}
    assert decode.resolution_header(R()) is None
