"""AnnotationEditor: write your own annotations (cell-type calls, tags…) from a notebook.

    browser = TableBrowser(client, table="nuclei")
    editor = AnnotationEditor(client, browser)
    display(browser, editor)

Create a table from a schema of the catalogue (or open one of the aligned volume's tables);
type the values every new row gets in the form built from the schema; select rows in the
TableBrowser and stage them (their points come from the position columns picked, a reference
row's target from the row's id) or add a blank row; edit the staged rows in the grid; upload.
The browser then shows the table live, with your rows. Undo any row you wrote here.

Rows are checked against the schema before anything is sent, and an upload that stops says
which rows landed. The editor follows the client's sign-in: signed out, or signed in without
write permission, it says so and offers nothing it would refuse.
"""

from __future__ import annotations

import functools
import html
import threading
from contextlib import contextmanager
from datetime import datetime, timezone

import ipywidgets
import pandas as pd
import traitlets

from ...client import errors
from ...client.annotation import AnnotationUploadError
from .._base import Workers, friendly
from .form import FieldSpec, field_specs, input_for, is_reference, point_picker, position_text
from .grid import SOURCE_ID, StagedGrid
from .upload import Uploaded, staged_from_grid

DEFAULT_SCHEMA = "cell_type_local"
SIGNED_OUT = ("anonymous", "rejected")


def _serialized(method):
    """Run under the editor's lock: the staged rows change one operation at a time, whether
    a click (on the worker) or a cell of code (on the kernel's thread) asks."""

    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)

    return locked


