"""The schema service: the annotation schemas, as JSON Schema documents. Open to everyone."""

from __future__ import annotations

from .context import Call, route_options
from .errors import NotFound
from .schemas import SCHEMAS


def schema_document(name: str) -> dict:
    if name not in SCHEMAS:
        raise NotFound(f"Schema {name!r} not found; known schemas: {', '.join(sorted(SCHEMAS))}")
    return SCHEMAS[name].json_schema()


@route_options(auth=False)
def versions(call: Call):
    return [2]


@route_options(auth=False)
def types(call: Call):
    return sorted(SCHEMAS)


@route_options(auth=False)
def one_type(call: Call):
    return schema_document(call.path("name"))


@route_options(auth=False)
def some_types(call: Call):
    names = [n for n in (call.query("schema_names") or "").split(",") if n]
    return {n: schema_document(n) for n in names}


@route_options(auth=False)
def all_types(call: Call):
    return {n: s.json_schema() for n, s in sorted(SCHEMAS.items())}


API = "/schema/api/v2"
ROUTES = (
    ("GET", "/schema/versions", versions),
    ("GET", API + "/type", types),
    ("GET", API + "/type/{name}", one_type),
    ("GET POST", API + "/types", some_types),
    ("GET", API + "/types_all", all_types),
)
