"""AnnotationEditor: write your own annotations (cell-type calls, tags…) from a notebook.

Pick one of your annotation tables or create one from a schema of the catalogue; stage rows
from the rows selected in a TableBrowser (their points, with the values you type once);
edit the staged rows in a grid; upload them; undo the last upload. Rows are checked against
the schema before anything is sent, and the TableBrowser shows what you wrote (live). Bound
to the client's sign-in: without write permission it says so.
"""

from __future__ import annotations

import html

import ipywidgets
import pandas as pd
import traitlets

from ..client import errors
from ..client.annotation import AnnotationUploadError, AnnotationValidationError
from ._base import Workers, friendly

DEFAULT_SCHEMA = "cell_type_local"
SOURCE_ID = "source_id"  # the staged row's source row (as text: ids exceed 2**53)


def _position_text(value) -> str:
    return ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)


def _position_of(text) -> list[float]:
    parts = str(text).replace("[", " ").replace("]", " ").replace(",", " ").split()
    if len(parts) != 3:
        raise ValueError(f"a position is three numbers x, y, z, got {text!r}")
    values = [float(p) for p in parts]
    return [int(v) if v.is_integer() else v for v in values]


class AnnotationEditor(ipywidgets.VBox):
    """Create annotation tables and write rows to them, staged and checked in a grid."""

    status = traitlets.Unicode("").tag(sync=False)  # what the editor says now (plain text)

    def __init__(self, client, browser=None, **kwargs):
        self.client = client
        self.browser = browser
        self._workers = Workers(2)
        self._schema: dict | None = None
        self._meta: dict | None = None
        self._last_upload: list[int] = []
        self.note = ipywidgets.HTML()
        self.table = ipywidgets.Dropdown(description="Table", options=[])
        self.refresh_button = ipywidgets.Button(description="Reload", icon="refresh")
        self.new_name = ipywidgets.Text(description="New table", placeholder="my_cell_types")
        self.new_schema = ipywidgets.Dropdown(description="Schema", options=[])
        self.new_description = ipywidgets.Text(description="Description",
                                               placeholder="what these calls are")
        self.create_button = ipywidgets.Button(description="Create table", icon="plus")
        self.values = ipywidgets.VBox()  # one input per non-point field, filled into rows
        self.points = ipywidgets.VBox()  # point field ← a position column of the source
        self.stage_button = ipywidgets.Button(description="Stage the selected rows",
                                              icon="arrow-down")
        self.grid = self._make_grid(pd.DataFrame())
        self.upload_button = ipywidgets.Button(description="Upload", icon="upload",
                                               button_style="primary")
        self.undo_button = ipywidgets.Button(description="Undo the last upload", icon="undo",
                                             disabled=True)
        self.clear_button = ipywidgets.Button(description="Clear staged rows")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.create_button.on_click(lambda _: self._in_background(self._create))
        self.stage_button.on_click(lambda _: self._in_background(self.stage_selected))
        self.upload_button.on_click(lambda _: self._in_background(self.upload))
        self.undo_button.on_click(lambda _: self._in_background(self.undo_last_upload))
        self.clear_button.on_click(lambda _: self._set_staged(pd.DataFrame()))
        self.table.observe(lambda _: self._in_background(self._open_table), names="value")
        super().__init__([
            self.note,
            ipywidgets.HBox([self.table, self.refresh_button]),
            ipywidgets.HBox([self.new_name, self.new_schema, self.new_description,
                             self.create_button]),
            ipywidgets.HTML("<b>Values for the staged rows</b>"), self.values, self.points,
            ipywidgets.HBox([self.stage_button, self.clear_button]),
            self.grid,
            ipywidgets.HBox([self.upload_button, self.undo_button]),
        ], **kwargs)
        self.add_class("cave-annotation-editor")
        client.observe(self._auth_changed, names=["auth_state"])
        self.refresh()

    # --- what a notebook uses ------------------------------------------------------------

    @property
    def staged(self) -> pd.DataFrame:
        """The staged rows as the grid holds them (edited cells included)."""
        return self.grid.data.copy()

    def refresh(self) -> None:
        """List the annotation tables and schemas again (in the background)."""
        self._in_background(self._load)

    def wait(self, timeout: float = 60.0) -> None:
        self._workers.wait(timeout, name="the annotation editor")

    def create_table(self, name: str, schema: str = DEFAULT_SCHEMA, description: str = "") -> None:
        """Create an annotation table owned by the signed-in user, and open it."""
        resolution = self.client.info.viewer_resolution().tolist()
        self.client.annotation.create_table(name, schema, description or f"{schema} calls",
                                            resolution)
        self._say(f"Created table {name} ({schema}).")
        self._load(select=name)

    def stage_selected(self) -> int:
        """Stage the rows selected in the browser: each schema point from the position
        column picked for it, the other fields from the values typed above."""
        if self.browser is None or self._schema is None:
            raise errors.QueryValidationError("open a table here and select rows in a "
                                              "TableBrowser first")
        source = self.browser.selected_df
        if source.empty:
            raise errors.QueryValidationError("no row is selected in the table browser")
        rows = []
        for _, row in source.iterrows():
            staged = {SOURCE_ID: str(int(row[self.browser.query.source.key]))}
            for field, picker in self._point_pickers().items():
                staged[field] = _position_text(row[picker.value]) if picker.value else ""
            for field, box in self._value_boxes().items():
                staged[field] = box.value
            rows.append(staged)
        frame = pd.concat([self.grid.data, pd.DataFrame(rows)], ignore_index=True)
        self._set_staged(frame)
        self._say(f"Staged {len(rows)} rows: edit them in the grid, then Upload.")
        return len(rows)

    def upload(self) -> list[int]:
        """Check every staged row against the schema, then upload them in one batch."""
        table = self.table.value
        if not table:
            raise errors.QueryValidationError("open (or create) a table first")
        staged = self.client.annotation.stage_annotations(table)
        frame = self.grid.data
        for i, row in frame.iterrows():
            fields = {}
            for name in staged.fields:
                value = row.get(name)
                if value is None or (isinstance(value, str) and not value.strip()) or (
                        not isinstance(value, str) and pd.isna(value)):
                    continue
                fields[name] = _position_of(value) if name.endswith("_position") else value
            try:
                staged.add(**fields)
            except AnnotationValidationError as exc:
                exc.row = int(i)
                raise
        ids = self.client.annotation.upload_staged_annotations(staged, progress=False)
        self._last_upload = [int(i) for i in ids]
        self.undo_button.disabled = not ids
        self._set_staged(pd.DataFrame())
        self._say(f"Uploaded {len(ids)} rows to {table} (ids {', '.join(map(str, ids))}).")
        self._show_in_browser(table)
        return self._last_upload

    def undo_last_upload(self) -> list[int]:
        """Delete the rows of the last upload (soft delete: they leave live queries)."""
        ids = self._last_upload
        if not ids:
            return []
        self.client.annotation.delete_annotation(self.table.value, ids)
        self._last_upload = []
        self.undo_button.disabled = True
        self._say(f"Removed the {len(ids)} rows of the last upload.")
        self._show_in_browser(self.table.value)
        return ids

    def close(self) -> None:
        try:
            self.client.unobserve(self._auth_changed, names=["auth_state"])
        except ValueError:
            pass
        self._workers.shutdown()
        super().close()

    # --- background work and what it says --------------------------------------------------

    def _in_background(self, fn, *args):
        def run():
            try:
                fn(*args)
            except AnnotationValidationError as exc:
                where = f"staged row {exc.row}" if exc.row is not None else "a staged row"
                self._say(f"Nothing was uploaded: {where}, {exc.field or 'a field'}: "
                          f"{str(exc).split(': ', 1)[-1]}", kind="error")
            except AnnotationUploadError as exc:
                self._say(str(exc), kind="error")
            except Exception as exc:  # every failure reaches the person
                info = friendly(exc)
                self._say(f"{info['message']} {info['action']}".strip(), kind="error")

        return self._workers.submit(run)

    def _say(self, text: str, kind: str = "info") -> None:
        self.status = text
        css = "cw-error" if kind == "error" else "cw-banner-info"
        self.note.value = f"<div class='{css}' style='padding:4px 8px'>{html.escape(text)}</div>"

    def _auth_changed(self, _change) -> None:
        self._set_staged(pd.DataFrame())
        self._last_upload = []
        self.undo_button.disabled = True
        self.refresh()

    def _load(self, select: str | None = None) -> None:
        client = self.client
        if client.auth_state in ("anonymous", "rejected"):
            self.table.options = []
            self._enable(False)
            self._say("Not signed in: sign in (LoginWidget) to write annotations.")
            return
        from .. import schema_catalogue

        self.new_schema.options = schema_catalogue.names()
        self.new_schema.value = DEFAULT_SCHEMA
        names = sorted(client.annotation.get_tables())
        self.table.options = [""] + names
        if select:
            self.table.value = select
        self._enable(True)
        if not select:
            self._say(f"{len(names)} annotation tables. Open one to write to, or create "
                      "your own.")

    def _open_table(self) -> None:
        name = self.table.value
        self._schema, self._meta = None, None
        self.values.children, self.points.children = (), ()
        if not name:
            return
        meta = self.client.annotation.get_table_metadata(name)
        schema = self.client.annotation._definition(meta.get("schema_type") or meta["schema"])
        staged = self.client.annotation.stage_annotations(name)
        self._meta, self._schema = meta, schema
        writable = self._writable(meta)
        points = [f for f in staged.fields if f.endswith("_position")]
        values = [f for f in staged.fields if f not in points and f != "valid"]
        source_positions = []
        if self.browser is not None and self.browser.query is not None:
            source_positions = [c for c, k in self.browser.query.source.columns.kinds.items()
                                if k == "position"]
        self.points.children = tuple(ipywidgets.Dropdown(
            description=f"{p} ←", options=[""] + source_positions,
            value=source_positions[0] if source_positions else "") for p in points)
        self.values.children = tuple(ipywidgets.Text(
            description=v, placeholder="required" if v in staged.fields_required else "")
            for v in values)
        self._set_staged(pd.DataFrame(columns=[SOURCE_ID, *staged.fields]))
        self.upload_button.disabled = not writable
        self.stage_button.disabled = not writable
        owner = "you" if str(meta.get("user_id")) == str(self.client.user_id) else \
            f"user {meta.get('user_id')}"
        self._say(f"{name}: schema {meta.get('schema_type')}, owned by {owner}, write "
                  f"{meta.get('write_permission', '').lower()}."
                  + ("" if writable else " You may read it but not write to it: open a table "
                                         "of your own, or create one."))

    def _writable(self, meta: dict) -> bool:
        mine = str(meta.get("user_id")) == str(self.client.user_id)
        return mine or meta.get("write_permission") == "PUBLIC"

    def _enable(self, on: bool) -> None:
        for w in (self.table, self.refresh_button, self.new_name, self.new_schema,
                  self.new_description, self.create_button):
            w.disabled = not on

    def _create(self) -> None:
        name = self.new_name.value.strip()
        if not name:
            raise errors.QueryValidationError("name the new table first")
        self.create_table(name, self.new_schema.value, self.new_description.value)

    def _point_pickers(self) -> dict:
        return {w.description.split(" ")[0]: w for w in self.points.children}

    def _value_boxes(self) -> dict:
        return {w.description: w for w in self.values.children}

    def _show_in_browser(self, table: str) -> None:
        browser = self.browser
        if browser is not None and browser.query is not None and \
                browser.query.source.name == table:
            browser.refresh()

    # --- the grid ---------------------------------------------------------------------------

    @staticmethod
    def _make_grid(frame: pd.DataFrame):
        from ipydatagrid import DataGrid

        # every cell as text: ipydatagrid would turn 64-bit ids into 32-bit numbers
        return DataGrid(frame.astype(str) if len(frame.columns) else frame, editable=True,
                        base_column_size=140, layout={"height": "220px"})

    def _set_staged(self, frame: pd.DataFrame) -> None:
        self.grid.data = frame.astype(object).where(frame.notna(), "").astype(str) \
            if len(frame.columns) else frame
