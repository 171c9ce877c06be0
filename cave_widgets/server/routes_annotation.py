"""The AnnotationEngine (annotation API v2) over the demo store: list, describe, create,
update and delete tables; post, get, update, delete and count annotations. Wire facts:
reference annotation-schema-wire.md §2–§4; semantics and deliberate differences in
annotation/tables.py (rows) and annotation/errors.py (error statuses).

Paths name the aligned volume, not the datastack. Reads need `view`, writes `edit` on the demo
dataset (the guest has neither: 403; the user without the ToS gets the ToS 403). Ownership:
the caller's id (as text) owns what it creates unless the body names another `user_id`;
writing needs owner or PUBLIC write permission (GROUP: every user of this server shares the
one group, so any user with `edit`); reading needs owner or PUBLIC/GROUP read permission.

Also here: ME's admin routes this service leans on — `lookup_svid` (a no-op that answers
success: lookups happen at write time) and `create_frozen`, which materializes a new version
now (admin only), so versions made after a write include its rows.
"""

from __future__ import annotations

import dataclasses
import re

from starlette.responses import JSONResponse, Response

from .annotation import errors, permissions, rows
from .annotation import tables as store_tables
from .context import Call, check_datastack, route_options
from .demo import catalog
from .errors import Forbidden
from .routes_materialize import version_record

TABLE_NAME = re.compile(r"^[a-z_]+[a-z0-9_]*$")
PERMISSIONS = ("PRIVATE", "GROUP", "PUBLIC")
METADATA_KEYS = {"description": str, "voxel_resolution_x": float, "voxel_resolution_y": float,
                 "voxel_resolution_z": float, "read_permission": str, "write_permission": str,
                 "user_id": str, "notice_text": str, "table_metadata": dict,
                 "flat_segmentation_source": str}


# --- helpers ---------------------------------------------------------------------------------

def _volume(call: Call) -> None:
    name = call.path("aligned_volume")
    if name != catalog.ALIGNED_VOLUME:
        raise errors.bad_request(f"aligned volume {name} is not in the info service's "
                                 f"list ({catalog.ALIGNED_VOLUME})")


def _table(call: Call, name: str | None = None) -> catalog.TableDef:
    name = call.path("table") if name is None else name
    table = call.ctx.store.tables.get(name)
    if table is None:
        raise errors.table_not_found(name, catalog.ALIGNED_VOLUME)
    return table


def _caller(call: Call) -> str:
    return permissions.caller(call.user)


def _may_write(call: Call, table: catalog.TableDef) -> None:
    permissions.check_write(call.user, table)


def _may_read(call: Call, table: catalog.TableDef) -> None:
    permissions.check_read(call.user, table)


def _owner(call: Call, table: catalog.TableDef) -> None:
    permissions.check_owner(call.user, table)


def _warning(table: catalog.TableDef) -> dict:
    return {"Warning": f"Table Owner Notice: {table.notice_text}"} if table.notice_text else {}


def metadata(call: Call, table: catalog.TableDef) -> dict:
    store = call.ctx.store
    res = table.voxel_resolution
    return {
        "id": list(store.tables).index(table.name) + 1,
        "schema_type": table.schema,
        "table_name": table.name,
        "valid": True,
        "created": store_tables.iso(store, table.created),
        "deleted": store_tables.iso(store, table.deleted),
        "user_id": table.user_id,
        "description": table.description,
        "notice_text": table.notice_text,
        "reference_table": table.reference_table,
        "flat_segmentation_source": table.flat_segmentation_source,
        "voxel_resolution_x": float(res[0]),
        "voxel_resolution_y": float(res[1]),
        "voxel_resolution_z": float(res[2]),
        "write_permission": table.write_permission,
        "read_permission": table.read_permission,
        "last_modified": store_tables.iso(store, table.last_modified or table.created),
    }


def _check_metadata(meta, path: str = "metadata", required=()) -> dict:
    """AE's request schema for metadata: unknown keys and wrong types rejected (§2.4)."""
    if not isinstance(meta, dict):
        raise errors.SchemaErrors({path: ["Not a valid mapping type."]})
    problems: dict = {}
    for key, value in meta.items():
        kind = METADATA_KEYS.get(key)
        if kind is None:
            problems[key] = ["Unknown field."]
        elif value is None:
            if key != "notice_text":
                problems[key] = ["Field may not be null."]
        elif kind is float and (isinstance(value, bool) or not isinstance(value, (int, float))):
            problems[key] = ["Not a valid number."]
        elif kind is str and not isinstance(value, str):
            problems[key] = ["Not a valid string."]
        elif kind is dict and not isinstance(value, dict):
            problems[key] = ["Not a valid mapping type."]
    for key in required:
        if key not in meta:
            problems[key] = ["Missing data for required field."]
    for key in ("read_permission", "write_permission"):
        if isinstance(meta.get(key), str) and meta[key] not in PERMISSIONS:
            problems[key] = [f"Must be one of: {', '.join(PERMISSIONS)}."]
    ref = meta.get("table_metadata")
    if isinstance(ref, dict):
        sub = {}
        for key in ref:
            if key not in ("reference_table", "track_target_id_updates"):
                sub[key] = ["Unknown field."]
        if not isinstance(ref.get("reference_table"), str):
            sub["reference_table"] = ["Missing data for required field."]
        if not isinstance(ref.get("track_target_id_updates"), bool):
            sub["track_target_id_updates"] = ["Field may not be null."]
        if sub:
            problems["table_metadata"] = sub
    if problems:
        raise errors.SchemaErrors({path: problems} if path else problems)
    return meta


