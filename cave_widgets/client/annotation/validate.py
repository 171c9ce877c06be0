"""Checking an annotation row against its schema document before it is sent.

The schema service's documents (marshmallow-jsonschema over emannotationschemas) use a small
part of JSON Schema: `type` (or a list of types), `format`, `enum`, `required`,
`additionalProperties`, `items` and `$ref` into `definitions`. That part is checked here, so
a bad row is refused with the row and the field named, before a batch goes out.
"""

from __future__ import annotations

import ast
import math
import numbers
import re

from ..errors import CAVEHTTPError, InvalidRequestError, QueryValidationError

_TYPES = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, numbers.Integral) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, numbers.Real) and not isinstance(v, bool)
    and not (isinstance(v, float) and not math.isfinite(v)),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, (list, tuple)),
    "object": lambda v: isinstance(v, dict),
    "null": lambda v: v is None,
}


class AnnotationValidationError(QueryValidationError):
    """A row does not fit its table's schema; `row` (its index in the batch) and `field`
    (a dotted path such as "pt.position") say where."""

    def __init__(self, message: str, *, row: int | None = None, field: str = ""):
        super().__init__(message)
        self.row = row
        self.field = field


def root_definition(schema: dict) -> tuple[str, dict]:
    name = schema["$ref"].split("/")[-1]
    return name, schema["definitions"][name]


def check_row(row, schema: dict, index: int | None = None, *, with_id: bool = False) -> None:
    """Raise AnnotationValidationError unless `row` (nested, as posted) fits `schema`."""
    _, definition = root_definition(schema)
    where = f"row {index}" if index is not None else "the row"
    if not isinstance(row, dict):
        raise AnnotationValidationError(f"{where}: an annotation is a dict of fields, got "
                                        f"{type(row).__name__}", row=index)
    if with_id:
        ident = row.get("id")
        if not _TYPES["integer"](ident) or int(ident) < 0:
            raise AnnotationValidationError(
                f"{where}: an update names the annotation it replaces: 'id' must be a "
                f"non-negative integer, got {ident!r}", row=index, field="id")
        row = {k: v for k, v in row.items() if k != "id"}
    _check(row, definition, schema, where, "", index)


def _check(value, spec: dict, schema: dict, where: str, path: str, index) -> None:
    if "$ref" in spec:
        spec = schema["definitions"][spec["$ref"].split("/")[-1]]
    types = spec.get("type")
    types = [types] if isinstance(types, str) else list(types or [])
    if types and not any(_TYPES.get(t, lambda v: True)(value) for t in types):
        shown = " or ".join(types)
        raise AnnotationValidationError(
            f"{where}: {path or 'the row'} must be {shown}, got {value!r}",
            row=index, field=path)
    if "enum" in spec and value not in spec["enum"] and value is not None:
        raise AnnotationValidationError(
            f"{where}: {path} must be one of {spec['enum']}, got {value!r}", row=index,
            field=path)
    if isinstance(value, dict):
        props = spec.get("properties") or {}
        for name in spec.get("required") or []:
            if name not in value or value[name] is None:
                field = f"{path}.{name}" if path else name
                raise AnnotationValidationError(f"{where}: {field} is required", row=index,
                                                field=field)
        if spec.get("additionalProperties") is False:
            extra = sorted(set(value) - set(props))
            if extra:
                field = f"{path}.{extra[0]}" if path else extra[0]
                raise AnnotationValidationError(
                    f"{where}: {field} is not a field of this schema (fields: "
                    f"{', '.join(props)})", row=index, field=field)
        for name, sub in value.items():
            if name in props and sub is not None:
                _check(sub, props[name], schema, where, f"{path}.{name}" if path else name,
                       index)
    elif isinstance(value, (list, tuple)) and isinstance(spec.get("items"), dict):
        for i, item in enumerate(value):
            _check(item, spec["items"], schema, where, f"{path}[{i}]", index)


# --- rows the server refused -------------------------------------------------------------------

class AnnotationRefusedError(InvalidRequestError):
    """The server refused a batch because of one row (a check only the server can make,
    such as a reference row's target_id that is not in the referenced table, or a schema the
    client does not know); `row` (its index in the batch) and `field` say where, when the
    server's message tells."""

    def __init__(self, message: str, *, row: int | None = None, field: str = "", **kwargs):
        super().__init__(message, **kwargs)
        self.row = row
        self.field = field


_ROW = re.compile(r"annotation (\d+): (.*)$", re.S)
_UPDATED_ID = re.compile(r"Error update ID (\d+)")
_PREFIX = re.compile(r"^\d{3} [A-Za-z ]+: ")


def refusal(exc: CAVEHTTPError, rows: list, *, whole: bool) -> CAVEHTTPError:
    """`exc` as an AnnotationRefusedError naming the row and field, when the server's message
    says which (AE: "422 Unprocessable Entity: annotation 1: {'pt': [...]}", "Error update ID
    7 -> ..."); otherwise `exc` itself. `whole`: the server applies the batch whole or not
    at all (posts do; AE applies an update row by row)."""
    text = exc.server_message or ""
    row, detail = None, _PREFIX.sub("", text)
    found = _ROW.search(text)
    if found:
        row, detail = int(found[1]), found[2]
    updated = _UPDATED_ID.search(text)
    if updated and row is None:
        ids = [r.get("id") if isinstance(r, dict) else None for r in rows]
        row = ids.index(int(updated[1])) if int(updated[1]) in ids else None
    field = _first_field(detail)
    if row is None and not field:
        return exc
    where = f"row {row}" if row is not None else "a row"
    message = (f"the server refused {where} of the batch"
               + (f" ({field})" if field else "") + f": {detail.strip()}."
               + (" Nothing of the batch was written." if whole else ""))
    return AnnotationRefusedError(message, row=row, field=field, status=exc.status,
                                  url=exc.url, server_message=exc.server_message,
                                  response=exc.response, data=exc.data)


def _first_field(detail: str) -> str:
    """The dotted path of the first field in marshmallow's message dict, or the field a
    message starts with (target_id ...)."""
    detail = detail.strip()
    if detail.startswith("{"):
        try:
            messages = ast.literal_eval(detail)
        except (ValueError, SyntaxError):
            return ""
        path = []
        while isinstance(messages, dict) and messages:
            key = next(iter(messages))
            path.append(str(key))
            messages = messages[key]
        return ".".join(path)
    word = detail.split(" ", 1)[0]
    return word if word in ("target_id", "id") else ""
