"""The materialization service: versions, tables, views and their metadata. The queries
themselves live in queries.py (a mixin of this class)."""

from __future__ import annotations

import copy
import threading
import time
from datetime import datetime, timezone

from ..base import ServiceClient
from ..errors import ServerIncompatibilityError
from . import columns as cols
from .queries import QueryMethods

UTC = timezone.utc
NEVER = datetime.max.replace(tzinfo=UTC)
LATEST_TTL = 300.0  # seconds the "latest version" answer is trusted


def parse_time(text: str | None) -> datetime | None:
    """Version times arrive naive (UTC) with microseconds; return aware UTC datetimes."""
    if text is None:
        return None
    when = datetime.fromisoformat(text)
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


class MaterializationClient(QueryMethods, ServiceClient):
    service = "materialization"

    def __init__(self, framework, server_address: str):
        super().__init__(framework, server_address)
        self.datastack_name = framework.datastack_name
        self.synapse_table = framework.info.get_datastack_info().get("synapse_table")
        self._api = None
        self._latest: tuple[float, int] | None = None
        self._cache: dict = {}
        self._lock = threading.Lock()

    # --- plumbing ----------------------------------------------------------------------------

    def _version_url(self) -> str:
        return f"{self.server_address}/materialize/version"

    @property
    def api_version(self) -> int:
        if self._api is None:
            self._api = self._negotiate_api(
                f"{self.server_address}/materialize/api/versions", {2, 3}, 2)
        return self._api

    def _ds(self, datastack_name: str | None = None) -> str:
        return datastack_name or self.datastack_name

    def _url(self, path: str, api: int | None = None, datastack_name: str | None = None) -> str:
        api = api or self.api_version
        return (f"{self.server_address}/materialize/api/v{api}/datastack/"
                f"{self._ds(datastack_name)}{path}")

    def _cached(self, key, fetch):
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        value = fetch()
        with self._lock:
            self._cache[key] = value
        return value

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
        if self.fc.version is not None:
            return self.fc.version
        return self.most_recent_version()

    @version.setter
    def version(self, value: int | None) -> None:
        self.fc.version = value  # one state: the client's version moves with it

    def most_recent_version(self, datastack_name: str | None = None) -> int:
        now = time.monotonic()
        if datastack_name is None and self._latest and now - self._latest[0] < LATEST_TTL:
            return self._latest[1]
        latest = max(self.get_versions(datastack_name))
        if datastack_name is None:
            self._latest = (now, latest)
        return latest

    # --- versions --------------------------------------------------------------------------

    def get_versions(self, datastack_name: str | None = None, expired: bool = False) -> list[int]:
        return self._get_json(self._url("/versions", datastack_name=datastack_name),
                              params={"expired": expired}, kind="datastack")

    def get_version_metadata(self, version: int | None = None,
                             datastack_name: str | None = None) -> dict:
        version = self.version if version is None else version
        record = self._get_json(self._url(f"/version/{int(version)}",
                                          datastack_name=datastack_name), kind="version")
        return _with_times(record)

    def get_timestamp(self, version: int | None = None,
                      datastack_name: str | None = None) -> datetime:
        version = self.version if version is None else version
        key = ("timestamp", self._ds(datastack_name), int(version))
        return self._cached(key, lambda: self.get_version_metadata(version, datastack_name)[
            "time_stamp"])

    def get_versions_metadata(self, datastack_name: str | None = None,
                              expired: bool = False) -> list[dict]:
        records = self._get_json(self._url("/metadata", datastack_name=datastack_name),
                                 params={"expired": expired}, kind="datastack")
        return [_with_times(r) for r in records]

    # --- tables ----------------------------------------------------------------------------

    def get_tables(self, datastack_name: str | None = None, version: int | None = None):
        version = self.version if version is None else version
        return self._get_json(self._url(f"/version/{int(version)}/tables", api=2,
                                        datastack_name=datastack_name), kind="version")

    def get_annotation_count(self, table_name: str, datastack_name: str | None = None,
                             version: int | None = None) -> int:
        version = self.version if version is None else version
        return self._get_json(self._url(f"/version/{int(version)}/table/{table_name}/count",
                                        api=2, datastack_name=datastack_name), kind="table")

    def get_table_metadata(self, table_name: str, datastack_name: str | None = None,
                           version: int | None = None, log_warning: bool = True) -> dict:
        version = self.version if version is None else version
        key = ("table_metadata", self._ds(datastack_name), int(version), table_name)
        # deep copies: callers may change what they get without changing the cache
        return copy.deepcopy(self._cached(key, lambda: _fold_resolution(self._get_json(
            self._url(f"/version/{int(version)}/table/{table_name}/metadata",
                      datastack_name=datastack_name), kind="table", log_warning=log_warning))))

    def get_tables_metadata(self, datastack_name: str | None = None, version: int | None = None,
                            log_warning: bool = True) -> list[dict]:
        self._require_api3("get_tables_metadata")
        version = self.version if version is None else version
        key = ("tables_metadata", self._ds(datastack_name), int(version))
        return copy.deepcopy(self._cached(key, lambda: [_fold_resolution(m) for m in
                self._get_json(self._url(f"/version/{int(version)}/tables/metadata",
                                         datastack_name=datastack_name), kind="version",
                               log_warning=log_warning)]))

    # --- views -----------------------------------------------------------------------------

    def get_views(self, version: int | None = None, datastack_name: str | None = None) -> dict:
        self._require_api3("get_views")
        version = self.version if version is None else version
        return self._get_json(self._url(f"/version/{int(version)}/views",
                                        datastack_name=datastack_name), kind="version")

    def get_view_metadata(self, view_name: str, materialization_version: int | None = None,
                          datastack_name: str | None = None, log_warning: bool = True) -> dict:
        self._require_api3("get_view_metadata")
        version = self.version if materialization_version is None else materialization_version
        return self._get_json(self._url(f"/version/{int(version)}/views/{view_name}/metadata",
                                        datastack_name=datastack_name), kind="table",
                              log_warning=log_warning)

    def get_view_schema(self, view_name: str, materialization_version: int | None = None,
                        datastack_name: str | None = None, log_warning: bool = True) -> dict:
        self._require_api3("get_view_schema")
        version = self.version if materialization_version is None else materialization_version
        key = ("view_schema", self._ds(datastack_name), int(version), view_name)
        return copy.deepcopy(self._cached(key, lambda: self._get_json(
            self._url(f"/version/{int(version)}/views/{view_name}/schema",
                      datastack_name=datastack_name), kind="table", log_warning=log_warning)))

    def get_view_schemas(self, materialization_version: int | None = None,
                         datastack_name: str | None = None, log_warning: bool = True) -> dict:
        self._require_api3("get_view_schemas")
        version = self.version if materialization_version is None else materialization_version
        return self._get_json(self._url(f"/version/{int(version)}/views/schemas",
                                        datastack_name=datastack_name), kind="version",
                              log_warning=log_warning)

    def get_unique_string_values(self, table: str, datastack_name: str | None = None) -> dict:
        self._require_api3("get_unique_string_values")
        return self._get_json(self._url(f"/table/{table}/unique_string_values",
                                        datastack_name=datastack_name), kind="table")

    # --- neuroglancer sources and admin jobs -------------------------------------------------

    def neuroglancer_annotation_path(self, table_name: str, datastack_name: str | None = None,
                                     for_neuroglancer: bool = True) -> str:
        url = self._url(f"/table/{table_name}/precomputed", api=3, datastack_name=datastack_name)
        return f"precomputed://middleauth+{url}" if for_neuroglancer else url

    def neuroglancer_segprop_path(self, table_name: str, datastack_name: str | None = None,
                                  materialization_version: int | None = None,
                                  for_neuroglancer: bool = True) -> str:
        version = self.version if materialization_version is None else materialization_version
        url = self._url(f"/version/{int(version)}/table/{table_name}", api=3,
                        datastack_name=datastack_name)
        return f"precomputed://middleauth+{url}" if for_neuroglancer else url

    def ingest_annotation_table(self, table_name: str, datastack_name: str | None = None):
        """Ask the server to ingest a table (an admin job)."""
        url = (f"{self.server_address}/materialize/api/v2/materialize/run/ingest_annotations/"
               f"datastack/{self._ds(datastack_name)}/{table_name}")
        return self._post_json(url, kind="table")

    def lookup_supervoxel_ids(self, table_name: str, annotation_ids=None,
                              datastack_name: str | None = None):
        """Ask the server to look up missing supervoxel ids of a table (an admin job)."""
        url = (f"{self.server_address}/materialize/api/v2/materialize/run/lookup_svid/"
               f"datastack/{self._ds(datastack_name)}/{table_name}")
        body = {"annotation_ids": list(annotation_ids)} if annotation_ids is not None else {}
        return self._post_json(url, body, kind="table")

    # --- columns, for validation ---------------------------------------------------------------

    def table_columns(self, table: str, version: int | None = None) -> cols.TableColumns:
        """The columns of `table` at `version`, from its schema (cached)."""
        meta = self.get_table_metadata(table, version=version)
        schema_name = meta.get("schema") or meta.get("schema_type")
        schema = self._cached(("schema", schema_name),
                              lambda: self.fc.schema.schema_definition(schema_name))
        return cols.from_schema(table, schema, schema_name)

    def view_columns(self, view: str, version: int | None = None) -> cols.TableColumns:
        return cols.from_view_schema(view, self.get_view_schema(view, version))

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
    record["time_stamp"] = parse_time(record.get("time_stamp"))
    if "expires_on" in record:
        record["expires_on"] = parse_time(record["expires_on"]) or NEVER
    return record


def _fold_resolution(meta: dict) -> dict:
    meta = dict(meta)
    if all(f"voxel_resolution_{a}" in meta for a in "xyz"):
        meta["voxel_resolution"] = [meta.pop(f"voxel_resolution_{a}") for a in "xyz"]
    return meta