def _annotation_list(call: Call, key: str) -> list:
    body = call.body
    if not isinstance(body, dict) or key not in body:
        raise errors.SchemaErrors({key: ["Missing data for required field."]})
    data = body[key]
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise errors.SchemaErrors({key: ["Not a valid list."]})
    return data


def _ids(values, where: str) -> list[int]:
    out = []
    for v in values:
        if isinstance(v, bool):
            raise errors.bad_request(f"{where}: {v!r} is not an annotation id")
        try:
            out.append(int(v))
        except (TypeError, ValueError):
            raise errors.bad_request(f"{where}: {v!r} is not an annotation id") from None
    return out


# --- routes ------------------------------------------------------------------------------------

@route_options(auth=False)
def api_versions(call: Call):
    return [2]


def list_tables(call: Call):
    _volume(call)
    return list(call.ctx.store.tables)


@route_options(permission="edit")
def create_table(call: Call):
    _volume(call)
    body = call.body
    if not isinstance(body, dict):
        raise errors.SchemaErrors({"_schema": ["Invalid input type."]})
    unknown = {k: ["Unknown field."] for k in body
               if k not in ("schema_type", "table_name", "metadata")}
    missing = {k: ["Missing data for required field."]
               for k in ("schema_type", "table_name", "metadata") if k not in body}
    if unknown or missing:
        raise errors.SchemaErrors({**unknown, **missing})
    meta = _check_metadata(body["metadata"], required=(
        "description", "voxel_resolution_x", "voxel_resolution_y", "voxel_resolution_z"))
    name, schema = body["table_name"], body["schema_type"]
    if not isinstance(name, str) or not isinstance(schema, str):
        raise errors.SchemaErrors({"table_name" if not isinstance(name, str) else
                                   "schema_type": ["Not a valid string."]})
    store = call.ctx.store
    if not TABLE_NAME.match(name):
        raise errors.bad_request(
            f"Table name error: Invalid table name. {name} must match ^[a-z_]+[a-z0-9_]*$ "
            "(lowercase letters, digits and underscores, not starting with a digit)")
    if name in store.tables:
        raise errors.bad_request(f"Table {name} already exists")
    if schema not in rows.schema_catalogue.names():
        raise errors.bad_request(f"Schema type: {schema} is not a known annotation type")
    reference = (meta.get("table_metadata") or {}).get("reference_table")
    if reference is not None:
        if not rows.is_reference(schema):
            raise errors.bad_request("Reference table must be a ReferenceAnnotation schema type")
        if reference == name:
            raise errors.bad_request("A table cannot reference itself")
        if reference not in store.tables:
            raise errors.bad_request(f"Reference table {reference} does not exist "
                                     "(TableNameNotFound)")
    elif rows.is_reference(schema):
        raise errors.bad_request("Reference metadata must be supplied as a dict with a "
                                 "'reference_table' key for a reference schema")
    now = store.now()
    table = catalog.TableDef(
        name, schema, meta["description"], now, reference_table=reference,
        notice_text=meta.get("notice_text"), user_id=meta.get("user_id") or _caller(call),
        voxel_resolution=(float(meta["voxel_resolution_x"]), float(meta["voxel_resolution_y"]),
                          float(meta["voxel_resolution_z"])),
        read_permission=meta.get("read_permission", "PUBLIC"),
        write_permission=meta.get("write_permission", "PRIVATE"),
        flat_segmentation_source=meta.get("flat_segmentation_source"),
        storage="work", last_modified=now,
    )
    store_tables.create_table(store, table)
    return Response(name, media_type="text/html; charset=utf-8")


@route_options(permission="edit")
def update_table(call: Call):
    body = call.body
    if not isinstance(body, dict) or not isinstance(body.get("table_name"), str):
        raise errors.SchemaErrors({"table_name": ["Missing data for required field."]})
    unknown = {k: ["Unknown field."] for k in body if k not in ("table_name", "metadata")}
    if unknown:
        raise errors.SchemaErrors(unknown)
    meta = _check_metadata(body.get("metadata") or {})
    if "voxel_resolution_x" in meta or "table_metadata" in meta:
        raise errors.bad_request("only description, flat_segmentation_source, permissions, "
                                 "user_id and notice_text can be changed")
    table = _table(call, body["table_name"])
    _owner(call, table)
    changes = {k: v for k, v in meta.items() if k not in ("user_id",)}
    if "notice_text" in changes and (changes["notice_text"] or "none").lower() == "none":
        changes["notice_text"] = None  # "" (or "none") clears the notice
    table = dataclasses.replace(
        table, **changes, user_id=meta.get("user_id") or _caller(call),
        last_modified=call.ctx.store.now())
    store_tables.replace_table(call.ctx.store, table)
    return metadata(call, table)


