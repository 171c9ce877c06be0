"""Annotation schemas: one description drives both the stored table layout and the JSON-Schema
documents the schema service hands out, so the two can never disagree.

A schema is a list of fields. A field is a scalar (``float``, ``string``, ``integer``,
``boolean``) or a point: ``bound`` points carry a supervoxel id and a root id next to the
position, ``spatial`` points only a position. Flattening follows CAVE's naming:
``pre_pt`` becomes ``pre_pt_position`` (stored as ``_x/_y/_z``), ``pre_pt_supervoxel_id``
and ``pre_pt_root_id``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # float | string | integer | boolean | bound | spatial
    description: str = ""


@dataclass(frozen=True)
class Column:
    """One column of a materialized table as a user names it in filters and select_columns.

    ``kind`` is the logical type: integer, float, string, boolean or position. A position is
    stored and returned as three adjacent ``_x/_y/_z`` integer columns.
    """

    name: str
    kind: str
    role: str = ""  # "root" | "supervoxel" | "" — lets root filters pull in their supervoxel
    partner: str | None = None  # the supervoxel column that belongs with a root column

    @property
    def physical(self) -> list[str]:
        if self.kind == "position":
            return [f"{self.name}_x", f"{self.name}_y", f"{self.name}_z"]
        return [self.name]


@dataclass(frozen=True)
class Schema:
    name: str
    description: str
    fields: tuple[Field, ...] = field(default_factory=tuple)

    def columns(self) -> list[Column]:
        """Columns of a frozen (materialized) table of this schema, in server order."""
        cols = [Column("id", "integer"), Column("valid", "boolean")]
        for f in self.fields:
            if f.kind == "bound":
                cols.append(Column(f"{f.name}_position", "position"))
                cols.append(Column(f"{f.name}_supervoxel_id", "integer", role="supervoxel"))
                cols.append(
                    Column(
                        f"{f.name}_root_id",
                        "integer",
                        role="root",
                        partner=f"{f.name}_supervoxel_id",
                    )
                )
            elif f.kind == "spatial":
                cols.append(Column(f"{f.name}_position", "position"))
            else:
                cols.append(Column(f.name, f.kind))
        return cols

    def json_schema(self) -> dict:
        """The draft-07 document the real schema service (marshmallow-jsonschema) serves."""
        main = _class_name(self.name)
        props: dict[str, dict] = {}
        required: list[str] = []
        for order, f in enumerate(self.fields):
            if f.kind in ("bound", "spatial"):
                ref = "BoundSpatialPoint" if f.kind == "bound" else "SpatialPoint"
                props[f.name] = {
                    "type": "object",
                    "$ref": f"#/definitions/{ref}",
                    "description": f.description,
                    "order": order,
                }
            else:
                props[f.name] = _scalar_property(f)
            required.append(f.name)
        definitions = {
            main: {
                "type": "object",
                "properties": props,
                "required": required,
                "additionalProperties": True,
            },
            "SpatialPoint": {
                "type": "object",
                "properties": {"position": {"title": "position", "type": "array"}},
                "required": ["position"],
                "additionalProperties": True,
            },
            "BoundSpatialPoint": {
                "type": "object",
                "properties": {
                    "position": {"title": "position", "type": "array"},
                    "supervoxel_id": {"title": "supervoxel_id", "type": ["integer", "null"]},
                    "root_id": {"title": "root_id", "type": ["integer", "null"]},
                },
                "required": ["position"],
                "additionalProperties": True,
            },
        }
        return {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "definitions": definitions,
            "$ref": f"#/definitions/{main}",
        }


def _class_name(schema_name: str) -> str:
    return "".join(part.capitalize() for part in schema_name.split("_"))


def _scalar_property(f: Field) -> dict:
    prop: dict = {"title": f.name, "description": f.description}
    if f.kind == "float":
        prop.update(type=["number", "null"], format="float")
    elif f.kind == "integer":
        prop.update(type="integer")
    elif f.kind == "boolean":
        prop.update(type=["boolean", "null"])
    else:
        prop.update(type="string")
    return prop


SCHEMAS: dict[str, Schema] = {
    s.name: s
    for s in [
        Schema(
            "synapse",
            "A synapse between a presynaptic and a postsynaptic point.",
            (
                Field("pre_pt", "bound", "presynaptic point"),
                Field("ctr_pt", "spatial", "centre of the synaptic cleft"),
                Field("post_pt", "bound", "postsynaptic point"),
                Field("size", "float", "size of the synapse in voxels"),
            ),
        ),
        Schema(
            "nucleus_detection",
            "A detected cell nucleus with its volume and bounding box.",
            (
                Field("volume", "float", "volume of the nucleus in cubic microns"),
                Field("pt", "bound", "centroid of the nucleus"),
                Field("bb_start", "spatial", "bounding box start"),
                Field("bb_end", "spatial", "bounding box end"),
            ),
        ),
        Schema(
            "cell_type_local",
            "A cell type assigned to a point in a cell.",
            (
                Field("classification_system", "string", "the classification system"),
                Field("cell_type", "string", "the cell type within that system"),
                Field("pt", "bound", "a point inside the cell"),
            ),
        ),
        Schema(
            "cell_type_reference",
            "A cell type attached to a row of another table.",
            (
                Field("target_id", "integer", "id of the annotation this one refers to"),
                Field("classification_system", "string", "the classification system"),
                Field("cell_type", "string", "the cell type within that system"),
            ),
        ),
        Schema(
            "bound_tag",
            "A free-text tag on a point.",
            (
                Field("tag", "string", "the tag"),
                Field("pt", "bound", "the tagged point"),
            ),
        ),
    ]
}
