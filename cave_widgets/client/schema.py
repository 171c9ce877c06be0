"""The schema service: annotation schema types and their JSON-Schema definitions."""

from __future__ import annotations

from .base import ServiceClient
from .errors import NotFoundError


class SchemaClient(ServiceClient):
    service = "schema"

    # The only schema API this client speaks; asking the server which ones it offers could
    # not change the answer, so it is not asked (one round trip saved per client).
    api_version = 2

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
