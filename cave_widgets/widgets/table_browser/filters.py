"""The TableBrowser's filters: from what a person typed (one spec per filter row) to the
keyword arguments of a materialization query, checked before anything is sent.

A spec is a dict ``{"column": ..., "op": ..., ...}``:

- ``equal``:  ``value`` (one value of the column's kind)
- ``in`` / ``not_in``: ``value``, many values; text is split on whitespace, commas and
  semicolons (ids pasted from anywhere: a column, a Python list, a CSV line)
- ``range``: ``min`` and/or ``max``, both inclusive (numeric columns)
- ``regex``: ``value``, a regular expression (text columns)
- ``bbox``: ``min`` and ``max`` corners ``"x, y, z"`` (position columns)

Values may be text (from the widget) or Python values (from a notebook). Parsing errors and
the client's own validation (`columns.check_filters`) are reported per filter row, so the
widget shows each message next to the filter it is about.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ...client.errors import QueryValidationError
from ...client.materialize import columns as cols

OPS_BY_KIND = {
    "integer": ("equal", "in", "not_in", "range"),
    "float": ("range", "equal", "in", "not_in"),
    "string": ("equal", "in", "not_in", "regex"),
    "boolean": ("equal",),
    "position": ("bbox",),
}
ARGUMENT = {  # op -> the query argument it fills
    "equal": "filter_equal_dict",
    "in": "filter_in_dict",
    "not_in": "filter_out_dict",
    "regex": "filter_regex_dict",
    "bbox": "filter_spatial_dict",
}
ARGUMENT_ORDER = ("filter_in_dict", "filter_out_dict", "filter_equal_dict",
                  "filter_greater_dict", "filter_less_dict", "filter_greater_equal_dict",
                  "filter_less_equal_dict", "filter_spatial_dict", "filter_regex_dict")
_NUMBER_SPLIT = re.compile(r"[\s,;]+")
_TEXT_SPLIT = re.compile(r"\s*[,;\n]\s*")
_TRUE, _FALSE = {"true", "1", "yes", "t", "y"}, {"false", "0", "no", "f", "n"}


@dataclass
class FilterCheck:
    """The outcome of checking a list of specs: query arguments, or messages by row."""

    arguments: dict = field(default_factory=dict)  # argument -> {column: value}
    errors: dict = field(default_factory=dict)  # str(row index) -> message
    # str(row index) -> the input(s) at fault, space-separated ("min", "max", "value",
    # "min max", "column", "op"), so only those are marked
    fields: dict = field(default_factory=dict)
    specs: list = field(default_factory=list)  # the specs, normalised (JSON-ready)

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_if_invalid(self) -> None:
        if self.errors:
            lines = [f"filter {int(i) + 1}: {m}" for i, m in sorted(self.errors.items(),
                                                                  key=lambda kv: int(kv[0]))]
            raise QueryValidationError("; ".join(lines))


class FieldError(QueryValidationError):
    """A filter input that does not parse; `field` names the input(s)."""

    def __init__(self, message: str, field_name: str):
        super().__init__(message)
        self.field = field_name


def _parsed(field_name: str, parse, *args):
    try:
        return parse(*args)
    except FieldError:
        raise
    except QueryValidationError as exc:
        raise FieldError(str(exc), field_name) from None


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def parse_scalar(kind: str, value):
    """One value of a column's kind, from text or a Python value."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if kind == "integer":
        try:
            return int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                raise QueryValidationError(f"{text!r} is not a whole number") from None
            if not number.is_integer():
                raise QueryValidationError(f"{text!r} is not a whole number") from None
            return int(number)
    if kind == "float":
        try:
            return float(text)
        except ValueError:
            raise QueryValidationError(f"{text!r} is not a number") from None
    if kind == "boolean":
        lowered = text.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise QueryValidationError(f"{text!r} is not true or false")
    return value if kind == "string" else text


def split_values(kind: str, value) -> list:
    """Many values: a list as it is, or text split into values (order kept, duplicates
    dropped)."""
    if isinstance(value, str):
        text = value.strip().strip("[](){}")
        parts = (_TEXT_SPLIT if kind == "string" else _NUMBER_SPLIT).split(text)
        items = [p.strip().strip("'\"") for p in parts]
        items = [p for p in items if p]
    elif cols.is_listlike(value):
        items = list(value)
    else:
        items = [value]
    out, seen = [], set()
    for item in items:
        parsed = parse_scalar(kind, item)
        key = parsed.item() if hasattr(parsed, "item") else parsed
        if key not in seen:
            seen.add(key)
            out.append(parsed)
    return out


