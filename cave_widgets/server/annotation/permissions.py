"""Who may read, write and own an annotation table (AE ``anno_database.py``; reference
annotation-schema-wire.md §3.9). The same read rule guards the materialization queries of a
table (ME checks it before any query), so a PRIVATE table is private everywhere, not only
through the annotation routes.

Every user of this server shares the one group, so GROUP reads and writes are open to any
user with the service permission. The built-in demo tables are read-only here.
"""

from __future__ import annotations

from ..demo import catalog
from . import errors


def caller(user) -> str:
    """The caller's user id as AE compares it (text)."""
    return str(user.id)


def check_read(user, table: catalog.TableDef) -> None:
    if table.read_permission in ("PUBLIC", "GROUP") or caller(user) == table.user_id:
        return
    raise errors.unauthorized("Unauthorized: The table can only be read by its owner")


def check_write(user, table: catalog.TableDef) -> None:
    if table.storage != "work":
        raise errors.unauthorized(f"Table {table.name} is one of the demo's built-in tables, "
                                  "which this server keeps read-only")
    if caller(user) == table.user_id or table.write_permission in ("PUBLIC", "GROUP"):
        return
    raise errors.unauthorized("Unauthorized: The table can only be written to by owner")


def check_owner(user, table: catalog.TableDef) -> None:
    if caller(user) != table.user_id or table.storage != "work":
        raise errors.unauthorized("You cannot do this because you are not the owner of this "
                                  "table")
