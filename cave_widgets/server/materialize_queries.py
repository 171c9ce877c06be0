"""What the materialization query routes (one table or view, a join, live_live) share: the
body arguments they parse, running a plan on DuckDB and answering it as Arrow; and the checks
only live_live_query makes (its timestamp, root ids current at that time)."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import duckdb
import pyarrow as pa

from . import query as q
from .annotation.permissions import check_read
from .arrow_io import query_response
from .context import Call, naive_iso
from .demo import catalog
from .errors import BadRequest
from .store import Relation, Snapshot

LIMIT_WARNING = '201 - "Limited query to {limit} rows'


def _execute(call: Call, plan: q.Plan) -> pa.Table:
    """Run a plan, stopped after settings.query_seconds. DuckDB's own errors become 400s
    that say what to change, never the SQL or an internal message."""
    cur = call.ctx.store.cursor()
    sql = plan.sql()
    limit = call.ctx.settings.query_seconds
    watchdog = threading.Timer(limit, cur.interrupt)
    watchdog.start()
    try:
        return cur.sql(sql, params=plan.params).to_arrow_table()
    except duckdb.InvalidInputException as exc:  # e.g. a regular expression that won't compile
        if "regexp_matches(" in sql:
            problem = str(exc).removeprefix("Invalid Input Error: ").split("\n")[0]
            raise BadRequest(
                "filter_regex_dict: a pattern is not a valid regular expression "
                f"(RE2 syntax): {problem}"
            ) from None
        raise BadRequest("the query could not run on these arguments; check the filter "
                         "values against the columns' types") from None
    except duckdb.InterruptException:
        raise BadRequest(f"the query ran longer than this server allows ({limit:g} s): "
                         "narrow the filters or ask for fewer rows") from None
    except duckdb.OutOfMemoryException:
        raise BadRequest("the query needs more memory than this server allows: narrow the "
                         "filters or ask for fewer rows") from None
    except duckdb.Error:
        raise BadRequest("the query could not run on these arguments (a join of columns of "
                         "different types, or a value of the wrong type)") from None
    finally:
        watchdog.cancel()


def respond(call: Call, plan: q.Plan, notices: list[str]):
    table = _execute(call, plan)
    warnings = list(notices)
    if not plan.count and table.num_rows == plan.limit:
        warnings.append(LIMIT_WARNING.format(limit=plan.limit))
    if not call.flag("arrow_format", False):
        warnings.append(
            "arrow_format=False is deprecated; pass arrow_format=True for Arrow IPC responses"
        )
    response = query_response(
        table,
        as_arrow=call.flag("return_pyarrow", True),
        accept_encoding=call.request.headers.get("accept-encoding", ""),
        resolution=plan.resolution,
        column_names=plan.column_names,
        warnings=warnings,
    )
    if plan.order:
        response.headers["Order-By"] = plan.order_text
    return response


def readable_relation(call: Call, name: str, snapshot: Snapshot) -> Relation:
    """A table's rows at `snapshot`, once the caller may read it (a PRIVATE table only by its
    owner, as ME checks before a query)."""
    relation = call.ctx.store.table_relation(name, snapshot)
    check_read(call.user, call.ctx.store.tables[relation.name])
    return relation


def notice(table: catalog.TableDef | catalog.ViewDef) -> list[str]:
    return [f"Table Owner Notice on {table.name}: {table.notice_text}"] if table.notice_text else []


def random_sample(call: Call):
    value = call.query("random_sample")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"random_sample must be a positive integer, got {value!r}") from None


def query_body(call: Call) -> dict:
    body = call.body if call.body is not None else {}
    if not isinstance(body, dict):
        raise BadRequest("the query body must be a JSON object")
    return body


def join_suffixes(body: dict, names: list[str]) -> dict[str, str]:
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


def join_select_map(body: dict, left: Relation, right: Relation) -> dict | None:
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


# --- live_live_query --------------------------------------------------------------------


def live_live(call: Call, body: dict):
    store = call.ctx.store
    table = body.get("table")
    if not isinstance(table, str):
        raise BadRequest("live_live_query needs 'table': the name of the table to query")
    t = _live_time(call, body.get("timestamp"))
    snapshot = store.snapshot_at(t)
    relation = readable_relation(call, table, snapshot)
    notices = _check_live_roots(call, body, relation, t)
    joins = body.get("join_tables")
    if joins:
        if not (isinstance(joins, list) and len(joins) == 1 and isinstance(joins[0], list)
                and len(joins[0]) == 4 and all(isinstance(x, str) for x in joins[0])):
            raise BadRequest(
                "join_tables must hold one join: [[table_a, column_a, table_b, column_b]]"
            )
        ta, ca, tb, cb = joins[0]
        left = readable_relation(call, ta, snapshot)
        right = readable_relation(call, tb, snapshot)
        # live_live sends select_columns as {table: [cols]}; accept the flat list too.
        select = body.get("select_columns")
        select_body = {"select_column_map" if isinstance(select, dict) else "select_columns":
                       select}
        plan = q.join_plan(
            left, right, ca, cb, body, call.ctx.settings.row_cap, count=False,
            suffixes=join_suffixes(body, [ta, tb]),
            select_map=join_select_map(select_body, left, right), drop_valid=True,
        )
    else:
        plan = q.single_table_plan(
            relation, body, call.ctx.settings.row_cap, count=False,
            random_sample=random_sample(call), drop_valid=True,
        )
    return respond(call, plan, notices + notice(store.tables[table]))


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
    current = dict(zip(plausible, call.ctx.segmentation.is_latest(plausible, t)))
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
    store = call.ctx.store
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
