"""The materialization service (MaterializationEngine API v2/v3) over the demo store."""

from __future__ import annotations

from . import query as q
from .context import Call, check_datastack, naive_iso, route_options
from .demo import catalog
from .errors import BadRequest, NotFound
from .materialize_queries import (
    join_select_map,
    join_suffixes,
    live_live,
    notice,
    query_body,
    random_sample,
    readable_relation,
    respond,
)
from .store import DemoStore, Relation, Snapshot

SERVER_VERSION = "5.26.4"
API_VERSIONS = [2, 3]


def version_record(store: DemoStore, v: catalog.VersionDef) -> dict:
    expires = v.expires_on
    return {
        "id": 80 + v.version,
        "datastack": catalog.DATASTACK,
        "version": v.version,
        "time_stamp": naive_iso(store.to_datetime(v.time_stamp)),
        "valid": not v.expired,
        "expires_on": None if expires is None else naive_iso(store.to_datetime(expires)),
        "status": "EXPIRED" if v.expired else "AVAILABLE",
        "is_merged": True,
    }


def table_metadata(call: Call, table: catalog.TableDef, snapshot: Snapshot) -> dict:
    store = call.ctx.store
    index = list(store.tables).index(table.name)
    res = table.voxel_resolution
    return {
        "id": snapshot.version * 100 + index + 1,
        "table_name": table.name,
        "aligned_volume": catalog.ALIGNED_VOLUME,
        "schema": table.schema,
        "schema_type": table.schema,
        "valid": True,
        "created": naive_iso(store.to_datetime(table.created)),
        "description": table.description,
        "notice_text": table.notice_text,
        "reference_table": table.reference_table,
        "user_id": table.user_id,
        "flat_segmentation_source": table.flat_segmentation_source,
        "voxel_resolution_x": res[0],
        "voxel_resolution_y": res[1],
        "voxel_resolution_z": res[2],
        "write_permission": table.write_permission,
        "read_permission": table.read_permission,
        "last_modified": naive_iso(store.to_datetime(snapshot.t)),
        "segmentation_source": f"graphene://{call.base_url}/segmentation/table/{catalog.PCG_TABLE}",
        "pcg_table_name": catalog.PCG_TABLE,
        "last_updated": naive_iso(store.to_datetime(snapshot.t)),
    }


def view_metadata(view: catalog.ViewDef, with_name: bool) -> dict:
    res = catalog.VOXEL_RESOLUTION
    record = {
        "id": 1,
        "description": view.description,
        "datastack_name": catalog.DATASTACK,
        "voxel_resolution_x": res[0],
        "voxel_resolution_y": res[1],
        "voxel_resolution_z": res[2],
        "notice_text": view.notice_text,
        "live_compatible": False,
    }
    if with_name:
        record["table_name"] = view.name
    return record


def view_schema(relation: Relation) -> dict:
    kinds = {"position": "SpatialPoint"}
    return {c.name: {"type": kinds.get(c.kind, c.kind)} for c in relation.columns}


def _snapshot(call: Call) -> Snapshot:
    check_datastack(call.path("datastack"))
    return call.ctx.store.snapshot_for_version(call.int_path("version"))


def _single_query(call: Call, relation: Relation, owner: catalog.TableDef | catalog.ViewDef):
    plan = q.single_table_plan(
        relation, query_body(call), call.ctx.settings.row_cap,
        count=call.flag("count", False), random_sample=random_sample(call),
    )
    return respond(call, plan, notice(owner))


@route_options(auth=False)
def api_versions(call: Call):
    return API_VERSIONS


@route_options(auth=False)
def server_version(call: Call):
    return SERVER_VERSION


def versions(call: Call):
    check_datastack(call.path("datastack"))
    return call.ctx.store.valid_versions(include_expired=call.flag("expired", False))


def version(call: Call):
    store = call.ctx.store
    check_datastack(call.path("datastack"))
    number = call.int_path("version")
    if number not in store.versions:
        raise NotFound("No version found")
    return version_record(store, store.versions[number])


def versions_metadata(call: Call):
    store = call.ctx.store
    check_datastack(call.path("datastack"))
    numbers = store.valid_versions(include_expired=call.flag("expired", False))
    if not numbers:
        raise NotFound("No valid versions found")
    return [version_record(store, store.versions[n]) for n in numbers]


def tables(call: Call):
    return call.ctx.store.tables_at(_snapshot(call))


def annotation_count(call: Call):
    store = call.ctx.store
    snapshot = _snapshot(call)
    relation = readable_relation(call, call.path("table"), snapshot)
    [(count,)] = store.cursor().execute(f"SELECT count(*) FROM ({relation.sql})").fetchall()
    return count


def one_table_metadata(call: Call):
    snapshot = _snapshot(call)
    return table_metadata(call, call.ctx.store.table_def(call.path("table"), snapshot), snapshot)