def parse_corner(value) -> list[float]:
    if isinstance(value, str):
        parts = [p for p in _NUMBER_SPLIT.split(value.strip().strip("[]()")) if p]
    elif cols.is_listlike(value):
        parts = list(value)
    else:
        parts = []
    if len(parts) != 3:
        raise QueryValidationError(f"a corner is three numbers x, y, z; got {value!r}")
    return [parse_scalar("float", p) if isinstance(p, str) else p for p in parts]


def _spec_arguments(spec: dict, kind: str) -> dict:
    """{argument: value} for one spec (values parsed, not yet checked by the client)."""
    op = spec.get("op")
    if op not in OPS_BY_KIND.get(kind, ()):
        allowed = ", ".join(OPS_BY_KIND.get(kind, ())) or "none"
        raise FieldError(f"{op!r} does not apply to a {kind} column (use: {allowed})", "op")
    if op == "range":
        low, high = spec.get("min"), spec.get("max")
        if _blank(low) and _blank(high):
            raise FieldError("give a minimum, a maximum or both", "min max")
        out = {}
        if not _blank(low):
            out["filter_greater_equal_dict"] = _parsed("min", parse_scalar, kind, low)
        if not _blank(high):
            out["filter_less_equal_dict"] = _parsed("max", parse_scalar, kind, high)
        if len(out) == 2 and out["filter_greater_equal_dict"] > out["filter_less_equal_dict"]:
            raise FieldError("the minimum is above the maximum", "min max")
        return out
    if op == "bbox":
        missing = " ".join(f for f in ("min", "max") if _blank(spec.get(f)))
        if missing:
            raise FieldError("a bounding box needs both corners (x, y, z)", missing)
        return {"filter_spatial_dict": [_parsed("min", parse_corner, spec["min"]),
                                        _parsed("max", parse_corner, spec["max"])]}
    value = spec.get("value")
    if _blank(value) or (cols.is_listlike(value) and len(value) == 0):
        raise FieldError("enter a value" if op in ("equal", "regex") else
                         "paste or type one or more values", "value")
    if op in ("in", "not_in"):
        return {ARGUMENT[op]: _parsed("value", split_values, kind, value)}
    if op == "regex":
        try:
            re.compile(value)
        except re.error as exc:
            raise FieldError(f"not a valid regular expression: {exc}", "value") from None
        return {"filter_regex_dict": value}
    return {"filter_equal_dict": _parsed("value", parse_scalar, kind, value)}


def _normalised(spec: dict) -> dict:
    """A JSON-ready copy of a spec (what the widget syncs back)."""
    out = {}
    for key, value in spec.items():
        if cols.is_listlike(value):
            value = [v.item() if hasattr(v, "item") else v for v in value]
            # ids exceed 2^53: keep them exact on their way to the browser
            value = ", ".join(str(v) for v in value) if key == "value" else value
        elif hasattr(value, "item"):
            value = value.item()
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        out[key] = value
    return out


def check_specs(specs, columns: cols.TableColumns) -> FilterCheck:
    """Parse and validate filter specs against a table's columns (nothing is sent)."""
    result = FilterCheck()
    if specs is None:
        return result
    if not isinstance(specs, (list, tuple)):
        raise QueryValidationError(f"filters must be a list of filter specs, got {specs!r}")
    for index, spec in enumerate(specs):
        key = str(index)
        if not isinstance(spec, dict):
            result.errors[key] = f"a filter is a dict with column and op, got {spec!r}"
            continue
        result.specs.append(_normalised(spec))
        column = spec.get("column")
        try:
            kind = _parsed("column", columns.kind, column, "filter")
            for argument, value in _spec_arguments(spec, kind).items():
                # the client's own checks, on this one filter, so the message lands here
                checked = cols.check_filters(argument, {column: value}, columns)[column]
                if column in result.arguments.get(argument, {}):
                    raise QueryValidationError(
                        f"{column} already has a filter of this kind; combine them into one")
                result.arguments.setdefault(argument, {})[column] = checked
        except QueryValidationError as exc:
            result.errors[key] = str(exc)
            # the client's checks of a whole filter (a box min above its max) mark it all
            result.fields[key] = getattr(exc, "field", "") or _inputs_of(spec.get("op"))
    result.arguments = {a: result.arguments[a] for a in ARGUMENT_ORDER if a in result.arguments}
    return result


def _inputs_of(op) -> str:
    return "min max" if op in ("range", "bbox") else "value"


def check_columns(selected, columns: cols.TableColumns, key: str | None) -> list[str] | None:
    """The column selection as select_columns: None for all columns, else a list in table
    order that always holds the key column (paging and selection need it)."""
    if selected is None:
        return None
    chosen = cols.check_select("columns", list(selected), columns)
    if not chosen:
        raise QueryValidationError("choose at least one column")
    if key and key not in chosen:
        chosen = [key, *chosen]
    ordered = [c for c in columns.kinds if c in chosen]
    return None if ordered == list(columns.kinds) else ordered
