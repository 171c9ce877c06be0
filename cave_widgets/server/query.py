"""Turn a materialization query body into validated SQL over store relations.

Everything a user can get wrong is checked here, before DuckDB sees it, and reported as a
400 that names the argument, the table and the column.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from . import schemas
from .errors import BadRequest
from .store import Relation

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# body key → operator; filter_out_dict is what older clients send for NOT IN.
FILTER_KEYS = {
    "filter_in_dict": "in",
    "filter_notin_dict": "not in",
    "filter_out_dict": "not in",
    "filter_equal_dict": "=",
    "filter_greater_dict": ">",
    "filter_less_dict": "<",
    "filter_greater_equal_dict": ">=",
    "filter_less_equal_dict": "<=",
    "filter_spatial_dict": "spatial",
    "filter_regex_dict": "regex",
}


@dataclass
class Source:
    alias: str
    relation: Relation
    join_column: str | None = None


@dataclass
class Output:
    alias: str
    physical: str
    name: str
    factor: float = 1.0


@dataclass
class Plan:
    sources: list[Source]
    outputs: list[Output]
    conditions: list[str] = field(default_factory=list)
    params: list = field(default_factory=list)
    offset: int = 0
    limit: int = 0
    count: bool = False
    random_sample: int | None = None
    resolution: tuple[float, float, float] = (1.0, 1.0, 1.0)
    column_names: dict = field(default_factory=dict)
    # (column, descending) pairs asked for with `order_by` (a cave_widgets extension);
    # rows are in id order after them, so pages of one order never overlap.
    order: list[tuple[str, bool]] = field(default_factory=list)

    @property
    def order_text(self) -> str:
        """What the Order-By response header says was applied: "size desc, id asc"."""
        return ", ".join(f"{c} {'desc' if d else 'asc'}" for c, d in self.order)

    def sql(self) -> str:
        first = self.sources[0]
        from_sql = f"({first.relation.sql})"
        if self.random_sample:
            from_sql = (
                f"(SELECT * FROM {from_sql} USING SAMPLE reservoir({self.random_sample} ROWS) "
                "REPEATABLE (42))"
            )
        from_sql += f" AS {first.alias}"
        for src in self.sources[1:]:
            from_sql += (
                f" JOIN ({src.relation.sql}) AS {src.alias} "
                f"ON {first.alias}.{_q(first.join_column)} = {src.alias}.{_q(src.join_column)}"
            )
        where = f" WHERE {' AND '.join(self.conditions)}" if self.conditions else ""
        if self.count:
            return f"SELECT count(*) AS count FROM {from_sql}{where}"
        select = ", ".join(_output_sql(o) for o in self.outputs)
        asked = [f"{first.alias}.{_q(c)} {'DESC' if d else 'ASC'} NULLS LAST"
                 for c, d in self.order]
        order = ", ".join(asked + [f"{s.alias}.{_q(s.relation.order_by)}" for s in self.sources])
        return (
            f"SELECT {select} FROM {from_sql}{where} ORDER BY {order} "
            f"LIMIT {int(self.limit)} OFFSET {int(self.offset)}"
        )


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _output_sql(o: Output) -> str:
    ref = f"{o.alias}.{_q(o.physical)}"
    if o.factor != 1.0:
        ref = f"CAST({ref} AS DOUBLE) * {o.factor!r}"
    return f"{ref} AS {_q(o.name)}"


# --- the parts of a body ------------------------------------------------------------------


def parse_paging(body: dict, row_cap: int) -> tuple[int, int]:
    offset = body.get("offset") or 0
    limit = body.get("limit")
    if not _is_int(offset) or not 0 <= offset <= INT64_MAX:
        raise BadRequest(f"offset must be a non-negative integer, got {offset!r}")
    if limit is None:
        limit = row_cap
    elif not _is_int(limit) or limit <= 0:
        raise BadRequest(f"limit must be a positive integer, got {limit!r}")
    return int(offset), int(min(limit, row_cap))


def parse_order(body: dict, relation: Relation) -> list[tuple[str, bool]]:
    """`order_by: [[column, "asc" | "desc"], ...]`: sort the whole result on the server
    (the TableBrowser's header sort). Not a CAVE parameter: a real server ignores it, which
    is why the answer says in its Order-By header what it applied."""
    order = body.get("order_by")
    if order is None:
        return []
    ok = isinstance(order, list) and len(order) <= 4 and all(
        isinstance(o, list) and len(o) == 2 and isinstance(o[0], str)
        and o[1] in ("asc", "desc") for o in order)
    if not ok:
        raise BadRequest(f'order_by must be a list of [column, "asc" or "desc"], got {order!r}')
    out = []
    for name, direction in order:
        col = _column(relation, name, "order_by")
        if col.kind == "position":
            raise BadRequest(f"order_by: {name!r} is a position; sort by a scalar column")
        out.append((col.name, direction == "desc"))
    return out


# A join on a float, a boolean or a position matches nearly everything with nearly
# everything (8 million rows from the small demo's `valid`): ids and text only.
JOINABLE = {"integer", "string"}


def parse_resolution(value, relation_resolution) -> tuple[float, float, float]:
    if value is None:
        return tuple(float(v) for v in relation_resolution)
    # A resolution is nanometres per voxel: 1e-3 to 1e6 covers every imaging there is, and
    # keeps the scale factors (stored / desired) finite numbers in SQL.
    if (
        not isinstance(value, list)
        or len(value) != 3
        or not all(_is_number(v) and 1e-3 <= v <= 1e6 for v in value)
    ):
        raise BadRequest(
            "desired_resolution must be three numbers of nm per voxel (between 0.001 and "
            f"1,000,000), got {value!r}"
        )
    return tuple(float(v) for v in value)


def filter_conditions(body: dict, sources: dict[str, Source], params: list) -> list[str]:
    """SQL conditions for every filter dict in the body; filters are keyed by table name."""
    conditions = []
    for key, op in FILTER_KEYS.items():
        by_table = body.get(key)
        if by_table is None:
            continue
        if not isinstance(by_table, dict):
            raise BadRequest(f"{key} must map table names to column filters, got {by_table!r}")
        for table, column_filters in by_table.items():
            source = sources.get(table)
            if source is None:
                raise BadRequest(
                    f"{key} names table {table!r}, but this query reads "
                    f"{', '.join(sorted(sources))}"
                )
            if not isinstance(column_filters, dict):
                raise BadRequest(f"{key}[{table!r}] must map column names to values")
            for column, value in column_filters.items():
                col = _column(source.relation, column, key)
                conditions.append(
                    _condition(key, op, source.alias, col, value, params, source.relation)
                )
    return conditions


def _column(relation: Relation, name: str, argument: str) -> schemas.Column:
    col = relation.column(name)
    if col is None:
        raise BadRequest(
            f"{argument}: table {relation.name!r} has no column {name!r}; its columns are "
            f"{', '.join(c.name for c in relation.columns)}"
        )
    return col


def _condition(
    key: str, op: str, alias: str, col: schemas.Column, value, params: list, relation: Relation
) -> str:
    where = f"{key} on {col.name!r}"
    if op == "spatial":
        return _spatial(where, alias, col, value, params)
    if col.kind == "position":
        raise BadRequest(
            f"{where}: {col.name} is a position; filter it with filter_spatial_dict "
            "([[min_x, min_y, min_z], [max_x, max_y, max_z]])"
        )
    ref = f"{alias}.{_q(col.name)}"
    if op == "regex":
        if col.kind != "string":
            raise BadRequest(f"{where}: regular expressions apply to text columns only")
        if not isinstance(value, str):
            raise BadRequest(f"{where}: the pattern must be a string, got {value!r}")
        params.append(value)
        return f"regexp_matches({ref}, ?)"
    if op in ("in", "not in"):
        if not isinstance(value, list):
            raise BadRequest(f"{where}: expected a list of values, got {value!r}")
        for v in value:
            _check_value(where, col, v)
        if not value:
            return "FALSE" if op == "in" else "TRUE"
        negate = "NOT " if op == "not in" else ""
        if col.role == "root" and relation.spans_alive:
            return negate + _root_as_supervoxels(alias, col, value, params, relation.spans_alive,
                                                 relation.spans_table)
        params.append(value)
        return f"{negate}({ref} IN (SELECT UNNEST(?::{_sql_type(col)}[])))"
    _check_value(where, col, value)
    if op == "=" and col.role == "root" and relation.spans_alive:
        return _root_as_supervoxels(alias, col, [value], params, relation.spans_alive,
                                    relation.spans_table)
    if op != "=" and col.kind in ("string", "boolean"):
        raise BadRequest(f"{where}: {op} comparisons apply to numeric columns only")
    params.append(value)
    return f"{ref} {op} ?::{_sql_type(col)}"


def _root_as_supervoxels(alias: str, col: schemas.Column, roots: list, params: list,
                         spans_alive: str, spans_table: str = "demo.sv_spans") -> str:
    """`root IN roots`, asked of the supervoxel column: the supervoxels whose root at the
    snapshot is one of `roots`. Exact, and it lets DuckDB filter the stored rows directly
    instead of first recomputing every row's root for older versions and live times."""
    params.append(roots)
    sv = f"{alias}.{_q(col.partner)}"
    cond = (f"{sv} IN (SELECT sv FROM {spans_table} WHERE {spans_alive} "
            "AND root IN (SELECT UNNEST(?::BIGINT[])))")
    if 0 in roots:  # root 0 is "no segment": rows whose point has supervoxel 0
        cond = f"{cond} OR {sv} = 0"
    return f"({cond})"


def _spatial(where: str, alias: str, col: schemas.Column, box, params: list) -> str:
    if col.kind != "position":
        raise BadRequest(f"{where}: spatial filters apply to position columns only")
    ok = (
        isinstance(box, list)
        and len(box) == 2
        and all(isinstance(c, list) and len(c) == 3 and all(map(_is_number, c)) for c in box)
    )
    if not ok:
        raise BadRequest(
            f"{where}: a bounding box is [[min_x, min_y, min_z], [max_x, max_y, max_z]], "
            f"got {box!r}"
        )
    lo, hi = box
    if not all(a < b for a, b in zip(lo, hi)):
        raise BadRequest(f"{where}: each minimum must be below its maximum, got {box!r}")
    parts = []
    for axis, a, b in zip("xyz", lo, hi):
        parts.append(f"{alias}.{_q(col.name + '_' + axis)} BETWEEN ? AND ?")
        params += [float(a), float(b)]
    return "(" + " AND ".join(parts) + ")"


def _sql_type(col: schemas.Column) -> str:
    return {"integer": "BIGINT", "float": "DOUBLE", "string": "VARCHAR", "boolean": "BOOLEAN"}[
        col.kind
    ]


def _check_value(where: str, col: schemas.Column, v) -> None:
    if col.kind == "integer":
        if not _is_int(v):
            raise BadRequest(f"{where}: {col.name} holds integers (ids), got {v!r}")
        if not INT64_MIN <= v <= INT64_MAX:
            raise BadRequest(f"{where}: {v} does not fit a 64-bit id")
    elif col.kind == "float":
        if not _is_number(v):
            raise BadRequest(f"{where}: {col.name} holds numbers, got {v!r}")
    elif col.kind == "string":
        if not isinstance(v, str):
            raise BadRequest(f"{where}: {col.name} holds text, got {v!r}")
    elif col.kind == "boolean" and not isinstance(v, bool):
        raise BadRequest(f"{where}: {col.name} holds true/false, got {v!r}")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


# --- whole queries --------------------------------------------------------------------------


def selected_columns(relation: Relation, names, argument: str) -> list[schemas.Column]:
    """The columns to return, in table order; a root id brings its supervoxel id along."""
    if names is None:
        return list(relation.columns)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise BadRequest(f"{argument} must be a list of column names, got {names!r}")
    wanted = {_column(relation, n, argument).name for n in names}
    for n in list(wanted):
        partner = relation.column(n).partner
        if partner:
            wanted.add(partner)
    return [c for c in relation.columns if c.name in wanted]


def outputs_for(
    alias: str,
    relation: Relation,
    columns: list[schemas.Column],
    resolution: tuple[float, float, float],
    rename=lambda name: name,
) -> list[Output]:
    factors = [r / d for r, d in zip(relation.voxel_resolution, resolution)]
    outputs = []
    for col in columns:
        if col.kind == "position":
            for axis, factor in zip("xyz", factors):
                physical = f"{col.name}_{axis}"
                outputs.append(Output(alias, physical, rename(col.name) + f"_{axis}", factor))
        else:
            outputs.append(Output(alias, col.name, rename(col.name)))
    return outputs


def single_table_plan(
    relation: Relation, body: dict, row_cap: int, *, count: bool, random_sample: int | None,
    drop_valid: bool = False,
) -> Plan:
    if not isinstance(body, dict):
        raise BadRequest("the query body must be a JSON object")
    source = Source("a", relation)
    params: list = []
    conditions = filter_conditions(body, {relation.name: source}, params)
    offset, limit = parse_paging(body, row_cap)
    resolution = parse_resolution(body.get("desired_resolution"), relation.voxel_resolution)
    select = body.get("select_columns")
    if select is None and isinstance(body.get("select_column_map"), dict):
        select = body["select_column_map"]  # caveclient's form of a dict select_columns
    if isinstance(select, dict):  # live_live_query sends {table: [cols]}
        unknown = set(select) - {relation.name}
        if unknown:
            raise BadRequest(f"select_columns names tables not in the query: {sorted(unknown)}")
        select = select.get(relation.name)
    columns = selected_columns(relation, select, "select_columns")
    if drop_valid:
        columns = [c for c in columns if c.name != "valid"]
    return Plan(
        sources=[source],
        outputs=outputs_for("a", relation, columns, resolution),
        conditions=conditions,
        params=params,
        offset=offset,
        limit=limit,
        count=count,
        random_sample=_sample(random_sample),
        resolution=resolution,
        column_names={relation.name: {c.name: c.name for c in columns}},
        order=parse_order(body, relation),
    )


def join_plan(
    left: Relation, right: Relation, left_col: str, right_col: str, body: dict, row_cap: int,
    *, count: bool, suffixes: dict[str, str], select_map: dict | None, drop_valid: bool = False,
) -> Plan:
    if left.name == right.name:
        # Both sides would share one alias and column names: refuse rather than mis-answer.
        raise BadRequest(f"tables: a join needs two different tables, got {left.name!r} twice")
    on = (_column(left, left_col, "tables"), _column(right, right_col, "tables"))
    for col, rel in zip(on, (left, right)):
        if col.kind not in JOINABLE:
            raise BadRequest(f"tables: {rel.name}.{col.name} is a {col.kind} column; joins "
                             f"are on id or text columns ({', '.join(sorted(JOINABLE))})")
    if on[0].kind != on[1].kind:
        raise BadRequest(f"tables: {left.name}.{on[0].name} ({on[0].kind}) and "
                         f"{right.name}.{on[1].name} ({on[1].kind}) cannot be joined")
    sources = {
        left.name: Source("a", left, on[0].name),
        right.name: Source("b", right, on[1].name),
    }
    params: list = []
    conditions = filter_conditions(body, sources, params)
    offset, limit = parse_paging(body, row_cap)
    resolution = parse_resolution(body.get("desired_resolution"), left.voxel_resolution)
    chosen = {}
    for name, src in sources.items():
        names = None if select_map is None else select_map.get(name, [])
        chosen[name] = selected_columns(src.relation, names, "select_column_map")
        if drop_valid:
            chosen[name] = [c for c in chosen[name] if c.name != "valid"]
    left_names = {c.name for c in chosen[left.name]}
    right_names = {c.name for c in chosen[right.name]}
    shared = left_names & right_names
    suffix = {left.name: suffixes.get(left.name, ""), right.name: suffixes.get(right.name, "")}
    if suffix[left.name] == suffix[right.name]:
        suffix[right.name] = suffix[right.name] + f"_{right.name}"
    outputs, column_names = [], {}
    for name, src in sources.items():
        def rename(n, _s=suffix[name]):
            return n + _s if n in shared else n

        outputs += outputs_for(src.alias, src.relation, chosen[name], resolution, rename)
        column_names[name] = {c.name: rename(c.name) for c in chosen[name]}
    return Plan(
        sources=list(sources.values()),
        outputs=outputs,
        conditions=conditions,
        params=params,
        offset=offset,
        limit=limit,
        count=count,
        resolution=resolution,
        column_names=column_names,
    )


def _sample(n) -> int | None:
    if n is None:
        return None
    if not _is_int(n) or n <= 0:
        raise BadRequest(f"random_sample must be a positive integer, got {n!r}")
    return int(n)
