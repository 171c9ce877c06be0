"""What columns a table or view has, from its schema, and checking query arguments against
them before anything is sent. Every error names the argument, the table and the column."""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import QueryValidationError

SCALAR_KINDS = {"integer": "integer", "float": "float", "number": "float", "string": "string",
                "boolean": "boolean"}
# emannotationschemas' point classes, for documents that reference them without defining them,
# and the order their members flatten in (position, supervoxel id, root id, then the rest).
POINT_MEMBERS = {
    "SpatialPoint": ("position",),
    "BoundSpatialPoint": ("position", "supervoxel_id", "root_id"),
    "DerivedSpatialPoint": ("position", "supervoxel_id", "root_id", "dependent_chunk", "level"),
}
MEMBER_ORDER = POINT_MEMBERS["BoundSpatialPoint"]
# Column types of the schema catalogue (PostgreSQL, as CAVE creates materialized tables).
SQL_KINDS = {"BIGINT": "integer", "INTEGER": "integer", "SMALLINT": "integer",
             "FLOAT": "float", "REAL": "float", "DOUBLE PRECISION": "float",
             "VARCHAR": "string", "TEXT": "string", "BOOLEAN": "boolean"}


@dataclass(frozen=True)
class TableColumns:
    """Columns of one table or view: name → kind (integer, float, string, boolean, position)."""

    table: str
    kinds: dict
    # bound-point columns: root id column → its point name (pre_pt_root_id → pre_pt)
    root_columns: tuple = ()
    # Where to look before calling a column unknown (the server's schema, when these
    # columns came from the catalogue this package ships).
    on_unknown: Callable[[], TableColumns] | None = field(default=None, compare=False,
                                                          repr=False)

    def kind(self, column: str, argument: str) -> str:
        if column not in self.kinds and self.on_unknown is not None:
            return self.on_unknown().kind(column, argument)
        if column not in self.kinds:
            raise QueryValidationError(
                f"{argument}: {self.table} has no column {column!r}. Its columns are "
                f"{', '.join(self.kinds)}."
            )
        return self.kinds[column]


def from_schema(table: str, schema: dict, schema_name: str | None = None) -> TableColumns:
    """Flatten a JSON-Schema document (schema service) the way CAVE stores tables.

    Nested objects flatten with ``_`` (``pre_pt`` → ``pre_pt_position``,
    ``pre_pt_supervoxel_id``, ``pre_pt_root_id``; a DerivedSpatialPoint also gives
    ``_dependent_chunk`` and ``_level``), as emannotationschemas' ``flatten`` does. A document
    lists properties alphabetically, not in table order: when `schema_name` is a schema of the
    catalogue with the same root class and the same columns, the columns take the catalogue's
    (real table) order; otherwise ``id``, ``valid``, then the document's order.
    """
    kinds, roots = _flatten_document(schema)
    if schema_name is not None:
        order = _catalogue_order(schema_name, schema.get("$ref"), kinds)
        if order is not None:
            kinds = {column: kinds[column] for column in order}
    return TableColumns(table, kinds, tuple(roots))


def columns_of_schema(table: str, schema_name: str) -> TableColumns | None:
    """The columns of a table of a catalogued schema type, without asking any server (None
    for a schema type the catalogue does not know)."""
    from ... import schema_catalogue

    try:
        document = schema_catalogue.definition(schema_name)
    except KeyError:
        return None
    return from_schema(table, document, schema_name)


def sql_kind(sql_type: str) -> str | None:
    """The column kind of a catalogue column type (None if it is none of ours)."""
    if sql_type.lower().startswith("geometry"):
        return "position"
    return SQL_KINDS.get(sql_type.upper())


def _flatten_document(schema: dict) -> tuple[dict, list]:
    definitions = schema.get("definitions") or {}
    main = schema["$ref"].split("/")[-1]
    root = definitions[main]
    properties = root.get("properties") or {}
    kinds = {"id": "integer"}
    # Every AnnotationSchema has `valid` (documents from servers that leave it out still allow
    # additional properties); only the bare DerivedSpatialPoint forbids them and has none.
    if "valid" in properties or root.get("additionalProperties") is not False:
        kinds["valid"] = "boolean"
    roots: list = []
    rest = {k: v for k, v in properties.items() if k != "valid"}
    _flatten(rest, definitions, "", kinds, roots, (main,))
    return kinds, roots


