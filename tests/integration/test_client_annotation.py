"""Our AnnotationClient against the embedded server, every public method of caveclient
8.2.1's: tables (create with every option, list, describe, change, delete), rows (post, get,
update, delete, count, the DataFrame variants), staged annotations and their upload; what a
write does to live queries (at once, with supervoxel and root ids from the segmentation);
typed errors naming the row and field; batches that land whole or say which rows did not;
who may read, write and delete.

This module writes a lot, so it runs its own server."""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import pytest
import requests
from helpers.client_materialize import home, make_client  # noqa: F401  (home: a fixture)
from helpers.own_server import own_server as demo_server  # noqa: F401  (this module's own)

from cave_widgets import CAVEclient
from cave_widgets.client import errors
from cave_widgets.client.annotation import (
    AnnotationClient,
    AnnotationRefusedError,
    AnnotationUploadError,
    AnnotationValidationError,
)

RESOLUTION = [4.0, 4.0, 40.0]


@pytest.fixture(scope="module")
def client(demo_server, home):
    return make_client(demo_server)


@pytest.fixture(scope="module")
def ann(client) -> AnnotationClient:
    return client.annotation


@pytest.fixture(scope="module")
def cells(client) -> pd.DataFrame:
    """Nuclei with a segment under them, as they are now: points to annotate, with the
    supervoxel and root ids the segmentation gives them."""
    df = client.materialize.live_live_query(
        "nuclei", now(), filter_greater_dict={"nuclei": {"pt_root_id": 0}}, limit=20,
        log_warning=False)
    assert len(df) == 20
    return df.sort_values("id").reset_index(drop=True)


def as_user(demo_server, client, who: str) -> CAVEclient:
    """A client signed in as another demo user; it knows the datastack already (the guest
    may not even read the info service), so its calls go to the annotation service."""
    info = {demo_server.datastack: client.info.get_datastack_info()}
    return CAVEclient(demo_server.datastack, server_address=demo_server.url,
                      auth_token=demo_server.tokens[who], write_server_cache=False,
                      info_cache=info)


def now() -> datetime:
    return datetime.now(timezone.utc)


def position(cells, i) -> list[int]:
    return [int(v) for v in cells.pt_position.iloc[i]]


def call(cells, i, cell_type="BC") -> dict:
    return {"cell_type": cell_type, "classification_system": "manual",
            "pt": {"position": position(cells, i)}}


def make(ann, name, schema="cell_type_local", **kwargs):
    return ann.create_table(name, schema, f"{name} for the tests", RESOLUTION, **kwargs)


@pytest.fixture(scope="module")
def calls(ann) -> str:
    assert make(ann, "calls", notice_text="draft calls").text == "calls"
    return "calls"


@pytest.fixture(scope="module")
def notes(ann, calls) -> str:
    """A reference table pointing at `calls`."""
    make(ann, "call_notes", "cell_type_reference", reference_table=calls,
         track_target_id_updates=True)
    return "call_notes"


def live(client, table, when=None, **kwargs) -> pd.DataFrame:
    return client.materialize.live_live_query(table, when or now(), log_warning=False,
                                              **kwargs).set_index("id")


def next_id(ann, table) -> int:
    """The id the server gives the next row (one more than the largest written)."""
    return ann.get_annotation_count(table) + 1


# --- tables --------------------------------------------------------------------------------


def test_create_table_with_every_option_and_describe_it(ann, client):
    answer = make(ann, "my_cells", notice_text="work in progress", read_permission="GROUP",
                  write_permission="PUBLIC", flat_segmentation_source="precomputed://gs://b/f")
    assert (answer.status_code, answer.text) == (200, "my_cells")
    assert "my_cells" in ann.get_tables()
    meta = ann.get_table_metadata("my_cells")
    assert meta["voxel_resolution"] == RESOLUTION and "voxel_resolution_x" not in meta
    assert meta["user_id"] == str(client.auth.whoami()["id"])
    assert {k: meta[k] for k in ("schema_type", "table_name", "description", "notice_text",
                                 "read_permission", "write_permission",
                                 "flat_segmentation_source", "reference_table", "deleted")} == {
        "schema_type": "cell_type_local", "table_name": "my_cells",
        "description": "my_cells for the tests", "notice_text": "work in progress",
        "read_permission": "GROUP", "write_permission": "PUBLIC",
        "flat_segmentation_source": "precomputed://gs://b/f", "reference_table": None,
        "deleted": None}
    assert datetime.fromisoformat(meta["created"]) <= datetime.fromisoformat(
        meta["last_modified"])

    # a reference table (track_target_id_updates left out: sent as false, which AE takes)
    make(ann, "cell_refs", "cell_type_reference", reference_table="my_cells")
    assert ann.get_table_metadata("cell_refs")["reference_table"] == "my_cells"
    # ownership given away at creation: the id goes as text, as AE wants it
    make(ann, "given_away", user_id=42)
    assert ann.get_table_metadata("given_away")["user_id"] == "42"


