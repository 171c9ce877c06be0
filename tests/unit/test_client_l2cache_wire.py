"""The L2-cache client's wire format, with HTTP faked by `responses`: the request shapes
caveclient 8.2.1 sends (URL, query string, body without Content-Type), ids kept exact in
both directions (every digit of an id above 2**63), batching, and ids refused before sending.

Nothing here opens a socket."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import pytest
import responses

from cave_widgets import CAVEclient
from cave_widgets.client import l2cache
from cave_widgets.client.errors import InvalidRequestError, QueryValidationError

GLOBAL = "https://global.example.test"
LOCAL = "https://local.example.test"
DS = "wire_ds"
TABLE = "wire_pcg"
L2 = f"{LOCAL}/l2cache/api/v1"
ATTRIBUTES = f"{L2}/table/{TABLE}/attributes"
INFO = {
    "datastack_name": DS, "local_server": LOCAL,
    "aligned_volume": {"name": "vol", "id": 1, "image_source": "precomputed://x"},
    "segmentation_source": f"graphene://{LOCAL}/segmentation/table/{TABLE}",
    "viewer_resolution_x": 4.0, "viewer_resolution_y": 4.0, "viewer_resolution_z": 40.0,
}
BIG = 2**63 + 12345678901234567  # above int64: must keep every digit
ROW = {"area_nm2": 10, "chunk_intersect_count": [[1, 2, 3], [4, 5, 6]], "max_dt_nm": 7,
       "mean_dt_nm": 1.5, "pca": [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
       "pca_val": [3.0, 2.0, 1.0], "rep_coord_nm": [8.0, 16.0, 40.0], "size_nm3": 640}


def echo(request):
    """The service's answer: every distinct id a key (sorted as strings), each with ROW."""
    ids = json.loads(request.body)["l2_ids"]
    return 200, {}, json.dumps({str(i): ROW for i in sorted(set(ids), key=str)},
                               sort_keys=True)


@pytest.fixture()
def fake(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / ".config"))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture()
def l2c(fake):
    client = CAVEclient(DS, server_address=GLOBAL, auth_token="wire-token",
                        info_cache={DS: dict(INFO)}, write_server_cache=False)
    return client.l2cache


def posts(fake):
    return [c.request for c in fake.calls if c.request.method == "POST"]


def test_get_l2data_request_shape(fake, l2c):
    fake.add_callback(responses.POST, ATTRIBUTES, callback=echo)
    out = l2c.get_l2data([5, 3], attributes=["size_nm3", "rep_coord_nm"])
    [request] = posts(fake)
    assert request.url.split("?")[0] == ATTRIBUTES
    assert urlsplit(request.url).query == (
        "int64_as_str=False&attribute_names=size_nm3%2Crep_coord_nm")
    assert "Content-Type" not in request.headers  # as caveclient: JSON text, no header
    assert request.headers["Authorization"] == "Bearer wire-token"
    assert json.loads(request.body) == {"l2_ids": [3, 5]}
    assert list(out) == ["3", "5"]


def test_no_attributes_asks_for_all(fake, l2c):
    fake.add_callback(responses.POST, ATTRIBUTES, callback=echo)
    l2c.get_l2data(np.array([1], dtype=np.uint64))
    assert urlsplit(posts(fake)[0].url).query == "int64_as_str=False"


def test_id_above_2_63_keeps_every_digit_both_ways(fake, l2c):
    fake.add_callback(responses.POST, ATTRIBUTES, callback=echo)
    for given in ([BIG], np.array([BIG], dtype=np.uint64), BIG, pd.Series([BIG], dtype="uint64")):
        out = l2c.get_l2data(given)
        assert f'"l2_ids":[{BIG}]' in posts(fake)[-1].body.decode()
        assert list(out) == [str(BIG)]
    table = l2c.get_l2data_table([BIG, 2**64 - 1])
    assert table.index.dtype == np.uint64
    assert sorted(table.index.tolist()) == [BIG, 2**64 - 1]


