"""An OpenAPI description of the embedded server, built from the services' route tables.

Served at /openapi.json: a map of every route for people who script against the demo
server, and the input of the test suite's fuzzer (schemathesis), which sends what it
describes and more. Bodies are described loosely where the CAVE services take free-form
JSON (filters keyed by table and column), precisely where they take ids.
"""

from __future__ import annotations

import re

from .context import options_of

INTEGER_PARAMS = {"version", "node_id", "root_id", "id", "tos_id", "group_id", "token_id",
                  "operation_id", "annotation_id"}
_ID = {"type": "integer", "minimum": 0, "maximum": 2**64 - 1}
_FILTERS = {"type": "object", "additionalProperties": {
    "type": "object", "additionalProperties": {}}}
QUERY_BODY = {
    "type": "object",
    "properties": {
        **dict.fromkeys((
            "filter_in_dict", "filter_notin_dict", "filter_equal_dict", "filter_greater_dict",
            "filter_less_dict", "filter_greater_equal_dict", "filter_less_equal_dict",
            "filter_spatial_dict", "filter_regex_dict"), _FILTERS),
        "select_columns": {"oneOf": [{"type": "array", "items": {"type": "string"}},
                                     {"type": "object"}]},
        "select_column_map": {"type": "object"},
        "offset": {"type": "integer"},
        "limit": {"type": "integer"},
        "desired_resolution": {"type": "array", "items": {"type": "number"}},
        "order_by": {"type": "array", "items": {"type": "array"}},
        "tables": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
        "suffix_map": {"type": "object"},
        "table": {"type": "string"},
        "timestamp": {"type": "string"},
        "join_tables": {"type": "array", "items": {"type": "array"}},
    },
}
ID_LIST_BODY = {"type": "object", "properties": {
    key: {"type": "array", "items": _ID}
    for key in ("node_ids", "root_ids", "l2_ids", "sv_ids", "ids")}}
QUERY_FLAGS = ("return_pyarrow", "arrow_format", "split_positions", "count",
               "allow_missing_lookups", "allow_invalid_root_ids", "random_sample",
               "timestamp", "timestamp_past", "timestamp_future", "stop_layer", "expired",
               "bounds", "latest")


def _parameters(path: str, method: str) -> list[dict]:
    out = []
    for name in re.findall(r"{(\w+)}", path):
        schema = dict(_ID) if name in INTEGER_PARAMS else {"type": "string", "minLength": 1}
        out.append({"name": name, "in": "path", "required": True, "schema": schema})
    for name in QUERY_FLAGS:
        out.append({"name": name, "in": "query", "required": False,
                    "schema": {"type": "string"}})
    return out


def _body(path: str, handler) -> dict | None:
    if not options_of(handler).json_body:
        return {"content": {"application/octet-stream": {"schema": {
            "type": "string", "format": "binary"}}}}
    schema = QUERY_BODY if "query" in path else (
        ID_LIST_BODY if "/segmentation/" in path or "/l2cache/" in path else {"type": "object"})
    return {"required": False, "content": {"application/json": {"schema": schema}}}


def build_openapi(services, title: str = "cave_widgets embedded CAVE server") -> dict:
    """The OpenAPI 3 document of every route in the services' ROUTES tables."""
    paths: dict = {}
    for service in services:
        for methods, path, handler in service.ROUTES:
            for method in methods.split():
                operation = {
                    "operationId": f"{service.__name__.rsplit('.', 1)[-1]}.{handler.__name__}"
                                   f".{method.lower()}",
                    "summary": (handler.__doc__ or handler.__name__).strip().split("\n")[0],
                    "parameters": _parameters(path, method),
                    "responses": {"default": {"description": "the CAVE service's answer"}},
                }
                if method in ("POST", "PUT", "PATCH", "DELETE"):
                    operation["requestBody"] = _body(path, handler)
                if options_of(handler).auth:
                    operation["security"] = [{"bearer": []}]
                paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.0.3",
        "info": {"title": title, "version": "1"},
        "paths": paths,
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
