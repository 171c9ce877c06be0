"""The schema service: the annotation schemas, as JSON Schema documents. Open to everyone."""

from __future__ import annotations

from starlette.routing import Route

from .context import Call, ServiceContext, route
from .errors import NotFound
from .schemas import SCHEMAS


def build_routes(ctx: ServiceContext) -> list[Route]:
    @route(ctx, auth=False)
    def versions(call: Call):
        return [2]

    @route(ctx, auth=False)
    def types(call: Call):
        return sorted(SCHEMAS)

    def _schema(name: str) -> dict:
        if name not in SCHEMAS:
            raise NotFound(f"Schema {name!r} not found; known schemas: {', '.join(sorted(SCHEMAS))}")
        return SCHEMAS[name].json_schema()

    @route(ctx, auth=False)
    def one_type(call: Call):
        return _schema(call.path("name"))

    @route(ctx, auth=False)
    def some_types(call: Call):
        names = [n for n in (call.query("schema_names") or "").split(",") if n]
        return {n: _schema(n) for n in names}

    @route(ctx, auth=False)
    def all_types(call: Call):
        return {n: s.json_schema() for n, s in sorted(SCHEMAS.items())}

    p = "/schema/api/v2"
    return [
        Route("/schema/versions", versions, methods=["GET"]),
        Route(p + "/type", types, methods=["GET"]),
        Route(p + "/type/{name}", one_type, methods=["GET"]),
        Route(p + "/types", some_types, methods=["GET", "POST"]),
        Route(p + "/types_all", all_types, methods=["GET"]),
    ]