@pytest.mark.parametrize("args, error, text", [
    (dict(read_permission="EVERYONE"), errors.QueryValidationError, "read_permission"),
    (dict(voxel_resolution=[4, 4]), errors.QueryValidationError, "voxel_resolution"),
    (dict(name="Bad-Name"), errors.InvalidRequestError, "Invalid table name"),
    (dict(schema="no_such_schema"), errors.InvalidRequestError, "not a known annotation type"),
    (dict(schema="cell_type_reference"), errors.InvalidRequestError, "Reference metadata"),
    (dict(reference_table="nuclei"), errors.InvalidRequestError, "ReferenceAnnotation"),
    (dict(schema="cell_type_reference", reference_table="nope"), errors.InvalidRequestError,
     "does not exist"),
])
def test_create_table_refusals_create_nothing(ann, args, error, text):
    name = args.pop("name", "refused_table")
    schema = args.pop("schema", "cell_type_local")
    resolution = args.pop("voxel_resolution", RESOLUTION)
    with pytest.raises(error, match=text):
        ann.create_table(name, schema, "d", resolution, **args)
    assert name not in ann.get_tables()


def test_a_table_name_is_taken_once(ann, calls):
    with pytest.raises(errors.InvalidRequestError, match=f"Table {calls} already exists"):
        make(ann, calls)


def test_update_metadata(ann):
    make(ann, "to_change", notice_text="old notice")
    meta = ann.update_metadata("to_change", description="new words", read_permission="GROUP",
                               notice_text="None")
    assert meta["description"] == "new words" and meta["read_permission"] == "GROUP"
    assert meta["notice_text"] is None  # "none" clears the notice
    assert ann.get_table_metadata("to_change")["description"] == "new words"
    with pytest.raises(errors.QueryValidationError, match="write_permission"):
        ann.update_metadata("to_change", write_permission="ALL")
    # ownership can be handed over, after which the old owner may change nothing
    assert ann.update_metadata("to_change", user_id=42)["user_id"] == "42"
    with pytest.raises(errors.PermissionDeniedError, match="not the owner"):
        ann.update_metadata("to_change", description="mine again")


def test_delete_table_is_for_the_owner_and_keeps_it_listed(ann):
    make(ann, "short_lived")
    assert ann.delete_table("short_lived") is True
    assert "short_lived" in ann.get_tables()
    assert ann.get_table_metadata("short_lived")["deleted"] is not None
    make(ann, "not_mine", user_id="42")
    with pytest.raises(errors.PermissionDeniedError, match="not the owner"):
        ann.delete_table("not_mine")
    assert ann.get_table_metadata("not_mine")["deleted"] is None
    with pytest.raises(errors.UnknownTableError):
        ann.delete_table("never_made")


def test_get_tables_at_a_timestamp_needs_a_newer_server(ann):
    with pytest.raises(errors.ServerIncompatibilityError):
        ann.get_tables(timestamp=now())


# --- rows ------------------------------------------------------------------------------------


def test_posted_rows_read_back_and_are_live_at_once_with_their_ids(ann, client, calls, cells):
    before = now()
    ids = ann.post_annotation(calls, [call(cells, 0), call(cells, 1, "MC")])
    assert len(ids) == 2 and all(isinstance(i, int) for i in ids)
    [single] = ann.post_annotation(calls, call(cells, 2, "NGC"))  # a dict is one row
    got = {r["id"]: r for r in ann.get_annotation(calls, ids + [single])}
    assert [got[i]["cell_type"] for i in ids + [single]] == ["BC", "MC", "NGC"]
    first = got[ids[0]]
    assert first["pt_position"] == position(cells, 0) and first["valid"] is True
    assert first["deleted"] == "None" and first["superceded_id"] is None
    assert ann.get_annotation_count(calls) == 3

    at = now()
    rows = live(client, calls, at)
    assert set(rows.index) == {*ids, single}
    # supervoxel and root ids come from the segmentation: the nucleus at the same point
    # has the same supervoxel, and the root is that supervoxel's root at the query time
    for i, row_id in enumerate(ids + [single]):
        assert rows.loc[row_id, "pt_supervoxel_id"] == cells.pt_supervoxel_id.iloc[i]
    svs = [int(v) for v in rows.loc[ids + [single], "pt_supervoxel_id"]]
    roots = client.chunkedgraph.get_roots(svs, timestamp=at)
    assert [int(r) for r in rows.loc[ids + [single], "pt_root_id"]] == [int(r) for r in roots]
    assert list(rows.loc[ids + [single], "pt_root_id"]) == list(cells.pt_root_id.iloc[:3])
    # the same rows through live_query (query_table at a time), and none before the write
    assert set(client.materialize.live_query(calls, at, log_warning=False).id) == set(rows.index)
    assert live(client, calls, before).empty