class AnnotationEditor(ipywidgets.VBox):
    """Create annotation tables and write rows to them, staged and checked in a grid.

    `browser`: the TableBrowser whose selected rows are staged and which shows what was
    written. `show_live`: after an upload or undo, move the client to live at the current
    time (unless a version is pinned) so the browser shows the rows."""

    status = traitlets.Unicode("")  # what the editor says now (plain text)
    state = traitlets.Unicode("loading")  # signed_out | read_only | ready | error

    def __init__(self, client, browser=None, show_live: bool = True, **kwargs):
        self.client, self.browser, self.show_live = client, browser, show_live
        # one worker: clicks run in the order they were made (stage, then upload)
        self._workers = Workers(1)
        self._lock = threading.RLock()
        self._quiet = False  # set while the table list changes from code
        self._specs: list[FieldSpec] = []
        self._meta: dict | None = None
        self._can_edit = False
        self._loaded_with = None
        self.uploaded = Uploaded()
        self.note = ipywidgets.HTML().add_class("cw-ae-note")
        self.table = ipywidgets.Dropdown(description="Table", options=[""]).add_class(
            "cw-ae-table")
        self.reload_button = ipywidgets.Button(description="Reload", icon="refresh")
        self.new_name = ipywidgets.Text(description="New table", placeholder="my_cell_types"
                                        ).add_class("cw-ae-new-name")
        self.new_schema = ipywidgets.Dropdown(description="Schema", options=[DEFAULT_SCHEMA]
                                              ).add_class("cw-ae-new-schema")
        self.new_description = ipywidgets.Text(description="Description",
                                               placeholder="what these calls are")
        self.new_reference = ipywidgets.Dropdown(description="Refers to", options=[""],
                                                 layout={"display": "none"})
        self.create_button = ipywidgets.Button(description="Create table", icon="plus"
                                               ).add_class("cw-ae-create")
        self.values = ipywidgets.VBox().add_class("cw-ae-values")
        self.points = ipywidgets.VBox().add_class("cw-ae-points")
        self.stage_button = ipywidgets.Button(description="Stage the selected rows",
                                              icon="arrow-down").add_class("cw-ae-stage")
        self.blank_button = ipywidgets.Button(description="Add a blank row", icon="plus")
        self.remove_button = ipywidgets.Button(description="Remove selected", icon="trash")
        self.grid = StagedGrid()
        self.upload_button = ipywidgets.Button(description="Upload", icon="upload",
                                               button_style="primary").add_class("cw-ae-upload")
        self.uploaded_list = ipywidgets.Select(description="Written", options=[], rows=4,
                                               layout={"width": "640px"}).add_class(
                                                   "cw-ae-written")
        self.undo_button = ipywidgets.Button(description="Undo the selected row",
                                             icon="undo").add_class("cw-ae-undo")
        self.undo_batch_button = ipywidgets.Button(description="Undo the last upload")
        for button in (self.reload_button, self.create_button, self.stage_button,
                       self.blank_button, self.remove_button, self.undo_button,
                       self.undo_batch_button):
            button.layout.width = "auto"  # the whole label, never "Stage the sele…"
        for button, fn in ((self.reload_button, self._load), (self.create_button, self._create),
                           (self.stage_button, self.stage_selected),
                           (self.blank_button, self.add_row),
                           (self.remove_button, self.remove_selected), (self.upload_button,
                                                                        self.upload),
                           (self.undo_button, self.undo),
                           (self.undo_batch_button, self.undo_last_upload)):
            button.on_click(lambda _, fn=fn: self._in_background(fn))
        self.table.observe(self._table_picked, names="value")
        self.new_schema.observe(self._schema_picked, names="value")
        super().__init__([
            ipywidgets.HTML("<b>Annotation editor</b>: write your own annotations"),
            self.note,
            ipywidgets.HBox([self.table, self.reload_button]),
            ipywidgets.HBox([self.new_name, self.new_schema, self.new_description,
                             self.new_reference, self.create_button]),
            ipywidgets.HTML("<b>Values for new rows</b> (* required)"),
            ipywidgets.HBox([self.values, self.points]),
            ipywidgets.HBox([self.stage_button, self.blank_button, self.remove_button]),
            self.grid.widget,
            self.upload_button,
            ipywidgets.HBox([self.uploaded_list, ipywidgets.VBox([self.undo_button,
                                                                  self.undo_batch_button])]),
        ], **kwargs)
        self.add_class("cave-annotation-editor")
        self._enable(tables=False, write=False)
        client.observe(self._auth_changed, names=["auth_state"])
        self.refresh()

    # --- what a notebook uses ------------------------------------------------------------

    @property
    def staged(self) -> pd.DataFrame:
        """The staged rows as the grid holds them (edited cells included), all text."""
        return self.grid.frame

    def refresh(self) -> None:
        """Check the sign-in and list the tables again (in the background)."""
        self._in_background(self._load)

    def wait(self, timeout: float = 60.0) -> None:
        self._workers.wait(timeout, name="the annotation editor")

    def create_table(self, name: str, schema: str = DEFAULT_SCHEMA, description: str = "",
                     reference_table: str | None = None) -> None:
        """Create an annotation table owned by the signed-in user (in the datastack's
        resolution), and open it."""
        self._require_edit()
        resolution = [float(v) for v in self.client.info.viewer_resolution()]
        self.client.annotation.create_table(name, schema, description or f"{schema} calls",
                                            resolution, reference_table=reference_table)
        self._load(select=name)
        self._say(f"Created table {name} ({schema}). Type the values for new rows, select "
                  "rows in the browser and stage them.")

    def open_table(self, name: str) -> None:
        """Write to `name` from now on: the form follows its schema; staged rows go."""
        with self._lock:
            if self.table.value != name:
                with self._silently():
                    if name not in self.table.options:
                        self.table.options = [*self.table.options, name]
                    self.table.value = name
            self._open(name)

    def set_values(self, **values) -> None:
        """Fill the form (the values every staged row gets), by field name."""
        boxes = self._value_boxes()
        unknown = sorted(set(values) - set(boxes))
        if unknown:
            raise errors.QueryValidationError(
                f"{', '.join(unknown)}: not a field of the form (fields: {', '.join(boxes)})")
        for name, value in values.items():
            boxes[name].value = "" if value is None else str(value)

    @_serialized
    def stage_selected(self) -> int:
        """Stage the rows selected in the browser: each point from the position column
        picked for it, a reference row's target_id from the row's id, the other fields from
        the form. Returns how many rows were staged."""
        self._require_open()
        browser = self.browser
        if browser is None or browser.query is None:
            raise errors.QueryValidationError("select rows in a TableBrowser first (give the "
                                              "editor one: AnnotationEditor(client, browser))")
        source = browser.selected_df
        if source.empty:
            raise errors.QueryValidationError("no row is selected in the table browser")
        source_table, key = browser.query.source.name, browser.query.source.key
        target = self._meta.get("reference_table") if is_reference(self._specs) else None
        if target and source_table != target:
            raise errors.QueryValidationError(
                f"{self.table.value} refers to rows of {target}: select rows of {target} in "
                f"the browser (it shows {source_table})")
        rows = []
        for _, record in source.iterrows():
            row = {**self._form_values(), SOURCE_ID: str(int(record[key]))}
            for name, picker in self._point_pickers().items():
                row[name] = position_text(record[picker.value]) if picker.value else ""
            if target:
                row["target_id"] = str(int(record[key]))
            rows.append(row)
        self.grid.append(rows)
        self._say(f"Staged {len(rows)} row{'s' * (len(rows) != 1)} from {source_table}: edit "
                  "them in the grid if needed, then Upload.")
        return len(rows)

    @_serialized
    def add_row(self, **fields) -> None:
        """Stage one row: the form's values, overridden by `fields` (points as [x, y, z]
        or "x, y, z"); anything left blank can be typed in the grid."""
        self._require_open()
        row = {**self._form_values(), SOURCE_ID: ""}
        for name, value in fields.items():
            if name not in self._field_names():
                raise errors.QueryValidationError(
                    f"{name}: not a field of {self._meta['schema_type']} (fields: "
                    f"{', '.join(self._field_names())})")
            row[name] = position_text(value) if name.endswith("_position") and not \
                isinstance(value, str) else ("" if value is None else str(value))
        self.grid.append([row])
        self._say("Added a row to the staged rows: fill in its blank cells in the grid, then "
                  "Upload.")

    @_serialized
    def remove_selected(self) -> int:
        """Drop the staged rows selected in the grid."""
        chosen = set(self.grid.selected_rows())
        if not chosen:
            raise errors.QueryValidationError("select staged rows in the grid first")
        self.grid.keep([i for i in range(len(self.grid.frame)) if i not in chosen])
        self._say(f"Removed {len(chosen)} staged row{'s' * (len(chosen) != 1)}.")
        return len(chosen)

    def upload(self) -> list[int]:
        """Check every staged row against the schema, then upload them (nothing is sent if
        a row is wrong; the message names it). Returns the new annotation ids."""
        with self._lock:
            self._require_open(write=True)
            table, frame = self.table.value, self.grid.frame
            if frame.empty:
                raise errors.QueryValidationError("nothing is staged: stage rows first")
            ann = self.client.annotation
            staged = staged_from_grid(ann, table, self._specs, frame)
            try:
                ids = ann.upload_staged_annotations(staged, progress=False)
            except AnnotationUploadError as exc:
                self._record(table, frame, staged)  # rows that did land stay undoable
                self.grid.keep(exc.not_uploaded)
                raise
            self._record(table, frame, staged)
            self.grid.keep([])
        self._say(f"Uploaded {len(ids)} row{'s' * (len(ids) != 1)} to {table} (ids "
                  f"{', '.join(map(str, ids))}).{self._show_in_browser(table)}")
        return [int(i) for i in ids]

    @_serialized
    def undo(self, annotation_id: int | None = None) -> int:
        """Delete one row written here (default: the one picked in the list, else the
        newest): it leaves live queries at once."""
        chosen = annotation_id if annotation_id is not None else (
            self.uploaded_list.value or self.uploaded.newest())
        if chosen is None:
            raise errors.QueryValidationError("nothing written here to undo")
        entry = self.uploaded.get(int(chosen))
        self.client.annotation.delete_annotation(entry.table, [entry.id])
        self.uploaded.remove([entry.id])
        self._show_uploaded()
        self._say(f"Removed row {entry.id} from {entry.table}."
                  f"{self._show_in_browser(entry.table)}")
        return entry.id

    @_serialized
    def undo_last_upload(self) -> list[int]:
        """Delete every row of the last upload."""
        batch = self.uploaded.last_batch()
        if not batch:
            raise errors.QueryValidationError("nothing written here to undo")
        table = batch[0].table
        self.client.annotation.delete_annotation(table, [e.id for e in batch])
        self.uploaded.remove([e.id for e in batch])
        self._show_uploaded()
        self._say(f"Removed the {len(batch)} rows of the last upload from {table}."
                  f"{self._show_in_browser(table)}")
        return [e.id for e in batch]

    def close(self) -> None:
        try:
            self.client.unobserve(self._auth_changed, names=["auth_state"])
        except ValueError:
            pass
        self._workers.shutdown()
        super().close()

    # --- loading: sign-in, tables, a table's form ------------------------------------------

    def _load(self, select: str | None = None) -> None:
        with self._lock:
            self._load_locked(select)

    def _load_locked(self, select: str | None) -> None:
        client = self.client
        if client.auth_state in SIGNED_OUT:
            self._clear(tables=True)
            self._enable(tables=False, write=False)
            self._say("Not signed in: sign in (LoginWidget) to write annotations.",
                      state="signed_out")
            return
        self._loaded_with = client.auth
        # who is signed in, and whether they may write anywhere (middle_auth's record:
        # permissions by dataset); a server that does not say lets the writes decide
        granted = client.auth.whoami().get("permissions_v2")
        self._can_edit = granted is None or any("edit" in p for p in granted.values())
        from ... import schema_catalogue

        try:
            names = sorted(client.annotation.get_tables())
        except errors.TermsOfServiceError:
            raise
        except errors.PermissionDeniedError:
            if self._can_edit:
                raise
            names = []  # may not even read them: say what matters here, below
        # a reload keeps the open table (and its staged rows) when it is still there
        kept = self.table.value if self._meta is not None and self.table.value in names \
            else ""
        with self._silently():
            chosen = self.new_schema.value
            self.new_schema.options = schema_catalogue.names()
            self.new_schema.value = chosen if chosen in self.new_schema.options \
                else DEFAULT_SCHEMA
            self.new_reference.options = ["", *names]
            self.table.options = ["", *names]
            self.table.value = select or kept
        if not kept:
            self._clear()
        self._enable(tables=True, write=self._can_edit,
                     rows=bool(kept) and self._writable(self._meta))
        if select:
            self._open(select)
        elif kept:
            self._say(f"{len(names)} annotation tables; writing to {kept}.")
        elif not self._can_edit:
            self._say(f"Signed in as {client.user_name or client.user_id}, who has no "
                      "permission to write annotations here. Ask the datastack's "
                      "administrators for edit access, or sign in as another user.",
                      state="read_only")
        else:
            self._say(f"{len(names)} annotation tables. Open one you may write to, or create "
                      "your own.")

    def _open(self, name: str) -> None:
        with self._lock:
            self._open_locked(name)

    def _open_locked(self, name: str) -> None:
        self._specs, self._meta = [], None
        self.values.children, self.points.children = (), ()
        self.grid.reset([])
        if not name:
            self._enable(tables=True, write=self._can_edit)
            return
        ann = self.client.annotation
        meta = ann.get_table_metadata(name)
        specs = field_specs(ann._definition(meta["schema_type"]))
        self._meta, self._specs = meta, specs
        columns = []
        if self.browser is not None and self.browser.query is not None:
            columns = [c for c, k in self.browser.query.source.columns.kinds.items()
                       if k == "position"]
        self.values.children = tuple(input_for(s) for s in specs
                                     if s.kind != "position" and s.name != "target_id")
        self.points.children = tuple(point_picker(s, columns) for s in specs
                                     if s.kind == "position")
        self.grid.reset([SOURCE_ID, *(s.name for s in specs)])
        mine = str(meta.get("user_id")) == str(self.client.user_id)
        writable = self._writable(meta)
        self._enable(tables=True, write=self._can_edit, rows=writable)
        owner = "you" if mine else f"user {meta.get('user_id')}"
        who = "its owner only" if meta.get("write_permission") == "PRIVATE" else "others too"
        text = f"{name}: schema {meta['schema_type']}, owned by {owner}, written by {who}."
        if writable:
            self._say(f"{text} Type the values for new rows, select rows in the browser and "
                      "stage them, or add a blank row.")
        else:
            self._say(f"{text} You may read it but not write to it: open a table of your own, "
                      "or create one.", state="read_only")

    def _create(self) -> None:
        name = self.new_name.value.strip()
        if not name:
            raise errors.QueryValidationError("name the new table first (lowercase letters, "
                                              "digits and _)")
        self.create_table(name, self.new_schema.value, self.new_description.value.strip(),
                          self.new_reference.value or None)

    # --- reacting to the person and the client ---------------------------------------------

    def _table_picked(self, change) -> None:
        if not self._quiet:
            self._in_background(self.open_table, change["new"])

    def _schema_picked(self, change) -> None:
        from ... import schema_catalogue
        from ...client.annotation.validate import root_definition

        try:
            _, root = root_definition(schema_catalogue.definition(change["new"]))
        except KeyError:
            return
        reference = "target_id" in (root.get("properties") or {})
        self.new_reference.layout.display = "" if reference else "none"

    def _auth_changed(self, change) -> None:
        same_user = change["new"] == "verified" and self.client.auth is self._loaded_with
        if not same_user:  # another person (or nobody): nothing of the previous one stays
            self._clear(tables=True)
            self.uploaded.clear()
            self._show_uploaded()
        self.refresh()

    # --- small helpers ------------------------------------------------------------------

    def _in_background(self, fn, *args):
        def run():
            try:
                fn(*args)
            except Exception as exc:  # every failure reaches the person
                self._show_error(exc)

        return self._workers.submit(run)

    def _show_error(self, exc: Exception) -> None:
        info = friendly(exc)
        message, row = info["message"], getattr(exc, "row", None)
        if row is not None and not isinstance(exc, AnnotationUploadError):
            field = getattr(exc, "field", "") or ""
            for said in (f"row {row}: ", f"{field}: "):  # said once, below
                message = message.removeprefix(said)
            message = (f"Nothing was uploaded: staged row {row}"
                       + (f", {field}" if field else "") + f": {message}")
        self._say(f"{message} {info['action']}".strip(), state="error")

    def _say(self, text: str, state: str = "ready") -> None:
        self.status, self.state = text, state
        colour = "var(--jp-error-color1, #b00020)" if state == "error" else \
            "var(--jp-ui-font-color1, #1a1a1a)"
        self.note.value = (f"<div class='cw-ae-message' data-state='{state}' style='padding:"
                           f"4px 8px;color:{colour}'>{html.escape(text)}</div>")

    @contextmanager
    def _silently(self):
        self._quiet = True
        try:
            yield
        finally:
            self._quiet = False

    def _clear(self, tables: bool = False) -> None:
        self._specs, self._meta = [], None
        self.values.children, self.points.children = (), ()
        self.grid.reset([])
        if tables:
            with self._silently():
                self.table.options = [""]

    def _enable(self, tables: bool, write: bool, rows: bool = False) -> None:
        for w in (self.table, self.reload_button):
            w.disabled = not tables
        for w in (self.new_name, self.new_schema, self.new_description, self.new_reference,
                  self.create_button):
            w.disabled = not write
        for w in (self.stage_button, self.blank_button, self.remove_button, self.upload_button):
            w.disabled = not rows

    def _writable(self, meta: dict) -> bool:
        """May the signed-in user write rows to the table of `meta`? (AE's rule: the owner,
        or anyone when the table says PUBLIC; GROUP needs a shared group, which only the
        server can tell: offered, and the server decides.)"""
        mine = str(meta.get("user_id")) == str(self.client.user_id)
        return self._can_edit and (mine or meta.get("write_permission") in ("PUBLIC", "GROUP"))

    def _require_edit(self) -> None:
        if self.client.auth_state in SIGNED_OUT:
            raise errors.AuthenticationError("Not signed in: sign in to write annotations.")
        if not self._can_edit and self._loaded_with is self.client.auth:
            raise errors.PermissionDeniedError(
                "You have no write (edit) permission on this datastack's annotations.")

    def _require_open(self, write: bool = False) -> None:
        if self._meta is None:
            raise errors.QueryValidationError("open (or create) a table first")
        if write:
            self._require_edit()

    def _field_names(self) -> list[str]:
        return [s.name for s in self._specs]

    def _value_boxes(self) -> dict:
        return {w.description.rstrip(" *"): w for w in self.values.children}

    def _form_values(self) -> dict:
        return {name: str(box.value or "") for name, box in self._value_boxes().items()}

    def _point_pickers(self) -> dict:
        return {w.description.split(" ")[0]: w for w in self.points.children}

    def _record(self, table: str, frame: pd.DataFrame, staged) -> None:
        self.uploaded.add(table, frame, staged)
        self._show_uploaded()

    def _show_uploaded(self) -> None:
        self.uploaded_list.options = self.uploaded.options()

    def _show_in_browser(self, table: str) -> str:
        """Make the browser show `table` with what was just written; what to say of it."""
        client = self.client
        if self.show_live and client.version is None:
            client.timestamp = datetime.now(timezone.utc)  # live, now: the new rows are in
        elif client.timestamp is None:
            return (f" The browser shows version {client.version}, made before these rows: "
                    "set client.timestamp to see them live.")
        browser = self.browser
        if browser is None:
            return ""
        browser.refresh()
        if browser.table != table and table in {t["name"] for t in browser.tables}:
            browser.open_table(table)
        return f" The browser shows {table} live."
