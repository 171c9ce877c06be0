"""`client.materialize.tables` and `.views`: each table as an attribute that takes column
filters as keywords and queries them.

    client.materialize.tables.synapses(pre_pt_root_id=[...], size={">": 100}).query()

A list is an IN filter, a scalar an equality, a dict of "<", ">", "<=", ">=" the comparisons,
and `<position>_bbox=[[x0, y0, z0], [x1, y1, z1]]` a bounding box.
"""

from __future__ import annotations

import inspect
from html import escape

from ..errors import QueryValidationError
from . import columns as cols

COMPARISONS = {">": "filter_greater_dict", "<": "filter_less_dict",
               ">=": "filter_greater_equal_dict", "<=": "filter_less_equal_dict"}


class _Field:
    def __init__(self, table: str, column: str, kind: str):
        self.table, self.column, self.kind = table, column, kind


def _fields(columns: cols.TableColumns, suffix: str = "") -> dict[str, _Field]:
    out = {}
    for column, kind in columns.kinds.items():
        if column == "valid" or column.endswith("_supervoxel_id"):
            continue
        name = f"{column}_bbox" if kind == "position" else column
        out[name + suffix] = _Field(columns.table, column, kind)
    return out


class QueryBuilder:
    """Base of the per-table classes the managers make. Instances hold validated filters."""

    table: str = ""
    description: str = ""
    _field_map: dict = {}  # filter keyword → _Field
    # as caveclient's classes: lists of keyword names
    fields: list = []
    numeric_fields: list = []
    spatial_fields: list = []
    _manager = None

    def __init__(self, **filters):
        unknown = sorted(set(filters) - set(self._field_map))
        if unknown:
            raise QueryValidationError(
                f"{self.table} has no filter field {', '.join(unknown)}; fields: "
                f"{', '.join(sorted(self._field_map))}")
        self.filters = {k: v for k, v in filters.items() if v is not None}
        self._by_table = self._route()

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.filters.items())
        return f"{self.table}({args})"

    def _route(self) -> dict[str, dict[str, dict]]:
        """{filter argument: {table: {column: value}}}"""
        out: dict[str, dict[str, dict]] = {}

        def put(argument, field, value):
            out.setdefault(argument, {}).setdefault(field.table, {})[field.column] = value

        for name, value in self.filters.items():
            field = self._field_map[name]
            if field.kind == "position":
                put("filter_spatial_dict", field, value)
            elif isinstance(value, dict):
                bad = set(value) - set(COMPARISONS)
                if bad or field.kind not in ("integer", "float"):
                    raise QueryValidationError(
                        f"{name}: comparisons are dicts with keys among <, >, <=, >= on numeric "
                        f"fields ({', '.join(self.numeric_fields)}); got {value!r}")
                for op, bound in value.items():
                    put(COMPARISONS[op], field, bound)
            elif cols.is_listlike(value):
                if len(value):
                    put("filter_in_dict", field, list(value))
            else:
                put("filter_equal_dict", field, value)
        return out

    def _flat(self) -> dict:
        return {arg: by_table.get(self.table) for arg, by_table in self._by_table.items()}


class _TableQuery(QueryBuilder):
    reference: str | None = None  # for reference tables: the table target_id points into

    def query(self, select_columns=None, offset=None, limit=None, split_positions=False,
              materialization_version=None, timestamp=None, metadata=True,
              desired_resolution=None, get_counts=False, log_warning=True, random_sample=None):
        mat = self._manager.mat
        if self.reference and timestamp is None:
            return mat.join_query(
                [[self.table, "target_id"], [self.reference, "id"]], **self._by_table,
                select_columns=select_columns, offset=offset, limit=limit,
                suffixes={self.table: "_ref", self.reference: ""},
                split_positions=split_positions, materialization_version=materialization_version,
                metadata=metadata, desired_resolution=desired_resolution,
                random_sample=random_sample, log_warning=log_warning)
        if self.reference:
            return self.live_query(timestamp, offset=offset, limit=limit,
                                   split_positions=split_positions, metadata=metadata,
                                   desired_resolution=desired_resolution,
                                   log_warning=log_warning, random_sample=random_sample)
        return mat.query_table(
            self.table, **self._flat(), select_columns=select_columns, offset=offset,
            limit=limit, split_positions=split_positions,
            materialization_version=materialization_version, timestamp=timestamp,
            metadata=metadata, desired_resolution=desired_resolution, get_counts=get_counts,
            log_warning=log_warning, random_sample=random_sample)

    def live_query(self, timestamp, offset=None, limit=None, split_positions=False,
                   metadata=True, desired_resolution=None, allow_missing_lookups=False,
                   log_warning=True, random_sample=None):
        mat = self._manager.mat
        joins = suffixes = None
        if self.reference:
            joins = [[self.table, "target_id", self.reference, "id"]]
            suffixes = {self.table: "_ref", self.reference: ""}
        return mat.live_live_query(
            self.table, timestamp, joins=joins, **self._by_table, offset=offset, limit=limit,
            split_positions=split_positions, metadata=metadata, suffixes=suffixes,
            desired_resolution=desired_resolution, allow_missing_lookups=allow_missing_lookups,
            log_warning=log_warning, random_sample=random_sample)

    @classmethod
    def get_all(cls, **kwargs):
        """The whole table: ``tables.synapses.get_all(limit=10)`` (as in caveclient)."""
        return cls().query(**kwargs)

    @classmethod
    def get_all_live(cls, timestamp, **kwargs):
        return cls().live_query(timestamp, **kwargs)