def test_update_writes_a_new_row_that_supersedes_the_old(ann, client, calls, cells):
    [old] = ann.post_annotation(calls, call(cells, 3, "BC"))
    mapping = ann.update_annotation(calls, {"id": old, **call(cells, 3, "MC")})
    assert list(mapping) == [str(old)]  # keyed by the old id's text, as AE answers
    new = mapping[str(old)]
    assert new != old
    was, now_row = sorted(ann.get_annotation(calls, [old, new]), key=lambda r: r["id"])
    assert (was["valid"], was["superceded_id"]) == (False, new) and was["deleted"] != "None"
    assert (now_row["cell_type"], now_row["valid"]) == ("MC", True)
    rows = live(client, calls)
    assert new in rows.index and old not in rows.index
    assert rows.loc[new, "cell_type"] == "MC"
    # the superseded row cannot be updated again: the error names the row
    with pytest.raises(AnnotationRefusedError, match="already been superseded") as caught:
        ann.update_annotation(calls, [{"id": new, **call(cells, 3, "X")},
                                      {"id": old, **call(cells, 3, "Y")}])
    assert caught.value.row == 1
    assert live(client, calls).loc[new, "cell_type"] == "MC"


def test_delete_takes_rows_out_of_live_queries(ann, client, calls, cells):
    ids = ann.post_annotation(calls, [call(cells, 4), call(cells, 5)])
    count = ann.get_annotation_count(calls)
    assert set(ids) <= set(live(client, calls).index)
    # unknown ids are skipped; the answer lists the rows deleted
    assert ann.delete_annotation(calls, [ids[0], 10**9]) == [ids[0]]
    rows = live(client, calls)
    assert ids[0] not in rows.index and ids[1] in rows.index
    assert ann.get_annotation(calls, ids[0])[0]["valid"] is False
    assert ann.get_annotation_count(calls) == count  # soft delete: every row is counted
    with pytest.raises(errors.NotFoundError, match="nothing was deleted") as caught:
        ann.delete_annotation(calls, [10**9])
    assert not isinstance(caught.value, errors.UnknownTableError)
    ann.delete_annotation(calls, ids[1])  # a single id
    assert ids[1] not in live(client, calls).index


def test_dataframe_variants(ann, client, calls, cells):
    df = pd.DataFrame({"cell_type": ["df1", "df2"], "classification_system": ["m", "m"],
                       "pt_position": [position(cells, 6), position(cells, 7)]})
    assert AnnotationClient.process_position_columns(df, None)[0] == {
        "cell_type": "df1", "classification_system": "m", "pt": {"position": position(cells, 6)}}
    assert ann.process_position_columns(df, ["pt_position"]) == \
        ann.process_position_columns(df, {"pt_position": "pt"})
    with pytest.raises(ValueError):
        ann.process_position_columns(df, "pt_position")
    ids = ann.post_annotation_df(calls, df, position_columns=None)
    renamed = df.rename(columns={"pt_position": "where"}).iloc[:1]
    ids += ann.post_annotation_df(calls, renamed, position_columns={"where": "pt"})
    got = {r["id"]: r for r in ann.get_annotation(calls, ids)}
    assert [got[i]["pt_position"] for i in ids] == [position(cells, 6), position(cells, 7),
                                                    position(cells, 6)]
    changed = df.iloc[:1].assign(id=[ids[0]], cell_type=["df1b"])
    mapping = ann.update_annotation_df(calls, changed, position_columns=["pt_position"])
    assert live(client, calls).loc[mapping[str(ids[0])], "cell_type"] == "df1b"


@pytest.mark.parametrize("bad, field", [
    ({"cell_type": 5}, "cell_type"),
    ({"pt": None}, "pt"),
    ({"pt": {"position": [1, 2, 3], "colour": "red"}}, "pt.colour"),
    ({"pt": {"position": "here"}}, "pt.position"),
    ({"classification_system": None}, "classification_system"),
])
def test_a_bad_row_names_row_and_field_and_nothing_is_written(ann, calls, cells, bad, field):
    count = ann.get_annotation_count(calls)
    with pytest.raises(AnnotationValidationError) as caught:
        ann.post_annotation(calls, [call(cells, 0), call(cells, 1), {**call(cells, 2), **bad}])
    assert (caught.value.row, caught.value.field) == (2, field)
    assert "row 2" in str(caught.value)
    assert ann.get_annotation_count(calls) == count
    with pytest.raises(AnnotationValidationError) as caught:
        ann.update_annotation(calls, [call(cells, 0)])  # no id
    assert caught.value.field == "id"


