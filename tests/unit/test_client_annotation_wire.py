"""The annotation client's wire format and checks, with HTTP faked by `responses`: the URLs,
bodies and methods caveclient 8.2.1 sends; rows checked against the real schema documents
before anything is sent; staged annotations; an upload that stops says which rows landed."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import responses

from cave_widgets import CAVEclient
from cave_widgets.client import errors
from cave_widgets.client.annotation import (
    AnnotationRefusedError,
    AnnotationUploadError,
    AnnotationValidationError,
)

GLOBAL, LOCAL, DS, VOL = "https://g.example.test", "https://l.example.test", "ds", "vol"
TABLES = f"{LOCAL}/annotation/api/v2/aligned_volume/{VOL}/table"
INFO = {"datastack_name": DS, "local_server": LOCAL,
        "aligned_volume": {"name": VOL, "id": 1, "image_source": "precomputed://x"},
        "segmentation_source": "graphene://x/table/t", "synapse_table": "synapses"}
META = {"table_name": "calls", "schema_type": "cell_type_local", "voxel_resolution_x": 4.0,
        "voxel_resolution_y": 4.0, "voxel_resolution_z": 40.0, "description": "my calls"}


@pytest.fixture()
def fake(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(f"{TABLES}/calls", json=META, status=201)
        yield rsps


@pytest.fixture()
def ann(fake):
    client = CAVEclient(DS, server_address=GLOBAL, auth_token="t", info_cache={DS: INFO},
                        write_server_cache=False)
    return client.annotation


def body(call) -> dict:
    return json.loads(call.request.body)


ROW = {"cell_type": "BC", "classification_system": "manual", "pt": {"position": [1, 2, 3]}}


def test_post_sends_the_rows_as_caveclient_does(fake, ann):
    fake.post(f"{TABLES}/calls/annotations", json=[7, 8])
    assert ann.post_annotation("calls", [ROW, {**ROW, "cell_type": "MC"}]) == [7, 8]
    sent = [c for c in fake.calls if c.request.method == "POST"][-1]
    assert body(sent) == {"annotations": [ROW, {**ROW, "cell_type": "MC"}]}
    assert sent.request.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize("row, field", [
    ({**ROW, "cell_type": 5}, "cell_type"),  # wrong type
    ({"cell_type": "BC", "pt": {"position": [1, 2, 3]}}, "classification_system"),  # missing
    ({**ROW, "pt": {"position": [1, 2, 3], "colour": "red"}}, "pt.colour"),  # not a field
    ({**ROW, "pt": {"position": "here"}}, "pt.position"),
])
def test_a_bad_row_is_refused_naming_the_row_and_field_and_nothing_is_sent(fake, ann, row,
                                                                           field):
    before = len(fake.calls)
    with pytest.raises(AnnotationValidationError) as caught:
        ann.post_annotation("calls", [ROW, row])
    assert caught.value.row == 1 and caught.value.field == field
    assert "row 1" in str(caught.value) and field in str(caught.value)
    assert not [c for c in fake.calls[before:] if c.request.method == "POST"]


def test_update_needs_ids_and_returns_old_to_new(fake, ann):
    fake.put(f"{TABLES}/calls/annotations", json={"7": 9})
    with pytest.raises(AnnotationValidationError, match="'id'"):
        ann.update_annotation("calls", ROW)
    assert ann.update_annotation("calls", {**ROW, "id": 7}) == {"7": 9}
    assert body(fake.calls[-1]) == {"annotations": [{**ROW, "id": 7}]}


def test_delete_sends_a_json_body_and_ids_stay_exact(fake, ann):
    fake.delete(f"{TABLES}/calls/annotations", json=[2**63 + 1])
    assert ann.delete_annotation("calls", [2**63 + 1]) == [2**63 + 1]
    assert body(fake.calls[-1]) == {"annotation_ids": [2**63 + 1]}
    with pytest.raises(errors.QueryValidationError):
        ann.delete_annotation("calls", [1.0])


def test_create_table_body(fake, ann):
    fake.post(TABLES, body="calls", content_type="text/html; charset=utf-8")
    answer = ann.create_table("calls", "cell_type_local", "my calls", [4, 4, 40],
                              notice_text="None", user_id=1)
    assert answer.text == "calls"
    assert body(fake.calls[-1]) == {
        "schema_type": "cell_type_local", "table_name": "calls",
        "metadata": {"description": "my calls", "voxel_resolution_x": 4.0,
                     "voxel_resolution_y": 4.0, "voxel_resolution_z": 40.0,
                     "read_permission": "PUBLIC", "write_permission": "PRIVATE",
                     # AE takes the owner as text; caveclient sends the int (refused)
                     "user_id": "1", "notice_text": ""}}
    fake.post(TABLES, body="refs", content_type="text/html; charset=utf-8")
    ann.create_table("refs", "cell_type_reference", "d", [4, 4, 40], reference_table="calls")
    # AE refuses a null track_target_id_updates, which caveclient sends when it is not given
    assert body(fake.calls[-1])["metadata"]["table_metadata"] == {
        "reference_table": "calls", "track_target_id_updates": False}
    with pytest.raises(errors.QueryValidationError, match="PUBLIC"):
        ann.create_table("x", "cell_type_local", "d", [4, 4, 40], read_permission="ALL")


def test_metadata_folds_the_resolution(ann):
    assert ann.get_table_metadata("calls")["voxel_resolution"] == [4.0, 4.0, 40.0]


def test_staged_annotations_check_as_they_are_added(fake, ann):
    staged = ann.stage_annotations("calls")
    assert staged.fields_required == ["cell_type", "classification_system", "pt_position"]
    staged.add(cell_type="BC", classification_system="manual", pt_position=[1, 2, 3])
    with pytest.raises(AnnotationValidationError, match="required"):
        staged.add(cell_type="BC", pt_position=[1, 2, 3])
    staged.add_dataframe(pd.DataFrame({"cell_type": ["MC"], "classification_system": ["m"],
                                       "pt_position": [[4, 5, 6]]}))
    assert staged.annotation_list == [ROW | {"classification_system": "manual"},
                                      {"cell_type": "MC", "classification_system": "m",
                                       "pt": {"position": [4, 5, 6]}}]
    assert list(staged.annotation_dataframe()["pt_position"]) == [[1, 2, 3], [4, 5, 6]]


def test_an_upload_that_stops_says_which_rows_landed_and_resumes(fake, ann):
    staged = ann.stage_annotations("calls")
    for i in range(5):
        staged.add(cell_type=f"t{i}", classification_system="m", pt_position=[i, i, i])
    url = f"{TABLES}/calls/annotations"
    fake.post(url, json=[1, 2])  # the first batch lands
    fake.post(url, status=400, json={"message": "refused"})  # the second is refused whole
    with pytest.raises(AnnotationUploadError) as caught:
        ann.upload_staged_annotations(staged, batch_size=2, retries=1)
    assert caught.value.uploaded == [0, 1] and caught.value.not_uploaded == [2, 3, 4]
    tracked = staged.annotation_dataframe(include_tracking=True)
    assert list(tracked["is_uploaded"]) == [True, True, False, False, False]
    fake.replace(responses.POST, url, json=[3, 4, 5])
    assert ann.upload_staged_annotations(staged, batch_size=10) == [3, 4, 5]
    assert list(staged.annotation_dataframe(include_tracking=True)["new_id"]) == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("status, message, row, field", [
    # the embedded server names the row; the real AE answers 500 and names only the field
    (400, "422 Unprocessable Entity: annotation 1: {'pt': {'colour': ['Unknown field.']}}",
     1, "pt.colour"),
    (500, "422 Unprocessable Entity: {'cell_type': ['Not a valid string.']}", None,
     "cell_type"),
    (500, "404 Not Found: annotation 0: target_id 9 is not an id of the reference table t",
     0, "target_id"),
])
def test_a_refusal_of_the_server_names_row_and_field(fake, ann, status, message, row, field):
    fake.post(f"{TABLES}/calls/annotations", status=status, json={"code": 500,
                                                                 "message": message})
    with pytest.raises(AnnotationRefusedError) as caught:
        ann.post_annotation("calls", [ROW, ROW])
    assert (caught.value.row, caught.value.field) == (row, field)
    assert caught.value.status == status and isinstance(caught.value, errors.CAVEHTTPError)


def test_an_update_refusal_names_the_row_by_its_id(fake, ann):
    fake.put(f"{TABLES}/calls/annotations", status=500, json={
        "code": 500, "message": "409 Conflict: Error update ID 8 -> Annotation with ID 8 has "
        "already been superseded by annotation ID 9, update annotation ID 9 instead"})
    with pytest.raises(AnnotationRefusedError) as caught:
        ann.update_annotation("calls", [{**ROW, "id": 7}, {**ROW, "id": 8}])
    assert caught.value.row == 1
    fake.replace(responses.PUT, f"{TABLES}/calls/annotations", status=500,
                 json={"code": 500, "message": "something else broke"})
    with pytest.raises(errors.ServerError) as caught:
        ann.update_annotation("calls", [{**ROW, "id": 7}])
    assert not isinstance(caught.value, AnnotationRefusedError)
