"""The client call a TableBrowser query stands for, as Python source a person can paste into
a cell (it runs with our CAVEclient and with caveclient's) to get the same rows without the
widget."""

from __future__ import annotations

import json
from datetime import datetime

from .query import Query


def literal(value) -> str:
    """Python source for a JSON-like value; strings in double quotes."""
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are valid Python escapes
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return repr(float(value))
    if isinstance(value, datetime):
        parts = [value.year, value.month, value.day, value.hour, value.minute, value.second,
                 value.microsecond]
        return (f"datetime.datetime({', '.join(str(p) for p in parts)}, "
                "tzinfo=datetime.timezone.utc)")
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if hasattr(value, "item"):  # numpy scalar
        return literal(value.item())
    raise TypeError(f"no literal for {value!r}")


def query_code(query: Query, client_name: str = "client") -> str:
    """`client.materialize.query_table("synapses", filter_in_dict={...}, ...,
    materialization_version=5)`; for a live query it starts with `import datetime`."""
    method = "query_view" if query.source.kind == "view" else "query_table"
    args = [literal(query.source.name)]
    args += [f"{name}={literal(value)}" for name, value in query.arguments().items()]
    sort = ""
    if query.order is not None:  # the whole result, sorted in pandas as in browser.df
        column, descending = query.order
        sort = (f'.sort_values({literal(column)}, ascending={not descending}, kind="stable", '
                'na_position="last")')
    one_line = f"{client_name}.materialize.{method}({', '.join(args)}){sort}"
    if len(one_line) <= 100:
        call = one_line
    else:
        inner = "".join(f"    {a},\n" for a in args)
        call = f"{client_name}.materialize.{method}(\n{inner}){sort}"
    return f"import datetime\n\n{call}" if query.at.live else call
