"""The materialization service (MaterializationEngine API v2/v3) over the demo store."""

from __future__ import annotations

from datetime import datetime, timezone

import duckdb
import pyarrow as pa
from starlette.routing import Route

from . import query as q
from .arrow_io import query_response
from .context import Call, ServiceContext, check_datastack, naive_iso, route
from .demo import catalog
from .errors import BadRequest, NotFound
from .store import DemoStore, Relation, Snapshot

SERVER_VERSION = "5.26.4"
API_VERSIONS = [2, 3]
LIMIT_WARNING = '201 - "Limited query to {limit} rows'


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
    index = [t.name for t in catalog.TABLES].index(table.name)
    res = catalog.VOXEL_RESOLUTION
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
        "flat_segmentation_source": None,
        "voxel_resolution_x": res[0],
        "voxel_resolution_y": res[1],
        "voxel_resolution_z": res[2],
        "write_permission": "PRIVATE",
        "read_permission": "PUBLIC",
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


def _execute(call: Call, plan: q.Plan) -> pa.Table:
    cur = call.ctx.store.cursor()
    sql = plan.sql()
    try:
        return cur.sql(sql, params=plan.params).to_arrow_table()
    except duckdb.InvalidInputException as exc:  # e.g. a regular expression that won't compile
        if "regexp_matches(" in sql:
            problem = str(exc).removeprefix("Invalid Input Error: ")
            raise BadRequest(
                "filter_regex_dict: a pattern is not a valid regular expression "
                f"(RE2 syntax): {problem}"
            ) from None
        raise BadRequest(f"the query could not run: {exc}") from None


def _respond(call: Call, plan: q.Plan, notices: list[str]):
    table = _execute(call, plan)
    warnings = list(notices)
    if not plan.count and table.num_rows == plan.limit:
        warnings.append(LIMIT_WARNING.format(limit=plan.limit))
    if not call.flag("arrow_format", False):
        warnings.append(
            "arrow_format=False is deprecated; pass arrow_format=True for Arrow IPC responses"
        )
    return query_response(
        table,
        as_arrow=call.flag("return_pyarrow", True),
        accept_encoding=call.request.headers.get("accept-encoding", ""),
        resolution=plan.resolution,
        column_names=plan.column_names,
        warnings=warnings,
    )


def _notice(table: catalog.TableDef | catalog.ViewDef) -> list[str]:
    return [f"Table Owner Notice on {table.name}: {table.notice_text}"] if table.notice_text else []


def _random_sample(call: Call):
    value = call.query("random_sample")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"random_sample must be a positive integer, got {value!r}") from None


def _body(call: Call) -> dict:
    body = call.body if call.body is not None else {}
    if not isinstance(body, dict):
        raise BadRequest("the query body must be a JSON object")
    return body


