"""Validating posted annotation rows against their schema, as AE's marshmallow load does
(reference annotation-schema-wire.md §3.4), using the schema service's own documents
(``cave_widgets.schema_catalogue``), so what the schema service describes is what is checked.

A row is loaded through the *nested* schema: unknown top-level keys are dropped, unknown keys
inside a point are an error, required fields must be present and not null, values must have
their field's type. Errors come back as marshmallow's message dicts
(``{'pt': ['Missing data for required field.']}``) so the wire text reads like the real one.
The loaded row is flattened the CAVE way (``pt.position`` → ``pt_position``).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from ... import schema_catalogue

MISSING = "Missing data for required field."
NULL = "Field may not be null."


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # integer | float | string | boolean | object | any
    required: bool
    nullable: bool
    nested: str | None = None  # definition name of an object field
    enum: tuple | None = None


@dataclass(frozen=True)
class Definition:
    name: str
    fields: tuple[Field, ...]
    closed: bool  # additionalProperties false: unknown keys are errors


class RowError(ValueError):
    """A row that does not load; ``messages`` is marshmallow's error dict."""

    def __init__(self, messages: dict):
        super().__init__(repr(messages))
        self.messages = messages


def _field(name: str, prop: dict, required: bool) -> Field:
    types = prop.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    nullable = "null" in types
    ref = prop.get("$ref")
    enum = tuple(prop["enum"]) if "enum" in prop else None
    if ref:
        return Field(name, "object", required, nullable, nested=ref.rsplit("/", 1)[-1])
    if "integer" in types or (prop.get("format") == "integer"):
        kind = "integer"
    elif "number" in types:
        kind = "float"
    elif "string" in types:
        kind = "string"
    elif "boolean" in types:
        kind = "boolean"
    else:
        kind = "any"
    return Field(name, kind, required, nullable, enum=enum)


@functools.cache
def definitions(schema_name: str) -> tuple[str, dict[str, Definition]]:
    """The root definition's name and every definition of `schema_name` (KeyError if the
    catalogue does not know it)."""
    doc = schema_catalogue.definition(schema_name)
    out = {}
    for name, body in doc["definitions"].items():
        required = set(body.get("required", []))
        fields = tuple(_field(k, v, k in required) for k, v in body.get("properties", {}).items())
        out[name] = Definition(name, fields, body.get("additionalProperties") is False)
    return doc["$ref"].rsplit("/", 1)[-1], out


def is_reference(schema_name: str) -> bool:
    """A ReferenceAnnotation schema: its rows point at another table's rows by target_id."""
    root, defs = definitions(schema_name)
    return any(f.name == "target_id" for f in defs[root].fields)


def bound_points(schema_name: str) -> list[str]:
    """Flattened prefixes of the points that carry supervoxel and root ids (``pre_pt``)."""
    root, defs = definitions(schema_name)
    out = []

    def walk(defn: Definition, prefix: str):
        for f in defn.fields:
            if f.nested:
                inner = defs[f.nested]
                name = f"{prefix}{f.name}"
                if any(g.name == "supervoxel_id" for g in inner.fields):
                    out.append(name)
                walk(inner, name + "_")

    walk(defs[root], "")
    return out


def _value(f: Field, v):
    """The loaded value, or raise ValueError with marshmallow's message."""
    if f.kind == "integer":
        if isinstance(v, bool):
            raise ValueError("Not a valid integer.")
        if isinstance(v, int):
            return v
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, str):
            try:
                return int(v.strip())
            except ValueError:
                pass
        raise ValueError("Not a valid integer.")
    if f.kind == "float":
        if isinstance(v, bool):
            raise ValueError("Not a valid number.")
        try:
            out = float(v)
        except (TypeError, ValueError):
            raise ValueError("Not a valid number.") from None
        if not math.isfinite(out):
            raise ValueError("Special numeric values (nan or infinity) are not permitted.")
        return out
    if f.kind == "string":
        if not isinstance(v, str):
            raise ValueError("Not a valid string.")
        return v
    if f.kind == "boolean":
        truthy = {True, "true", "True", "TRUE", "1", "yes", "on", "t", "y"}
        falsy = {False, "false", "False", "FALSE", "0", "no", "off", "f", "n"}
        if isinstance(v, (bool, int, str)) and v in truthy:
            return True
        if isinstance(v, (bool, int, str)) and v in falsy:
            return False
        raise ValueError("Not a valid boolean.")
    return v


def _position(v) -> list[float]:
    if not isinstance(v, (list, tuple)) or len(v) < 3:
        raise ValueError("A position must be a list of three coordinates [x, y, z].")
    out = []
    for x in v[:3]:
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
            raise ValueError("A position must be a list of three coordinates [x, y, z].")
        out.append(float(x))
    return out


def _load(defs: dict[str, Definition], defn: Definition, data, flat: dict, prefix: str):
    if not isinstance(data, dict):
        return {"_schema": ["Invalid input type."]}
    errors: dict = {}
    known = {f.name for f in defn.fields}
    if defn.closed:
        for key in data:
            if key not in known:
                errors[key] = ["Unknown field."]
    for f in defn.fields:
        if f.name not in data:
            if f.required:
                errors[f.name] = [MISSING]
            continue
        v = data[f.name]
        if v is None:
            if f.required:  # null is accepted for optional fields (§3.4)
                errors[f.name] = [NULL]
            continue
        if f.nested:
            inner = _load(defs, defs[f.nested], v, flat, f"{prefix}{f.name}_")
            if inner:
                errors[f.name] = inner
            continue
        try:
            if f.name == "position":
                flat[f"{prefix}position"] = _position(v)
                continue
            value = _value(f, v)
            if f.enum is not None and value not in f.enum:
                raise ValueError(f"Must be one of: {', '.join(map(str, f.enum))}.")
            flat[f"{prefix}{f.name}"] = value
        except ValueError as exc:
            errors[f.name] = [str(exc)]
    return errors


def load_row(schema_name: str, row) -> dict:
    """The flattened fields of one posted row (RowError with marshmallow's messages)."""
    root, defs = definitions(schema_name)
    flat: dict = {}
    errors = _load(defs, defs[root], row, flat, "")
    if errors:
        raise RowError(errors)
    return flat
