"""The AnnotationEditor's form: the fields a schema document gives (the real catalogue's),
and the text typed in a box or a grid cell read as the value the schema wants — integers
exact past 2**53, never through a float; a bad text named by row and field."""

from __future__ import annotations

import pytest

from cave_widgets import schema_catalogue
from cave_widgets.client.annotation import AnnotationValidationError
from cave_widgets.widgets.annotation_editor.form import (
    FieldSpec,
    field_specs,
    is_reference,
    position_text,
    value_of,
)


def specs(name: str) -> dict[str, FieldSpec]:
    return {s.name: s for s in field_specs(schema_catalogue.definition(name))}


def test_fields_of_real_schemas():
    cell_type = specs("cell_type_local")
    assert list(cell_type) == ["cell_type", "classification_system", "pt_position"]
    assert cell_type["pt_position"].kind == "position" and cell_type["pt_position"].required
    synapse = specs("synapse")
    assert {n: (s.kind, s.required) for n, s in synapse.items()} == {
        "ctr_pt_position": ("position", True), "post_pt_position": ("position", True),
        "pre_pt_position": ("position", True), "size": ("float", False)}
    fly = specs("fly_cell_type")
    assert fly["hemisphere"].enum == ("L", "R", "M", "U")
    assert specs("proofreading_boolstatus_user")["proofread"].kind == "boolean"
    assert specs("bound_tag_user")["user_id"].kind == "integer"  # number, format integer
    assert specs("cell_type_reference")["target_id"].kind == "integer"
    assert is_reference(list(specs("cell_type_reference").values()))
    assert not is_reference(list(cell_type.values()))
    assert "valid" not in cell_type  # the server sets it


@pytest.mark.parametrize("kind, text, value", [
    ("integer", " 864691135000230134 ", 864691135000230134),
    ("integer", str(2**63 + 5), 2**63 + 5),
    ("integer", "-3", -3),
    ("float", "2.5", 2.5),
    ("boolean", "True", True),
    ("boolean", "no", False),
    ("position", "[1, 2, 3]", [1, 2, 3]),
    ("position", "1 2 3.5", [1, 2, 3.5]),
    ("string", "L2/3 IT", "L2/3 IT"),
    ("object", '{"position": [1, 2, 3]}', {"position": [1, 2, 3]}),
    ("string", "   ", None),
])
def test_text_to_value(kind, text, value):
    got = value_of(FieldSpec("f", kind, True), text)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("kind, text, says", [
    ("integer", "1e3", "an integer"),
    ("integer", "12.0", "an integer"),
    ("float", "abc", "a number"),
    ("boolean", "maybe", "true or false"),
    ("position", "1, 2", "three numbers"),
    ("position", "1, 2, x", "three numbers"),
    ("object", "{", "JSON"),
])
def test_a_bad_text_names_row_and_field(kind, text, says):
    with pytest.raises(AnnotationValidationError, match=says) as caught:
        value_of(FieldSpec("target_id", kind, True), text, row=4)
    assert (caught.value.row, caught.value.field) == (4, "target_id")
    assert str(caught.value).startswith("row 4: target_id")


def test_enums_and_positions_as_text():
    hemisphere = specs("fly_cell_type")["hemisphere"]
    assert value_of(hemisphere, "L") == "L"
    with pytest.raises(AnnotationValidationError, match="one of L, R, M, U"):
        value_of(hemisphere, "left")
    assert position_text([1, 2, 3]) == "1, 2, 3"
    assert position_text([1.5, 2.0, 3]) == "1.5, 2, 3"
