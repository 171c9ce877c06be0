"""Annotation tables and their rows in the store's writable ``work`` database (every write
through ``DemoStore.write``, so one request's rows commit together).

A table's rows live in ``work.anno__<name>``: ``id`` (assigned here: one more than the largest
id ever written), ``created``/``deleted`` (seconds relative to the store's anchor, like the
demo tables), ``superceded_id``, ``valid``, then the schema's flattened columns — positions as
three DOUBLE columns (kept as written), supervoxel and root ids of bound points looked up at
write time (ME's lookup done synchronously, so a new row is never "pending").

Semantics follow AE 4.35.0 / DADB (reference annotation-schema-wire.md §3.4–3.8) except where
noted: an update always writes a new row and supersedes the old one (DADB HEAD; the deployed
5.8.1 updates reference tables in place), and a PUT batch commits together rather than row by
row. The built-in demo tables are read-only here (their rows are in the read-only demo file).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

import numpy as np

from .. import schemas
from ..demo import catalog
from ..store import DemoStore
from . import errors, rows

INSERT_LIMIT = 10_000
SQL_TYPES = {"integer": "BIGINT", "float": "DOUBLE", "string": "VARCHAR", "boolean": "BOOLEAN"}
CRUD = ("id", "created", "deleted", "superceded_id", "valid")


def _stored_columns(schema: str) -> list[tuple[str, str]]:
    """(physical column, SQL type) of a table's rows after the CRUD columns."""
    out = []
    for col in schemas.table_columns(schema):
        if col.name in ("id", "valid"):
            continue
        if col.kind == "position":
            out += [(p, "DOUBLE") for p in col.physical]
        else:
            out.append((col.name, SQL_TYPES[col.kind]))
    return out


def create_table(store: DemoStore, table: catalog.TableDef) -> None:
    cols = ["id BIGINT PRIMARY KEY", "created DOUBLE NOT NULL", "deleted DOUBLE",
            "superceded_id BIGINT", "valid BOOLEAN"]
    cols += [f'"{name}" {sql}' for name, sql in _stored_columns(table.schema)]

    def write(c):
        c.execute(f"CREATE TABLE {table.rows_table} ({', '.join(cols)})")
        store.register_table(table, c)

    store.write(write)


def replace_table(store: DemoStore, table: catalog.TableDef) -> None:
    store.write(lambda c: store.register_table(table, c))


# --- writing rows ----------------------------------------------------------------------------

def load_rows(table: catalog.TableDef, data: list) -> list[dict]:
    """Each posted row validated and flattened (400 naming the first bad row and field)."""
    out = []
    for i, row in enumerate(data):
        try:
            out.append(rows.load_row(table.schema, row))
        except rows.RowError as exc:
            raise errors.invalid_row(i, exc.messages) from None
    return out


def _lookups(segmentation, table: catalog.TableDef, flats: list[dict], t: float) -> None:
    """Fill <pt>_supervoxel_id (the supervoxel at the point, read in the table's voxel
    resolution) and <pt>_root_id (its root at the write time t) of every bound point."""
    for prefix in rows.bound_points(table.schema):
        pos = np.array([f.get(f"{prefix}_position", (np.nan,) * 3) for f in flats], float)
        given = ~np.isnan(pos).any(axis=1)
        sv = np.zeros(len(flats), np.uint64)
        if given.any():
            sv[given] = segmentation.geometry.supervoxel_at_voxels(pos[given],
                                                                   table.voxel_resolution)
        roots = segmentation.graph.roots_of(sv, t) if len(sv) else sv
        for f, s, r, g in zip(flats, sv.tolist(), roots.tolist(), given.tolist()):
            f[f"{prefix}_supervoxel_id"] = int(s) if g else None
            f[f"{prefix}_root_id"] = int(r) if g else None


def _row_values(table: catalog.TableDef, flat: dict) -> list:
    values = []
    for name, _ in _stored_columns(table.schema):
        for axis, suffix in enumerate(("_x", "_y", "_z")):
            if name.endswith("_position" + suffix):
                point = flat.get(name[: -len(suffix)])
                values.append(None if point is None else point[axis])
                break
        else:
            values.append(flat.get(name))
    return values


def _check_targets(c, store: DemoStore, table: catalog.TableDef, flats: list[dict]) -> None:
    if not table.reference_table:
        return
    target = store.tables[table.reference_table]
    wanted = sorted({f["target_id"] for f in flats if f.get("target_id") is not None})
    if not wanted:
        return
    found = {r[0] for r in c.execute(
        f"SELECT id FROM {target.rows_table} WHERE id IN (SELECT unnest(?))", [wanted]
    ).fetchall()}
    for i, f in enumerate(flats):
        if f.get("target_id") is not None and f["target_id"] not in found:
            raise errors.AnnotationError(
                404, f"annotation {i}: target_id {f['target_id']} is not an id of the "
                f"reference table {table.reference_table} (foreign key violation)", status=400)


def _next_id(c, table: catalog.TableDef) -> int:
    [(top,)] = c.execute(f"SELECT coalesce(max(id), 0) FROM {table.rows_table}").fetchall()
    return int(top) + 1


def _insert(c, table: catalog.TableDef, flats: list[dict], t: float, first_id: int) -> list[int]:
    names = ", ".join(["id", "created", "deleted", "superceded_id", "valid"]
                      + [f'"{n}"' for n, _ in _stored_columns(table.schema)])
    width = 5 + len(_stored_columns(table.schema))
    ids = list(range(first_id, first_id + len(flats)))
    c.executemany(
        f"INSERT INTO {table.rows_table} ({names}) VALUES ({', '.join(['?'] * width)})",
        [[i, t, None, None, True, *_row_values(table, f)] for i, f in zip(ids, flats)],
    )
    return ids


