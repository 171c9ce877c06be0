"""The fields of an annotation schema as the editor shows them, and the text a person typed
(in the form or in a grid cell) as the value the schema wants.

Every staged value is text while it is edited: the grid (ipydatagrid) would turn 64-bit ids
into 32-bit numbers, and a form box holds text anyway. The schema says what each text
becomes: integers exactly (never through a float), numbers, booleans, three coordinates.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import ipywidgets

from ...client.annotation import AnnotationValidationError
from ...client.annotation.validate import root_definition

POINT_REFS = ("SpatialPoint", "BoundSpatialPoint")
_INTEGER = re.compile(r"^[+-]?\d+$")
TRUE, FALSE = ("true", "yes", "1", "t", "y"), ("false", "no", "0", "f", "n")


@dataclass(frozen=True)
class FieldSpec:
    name: str  # the staged field: a point's is "<point>_position"
    kind: str  # string | integer | float | boolean | position | object
    required: bool
    enum: tuple = ()
    description: str = ""


def field_specs(schema: dict) -> list[FieldSpec]:
    """The schema's fields in the order the schema lists them (`valid` left out: the
    server sets it)."""
    _, definition = root_definition(schema)
    required = set(definition.get("required") or [])
    out = []
    for name, prop in (definition.get("properties") or {}).items():
        if name == "valid":
            continue
        ref = str(prop.get("$ref", "")).split("/")[-1]
        if ref in POINT_REFS:
            out.append(FieldSpec(f"{name}_position", "position", name in required,
                                 description=prop.get("description", "")))
            continue
        types = prop.get("type", [])
        types = [types] if isinstance(types, str) else list(types)
        if ref or "object" in types:
            kind = "object"
        elif "integer" in types or prop.get("format") == "integer":
            kind = "integer"
        elif "number" in types:
            kind = "float"
        elif "boolean" in types:
            kind = "boolean"
        else:
            kind = "string"
        out.append(FieldSpec(name, kind, name in required, tuple(prop.get("enum") or ()),
                             prop.get("description", "")))
    return out


def is_reference(specs: list[FieldSpec]) -> bool:
    return any(s.name == "target_id" for s in specs)


# --- text → value ------------------------------------------------------------------------------


def position_text(value) -> str:
    """[x, y, z] as the grid shows it."""
    values = value.tolist() if hasattr(value, "tolist") else list(value)
    return ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)


def value_of(spec: FieldSpec, text, row: int | None = None):
    """The value `text` stands for (None for a blank); AnnotationValidationError naming
    the row and field if it is not one."""
    if text is None:
        return None
    text = str(text).strip()
    if not text:
        return None

    def wrong(what: str):
        return AnnotationValidationError(
            f"{'row ' + str(row) if row is not None else 'the row'}: {spec.name} must be "
            f"{what}, got {text!r}", row=row, field=spec.name)

    if spec.kind == "integer":
        if not _INTEGER.match(text):
            raise wrong("an integer")
        return int(text)
    if spec.kind == "float":
        try:
            return float(text)
        except ValueError:
            raise wrong("a number") from None
    if spec.kind == "boolean":
        if text.lower() in TRUE:
            return True
        if text.lower() in FALSE:
            return False
        raise wrong("true or false")
    if spec.kind == "position":
        parts = text.replace("[", " ").replace("]", " ").replace(",", " ").split()
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise wrong("three numbers x, y, z") from None
        if len(values) != 3:
            raise wrong("three numbers x, y, z")
        return [int(v) if v.is_integer() else v for v in values]
    if spec.kind == "object":
        try:
            return json.loads(text)
        except ValueError:
            raise wrong("a JSON object") from None
    if spec.enum and text not in spec.enum:
        raise wrong(f"one of {', '.join(map(str, spec.enum))}")
    return text


# --- the form ----------------------------------------------------------------------------------


def input_for(spec: FieldSpec) -> ipywidgets.Widget:
    """A form input for a value every staged row gets (its text is what the grid holds)."""
    layout = ipywidgets.Layout(width="320px")
    style = {"description_width": "150px"}
    label = spec.name + (" *" if spec.required else "")
    if spec.enum or spec.kind == "boolean":
        options = [str(v) for v in spec.enum] if spec.enum else ["true", "false"]
        if not spec.required:
            options = ["", *options]
        box = ipywidgets.Dropdown(description=label, options=options, layout=layout,
                                  style=style)
    else:
        hint = {"integer": "an integer", "float": "a number", "object": "JSON"}.get(
            spec.kind, "text")
        box = ipywidgets.Text(description=label, layout=layout, style=style,
                              placeholder=("required: " if spec.required else "") + hint)
    box.tooltip = spec.description or spec.name
    box.add_class(f"cw-ae-field-{spec.name}")
    return box


def point_picker(spec: FieldSpec, columns: list[str]) -> ipywidgets.Dropdown:
    """Which position column of the browser's rows fills a point ("" to type it in the
    grid). The first column whose name starts like the point is preselected."""
    point = spec.name[: -len("_position")]
    options = ["", *columns]
    chosen = next((c for c in columns if c.startswith(point)), columns[0] if columns else "")
    box = ipywidgets.Dropdown(description=f"{spec.name} ←", options=options, value=chosen,
                              layout=ipywidgets.Layout(width="320px"),
                              style={"description_width": "150px"})
    box.tooltip = (f"the position column of the browser's selected rows that "
                               f"gives {point}; blank: type it in the grid")
    box.add_class(f"cw-ae-point-{point}")
    return box
