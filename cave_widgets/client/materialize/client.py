"""The materialization service: versions, tables, views and their metadata. The queries
themselves live in queries.py (a mixin of this class).

Facts are fetched once per client and reused: the versions (with their times and expiry) in
one request, each version's table list and each table's metadata once. Version numbers are
validated by the client's one snapshot path (snapshot.py), which reads them from here.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import datetime

from .. import errors
from ..base import ServiceClient
from ..errors import ServerIncompatibilityError
from ..http import path_segment as _segment
from ..snapshot import as_version as _version_number
from ..times import NEVER, parse_server_time
from . import columns as cols
from .queries import QueryMethods

LATEST_TTL = 300.0  # seconds the versions list is trusted (new versions appear daily)
API_VERSIONS = (2, 3)


class MaterializationClient(QueryMethods, ServiceClient):
    service = "materialization"

    def __init__(self, ctx, server_address: str, version_url: str | None = None):
        super().__init__(ctx, server_address, version_url)
        self.synapse_table = ctx.datastack_info().get("synapse_table")
        self._api: int | None = None  # None: not confirmed; the newest is assumed

    @property
    def datastack_name(self) -> str | None:
        return self.ctx.datastack_name

    # --- plumbing ----------------------------------------------------------------------------

    @property
    def api_version(self) -> int:
        """The API version in use. Every materialization server of the last years speaks
        v3, so it is assumed without asking; a 404 on a v3 route makes the client ask the
        server which versions it offers (once) and fall back to v2 if v3 is not among
        them."""
        return self._api or max(API_VERSIONS)

    def _request(self, method: str, url: str, **kwargs):
        try:
            return super()._request(method, url, **kwargs)
        except errors.NotFoundError:
            v3 = "/materialize/api/v3/"
            if self._api is not None or v3 not in url:
                raise
            self._api = self._negotiate_api()
            if self._api == 3:
                raise  # a real 404: the server speaks v3
        return super()._request(method, url.replace(v3, "/materialize/api/v2/"), **kwargs)

    def _negotiate_api(self) -> int:
        offered = self._get_json(f"{self.server_address}/materialize/api/versions")
        common = set(API_VERSIONS) & {v for v in offered or () if isinstance(v, int)}
        return max(common) if common else min(API_VERSIONS)

    def _ds(self, datastack_name: str | None = None) -> str:
        return datastack_name or self.datastack_name

    def _url(self, path: str, api: int | None = None, datastack_name: str | None = None) -> str:
        api = api or self.api_version
        return (f"{self.server_address}/materialize/api/v{api}/datastack/"
                f"{self._ds(datastack_name)}{path}")

    def _require_api3(self, feature: str) -> None:
        if self.api_version < 3:
            raise ServerIncompatibilityError(
                f"{feature} needs materialization API v3; {self.server_address} offers only v2.")

    @property
    def homepage(self) -> str:
        return f"{self.server_address}/materialize/views/datastack/{self.datastack_name}"

    # --- the version in force ----------------------------------------------------------------

    @property
    def version(self) -> int:
        """The client's version if one is set, else the newest valid one."""
        version = self.ctx.snapshot.version
        return version if version is not None else self.most_recent_version()

    @version.setter
    def version(self, value: int | None) -> None:
        self.ctx.set_snapshot(version=value)  # one state: the client's version moves with it

    def most_recent_version(self, datastack_name: str | None = None) -> int:
        return max(self.get_versions(datastack_name))

    # --- versions --------------------------------------------------------------------------

    def version_records(self, refresh: bool = False) -> dict[int, dict]:
        """Every version of the client's datastack (expired ones too) with its metadata,
        times as aware UTC datetimes: one request, reused for LATEST_TTL seconds."""
        def fetch():
            records = self._get_json(self._url("/metadata"), params={"expired": True},
                                     kind="datastack")
            return {int(r["version"]): _with_times(r) for r in records}

        return self._cached("versions", fetch, ttl=LATEST_TTL, refresh=refresh)

    def _own(self, datastack_name: str | None) -> bool:
        return datastack_name in (None, self.datastack_name)

    def get_versions(self, datastack_name: str | None = None, expired: bool = False) -> list[int]:
        if self._own(datastack_name):
            return sorted(v for v, r in self.version_records().items()
                          if expired or r.get("valid", True))
        return self._get_json(self._url("/versions", datastack_name=datastack_name),
                              params={"expired": expired}, kind="datastack")

    def get_version_metadata(self, version: int | None = None,
                             datastack_name: str | None = None) -> dict:
        version = self.version if version is None else _version_number(version)
        if self._own(datastack_name):
            record = self.version_records().get(version)
            if record is not None:
                return dict(record)
        record = self._get_json(self._url(f"/version/{version}",
                                          datastack_name=datastack_name), kind="version")
        return _with_times(record)

    def get_timestamp(self, version: int | None = None,
                      datastack_name: str | None = None) -> datetime:
        return self.get_version_metadata(version, datastack_name)["time_stamp"]

    def get_versions_metadata(self, datastack_name: str | None = None,
                              expired: bool = False) -> list[dict]:
        if self._own(datastack_name):
            return [dict(r) for _, r in sorted(self.version_records().items())
                    if expired or r.get("valid", True)]
        records = self._get_json(self._url("/metadata", datastack_name=datastack_name),
                                 params={"expired": expired}, kind="datastack")
        return [_with_times(r) for r in records]

    # --- tables ----------------------------------------------------------------------------

    def get_tables(self, datastack_name: str | None = None, version: int | None = None):
        version = self._at(version, datastack_name)
        return self._get_json(self._url(f"/version/{version}/tables", api=2,
                                        datastack_name=datastack_name), kind="version")

    def get_annotation_count(self, table_name: str, datastack_name: str | None = None,
                             version: int | None = None) -> int:
        version = self._at(version, datastack_name)
        return self._get_json(self._url(f"/version/{version}/table/{_segment(table_name)}/count",
                                        api=2, datastack_name=datastack_name), kind="table")

    def get_table_metadata(self, table_name: str, datastack_name: str | None = None,
                           version: int | None = None, log_warning: bool = True) -> dict:
        version = self._at(version, datastack_name)
        key = ("table_metadata", self._ds(datastack_name), version, table_name)
        # deep copies: callers may change what they get without changing the cache
        return copy.deepcopy(self._cached(key, lambda: _fold_resolution(self._get_json(
            self._url(f"/version/{version}/table/{_segment(table_name)}/metadata",
                      datastack_name=datastack_name), kind="table", log_warning=log_warning))))

    def get_tables_metadata(self, datastack_name: str | None = None, version: int | None = None,
                            log_warning: bool = True) -> list[dict]:
        self._require_api3("get_tables_metadata")
        version = self._at(version, datastack_name)
        key = ("tables_metadata", self._ds(datastack_name), version)
        return copy.deepcopy(self._cached(key, lambda: [_fold_resolution(m) for m in
                self._get_json(self._url(f"/version/{version}/tables/metadata",
                                         datastack_name=datastack_name), kind="version",
                               log_warning=log_warning)]))

    # --- views -----------------------------------------------------------------------------

    def get_views(self, version: int | None = None, datastack_name: str | None = None) -> dict:
        self._require_api3("get_views")
        version = self._at(version, datastack_name)
        return self._get_json(self._url(f"/version/{version}/views",
                                        datastack_name=datastack_name), kind="version")

    def get_view_metadata(self, view_name: str, materialization_version: int | None = None,
                          datastack_name: str | None = None, log_warning: bool = True) -> dict:
        self._require_api3("get_view_metadata")
        version = self._at(materialization_version, datastack_name)
        return self._get_json(self._url(f"/version/{version}/views/{_segment(view_name)}/metadata",
                                        datastack_name=datastack_name), kind="table",
                              log_warning=log_warning)

    def get_view_schema(self, view_name: str, materialization_version: int | None = None,
                        datastack_name: str | None = None, log_warning: bool = True) -> dict:
        self._require_api3("get_view_schema")
        version = self._at(materialization_version, datastack_name)
        key = ("view_schema", self._ds(datastack_name), version, view_name)
        return copy.deepcopy(self._cached(key, lambda: self._get_json(
            self._url(f"/version/{version}/views/{_segment(view_name)}/schema",
                      datastack_name=datastack_name), kind="table", log_warning=log_warning)))

    def get_view_schemas(self, materialization_version: int | None = None,
                         datastack_name: str | None = None, log_warning: bool = True) -> dict:
        self._require_api3("get_view_schemas")
        version = self._at(materialization_version, datastack_name)
        return self._get_json(self._url(f"/version/{version}/views/schemas",
                                        datastack_name=datastack_name), kind="version",
                              log_warning=log_warning)

    def get_unique_string_values(self, table: str, datastack_name: str | None = None) -> dict:
        self._require_api3("get_unique_string_values")
        return self._get_json(self._url(f"/table/{_segment(table)}/unique_string_values",
                                        datastack_name=datastack_name), kind="table")

    # --- neuroglancer sources and admin jobs -------------------------------------------------

    def neuroglancer_annotation_path(self, table_name: str, datastack_name: str | None = None,
                                     for_neuroglancer: bool = True) -> str:
        url = self._url(f"/table/{_segment(table_name)}/precomputed", api=3,
                        datastack_name=datastack_name)
        return f"precomputed://middleauth+{url}" if for_neuroglancer else url

    def neuroglancer_segprop_path(self, table_name: str, datastack_name: str | None = None,
                                  materialization_version: int | None = None,
                                  for_neuroglancer: bool = True) -> str:
        version = self._at(materialization_version, datastack_name)
        url = self._url(f"/version/{version}/table/{_segment(table_name)}", api=3,
                        datastack_name=datastack_name)
        return f"precomputed://middleauth+{url}" if for_neuroglancer else url

    def ingest_annotation_table(self, table_name: str, datastack_name: str | None = None):
        """Ask the server to ingest a table (an admin job)."""
        url = (f"{self.server_address}/materialize/api/v2/materialize/run/ingest_annotations/"
               f"datastack/{self._ds(datastack_name)}/{_segment(table_name)}")
        return self._post_json(url, kind="table")

    def lookup_supervoxel_ids(self, table_name: str, annotation_ids=None,
                              datastack_name: str | None = None):
        """Ask the server to look up missing supervoxel ids of a table (an admin job)."""
        url = (f"{self.server_address}/materialize/api/v2/materialize/run/lookup_svid/"
               f"datastack/{self._ds(datastack_name)}/{_segment(table_name)}")
        body = {"annotation_ids": list(annotation_ids)} if annotation_ids is not None else {}
        return self._post_json(url, body, kind="table")

    # --- columns, for validation ---------------------------------------------------------------

    def table_columns(self, table: str, version: int | None = None) -> cols.TableColumns:
        """The columns of `table` at `version`, from its schema: the schema catalogue this
        package ships knows the standard schemas, so nothing is fetched for them; others are
        asked of the schema service once per client."""
        meta = self.get_table_metadata(table, version=version)
        return self._columns_of_schema(table, meta.get("schema") or meta.get("schema_type"))

    def live_table_metadata(self, table: str) -> dict:
        """A table's metadata for a query at a live time: the newest version's, or, for a
        table made since (an annotation table created after it), the annotation service's,
        which knows every table of the aligned volume."""
        try:
            return self.get_table_metadata(table, version=self.most_recent_version())
        except errors.UnknownTableError:
            meta = dict(self.ctx.service("annotation").get_table_metadata(table))
            meta.setdefault("schema", meta.get("schema_type"))
            meta.setdefault("reference_table", (meta.get("table_metadata") or {}).get(
                "reference_table"))
            return meta

    def live_tables(self) -> list[str]:
        """The tables a live query can read now: the newest version's, then the annotation
        tables made since (the annotation service lists every table of the aligned
        volume)."""
        names = list(self.get_tables(version=self.most_recent_version()))
        known = set(names)
        return names + sorted(n for n in self.ctx.service("annotation").get_tables()
                              if n not in known)

    def live_table_columns(self, table: str) -> cols.TableColumns:
        meta = self.live_table_metadata(table)
        return self._columns_of_schema(table, meta.get("schema") or meta.get("schema_type"))

    def _columns_of_schema(self, table: str, schema_name: str | None) -> cols.TableColumns:

        def from_server() -> cols.TableColumns:
            schema = self._cached(("schema", schema_name), lambda: self.ctx.service(
                "schema").schema_definition(schema_name))
            return cols.from_schema(table, schema, schema_name)

        known = cols.columns_of_schema(table, schema_name) if schema_name else None
        if known is None:
            return from_server()
        # A deployment may run a newer revision of a schema: a column the catalogue does
        # not know is looked up on the server before it is called unknown.
        return replace(known, on_unknown=from_server)

    def view_columns(self, view: str, version: int | None = None) -> cols.TableColumns:
        return cols.from_view_schema(view, self.get_view_schema(view, version))

    # --- versions as arguments ------------------------------------------------------------------

    def _at(self, version, datastack_name: str | None = None) -> int:
        """The version a call reads: the client's (else the newest) when not given; a given
        one must be an integer this datastack has (UnknownVersionError otherwise, before a
        request for a table at a version that never existed is sent)."""
        if version is None:
            return self.version
        number = _version_number(version)
        if self._own(datastack_name) and number not in self.version_records():
            if number not in self.version_records(refresh=True):
                raise errors.UnknownVersionError(
                    f"Version {number} does not exist for {self.datastack_name}; versions: "
                    f"{sorted(self.version_records())}",
                    action="Pick one of them (client.materialize.get_versions()).")
        return number

    # --- managers ----------------------------------------------------------------------------

    @property
    def tables(self):
        """Tables as attributes with keyword filters:
        ``client.materialize.tables.synapses(pre_pt_root_id=[...]).query()``."""
        from .managers import TableManager

        version = self.version
        return self._cached(("tables_manager", version), lambda: TableManager(self, version))

    @property
    def views(self):
        from .managers import ViewManager

        return ViewManager(self, self.version)


def _with_times(record: dict) -> dict:
    record = dict(record)
    record["time_stamp"] = parse_server_time(record.get("time_stamp"))
    if "expires_on" in record:
        record["expires_on"] = parse_server_time(record["expires_on"]) or NEVER
    return record



def _fold_resolution(meta: dict) -> dict:
    meta = dict(meta)
    if all(f"voxel_resolution_{a}" in meta for a in "xyz"):
        meta["voxel_resolution"] = [meta.pop(f"voxel_resolution_{a}") for a in "xyz"]
    return meta