def _touched(store: DemoStore, c, table: catalog.TableDef, t: float) -> None:
    store.register_table(dataclasses.replace(store.tables[table.name], last_modified=t), c)


def check_limit(n: int) -> None:
    if n > INSERT_LIMIT:
        raise errors.AnnotationError(
            413, f"{INSERT_LIMIT} -> The insertion limit is {INSERT_LIMIT}, {n} were "
            "attempted to be inserted")


def insert(store: DemoStore, segmentation, table: catalog.TableDef, flats: list[dict]) -> list:
    check_limit(len(flats))
    t = store.now()
    _lookups(segmentation, table, flats, t)
    out: list[int] = []

    def write(c):
        _check_targets(c, store, table, flats)
        out.extend(_insert(c, table, flats, t, _next_id(c, table)))
        _touched(store, c, table, t)

    store.write(write)
    return out


def update(store: DemoStore, segmentation, table: catalog.TableDef,
           changes: list[tuple[int, dict]]) -> dict[str, int]:
    """Each (old id, full new row): a new row with a new id; the old one gets deleted=now,
    valid=false, superceded_id=<new id>. Answer {"<old id>": new id}."""
    t = store.now()
    flats = [f for _, f in changes]
    _lookups(segmentation, table, flats, t)
    mapping: dict[str, int] = {}

    def write(c):
        old_ids = [old for old, _ in changes]
        found = dict(c.execute(
            f"SELECT id, superceded_id FROM {table.rows_table} WHERE id IN (SELECT unnest(?))",
            [old_ids]).fetchall())
        for old in old_ids:
            if old not in found:
                raise errors.bad_request(f"Error update ID {old} -> No annotation with ID "
                                         f"{old} in table {table.name}")
            if found[old] is not None:
                raise errors.AnnotationError(
                    409, f"Error update ID {old} -> Annotation with ID {old} has already been "
                    f"superseded by annotation ID {found[old]}, update annotation ID "
                    f"{found[old]} instead")
        if len(set(old_ids)) != len(old_ids):
            raise errors.bad_request("an update names the same annotation id twice")
        _check_targets(c, store, table, flats)
        new_ids = _insert(c, table, flats, t, _next_id(c, table))
        c.executemany(
            f"UPDATE {table.rows_table} SET deleted = ?, valid = false, superceded_id = ? "
            "WHERE id = ?", [[t, new, old] for old, new in zip(old_ids, new_ids)])
        mapping.update({str(old): new for old, new in zip(old_ids, new_ids)})
        _touched(store, c, table, t)

    store.write(write)
    return mapping


def delete(store: DemoStore, table: catalog.TableDef, ids: list[int]) -> list[int]:
    """Soft delete: deleted=now, valid=false; the ids found, in the order asked."""
    t = store.now()
    out: list[int] = []

    def write(c):
        found = {r[0] for r in c.execute(
            f"SELECT id FROM {table.rows_table} WHERE id IN (SELECT unnest(?))", [ids]
        ).fetchall()}
        hit = [i for i in dict.fromkeys(ids) if i in found]
        if hit:
            c.execute(f"UPDATE {table.rows_table} SET deleted = ?, valid = false "
                      "WHERE id IN (SELECT unnest(?))", [t, hit])
            _touched(store, c, table, t)
        out.extend(hit)

    store.write(write)
    return out


# --- reading rows ----------------------------------------------------------------------------

def count(store: DemoStore, table: catalog.TableDef) -> int:
    """Every row ever written, deleted and superseded ones included (§3.8)."""
    [(n,)] = store.cursor().execute(f"SELECT count(*) FROM {table.rows_table}").fetchall()
    return int(n)


def _row_time(store: DemoStore, t) -> str:
    # str(datetime): space separator, naive UTC, as AE's GET annotations answers
    return str(store.to_datetime(float(t)).replace(tzinfo=None))


def get(store: DemoStore, table: catalog.TableDef, ids: list[int]) -> list[dict]:
    """Flat rows as AE's GET annotations answers them (§3.5): positions as integer lists
    (truncated through uint64), created/deleted as str(datetime) ("None" when not deleted), no
    supervoxel or root ids. Unknown ids are left out."""
    fields = [c for c in schemas.table_columns(table.schema)
              if c.name not in ("id", "valid") and not c.role]
    select = []
    for col in fields:
        select += [f's."{p}"' for p in col.physical]
    superceded = "s.superceded_id" if table.storage == "work" else "NULL"
    sql = (f"SELECT s.id, s.valid, s.created, s.deleted, {superceded} "
           f"{''.join(', ' + x for x in select)} FROM {table.rows_table} s "
           "WHERE s.id IN (SELECT unnest(?)) ORDER BY s.id")
    out = []
    for rec in store.cursor().execute(sql, [ids]).fetchall():
        row = {"id": int(rec[0])}
        values = list(rec[5:])
        for col in fields:
            if col.kind == "position":
                xyz, values = values[:3], values[3:]
                row[col.name] = (None if any(v is None for v in xyz)
                                 else [int(np.float64(v)) % 2**64 for v in xyz])
            else:
                row[col.name] = values.pop(0)
        row["valid"] = bool(rec[1])
        row["created"] = _row_time(store, rec[2])
        row["deleted"] = "None" if rec[3] is None else _row_time(store, rec[3])
        row["superceded_id"] = None if rec[4] is None else int(rec[4])
        out.append(row)
    return out


def iso(store: DemoStore, t: float | None) -> str | None:
    """AE's metadata times: isoformat(), naive UTC, microseconds left out when zero."""
    if t is None:
        return None
    when: datetime = store.to_datetime(t)
    return when.replace(tzinfo=None).isoformat()