class _ViewQuery(QueryBuilder):
    def query(self, select_columns=None, offset=None, limit=None, split_positions=False,
              materialization_version=None, metadata=True, desired_resolution=None,
              get_counts=False, log_warning=True, random_sample=None):
        return self._manager.mat.query_view(
            self.table, **self._flat(), select_columns=select_columns, offset=offset,
            limit=limit, split_positions=split_positions,
            materialization_version=materialization_version, metadata=metadata,
            desired_resolution=desired_resolution, get_counts=get_counts,
            random_sample=random_sample)

    @classmethod
    def get_all(cls, **kwargs):
        return cls().query(**kwargs)


class _Manager:
    kind = "table"

    def __init__(self, mat, version: int):
        self.mat = mat
        self.version = version
        self._classes: dict[str, type] = {}

    def _make(self, name: str, base: type, fields: dict, description: str, **extra) -> type:
        params = [inspect.Parameter(f, inspect.Parameter.KEYWORD_ONLY, default=None)
                  for f in sorted(fields)]
        cls = type(name, (base,), {
            "table": name, "_field_map": fields, "fields": list(fields),
            "numeric_fields": [n for n, f in fields.items() if f.kind in ("integer", "float")],
            "spatial_fields": [n for n, f in fields.items() if f.kind == "position"],
            "description": description, "_manager": self, "__doc__": description, **extra})
        cls.__signature__ = inspect.Signature(params)  # tab completion shows the fields
        return cls

    @property
    def table_names(self) -> list[str]:
        return sorted(self._classes)

    def find(self, text: str) -> list[str]:
        return [n for n in self.table_names if text.lower() in n.lower()]

    def __getattr__(self, name: str):
        classes = self.__dict__.get("_classes", {})
        if name in classes:
            return classes[name]
        raise AttributeError(f"no {self.kind} {name!r} at version {self.__dict__.get('version')}; "
                             f"{self.kind}s: {', '.join(sorted(classes))}")

    def __getitem__(self, name: str):
        if name not in self._classes:
            raise KeyError(name)
        return self._classes[name]

    def __contains__(self, name) -> bool:
        return name in self._classes

    def __len__(self) -> int:
        return len(self._classes)

    def __dir__(self):
        return list(super().__dir__()) + self.table_names

    def __repr__(self) -> str:
        return repr(self.table_names)

    def _repr_html_(self) -> str:
        return "".join(
            f"<details><summary>{escape(n)}</summary><p>{escape(self._classes[n].description)}"
            "</p></details>" for n in self.table_names)

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/html": self._repr_html_(), "text/plain": repr(self)}


class TableManager(_Manager):
    def __init__(self, mat, version: int):
        super().__init__(mat, version)
        metas = {m["table_name"]: m for m in mat.get_tables_metadata(version=version)}
        for name, meta in metas.items():
            fields = _fields(mat.table_columns(name, version))
            reference = meta.get("reference_table") or None
            if reference:
                target = _fields(mat.table_columns(reference, version))
                fields = {**{(f"{k}_ref" if k in target else k): v for k, v in fields.items()},
                          **target}
            self._classes[name] = self._make(name, _TableQuery, fields,
                                             meta.get("description") or "", reference=reference)


class ViewManager(_Manager):
    kind = "view"

    def __init__(self, mat, version: int):
        super().__init__(mat, version)
        for name, meta in mat.get_views(version=version).items():
            fields = _fields(mat.view_columns(name, version))
            self._classes[name] = self._make(name, _ViewQuery, fields,
                                             meta.get("description") or "")