def build_routes(ctx: ServiceContext) -> list[Route]:
    store = ctx.store
    cap = ctx.settings

    @route(ctx, auth=False)
    def api_versions(call: Call):
        return API_VERSIONS

    @route(ctx, auth=False)
    def server_version(call: Call):
        return SERVER_VERSION

    @route(ctx)
    def versions(call: Call):
        check_datastack(call.path("datastack"))
        return store.valid_versions(include_expired=call.flag("expired", False))

    @route(ctx)
    def version(call: Call):
        check_datastack(call.path("datastack"))
        number = call.int_path("version")
        if number not in store.versions:
            raise NotFound("No version found")
        return version_record(store, store.versions[number])

    @route(ctx)
    def versions_metadata(call: Call):
        check_datastack(call.path("datastack"))
        numbers = store.valid_versions(include_expired=call.flag("expired", False))
        if not numbers:
            raise NotFound("No valid versions found")
        return [version_record(store, store.versions[n]) for n in numbers]

    @route(ctx)
    def tables(call: Call):
        return store.tables_at(_snapshot(call))

    @route(ctx)
    def annotation_count(call: Call):
        snapshot = _snapshot(call)
        relation = store.table_relation(call.path("table"), snapshot)
        [(count,)] = store.cursor().execute(f"SELECT count(*) FROM ({relation.sql})").fetchall()
        return count

    @route(ctx)
    def one_table_metadata(call: Call):
        snapshot = _snapshot(call)
        return table_metadata(call, store.table_def(call.path("table"), snapshot), snapshot)

    @route(ctx)
    def all_tables_metadata(call: Call):
        snapshot = _snapshot(call)
        return [
            table_metadata(call, store.tables[name], snapshot) for name in store.tables_at(snapshot)
        ]

    def _single_query(call: Call, relation: Relation, owner):
        plan = q.single_table_plan(
            relation, _body(call), cap.row_cap,
            count=call.flag("count", False), random_sample=_random_sample(call),
        )
        return _respond(call, plan, _notice(owner))

    @route(ctx)
    def table_query(call: Call):
        relation = store.table_relation(call.path("table"), _snapshot(call))
        return _single_query(call, relation, store.tables[relation.name])

    @route(ctx)
    def join_query(call: Call):
        snapshot = _snapshot(call)
        body = _body(call)
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
        left = store.table_relation(ta, snapshot)
        right = store.table_relation(tb, snapshot)
        plan = q.join_plan(
            left, right, ca, cb, body, cap.row_cap,
            count=call.flag("count", False),
            suffixes=_suffixes(body, [ta, tb]),
            select_map=_select_map(body, left, right),
        )
        notices = _notice(store.tables[ta]) + _notice(store.tables[tb])
        return _respond(call, plan, notices)

    @route(ctx)
    def live_live_query(call: Call):
        check_datastack(call.path("datastack"))
        return _live_live(call, _body(call))

    @route(ctx)
    def views(call: Call):
        snapshot = _snapshot(call)
        return {name: view_metadata(store.views[name], False) for name in store.views_at(snapshot)}

    @route(ctx)
    def one_view_metadata(call: Call):
        snapshot = _snapshot(call)
        return view_metadata(store.view_def(call.path("view"), snapshot), True)

    @route(ctx)
    def one_view_schema(call: Call):
        snapshot = _snapshot(call)
        return view_schema(store.view_relation(call.path("view"), snapshot))

    @route(ctx)
    def all_view_schemas(call: Call):
        snapshot = _snapshot(call)
        names = store.views_at(snapshot)
        if not names:
            raise NotFound("No views found")
        return {n: view_schema(store.view_relation(n, snapshot)) for n in names}

    @route(ctx)
    def view_query(call: Call):
        relation = store.view_relation(call.path("view"), _snapshot(call))
        return _single_query(call, relation, store.views[relation.name])

    @route(ctx)
    def unique_string_values(call: Call):
        check_datastack(call.path("datastack"))
        latest = store.snapshot_for_version(catalog.DEFAULT_VERSION)
        relation = store.table_relation(call.path("table"), latest)
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

    def _live_live(call: Call, body: dict):
        table = body.get("table")
        if not isinstance(table, str):
            raise BadRequest("live_live_query needs 'table': the name of the table to query")
        t = _live_time(call, body.get("timestamp"))
        snapshot = store.snapshot_at(t)
        relation = store.table_relation(table, snapshot)
        notices = _check_live_roots(call, body, relation, t)
        joins = body.get("join_tables")
        if joins:
            if not (isinstance(joins, list) and len(joins) == 1 and isinstance(joins[0], list)
                    and len(joins[0]) == 4 and all(isinstance(x, str) for x in joins[0])):
                raise BadRequest(
                    "join_tables must hold one join: [[table_a, column_a, table_b, column_b]]"
                )
            ta, ca, tb, cb = joins[0]
            left = store.table_relation(ta, snapshot)
            right = store.table_relation(tb, snapshot)
            # live_live sends select_columns as {table: [cols]}; accept the flat list too.
            select = body.get("select_columns")
            select_body = {"select_column_map" if isinstance(select, dict) else "select_columns":
                           select}
            plan = q.join_plan(
                left, right, ca, cb, body, cap.row_cap, count=False,
                suffixes=_suffixes(body, [ta, tb]),
                select_map=_select_map(select_body, left, right), drop_valid=True,
            )
        else:
            plan = q.single_table_plan(
                relation, body, cap.row_cap, count=False,
                random_sample=_random_sample(call), drop_valid=True,
            )
        return _respond(call, plan, notices + _notice(store.tables[table]))

    def _check_live_roots(call: Call, body: dict, relation: Relation, t: float) -> list[str]:
        """Root ids in in/equal filters must be current at the query time (as on CAVE)."""
        ids, spots = [], []
        for key in ("filter_in_dict", "filter_equal_dict"):
            by_table = body.get(key)
            if not isinstance(by_table, dict):
                continue  # a malformed shape is reported by the query plan, as a 400
            for table, filters in by_table.items():
                for col, value in (filters or {}).items() if isinstance(filters, dict) else ():
                    if col.endswith("root_id"):
                        values = value if isinstance(value, list) else [value]
                        if all(q._is_int(v) for v in values):
                            ids += values
                            spots.append((key, table, col))
        if not ids:
            return []
        plausible = [i for i in ids if 0 < i < 2**63]  # 0 means "no segment" and is allowed
        current = dict(zip(plausible, ctx.segmentation.is_latest(plausible, t)))
        bad = sorted({i for i in ids if i != 0 and not current.get(i, False)})
        if not bad:
            return []
        shown = f"{bad[:20]}" + (f" and {len(bad) - 20} more" if len(bad) > 20 else "")
        if not call.flag("allow_invalid_root_ids", False):
            raise BadRequest(
                f"Some root_ids passed are not valid at the query timestamp: {shown}. "
                "Map them to current ids (chunkedgraph get_latest_roots) or pass "
                "allow_invalid_root_ids=True to drop them."
            )
        for key, table, col in spots:
            value = body[key][table][col]
            kept = [v for v in value if v not in bad] if isinstance(value, list) else (
                [] if value in bad else [value])
            if not kept:
                raise BadRequest(
                    f"{key} on {col!r}: none of its root ids is valid at the query timestamp "
                    f"({shown}); nothing would be left to query"
                )
            if isinstance(value, list):
                body[key][table][col] = kept
        return [f"Dropped root ids not valid at the query timestamp: {shown}"]

    def _live_time(call: Call, value) -> float:
        if not isinstance(value, str):
            raise BadRequest("live_live_query needs 'timestamp': an ISO 8601 time, e.g. "
                             "2024-06-05T10:10:01.203215+00:00")
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            raise BadRequest(f"timestamp {value!r} is not an ISO 8601 time") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        t = store.to_relative(when)
        if t > store.now() + 60:
            raise BadRequest(f"timestamp {value} is in the future")
        if t < catalog.HISTORY_START:
            raise BadRequest(
                f"timestamp {value} is before this datastack's oldest data "
                f"({naive_iso(store.to_datetime(catalog.HISTORY_START))})"
            )
        return min(t, store.now())

    prefix = "/materialize/api/{api}/datastack/{datastack}"
    version_prefix = prefix + "/version/{version}"
    table_routes = [
        (prefix + "/versions", versions, "GET"),
        (prefix + "/version/{version}", version, "GET"),
        (prefix + "/metadata", versions_metadata, "GET"),
        (version_prefix + "/tables", tables, "GET"),
        (version_prefix + "/table/{table}/count", annotation_count, "GET"),
        (version_prefix + "/table/{table}/metadata", one_table_metadata, "GET"),
        (version_prefix + "/tables/metadata", all_tables_metadata, "GET"),
        (version_prefix + "/table/{table}/query", table_query, "POST"),
        (version_prefix + "/query", join_query, "POST"),
        (prefix + "/query", live_live_query, "POST"),
        (version_prefix + "/views", views, "GET"),
        (version_prefix + "/views/schemas", all_view_schemas, "GET"),
        (version_prefix + "/views/{view}/metadata", one_view_metadata, "GET"),
        (version_prefix + "/views/{view}/schema", one_view_schema, "GET"),
        (version_prefix + "/views/{view}/query", view_query, "POST"),
        (prefix + "/table/{table}/unique_string_values", unique_string_values, "GET"),
    ]
    routes = [
        Route("/materialize/api/versions", api_versions, methods=["GET"]),
        Route("/materialize/version", server_version, methods=["GET"]),
    ]
    for path, fn, method in table_routes:
        for api in ("v2", "v3"):  # v2 paths answer like v3, as the wire notes advise
            routes.append(Route(path.replace("{api}", api), fn, methods=[method]))
    return routes


