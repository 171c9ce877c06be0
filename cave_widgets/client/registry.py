"""The one table of services a CAVEclient offers.

Each row names a `client.<name>` property: the class that implements it (imported on first
use, so `import cave_widgets` stays cheap), whether it needs a datastack, which server it
talks to, and where that server says its software version. The CAVEclient builds its lazy
properties and its resets (on a datastack, server or auth change) from this table alone;
adding a service is one module with one class and one row here (see CONTRIBUTING.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # the client property: client.<name>
    implementation: str  # "module:Class" inside cave_widgets.client
    needs_datastack: bool
    server: str  # "global" (the server_address) or "local" (the datastack's local server)
    version_path: str | None = None  # GET {server}{version_path} → "x.y.z"; None: unknown

    def load(self) -> type:
        module, _, cls = self.implementation.partition(":")
        return getattr(import_module(f"cave_widgets.client.{module}"), cls)


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("info", "info:InfoServiceClient", False, "global", "/info/version"),
    ServiceSpec("schema", "schema:SchemaClient", False, "global"),
    ServiceSpec("materialize", "materialize:MaterializationClient", True, "local",
                "/materialize/version"),
    ServiceSpec("chunkedgraph", "chunkedgraph:ChunkedGraphClient", True, "local",
                "/segmentation/api/version"),
    ServiceSpec("l2cache", "l2cache:L2CacheClient", True, "local"),
    ServiceSpec("annotation", "annotation:AnnotationClient", True, "local"),
    ServiceSpec("skeleton", "skeleton:SkeletonClient", True, "local",
                "/skeletoncache/api/version"),
    ServiceSpec("state", "state:JSONService", False, "global", "/nglstate/api/v1/version"),
)

BY_NAME = {spec.name: spec for spec in SERVICES}
