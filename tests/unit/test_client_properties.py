"""Property-based checks of what the client accepts (hypothesis): every input to a filter,
an id, a timestamp, a version or a table name either gives exactly the right request or a
typed error before anything is sent — never a silently changed value, never an untyped
exception. HTTP is faked by `responses` (no socket)."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta, timezone
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest
import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cave_widgets import CAVEclient
from cave_widgets.client import errors
from cave_widgets.client.times import to_utc

GLOBAL, LOCAL, DS = "https://global.example.test", "https://local.example.test", "prop_ds"
MAT = f"{LOCAL}/materialize/api/v3/datastack/{DS}"
VERSIONS = (3, 4, 7)
INFO = {"datastack_name": DS, "local_server": LOCAL, "synapse_table": "synapses",
        "aligned_volume": {"name": "vol", "id": 1, "image_source": "precomputed://x"},
        "segmentation_source": "graphene://x/table/t", "viewer_resolution_x": 4.0,
        "viewer_resolution_y": 4.0, "viewer_resolution_z": 40.0}
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

anything = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
    st.integers(min_value=0, max_value=2**64 - 1).map(np.uint64),
    st.integers(min_value=-(2**63), max_value=2**63 - 1).map(np.int64),
    st.floats(allow_nan=False, width=32).map(np.float32), st.lists(st.integers(), max_size=2),
)


@pytest.fixture()
def fake(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(f"{LOCAL}/materialize/api/versions", json=[2, 3])
        rsps.get(f"{MAT}/metadata", json=[
            {"version": v, "time_stamp": f"2024-06-0{v - 2}T10:00:00.000000", "valid": True,
             "expires_on": None} for v in VERSIONS])
        yield rsps


@pytest.fixture()
def mat(fake):
    client = CAVEclient(DS, server_address=GLOBAL, auth_token="t",
                        info_cache={DS: dict(INFO)}, write_server_cache=False)
    return client.materialize


def sent_bodies(fake) -> list[dict]:
    return [json.loads(c.request.body) for c in fake.calls if c.request.method == "POST"]


def stop_at_the_wire(fake):
    """Answer every query with a 400: the point is what was sent, not what came back."""
    fake.post(f"{MAT}/version/7/table/synapses/query", status=400, json={"message": "stop"})


def metadata(fake):
    fake.get(re.compile(re.escape(f"{MAT}/version/") + r"\d+/table/synapses/metadata"), json={
        "table_name": "synapses", "schema": "synapse", "reference_table": None,
        "voxel_resolution_x": 4.0, "voxel_resolution_y": 4.0, "voxel_resolution_z": 40.0})


def is_exact_id(value) -> bool:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        return False
    return 0 <= int(value) < 2**64


@SETTINGS
@given(value=anything)
def test_an_id_filter_value_is_sent_exactly_or_refused(fake, mat, value):
    metadata(fake)
    stop_at_the_wire(fake)
    before = len(sent_bodies(fake))
    try:
        mat.query_table("synapses", filter_in_dict={"pre_pt_root_id": [value]})
    except errors.QueryValidationError:
        assert not is_exact_id(value)
        assert len(sent_bodies(fake)) == before  # refused before anything was sent
        return
    except errors.InvalidRequestError:  # the stop answer: it was sent
        pass
    assert is_exact_id(value)
    sent = sent_bodies(fake)[-1]["filter_in_dict"]["synapses"]["pre_pt_root_id"]
    assert sent == [int(value)] and type(sent[0]) is int


@SETTINGS
@given(value=anything)
def test_a_float_column_takes_numbers_only(fake, mat, value):
    metadata(fake)
    stop_at_the_wire(fake)
    try:
        mat.query_table("synapses", filter_greater_dict={"size": value})
    except errors.QueryValidationError:
        number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
            value, (bool, np.bool_))
        assert not number or not math.isfinite(float(value))  # only non-numbers are refused
        return
    except errors.InvalidRequestError:
        pass
    sent = sent_bodies(fake)[-1]["filter_greater_dict"]["synapses"]["size"]
    assert sent == (value.item() if hasattr(value, "item") else value) or (
        isinstance(sent, float) and math.isnan(sent))


@SETTINGS
@given(value=anything)
def test_a_version_is_an_integer_the_datastack_has(fake, mat, value):
    metadata(fake)
    stop_at_the_wire(fake)
    try:
        mat.get_table_metadata("synapses", version=value)
    except errors.VersionTypeError:
        assert not (isinstance(value, (int, np.integer)) and not isinstance(value, bool))
        return
    except errors.UnknownVersionError:
        assert int(value) not in VERSIONS
        return
    except errors.QueryValidationError:
        assert value is not None and not isinstance(value, (int, np.integer))
        return
    assert value is None or int(value) in VERSIONS


@SETTINGS
@given(value=st.one_of(
    anything, st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1)),
    st.datetimes(timezones=st.just(timezone(timedelta(hours=-5)))).filter(
        lambda d: d.year > 1970),
    st.datetimes(min_value=datetime(1971, 1, 1)).map(lambda d: d.isoformat())))
def test_a_timestamp_becomes_aware_utc_or_a_typed_error(value):
    try:
        when = to_utc(value)
    except errors.QueryValidationError as exc:
        assert isinstance(exc, TypeError)  # also a TypeError, as callers of caveclient expect
        return
    assert when.tzinfo is not None and when.utcoffset() == timedelta(0)
    if isinstance(value, datetime):
        naive = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value
        assert when == naive


@SETTINGS
@given(name=st.one_of(st.text(max_size=30), st.none(), st.integers()))
def test_a_table_name_is_one_url_segment(fake, mat, name):
    fake.get(re.compile(re.escape(f"{MAT}/version/7/table/") + ".*"), status=404,
             json={"message": "no such table"})
    before = len(fake.calls)  # the fake is shared by all examples
    try:
        mat.get_table_metadata(name, version=7)
    except errors.QueryValidationError:
        assert not isinstance(name, str) or name in ("", ".", "..")
        assert not [c for c in fake.calls[before:] if "/table/" in c.request.url]  # none sent
        return
    except errors.UnknownTableError:
        pass  # the fake has no table: what matters is the path it was asked for
    [asked] = [c for c in fake.calls[before:] if "/table/" in c.request.url]
    path = urlsplit(asked.request.url).path
    prefix = f"/materialize/api/v3/datastack/{DS}/version/7/table/"
    assert path.startswith(prefix) and path.endswith("/metadata")
    segment = path[len(prefix):-len("/metadata")]
    assert "/" not in segment and unquote(segment) == name
