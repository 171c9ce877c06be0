"""The schema service (EMAnnotationSchemas API v2): the real schema catalogue, served exactly as
the CAVE schema service renders it. Open to everyone."""

from __future__ import annotations

from .. import schema_catalogue
from .context import Call, route_options
from .errors import NotFound


def schema_document(name: str) -> dict:
    try:
        return schema_catalogue.definition(name)
    except KeyError:
        raise NotFound(
            f"Schema {name!r} not found; known schemas: {', '.join(schema_catalogue.names())}"
        ) from None


@route_options(auth=False)
def versions(call: Call):
    return [2]


@route_options(auth=False)
def types(call: Call):
    return schema_catalogue.names()  # the service's own order, not sorted


@route_options(auth=False)
def one_type(call: Call):
    return schema_document(call.path("name"))


@route_options(auth=False)
def some_types(call: Call):
    names = [n for n in (call.query("schema_names") or "").split(",") if n]
    return {n: schema_document(n) for n in names}  # request order; one unknown → 404


@route_options(auth=False)
def all_types(call: Call):
    return {n: schema_catalogue.definition(n) for n in schema_catalogue.names()}


API = "/schema/api/v2"
ROUTES = (
    ("GET", "/schema/versions", versions),
    ("GET", API + "/type", types),
    ("GET", API + "/type/{name}", one_type),
    ("GET POST", API + "/types", some_types),
    ("GET", API + "/types_all", all_types),
)
