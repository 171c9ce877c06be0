"""AnnotationEditor, Python side, against the embedded server (its own: these tests write).
Driven as a person drives it — buttons clicked, form boxes typed into, grid cells edited
the way the browser sends an edit — next to a TableBrowser: create a table from a schema,
stage the browser's selected rows, edit them, upload, see them in the live browser, undo a
row; bad cells named by row and field with nothing sent; a table you may not write and a
sign-in without write permission say so; no token in any widget's state."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from helpers.client_materialize import home, make_client  # noqa: F401  (home: a fixture)
from helpers.own_server import own_server as demo_server  # noqa: F401  (this module's own)

from cave_widgets import CAVEclient, schema_catalogue
from cave_widgets.client import errors
from cave_widgets.widgets import AnnotationEditor, TableBrowser


@pytest.fixture()
def client(demo_server, home):
    return make_client(demo_server)


@pytest.fixture()
def pair(client):
    """A TableBrowser on the nuclei and an editor writing from its selection."""
    browser = TableBrowser(client, table="nuclei")
    browser.wait()
    editor = AnnotationEditor(client, browser)
    editor.wait()
    yield browser, editor
    editor.close()
    browser.close()


def settle(browser, editor):
    editor.wait()
    browser.wait()


def nuclei(client, n=3):
    df = client.materialize.query_table("nuclei", filter_greater_dict={"pt_root_id": 0},
                                        limit=n)
    return df.sort_values("id").reset_index(drop=True)


def create(editor, name, schema="cell_type_local", reference=""):
    editor.new_name.value = name
    editor.new_schema.value = schema
    if reference:
        editor.new_reference.value = reference
    editor.create_button.click()
    editor.wait()
    assert editor.state == "ready", editor.status
    assert editor.table.value == name


def type_values(editor, **values):
    boxes = {w.description.rstrip(" *"): w for w in editor.values.children}
    for name, value in values.items():
        boxes[name].value = value


def edit_cell(editor, row, column, text):
    """What the browser sends when a person edits a cell of the grid."""
    grid = editor.grid.widget
    grid._handle_custom_msg({"event_type": "cell-changed", "row": row,
                             "column_index": grid._column_name_to_index(column),
                             "value": text}, [])


def live(client, table):
    return client.materialize.live_live_query(table, datetime.now(timezone.utc),
                                              log_warning=False).set_index("id")


def test_create_stage_edit_upload_see_it_live_and_undo_a_row(pair, client):
    browser, editor = pair
    assert editor.state == "ready" and not editor.create_button.disabled
    assert list(editor.new_schema.options) == schema_catalogue.names()
    assert editor.new_schema.value == "cell_type_local"
    create(editor, "my_types")
    meta = client.annotation.get_table_metadata("my_types")
    assert (meta["schema_type"], meta["user_id"]) == ("cell_type_local", str(client.user_id))
    # the form follows the schema; the point comes from the browser's position column
    assert [w.description for w in editor.values.children] == ["cell_type *",
                                                               "classification_system *"]
    [picker] = editor.points.children
    assert (picker.description, picker.value) == ("pt_position ←", "pt_position")
    assert list(editor.staged.columns) == ["source_id", "cell_type", "classification_system",
                                           "pt_position"]

    cells = nuclei(client)
    browser.selection = [str(i) for i in cells.id]
    type_values(editor, cell_type="BC", classification_system="manual")
    editor.stage_button.click()
    editor.wait()
    staged = editor.staged
    assert len(staged) == 3 and staged.map(lambda v: isinstance(v, str)).all().all()  # text
    assert list(staged.source_id) == [str(i) for i in cells.id]
    assert list(staged.pt_position) == [", ".join(map(str, p)) for p in cells.pt_position]
    edit_cell(editor, 1, "cell_type", "MC")
    assert list(editor.staged.cell_type) == ["BC", "MC", "BC"]

    editor.upload_button.click()
    settle(browser, editor)
    assert editor.state == "ready" and editor.status.startswith("Uploaded 3 rows to my_types")
    assert editor.staged.empty
    # the browser went live and shows the new table, with the rows and their segments
    assert client.timestamp is not None and browser.at.startswith("live at")
    assert browser.table == "my_types" and browser.count() == 3
    shown = browser.df.set_index("id")
    assert list(shown.cell_type) == ["BC", "MC", "BC"]
    assert list(shown.pt_root_id) == list(cells.pt_root_id)
    written = [int(i) for i in shown.index]
    assert [v for _, v in editor.uploaded_list.options] == written[::-1]

    mc = shown.index[shown.cell_type == "MC"][0]
    editor.uploaded_list.value = int(mc)
    editor.undo_button.click()
    settle(browser, editor)
    assert editor.status.startswith(f"Removed row {mc} from my_types")
    assert int(mc) not in live(client, "my_types").index and browser.count() == 2
    assert len(editor.uploaded_list.options) == 2
    editor.undo_batch_button.click()
    settle(browser, editor)
    assert live(client, "my_types").empty and browser.count() == 0
    assert editor.uploaded_list.options == ()


def test_a_bad_cell_is_named_by_row_and_field_and_nothing_is_sent(pair, client):
    browser, editor = pair
    create(editor, "checked_types")
    browser.selection = [str(i) for i in nuclei(client, 2).id]
    type_values(editor, cell_type="BC", classification_system="manual")
    editor.stage_button.click()
    editor.wait()
    edit_cell(editor, 1, "cell_type", "")
    editor.upload_button.click()
    editor.wait()
    assert editor.state == "error"
    assert editor.status.startswith("Nothing was uploaded: staged row 1, cell_type")
    edit_cell(editor, 1, "cell_type", "BC")
    edit_cell(editor, 0, "pt_position", "1, 2")
    editor.upload_button.click()
    editor.wait()
    assert "staged row 0, pt_position" in editor.status and "three numbers" in editor.status
    assert client.annotation.get_annotation_count("checked_types") == 0
    assert len(editor.staged) == 2  # kept, to be fixed
    edit_cell(editor, 0, "pt_position", "[20000, 30000, 400]")
    editor.upload_button.click()
    settle(browser, editor)
    assert editor.state == "ready" and client.annotation.get_annotation_count(
        "checked_types") == 2


def test_reference_rows_point_at_the_selected_rows(pair, client):
    browser, editor = pair
    editor.new_schema.value = "cell_type_reference"
    assert editor.new_reference.layout.display != "none"  # asks what it refers to
    create(editor, "nucleus_calls", "cell_type_reference", reference="nuclei")
    assert client.annotation.get_table_metadata("nucleus_calls")["reference_table"] == "nuclei"
    assert editor.points.children == ()
    assert "target_id" not in [w.description for w in editor.values.children]
    cells = nuclei(client, 2)
    browser.selection = [str(i) for i in cells.id]
    type_values(editor, cell_type="exc", classification_system="coarse")
    editor.stage_button.click()
    editor.wait()
    assert list(editor.staged.target_id) == [str(i) for i in cells.id]
    edit_cell(editor, 0, "target_id", "12x")
    editor.upload_button.click()
    editor.wait()
    assert "staged row 0, target_id" in editor.status and "integer" in editor.status
    edit_cell(editor, 0, "target_id", str(cells.id[0]))
    editor.upload_button.click()
    settle(browser, editor)
    rows = live(client, "nucleus_calls")
    assert sorted(rows.target_id) == sorted(cells.id)

    browser.open_table("synapses")
    browser.selection = [str(client.materialize.query_table("synapses", limit=1).id[0])]
    editor.stage_button.click()
    editor.wait()
    assert editor.state == "error" and "select rows of nuclei" in editor.status


def test_a_blank_row_typed_in_the_grid_and_removing_staged_rows(pair, client):
    browser, editor = pair
    create(editor, "typed_by_hand")
    type_values(editor, cell_type="L5", classification_system="manual")
    editor.blank_button.click()
    editor.blank_button.click()
    editor.wait()
    assert list(editor.staged.pt_position) == ["", ""]
    editor.reload_button.click()  # a reload keeps the open table and what is staged
    editor.wait()
    assert editor.table.value == "typed_by_hand" and len(editor.staged) == 2
    assert not editor.upload_button.disabled
    editor.grid.widget.select(1, 0)
    editor.remove_button.click()
    editor.wait()
    assert len(editor.staged) == 1
    [cell] = nuclei(client, 1).pt_position
    edit_cell(editor, 0, "pt_position", ", ".join(map(str, cell)))
    ids = editor.upload()  # the same from code
    settle(browser, editor)
    assert list(live(client, "typed_by_hand").loc[ids, "cell_type"]) == ["L5"]


def test_a_table_you_may_not_write_says_so(pair, client):
    browser, editor = pair
    client.annotation.create_table("theirs", "cell_type_local", "d", [4, 4, 40], user_id=42)
    editor.refresh()
    editor.wait()
    editor.table.value = "theirs"
    editor.wait()
    assert editor.state == "read_only" and "may read it but not write to it" in editor.status
    assert editor.stage_button.disabled and editor.upload_button.disabled
    assert "user 42" in editor.status


def test_follows_the_sign_in(demo_server, home):
    client = CAVEclient(demo_server.datastack, server_address=demo_server.url,
                        write_server_cache=False)
    editor = AnnotationEditor(client)
    try:
        editor.wait()
        assert editor.state == "signed_out" and editor.status.startswith("Not signed in")
        assert editor.create_button.disabled and editor.table.disabled
        with pytest.raises(errors.AuthenticationError):
            editor.create_table("nobody_s", "cell_type_local")

        client.change_auth(auth_token=demo_server.token)
        editor.wait()
        assert editor.state == "ready" and not editor.create_button.disabled
        assert "nobody_s" not in editor.table.options
        create(editor, "signed_in_table")
        editor.add_row(cell_type="x", classification_system="y", pt_position=[1, 2, 3])
        assert len(editor.staged) == 1

        client.change_auth(auth_token=demo_server.tokens["guest"])  # no edit permission
        editor.wait()
        assert editor.state == "read_only" and "no permission to write" in editor.status
        assert editor.create_button.disabled and editor.stage_button.disabled
        assert editor.staged.empty  # nothing of the previous user stays
        with pytest.raises(errors.PermissionDeniedError):
            editor.create_table("guest_table", "cell_type_local")

        client.change_auth(auth_token=None)
        editor.wait()
        assert editor.state == "signed_out" and list(editor.table.options) == [""]
    finally:
        editor.close()


def test_no_token_in_any_widget_state(pair, demo_server):
    browser, editor = pair
    create(editor, "no_secrets")
    pending = [editor]
    states = []
    while pending:
        widget = pending.pop()
        states.append(json.dumps(widget.get_state(), default=str))
        pending += list(getattr(widget, "children", ()))
    states.append(json.dumps(editor.grid.widget.get_state(), default=str))
    assert len(states) > 20
    assert not [s for s in states if demo_server.token in s]
