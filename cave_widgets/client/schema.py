"""The schema service: annotation schema types and their JSON-Schema definitions."""

from __future__ import annotations

from .base import ServiceClient
from .errors import NotFoundError


class SchemaClient(ServiceClient):
    service = "schema"

    def __init__(self, framework, server_address: str):
        super().__init__(framework, server_address)
        self._api = None

    @property
    def api_version(self) -> int:
        if self._api is None:
            self._api = self._negotiate_api(f"{self.server_address}/schema/versions", {2}, 2)
        return self._api

    @property
    def _base(self) -> str:
        return f"{self.server_address}/schema/api/v{self.api_version}"

    def get_schemas(self) -> list[str]:
        return self._get_json(f"{self._base}/type")

    def schema_definition(self, schema_type: str) -> dict:
        return self._get_json(f"{self._base}/type/{schema_type}")

    def schema_definition_multi(self, schema_types: list[str]) -> dict | None:
        try:
            return self._post_json(f"{self._base}/types",
                                   params={"schema_names": ",".join(schema_types)})
        except NotFoundError:
            return None  # older schema services lack the bulk route, as caveclient tolerates

    def schema_definition_all(self) -> dict | None:
        try:
            return self._get_json(f"{self._base}/types_all")
        except NotFoundError:
            return None
