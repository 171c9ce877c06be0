"""The Arrow response: IPC stream, codec chosen from Accept-Encoding, caveclient's headers."""

import pyarrow as pa

from cave_widgets.server.arrow_io import ipc_stream, query_response

TABLE = pa.table({"id": pa.array([1, 2**62], pa.int64()), "x": pa.array([1.5, 2.5])})


def test_stream_round_trips_and_compresses_as_asked():
    big = pa.table({"id": pa.array([864691135000000001] * 100_000, pa.int64())})
    sizes = {}
    for accept in ("zstd", "gzip, lz4", "gzip", ""):
        data = ipc_stream(big, accept)
        assert pa.ipc.open_stream(data).read_all().equals(big)
        sizes[accept] = len(data)
    assert sizes["gzip"] == sizes[""] > 800_000  # no Arrow codec without zstd/lz4
    assert sizes["zstd"] < sizes[""] / 50 and sizes["gzip, lz4"] < sizes[""] / 50
    assert sizes["zstd"] != sizes["gzip, lz4"]  # two different codecs were used


def test_empty_result_keeps_schema():
    empty = TABLE.slice(0, 0)
    assert pa.ipc.open_stream(ipc_stream(empty, "zstd")).read_all().schema == TABLE.schema


def test_headers_match_what_caveclient_parses():
    r = query_response(TABLE, as_arrow=True, accept_encoding="zstd", resolution=(4, 4, 40),
                       column_names={"t": {"id": "id"}}, warnings=["one\nline", "two"])
    assert r.headers["content-type"] == "data.arrow"
    assert r.headers["dataframe_resolution"] == "4.0, 4.0, 40.0"
    assert r.headers["column_names"] == "{'t': {'id': 'id'}}"
    assert r.headers.getlist("warning") == ["one line", "two"]


def test_json_records_keep_big_ids_exact():
    r = query_response(TABLE, as_arrow=False, accept_encoding="", resolution=(4, 4, 40),
                       column_names={}, warnings=[])
    assert b"4611686018427387904" in r.body
