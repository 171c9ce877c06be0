"""StagedAnnotations: rows gathered (and checked) in the kernel before they are uploaded, as
caveclient's stage_annotations offers them: `add(**fields)` with points given as
`<point>_position=[x, y, z]`, `add_dataframe(df)`, the rows as posted (`annotation_list`) or as
a DataFrame, and the upload state of each row."""

from __future__ import annotations

from .validate import AnnotationValidationError, check_row, root_definition

POINT_REFS = ("SpatialPoint", "BoundSpatialPoint")


class StagedAnnotations:
    IS_UPLOADED_FIELD = "IS_UPLOADED_"
    UPLOADED_ID_FIELD = "UPLOADED_ID_"
    IS_UPLOADED_COLUMN = "is_uploaded"
    NEW_ID_COLUMN = "new_id"

    def __init__(self, schema: dict, name: str | None = None, update: bool = False,
                 id_field: bool = False, table_resolution=None, annotation_resolution=None,
                 table_name: str | None = None):
        self._schema = schema
        root, definition = root_definition(schema)
        self.name = name or root
        self._root = root
        self._table_name = table_name
        self._update = update
        self._id_field = id_field or update
        props = definition.get("properties") or {}
        self._points = [p for p, spec in props.items()
                        if str(spec.get("$ref", "")).split("/")[-1] in POINT_REFS]
        required = list(definition.get("required") or [])
        self._fields = [self._field_name(p) for p in props]
        self._required = [self._field_name(p) for p in props if p in required]
        if self._id_field:
            self._fields.insert(0, "id")
            self._required.insert(0, "id")
        self._scale = None
        if table_resolution is not None and annotation_resolution is not None:
            self._scale = [a / t for a, t in zip(annotation_resolution, table_resolution)]
        self._rows: list[dict] = []

    def _field_name(self, prop: str) -> str:
        return f"{prop}_position" if prop in self._points else prop

    def __len__(self) -> int:
        return len(self._rows)

    def __repr__(self) -> str:
        # as caveclient words it: every staged row, then how many of them are uploaded
        done = len(self._uploaded_indexes())
        kind = "updated" if self._update else "new"
        where = f"table {self._table_name!r}" if self._table_name else \
            f"schema {self._root!r} with no table"
        return (f"Staged annotations for {where} ({len(self._rows)} {kind} annotations, "
                f"{done} uploaded)")

    # --- what it is ------------------------------------------------------------------------

    @property
    def fields(self) -> list[str]:
        return list(self._fields)

    @property
    def fields_required(self) -> list[str]:
        return list(self._required)

    @property
    def is_update(self) -> bool:
        return self._update

    @property
    def table_name(self) -> str | None:
        return self._table_name

    @table_name.setter
    def table_name(self, name: str | None) -> None:
        """Name the table to upload to (rows staged from a schema name)."""
        self._table_name = name

    # --- adding rows -----------------------------------------------------------------------

    def add(self, **fields) -> None:
        """One row: every required field, optional ones as wanted; points as
        `<point>_position=[x, y, z]`. Checked against the schema now, not at upload."""
        unknown = sorted(set(fields) - set(self._fields))
        if unknown:
            raise AnnotationValidationError(
                f"{', '.join(unknown)}: not a field of {self.name} (fields: "
                f"{', '.join(self._fields)})", row=len(self._rows), field=unknown[0])
        missing = [f for f in self._required if fields.get(f) is None]
        if missing:
            raise AnnotationValidationError(
                f"{', '.join(missing)}: required by {self.name}", row=len(self._rows),
                field=missing[0])
        row = self._nested({k: v for k, v in fields.items() if v is not None})
        check_row(row, self._schema, len(self._rows), with_id=self._id_field)
        self._rows.append({**row, self.IS_UPLOADED_FIELD: False, self.UPLOADED_ID_FIELD: None})

    def add_dataframe(self, df) -> None:
        """Rows from a DataFrame whose columns are exactly the fields (required ones
        present, no others)."""
        columns = set(df.columns)
        if not set(self._required) <= columns or not columns <= set(self._fields):
            raise AnnotationValidationError(
                f"the DataFrame's columns must be the fields of {self.name}: required "
                f"{self._required}, optional {sorted(set(self._fields) - set(self._required))};"
                f" got {sorted(columns)}")
        for record in df.to_dict(orient="records"):
            self.add(**{k: _plain(v) for k, v in record.items()})

    def clear_annotations(self) -> None:
        self._rows = []

    def purge_uploaded_annotations(self) -> None:
        self._rows = [r for r in self._rows if not r[self.IS_UPLOADED_FIELD]]

    # --- what gets uploaded ------------------------------------------------------------------

    @property
    def annotation_list(self) -> list[dict]:
        return [self._as_posted(r) for r in self._rows]

    @property
    def annotation_list_nonuploaded(self) -> list[dict]:
        return [self._as_posted(r) for r in self._rows if not r[self.IS_UPLOADED_FIELD]]

    def annotation_dataframe(self, only_nonuploaded: bool = False,
                             include_tracking: bool = False):
        import pandas as pd

        rows = [r for r in self._rows if not (only_nonuploaded and r[self.IS_UPLOADED_FIELD])]
        records = []
        for r in rows:
            flat = self._flat(self._as_posted(r))
            if include_tracking:
                flat[self.IS_UPLOADED_COLUMN] = r[self.IS_UPLOADED_FIELD]
                flat[self.NEW_ID_COLUMN] = r[self.UPLOADED_ID_FIELD]
            records.append(flat)
        df = pd.DataFrame.from_records(records)
        if include_tracking and self.NEW_ID_COLUMN in df.columns:
            df[self.NEW_ID_COLUMN] = df[self.NEW_ID_COLUMN].astype("Int64")
        return df

    def _pending(self) -> list[tuple[int, dict]]:
        return [(i, self._as_posted(r)) for i, r in enumerate(self._rows)
                if not r[self.IS_UPLOADED_FIELD]]

    def _uploaded_indexes(self) -> list[int]:
        return [i for i, r in enumerate(self._rows) if r[self.IS_UPLOADED_FIELD]]

    def _mark_uploaded(self, index: int, new_id: int) -> None:
        self._rows[index][self.IS_UPLOADED_FIELD] = True
        self._rows[index][self.UPLOADED_ID_FIELD] = int(new_id)

    # --- shapes ------------------------------------------------------------------------------

    def _nested(self, fields: dict) -> dict:
        out = {}
        for key, value in fields.items():
            point = key[: -len("_position")] if key.endswith("_position") else None
            if point in self._points:
                position = [_plain(v) for v in value]
                if self._scale is not None:
                    position = [v * s for v, s in zip(position, self._scale)]
                out[point] = {"position": position}
            else:
                out[key] = _plain(value)
        return out

    def _as_posted(self, row: dict) -> dict:
        return {k: v for k, v in row.items()
                if k not in (self.IS_UPLOADED_FIELD, self.UPLOADED_ID_FIELD)}

    def _flat(self, row: dict) -> dict:
        out = {}
        for key, value in row.items():
            if key in self._points and isinstance(value, dict):
                out[f"{key}_position"] = value.get("position")
            else:
                out[key] = value
        return out


def _plain(value):
    """numpy scalars and arrays as plain Python values (ids stay exact integers)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return value