def table_metadata(call: Call):
    _volume(call)
    table = _table(call)
    return JSONResponse(metadata(call, table), status_code=201, headers=_warning(table))


@route_options(permission="edit")
def delete_table(call: Call):
    _volume(call)
    table = _table(call)
    _owner(call, table)
    store_tables.replace_table(call.ctx.store,
                               dataclasses.replace(table, deleted=call.ctx.store.now()))
    return True


def count(call: Call):
    _volume(call)
    table = _table(call)
    _may_read(call, table)
    return store_tables.count(call.ctx.store, table)


def get_annotations(call: Call):
    _volume(call)
    table = _table(call)
    _may_read(call, table)
    raw = call.query("annotation_ids")
    if raw is None:
        raise errors.bad_request("annotation_ids is required: ?annotation_ids=1,2,3")
    ids = _ids([x for x in raw.split(",") if x.strip()], "annotation_ids")
    return JSONResponse(store_tables.get(call.ctx.store, table, ids), headers=_warning(table))


@route_options(permission="edit")
def post_annotations(call: Call):
    _volume(call)
    table = _table(call)
    _may_write(call, table)
    data = _annotation_list(call, "annotations")
    store_tables.check_limit(len(data))  # before validating 10,000+ rows
    flats = store_tables.load_rows(table, data)
    return store_tables.insert(call.ctx.store, call.ctx.segmentation, table, flats)


@route_options(permission="edit")
def update_annotations(call: Call):
    _volume(call)
    table = _table(call)
    _may_write(call, table)
    data = _annotation_list(call, "annotations")
    old_ids = []
    for i, row in enumerate(data):
        if not isinstance(row, dict) or not row.get("id"):
            raise errors.bad_request(f"annotation {i}: an update needs the 'id' of the "
                                     "annotation it replaces")
        old_ids += _ids([row["id"]], f"annotation {i}")
    flats = store_tables.load_rows(table, data)
    return store_tables.update(call.ctx.store, call.ctx.segmentation, table,
                               list(zip(old_ids, flats)))


@route_options(permission="edit")
def delete_annotations(call: Call):
    _volume(call)
    table = _table(call)
    _may_write(call, table)
    body = call.body
    if not isinstance(body, dict) or "annotation_ids" not in body:
        raise errors.SchemaErrors({"annotation_ids": ["Missing data for required field."]})
    asked = body["annotation_ids"]
    ids = _ids(asked if isinstance(asked, list) else [asked], "annotation_ids")
    found = store_tables.delete(call.ctx.store, table, ids)
    if not found:
        return JSONResponse(f"annotation_id {ids} not in table {table.name}", status_code=404)
    return found


@route_options(permission="edit")
def lookup_svid(call: Call):
    """ME's supervoxel lookup trigger: lookups are done when rows are written, so nothing is
    left to do; answers like the real route (which only enqueues a task)."""
    check_datastack(call.path("datastack"))
    _table(call)
    return {"message": "supervoxel lookups are done at write time on this server"}


@route_options(permission="edit")
def create_frozen(call: Call):
    """Materialize a new version now (admin only); `days_to_expire` (query) defaults to 7,
    0 or "none" for a version that never expires. Answers the version's record."""
    check_datastack(call.path("datastack"))
    if not call.user.admin:
        raise Forbidden("materializing a version needs an admin")
    raw = call.query("days_to_expire", "7")
    days = None if raw.lower() in ("0", "none", "null") else float(
        raw if raw.replace(".", "", 1).isdigit() else "7")
    store = call.ctx.store
    return version_record(store, store.add_version(days))


AE = "/annotation/api/v2/aligned_volume/{aligned_volume}"
ME_RUN = "/materialize/api/v2/materialize/run"
ROUTES = (
    ("GET", "/annotation/api/versions", api_versions),
    ("GET", AE + "/table", list_tables),
    ("POST", AE + "/table", create_table),
    ("PUT", AE + "/table", update_table),
    ("GET", AE + "/table/{table}", table_metadata),
    ("DELETE", AE + "/table/{table}", delete_table),
    ("GET", AE + "/table/{table}/count", count),
    ("GET", AE + "/table/{table}/annotations", get_annotations),
    ("POST", AE + "/table/{table}/annotations", post_annotations),
    ("PUT", AE + "/table/{table}/annotations", update_annotations),
    ("DELETE", AE + "/table/{table}/annotations", delete_annotations),
    ("POST", ME_RUN + "/lookup_svid/datastack/{datastack}/{table}", lookup_svid),
    ("POST", ME_RUN + "/create_frozen/datastack/{datastack}", create_frozen),
)