def all_tables_metadata(call: Call):
    store = call.ctx.store
    snapshot = _snapshot(call)
    return [
        table_metadata(call, store.tables[name], snapshot) for name in store.tables_at(snapshot)
    ]


def table_query(call: Call):
    store = call.ctx.store
    relation = readable_relation(call, call.path("table"), _snapshot(call))
    return _single_query(call, relation, store.tables[relation.name])


def join_query(call: Call):
    store = call.ctx.store
    snapshot = _snapshot(call)
    body = query_body(call)
    tables_arg = body.get("tables")
    ok = (
        isinstance(tables_arg, list)
        and len(tables_arg) == 2
        and all(isinstance(t, list) and len(t) == 2 and all(isinstance(x, str) for x in t)
                for t in tables_arg)
    )
    if not ok:
        raise BadRequest(
            "tables must be [[table_a, join_column_a], [table_b, join_column_b]], "
            f"got {tables_arg!r}"
        )
    (ta, ca), (tb, cb) = tables_arg
    left = readable_relation(call, ta, snapshot)
    right = readable_relation(call, tb, snapshot)
    plan = q.join_plan(
        left, right, ca, cb, body, call.ctx.settings.row_cap,
        count=call.flag("count", False),
        suffixes=join_suffixes(body, [ta, tb]),
        select_map=join_select_map(body, left, right),
    )
    notices = notice(store.tables[ta]) + notice(store.tables[tb])
    return respond(call, plan, notices)


def live_live_query(call: Call):
    check_datastack(call.path("datastack"))
    return live_live(call, query_body(call))


def views(call: Call):
    store = call.ctx.store
    snapshot = _snapshot(call)
    return {name: view_metadata(store.views[name], False) for name in store.views_at(snapshot)}


def one_view_metadata(call: Call):
    snapshot = _snapshot(call)
    return view_metadata(call.ctx.store.view_def(call.path("view"), snapshot), True)


def one_view_schema(call: Call):
    snapshot = _snapshot(call)
    return view_schema(call.ctx.store.view_relation(call.path("view"), snapshot))


def all_view_schemas(call: Call):
    store = call.ctx.store
    snapshot = _snapshot(call)
    names = store.views_at(snapshot)
    if not names:
        raise NotFound("No views found")
    return {n: view_schema(store.view_relation(n, snapshot)) for n in names}


def view_query(call: Call):
    store = call.ctx.store
    relation = store.view_relation(call.path("view"), _snapshot(call))
    return _single_query(call, relation, store.views[relation.name])


def unique_string_values(call: Call):
    store = call.ctx.store
    check_datastack(call.path("datastack"))
    latest = store.snapshot_for_version(store.latest_version())
    relation = readable_relation(call, call.path("table"), latest)
    cur = store.cursor()
    out = {}
    for col in relation.columns:
        if col.kind == "string":
            rows = cur.execute(
                f'SELECT DISTINCT "{col.name}" FROM ({relation.sql}) '
                f'WHERE "{col.name}" IS NOT NULL ORDER BY 1'
            ).fetchall()
            out[col.name] = [r[0] for r in rows]
    return out


def _in_v2_and_v3(*rows):
    # v2 paths answer like v3, as the wire notes advise.
    return tuple((methods, path.replace("{api}", api), handler)
                 for methods, path, handler in rows for api in ("v2", "v3"))


DATASTACK = "/materialize/api/{api}/datastack/{datastack}"
VERSION = DATASTACK + "/version/{version}"
ROUTES = (
    ("GET", "/materialize/api/versions", api_versions),
    ("GET", "/materialize/version", server_version),
    *_in_v2_and_v3(
        ("GET", DATASTACK + "/versions", versions),
        ("GET", DATASTACK + "/version/{version}", version),
        ("GET", DATASTACK + "/metadata", versions_metadata),
        ("GET", VERSION + "/tables", tables),
        ("GET", VERSION + "/table/{table}/count", annotation_count),
        ("GET", VERSION + "/table/{table}/metadata", one_table_metadata),
        ("GET", VERSION + "/tables/metadata", all_tables_metadata),
        ("POST", VERSION + "/table/{table}/query", table_query),
        ("POST", VERSION + "/query", join_query),
        ("POST", DATASTACK + "/query", live_live_query),
        ("GET", VERSION + "/views", views),
        ("GET", VERSION + "/views/schemas", all_view_schemas),
        ("GET", VERSION + "/views/{view}/metadata", one_view_metadata),
        ("GET", VERSION + "/views/{view}/schema", one_view_schema),
        ("POST", VERSION + "/views/{view}/query", view_query),
        ("GET", DATASTACK + "/table/{table}/unique_string_values", unique_string_values),
    ),
)