def _flatten(properties: dict, definitions: dict, prefix: str, kinds: dict, roots: list,
             seen: tuple) -> None:
    if "root_id" in properties and "supervoxel_id" in properties:
        roots.append(f"{prefix}root_id")
    for name, prop in properties.items():
        ref = prop.get("$ref") if isinstance(prop, dict) else None
        if ref is None:
            kind = _property_kind(prop)
            if kind is not None:
                kinds[f"{prefix}{name}"] = kind
            continue
        target = ref.split("/")[-1]
        if target in definitions and target not in seen:
            members = definitions[target].get("properties") or {}
        elif target in POINT_MEMBERS:
            members = {m: {"type": "array"} if m == "position" else {"type": "integer"}
                       for m in POINT_MEMBERS[target]}
        else:
            continue  # a reference this document does not resolve: no columns we can name
        ordered = {m: members[m] for m in MEMBER_ORDER if m in members}
        ordered.update((m, p) for m, p in members.items() if m not in ordered)
        _flatten(ordered, definitions, f"{prefix}{name}_", kinds, roots, seen + (target,))


def _property_kind(prop) -> str | None:
    if not isinstance(prop, dict):
        return None
    types = prop.get("type")
    types = [types] if isinstance(types, str) else list(types or [])
    if "array" in types:
        # A PostGIS point renders as a bare array; other arrays have no table column.
        return "position" if "items" not in prop else None
    fmt = prop.get("format")
    return SCALAR_KINDS.get(fmt) or next(
        (SCALAR_KINDS[t] for t in types if t in SCALAR_KINDS), None)


def _catalogue_order(schema_name: str, ref: str | None, kinds: dict) -> list | None:
    known = _catalogue_table(schema_name)
    if known is None:
        return None
    known_ref, columns = known
    if ref != known_ref or dict(columns) != kinds:
        return None
    return [column for column, _ in columns]


@functools.cache
def _catalogue_table(schema_name: str) -> tuple | None:
    """(root $ref, ((column, kind), ...)) of a catalogued schema type, or None."""
    from ... import schema_catalogue

    try:
        ref = schema_catalogue.definition(schema_name)["$ref"]
        columns = tuple((c, sql_kind(t)) for c, t in schema_catalogue.columns(schema_name))
    except KeyError:
        return None
    return ref, columns


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


def is_id_column(column: str | None) -> bool:
    """Annotation, root and supervoxel ids: unsigned 64-bit, never fractional."""
    return bool(column) and (column == "id" or column.endswith("_id"))


def exact_id(value, where: str = "an id") -> int:
    """An id as an exact unsigned 64-bit integer, or QueryValidationError. Floats are refused
    whatever their value: a float cannot hold most ids (864691135000221763 becomes
    864691135000221824), so one that arrives here has already lost the id it stood for."""
    if hasattr(value, "item") and not is_listlike(value):  # numpy scalar
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        hint = (" (a float cannot hold a 64-bit id exactly: keep ids as integers, e.g. "
                "df[col].astype('uint64'))" if isinstance(value, numbers.Real) else "")
        raise QueryValidationError(f"{where}: ids are whole numbers, got {value!r}{hint}")
    value = int(value)
    if not 0 <= value < 2**64:
        raise QueryValidationError(f"{where}: ids are unsigned 64-bit integers (0 to 2**64-1), "
                                   f"got {value}")
    return value


def _scalar(where: str, kind: str, value, column: str | None = None):
    """A JSON-ready Python value of the column's kind, or a QueryValidationError."""
    if hasattr(value, "item") and not is_listlike(value):  # numpy scalar
        value = value.item()
    if kind == "integer" and is_id_column(column):
        return exact_id(value, where)
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            # a whole float is fine where floats are exact (below 2**53), nowhere else
            if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:
                return int(value)
            raise QueryValidationError(f"{where}: whole numbers only, got {value!r}")
        value = int(value)
        if not -(2**63) <= value < 2**64:
            raise QueryValidationError(f"{where}: {value} does not fit a 64-bit integer")
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
            f"{where}: a bounding box is [[min_x, min_y, min_z], [max_x, max_y, max_z]], "
            f"got {box!r}")
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
            out[column] = [_scalar(where, kind, v, column) for v in value]
        elif argument == "filter_spatial_dict":
            if kind != "position":
                raise QueryValidationError(f"{where}: bounding boxes apply to position columns")
            out[column] = bounding_box(where, value)
        elif argument == "filter_regex_dict":
            if kind != "string":
                raise QueryValidationError(f"{where}: regular expressions apply to text columns")
            out[column] = _scalar(where, "string", value)
        elif argument == "filter_equal_dict":
            out[column] = _scalar(where, kind, value, column)
        else:  # inequalities
            if kind not in ("integer", "float"):
                raise QueryValidationError(f"{where}: comparisons apply to numeric columns")
            out[column] = _scalar(where, kind, value, column)
    return out


def check_select(argument: str, names, columns: TableColumns) -> list[str] | None:
    if names is None:
        return None
    if isinstance(names, str) or not is_listlike(names):
        raise QueryValidationError(f"{argument} must be a list of column names, got {names!r}")
    for name in names:
        columns.kind(name, argument)
    return list(names)
