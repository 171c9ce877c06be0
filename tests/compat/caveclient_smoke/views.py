"""Materialization views: listing, schemas, metadata, query_view and the views manager."""

from __future__ import annotations

from .checks import (
    VIEW,
    check,
    ensure,
    need,
)

# --------------------------------------------------------------------------------------
# views
# --------------------------------------------------------------------------------------


@check("materialize.get_views")
def _(s):
    views = s.client.materialize.get_views()
    ensure(VIEW in views, f"{VIEW!r} not in {list(views)}")
    ensure("voxel_resolution_x" in views[VIEW], f"view record {views[VIEW]!r}")


@check("materialize.get_view_schema")
def _(s):
    schema = s.client.materialize.get_view_schema(VIEW)
    ensure(isinstance(schema, dict) and schema, f"schema {schema!r}")
    ensure(all("type" in v for v in schema.values()), f"entries without a type: {schema!r}")
    ensure(any(v["type"] == "SpatialPoint" for v in schema.values()), "no SpatialPoint column")
    s.view_schema = schema


@check("materialize.get_view_metadata / get_view_schemas")
def _(s):
    schema = need(s, "view_schema")
    meta = s.client.materialize.get_view_metadata(VIEW)
    ensure(meta.get("table_name") == VIEW, f"table_name {meta.get('table_name')!r}")
    res = [meta.get(f"voxel_resolution_{a}") for a in "xyz"]
    ensure(all(isinstance(r, (int, float)) and r > 0 for r in res),
           f"voxel_resolution_x/y/z {res!r}")
    schemas = s.client.materialize.get_view_schemas()
    ensure(schemas.get(VIEW) == schema, "get_view_schemas disagrees with get_view_schema")


@check("materialize.query_view")
def _(s):
    schema = need(s, "view_schema")
    df = s.client.materialize.query_view(VIEW, split_positions=True)
    ensure(len(df) > 0, "no rows")
    expected = set()
    for name, spec in schema.items():
        expected |= ({f"{name}_{a}" for a in "xyz"} if spec["type"] == "SpatialPoint" else {name})
    ensure(set(df.columns) == expected,
           f"columns {sorted(df.columns)} != schema {sorted(expected)}")
    value = df["cell_type"].dropna().iloc[0]
    some = s.client.materialize.query_view(VIEW, filter_equal_dict={"cell_type": value}, limit=10)
    ensure(len(some) > 0 and (some["cell_type"] == value).all(), f"view filter on {value!r} failed")
    ensure(len(some) <= 10, f"limit=10 gave {len(some)} rows")


@check("materialize.views manager")
def _(s):
    views = s.client.materialize.views
    ensure(VIEW in views.table_names, f"{VIEW!r} not in {views.table_names}")
    df = getattr(views, VIEW)().query(limit=5)
    ensure(len(df) == 5, f"{len(df)} rows")