def test_a_batch_the_server_refuses_lands_not_at_all(ann, client, calls, notes, cells):
    [target] = ann.post_annotation(calls, call(cells, 8))
    note = {"cell_type": "exc", "classification_system": "coarse"}
    count = ann.get_annotation_count(notes)
    # only the server can tell that a target id is not in the referenced table
    with pytest.raises(AnnotationRefusedError) as caught:
        ann.post_annotation(notes, [{**note, "target_id": target},
                                    {**note, "target_id": target},
                                    {**note, "target_id": 10**12}])
    assert (caught.value.row, caught.value.field) == (2, "target_id")
    assert isinstance(caught.value, requests.HTTPError)
    assert "Nothing of the batch was written" in str(caught.value)
    assert ann.get_annotation_count(notes) == count
    [ok] = ann.post_annotation(notes, {**note, "target_id": target})
    # live_query joins a reference table with the table it points at
    joined = client.materialize.live_query(notes, now(), log_warning=False).set_index("id")
    assert joined.loc[ok, "target_id"] == target
    assert joined.loc[ok, "cell_type_ref"] == "BC"  # the target's columns, suffixed


def test_batch_limit(ann, calls, cells):
    count = ann.get_annotation_count(calls)
    with pytest.raises(errors.InvalidRequestError, match="insertion limit is 10000") as caught:
        ann.post_annotation(calls, [call(cells, 0)] * 10_001)
    assert caught.value.status == 413
    assert ann.get_annotation_count(calls) == count


# --- staged annotations ----------------------------------------------------------------------


def test_stage_and_upload(ann, client, calls, cells):
    staged = ann.stage_annotations(calls)
    assert staged.fields_required == ["cell_type", "classification_system", "pt_position"]
    assert staged.table_name == calls and not staged.is_update
    staged.add(cell_type="s1", classification_system="m", pt_position=position(cells, 9))
    staged.add_dataframe(pd.DataFrame({"cell_type": ["s2", "s3"],
                                       "classification_system": ["m", "m"],
                                       "pt_position": [position(cells, 10),
                                                       position(cells, 11)]}))
    assert len(staged) == 3
    ids = ann.upload_staged_annotations(staged, batch_size=2, progress=False)
    assert len(ids) == 3
    assert repr(staged) == f"Staged annotations for table '{calls}' (3 new annotations, " \
                           "3 uploaded)"
    tracked = staged.annotation_dataframe(include_tracking=True)
    assert list(tracked["new_id"]) == ids and tracked["is_uploaded"].all()
    assert ann.upload_staged_annotations(staged, progress=False) == []  # nothing left
    rows = live(client, calls)
    assert list(rows.loc[ids, "cell_type"]) == ["s1", "s2", "s3"]

    update = ann.stage_annotations(calls, update=True)
    assert update.fields_required[0] == "id"
    update.add(id=ids[0], cell_type="s1b", classification_system="m",
               pt_position=position(cells, 9))
    mapping = ann.upload_staged_annotations(update, progress=False)
    assert list(mapping) == [str(ids[0])]
    assert live(client, calls).loc[mapping[str(ids[0])], "cell_type"] == "s1b"


def test_staging_by_schema_and_rescaled_positions(ann, calls, cells):
    with pytest.raises(ValueError):
        ann.stage_annotations()
    by_schema = ann.stage_annotations(schema_name="cell_type_local")
    assert repr(by_schema) == ("Staged annotations for schema 'CellTypeLocal' with no table "
                               "(0 new annotations, 0 uploaded)")
    by_schema.add(cell_type="s", classification_system="m", pt_position=position(cells, 12))
    with pytest.raises(ValueError, match="table"):
        ann.upload_staged_annotations(by_schema, progress=False)
    by_schema.table_name = calls
    [plain] = ann.upload_staged_annotations(by_schema, progress=False)
    # positions given at 2x the table's resolution in x and y are scaled to it
    scaled = ann.stage_annotations(calls, annotation_resolution=[8, 8, 40])
    x, y, z = position(cells, 12)
    scaled.add(cell_type="s", classification_system="m", pt_position=[x / 2, y / 2, z])
    [rescaled] = ann.upload_staged_annotations(scaled, progress=False)
    a, b = sorted(ann.get_annotation(calls, [plain, rescaled]), key=lambda r: r["id"])
    assert a["pt_position"] == b["pt_position"] == [x, y, z]