@pytest.mark.parametrize("bad", [
    [1.0], np.array([1.0]), [True], np.array([True]), [-1], np.array([-1], dtype=np.int64),
    [2**64], ["123"], "123", [None], 1.5, np.array([1, 2], dtype=np.float64),
])
def test_bad_ids_are_refused_before_sending(fake, l2c, bad):
    with pytest.raises(QueryValidationError, match="l2_ids"):
        l2c.get_l2data(bad)
    assert not fake.calls


def test_empty_list_sends_nothing(fake, l2c):
    assert l2c.get_l2data([]) == {}
    assert not fake.calls


def test_large_lists_go_in_concurrent_batches_in_service_order(fake, l2c, monkeypatch):
    monkeypatch.setattr(l2cache, "BATCH_SIZE", 100)
    fake.add_callback(responses.POST, ATTRIBUTES, callback=echo)
    ids = np.arange(2**63 - 500, 2**63 + 500, dtype=np.uint64)[::-1]
    out = l2c.get_l2data(np.concatenate([ids, ids[:10]]))  # duplicates go out once
    sent = [json.loads(r.body)["l2_ids"] for r in posts(fake)]
    assert len(sent) == 10 and all(len(b) == 100 for b in sent)
    assert sorted(i for b in sent for i in b) == sorted(ids.tolist())
    assert list(out) == sorted(str(i) for i in ids.tolist())  # one request's order


def test_a_failing_batch_raises_its_typed_error(fake, l2c, monkeypatch):
    monkeypatch.setattr(l2cache, "BATCH_SIZE", 2)
    fake.add(responses.POST, ATTRIBUTES, status=400,
             json={"code": 400, "message": "[400]: bad ids"})
    with pytest.raises(InvalidRequestError, match="bad ids"):
        l2c.get_l2data([1, 2, 3, 4, 5])


def test_table_splits_columns_like_caveclient(fake, l2c):
    def answer(request):
        return 200, {}, json.dumps({"1": ROW, "2": {"size_nm3": 8, "rep_coord_nm": [1, 2, 3]},
                                    "3": {}})
    fake.add_callback(responses.POST, ATTRIBUTES, callback=answer)
    table = l2c.get_l2data_table([1, 2, 3])
    assert table.index.name == "l2_id"
    assert list(table.columns) == (
        ["area_nm2", "max_dt_nm", "mean_dt_nm", "size_nm3"] + l2cache.SPLIT_COLUMNS[
            "rep_coord_nm"] + l2cache.SPLIT_COLUMNS["pca"] + l2cache.SPLIT_COLUMNS["pca_val"]
        + l2cache.SPLIT_COLUMNS["chunk_intersect_count"])
    assert table.loc[1, "chunk_intersect_count_z_top"] == 6
    assert table.loc[1, "pca_1_y"] == 1.0
    assert np.isnan(table.loc[2, "pca_0_x"]) and np.isnan(table.loc[3, "size_nm3"])
    unsplit = l2c.get_l2data_table([1, 2, 3], split_columns=False)
    assert unsplit.loc[1, "pca"] == ROW["pca"]


def test_metadata_and_mapping_are_asked_once(fake, l2c):
    fake.get(f"{L2}/attribute_metadata", json={"size_nm3": "<class 'numpy.uint32'>"})
    fake.get(f"{L2}/table_mapping", json={TABLE: {"cv_path": "graphene://x",
                                                  "l2cache_id": "c"}})
    assert l2c.cache_metadata() == {"size_nm3": "<class 'numpy.uint32'>"}
    assert l2c.attributes == ["size_nm3"]
    assert l2c.table_mapping()[TABLE]["l2cache_id"] == "c"
    assert l2c.has_cache() is True
    l2c.table_mapping()
    assert len(fake.calls) == 2
    assert l2c.default_url_mapping == {"l2cache_server_address": LOCAL, "table_id": TABLE}


def test_has_cache_without_mapping_warns_and_is_false(fake, l2c):
    fake.get(f"{L2}/table_mapping", status=404, body="not found")
    with pytest.warns(UserWarning, match="does not have a l2 cache table mapping"):
        assert l2c.has_cache() is False


def test_has_cache_is_false_for_a_precomputed_segmentation(fake, l2c):
    l2c.ctx.info_cache[DS]["segmentation_source"] = "precomputed://gs://bucket/seg"
    assert l2c.has_cache() is False
    assert not fake.calls
