"""What columns a table or view has, from its schema, and checking query arguments against
them before anything is sent. Every error names the argument, the table and the column."""

from __future__ import annotations

import numbers
from dataclasses import dataclass

from ..errors import QueryValidationError

BOUND = "#/definitions/BoundSpatialPoint"
SPATIAL = "#/definitions/SpatialPoint"
SCALAR_KINDS = {"integer": "integer", "float": "float", "number": "float", "string": "string",
                "boolean": "boolean"}


@dataclass(frozen=True)
class TableColumns:
    """Columns of one table or view: name → kind (integer, float, string, boolean, position)."""

    table: str
    kinds: dict
    # bound-point columns: root id column → its point name (pre_pt_root_id → pre_pt)
    root_columns: tuple = ()

    def kind(self, column: str, argument: str) -> str:
        if column not in self.kinds:
            raise QueryValidationError(
                f"{argument}: {self.table} has no column {column!r}. Its columns are "
                f"{', '.join(self.kinds)}."
            )
        return self.kinds[column]


def from_schema(table: str, schema: dict) -> TableColumns:
    """Flatten a JSON-Schema document (schema service) the way CAVE stores tables."""
    main = schema["$ref"].split("/")[-1]
    properties = schema["definitions"][main]["properties"]
    kinds = {"id": "integer", "valid": "boolean"}
    roots = []
    for name, prop in properties.items():
        ref = prop.get("$ref")
        if ref == BOUND:
            kinds[f"{name}_position"] = "position"
            kinds[f"{name}_supervoxel_id"] = "integer"
            kinds[f"{name}_root_id"] = "integer"
            roots.append(f"{name}_root_id")
        elif ref == SPATIAL:
            kinds[f"{name}_position"] = "position"
        else:
            fmt = prop.get("format")
            types = prop.get("type")
            types = [types] if isinstance(types, str) else (types or [])
            kind = SCALAR_KINDS.get(fmt) or next(
                (SCALAR_KINDS[t] for t in types if t in SCALAR_KINDS), None)
            if kind:
                kinds[name] = kind
    return TableColumns(table, kinds, tuple(roots))


def from_catalogue(table: str, schema_name: str | None) -> TableColumns | None:
    """The columns of a table of a standard schema, from the emannotationschemas catalogue
    shipped with this package (no request); None for a schema it does not know."""
    try:
        from ... import schema_catalogue
    except ImportError:  # TODO(i7): the catalogue lands with the schema work
        return None
    flat = schema_catalogue.columns(schema_name) if schema_name else None
    if flat is None:
        return None
    raise NotImplementedError


def from_view_schema(view: str, schema: dict) -> TableColumns:
    kinds = {}
    for name, spec in schema.items():
        kind = spec.get("type")
        kinds[name] = "position" if kind == "SpatialPoint" else SCALAR_KINDS.get(kind, "string")
    roots = tuple(c for c in kinds if c.endswith("_root_id"))
    return TableColumns(view, kinds, roots)


# --- values -------------------------------------------------------------------------------


def is_listlike(value) -> bool:
    return not isinstance(value, (str, bytes, dict)) and hasattr(value, "__len__") and hasattr(
        value, "__iter__")


def _scalar(where: str, kind: str, value):
    """A JSON-ready Python value of the column's kind, or a QueryValidationError."""
    if hasattr(value, "item") and not is_listlike(value):  # numpy scalar
        value = value.item()
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise QueryValidationError(f"{where}: ids and integers only, got {value!r}")
        value = int(value)
        if not -(2**63) <= value < 2**64:
            raise QueryValidationError(f"{where}: {value} does not fit a 64-bit id")
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise QueryValidationError(f"{where}: a number, got {value!r}")
        return float(value) if not isinstance(value, numbers.Integral) else int(value)
    if kind == "string":
        if not isinstance(value, str):
            raise QueryValidationError(f"{where}: text, got {value!r}")
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise QueryValidationError(f"{where}: True or False, got {value!r}")
        return value
    raise QueryValidationError(
        f"{where}: is a position; filter positions with filter_spatial_dict "
        "({column: [[min_x, min_y, min_z], [max_x, max_y, max_z]]})")


def bounding_box(where: str, box) -> list:
    try:
        lo, hi = (list(corner) for corner in box)
        ok = len(lo) == 3 and len(hi) == 3
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise QueryValidationError(
            f"{where}: a bounding box is [[min_x, min_y, min_z], [max_x, max_y, max_z]], got {box!r}")
    out = [[_scalar(where, "float", v) for v in lo], [_scalar(where, "float", v) for v in hi]]
    if not all(a < b for a, b in zip(*out)):
        raise QueryValidationError(f"{where}: each minimum must be below its maximum, got {out}")
    return out


def check_filters(argument: str, filters: dict | None, columns: TableColumns) -> dict | None:
    """Validated, JSON-ready copy of one table's filters for `argument`."""
    if filters is None:
        return None
    if not isinstance(filters, dict):
        raise QueryValidationError(f"{argument} must map column names to values, got {filters!r}")
    out = {}
    for column, value in filters.items():
        kind = columns.kind(column, argument)
        where = f"{argument}[{column!r}] on {columns.table}"
        if argument in ("filter_in_dict", "filter_out_dict"):
            if not is_listlike(value):
                raise QueryValidationError(f"{where}: expected a list of values, got {value!r}")
            out[column] = [_scalar(where, kind, v) for v in value]
        elif argument == "filter_spatial_dict":
            if kind != "position":
                raise QueryValidationError(f"{where}: bounding boxes apply to position columns")
            out[column] = bounding_box(where, value)
        elif argument == "filter_regex_dict":
            if kind != "string":
                raise QueryValidationError(f"{where}: regular expressions apply to text columns")
            out[column] = _scalar(where, "string", value)
        elif argument == "filter_equal_dict":
            out[column] = _scalar(where, kind, value)
        else:  # inequalities
            if kind not in ("integer", "float"):
                raise QueryValidationError(f"{where}: comparisons apply to numeric columns")
            out[column] = _scalar(where, kind, value)
    return out


def check_select(argument: str, names, columns: TableColumns) -> list[str] | None:
    if names is None:
        return None
    if isinstance(names, str) or not is_listlike(names):
        raise QueryValidationError(f"{argument} must be a list of column names, got {names!r}")
    for name in names:
        columns.kind(name, argument)
    return list(names)