def test_an_upload_that_stops_says_which_rows_landed_and_resumes(ann, client, calls, notes,
                                                                 cells):
    [target] = ann.post_annotation(calls, call(cells, 13))
    missing = next_id(ann, calls)  # not a row of calls yet
    staged = ann.stage_annotations(notes)
    for t in (target, target, target, missing, target):
        staged.add(cell_type="exc", classification_system="coarse", target_id=t)
    count = ann.get_annotation_count(notes)
    with pytest.raises(AnnotationUploadError) as caught:
        ann.upload_staged_annotations(staged, batch_size=2, retries=1, progress=False)
    error = caught.value
    assert (error.uploaded, error.not_uploaded) == ([0, 1], [2, 3, 4])
    assert (error.row, error.field) == (3, "target_id")
    assert ann.get_annotation_count(notes) == count + 2  # the refused batch: none of it
    # the target exists now: uploading again sends only the rows not uploaded
    assert ann.post_annotation(calls, call(cells, 14)) == [missing]
    ids = ann.upload_staged_annotations(staged, batch_size=2, progress=False)
    assert len(ids) == 3 and ann.get_annotation_count(notes) == count + 5
    assert list(staged.annotation_dataframe(include_tracking=True)["is_uploaded"]) == [True] * 5


# --- who may do what ----------------------------------------------------------------------


def test_a_guest_cannot_read_or_write(demo_server, client, calls, cells):
    guest = as_user(demo_server, client, "guest")
    with pytest.raises(errors.PermissionDeniedError):
        guest.annotation.get_tables()
    with pytest.raises(errors.PermissionDeniedError):
        guest.annotation.post_annotation(calls, call(cells, 0))
    with pytest.raises(errors.PermissionDeniedError):
        guest.annotation.create_table("guest_table", "cell_type_local", "d", RESOLUTION)
    new = as_user(demo_server, client, "new")
    with pytest.raises(errors.TermsOfServiceError):
        new.annotation.create_table("new_table", "cell_type_local", "d", RESOLUTION)


def test_write_permission(ann, client, cells):
    make(ann, "theirs_private", user_id="42")
    with pytest.raises(errors.PermissionDeniedError, match="written to by owner"):
        ann.post_annotation("theirs_private", call(cells, 0))
    make(ann, "theirs_public", user_id="42", write_permission="PUBLIC")
    [row] = ann.post_annotation("theirs_public", call(cells, 0))
    assert row in live(client, "theirs_public").index
    with pytest.raises(errors.PermissionDeniedError):  # built-in tables are read-only here
        ann.post_annotation("nuclei", {"pt": {"position": position(cells, 0)}})


def test_private_tables_are_read_by_their_owner_only_everywhere(ann, client, cells):
    make(ann, "mine_private", read_permission="PRIVATE")
    [mine] = ann.post_annotation("mine_private", call(cells, 0))
    assert mine in live(client, "mine_private").index
    make(ann, "secret", user_id="42", read_permission="PRIVATE", write_permission="PUBLIC")
    [row] = ann.post_annotation("secret", call(cells, 1))  # may write, may not read
    assert ann.get_table_metadata("secret")["read_permission"] == "PRIVATE"  # AE: not checked
    for read in (lambda: ann.get_annotation("secret", row),
                 lambda: ann.get_annotation_count("secret"),
                 lambda: live(client, "secret"),
                 lambda: client.materialize.live_query("secret", now(), log_warning=False),
                 lambda: client.materialize.live_live_query(
                     "nuclei", now(), joins=[["nuclei", "id", "secret", "id"]])):
        with pytest.raises(errors.PermissionDeniedError, match="read by its owner"):
            read()

    # materialized later, the private table is refused at that version too
    r = client.session.post(f"{client.local_server}/materialize/api/v2/materialize/run/"
                            f"create_frozen/datastack/{client.datastack_name}")
    assert r.status_code == 200, r.text
    version = r.json()["version"]
    assert "secret" in client.materialize.get_tables(version=version)
    with pytest.raises(errors.PermissionDeniedError, match="read by its owner"):
        client.materialize.query_table("secret", materialization_version=version)
    with pytest.raises(errors.PermissionDeniedError, match="read by its owner"):
        client.materialize.get_annotation_count("secret", version=version)
    rows = client.materialize.query_table("mine_private", materialization_version=version)
    assert list(rows.id) == [mine]