def _suffixes(body: dict, names: list[str]) -> dict[str, str]:
    suffix_map = body.get("suffix_map")
    if suffix_map is None and isinstance(body.get("suffixes"), dict):
        suffix_map = body["suffixes"]  # live_live_query's name for it
    if suffix_map is not None:
        if not isinstance(suffix_map, dict) or not all(
            isinstance(v, str) for v in suffix_map.values()
        ):
            raise BadRequest(f"suffix_map must map table names to suffixes, got {suffix_map!r}")
        return suffix_map
    suffixes = body.get("suffixes")
    if suffixes is None:
        return {}
    if not (isinstance(suffixes, list) and len(suffixes) == 2
            and all(isinstance(s, str) for s in suffixes)):
        raise BadRequest(f"suffixes must be two strings, got {suffixes!r}")
    return dict(zip(names, suffixes))


def _select_map(body: dict, left: Relation, right: Relation) -> dict | None:
    select_map = body.get("select_column_map")
    if select_map is not None:
        if not isinstance(select_map, dict):
            raise BadRequest("select_column_map must map table names to column lists")
        unknown = set(select_map) - {left.name, right.name}
        if unknown:
            raise BadRequest(f"select_column_map names tables not in the query: {sorted(unknown)}")
        return select_map
    select = body.get("select_columns")
    if select is None:
        return None
    if not isinstance(select, list):
        raise BadRequest("select_columns must be a list of column names")
    # The deprecated flat list: each name goes to the first table that has it.
    out: dict[str, list[str]] = {left.name: [], right.name: []}
    for name in select:
        owner = left if left.column(name) else right if right.column(name) else None
        if owner is None:
            raise BadRequest(f"select_columns: neither {left.name} nor {right.name} has {name!r}")
        out[owner.name].append(name)
    return out
