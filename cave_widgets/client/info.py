"""The info service: datastacks, aligned volumes and the sources and settings of each."""

from __future__ import annotations

from urllib.parse import urlsplit

from . import http
from .base import ServiceClient
from .errors import GlobalClientError


class InfoServiceClient(ServiceClient):
    service = "info"

    def __init__(self, ctx, server_address: str, version_url: str | None = None):
        super().__init__(ctx, server_address, version_url)
        self._base = f"{self.server_address}/info/api/v2"

    @property
    def datastack_name(self) -> str | None:
        return self.ctx.datastack_name

    @property
    def info_cache(self) -> dict:
        """Datastack records by name, shared with the client (and its info_cache=...)."""
        return self.ctx.info_cache

    def _datastack(self, datastack_name: str | None) -> str:
        name = datastack_name or self.datastack_name
        if not name:
            raise GlobalClientError(
                "No datastack is set: pass datastack_name=..., or create the client with one."
            )
        return name

    def get_datastacks(self) -> list[str]:
        return self._get_json(f"{self._base}/datastacks")

    def get_datastack_info(self, datastack_name: str | None = None, use_stored: bool = True,
                           image_mirror: str | None = None) -> dict:
        name = self._datastack(datastack_name)
        if use_stored and image_mirror is None and name in self.info_cache:
            return self.info_cache[name]
        params = {"image_source_name": image_mirror} if image_mirror else None
        record = self._get_json(f"{self._base}/datastack/full/{name}", kind="datastack",
                                params=params)
        self.info_cache[name] = record
        return record

    def refresh_stored_data(self) -> None:
        for name in list(self.info_cache):
            self.get_datastack_info(name, use_stored=False)

    def get_aligned_volumes(self) -> list[str]:
        return self._get_json(f"{self._base}/aligned_volume")

    def get_aligned_volume_info(self, datastack_name: str | None = None, use_stored: bool = True,
                                image_mirror: str | None = None) -> dict:
        if image_mirror:
            mirrors = {m["name"]: m for m in self.get_image_mirrors(datastack_name)}
            if image_mirror not in mirrors:
                raise ValueError(f"no image mirror {image_mirror!r}; known: {sorted(mirrors)}")
            return mirrors[image_mirror]
        return self.get_datastack_info(datastack_name, use_stored)["aligned_volume"]

    def get_aligned_volume_info_by_id(self, aligned_volume_id: int | None = None,
                                      use_stored: bool = True) -> dict:
        if aligned_volume_id is None:
            aligned_volume_id = self.get_aligned_volume_info()["id"]
        return self._get_json(f"{self._base}/aligned_volume/id/{int(aligned_volume_id)}")

    def get_datastacks_by_aligned_volume(self, aligned_volume: str | None = None) -> list[str]:
        if aligned_volume is None:
            aligned_volume = self.get_aligned_volume_info()["name"]
        return self._get_json(f"{self._base}/aligned_volume/{aligned_volume}/datastacks")

    def get_image_mirrors(self, datastack_name: str | None = None) -> list[dict]:
        name = self._datastack(datastack_name)
        return self._get_json(f"{self._base}/datastack/{name}/image_sources", kind="datastack")

    def get_image_mirror_names(self, datastack_name: str | None = None) -> list[str]:
        return [m["name"] for m in self.get_image_mirrors(datastack_name)]

    # --- fields of the datastack record ------------------------------------------------------

    def _field(self, key: str, datastack_name: str | None, use_stored: bool):
        return self.get_datastack_info(datastack_name, use_stored).get(key)

    def local_server(self, datastack_name: str | None = None, use_stored: bool = True) -> str:
        return self._field("local_server", datastack_name, use_stored)

    def annotation_endpoint(self, datastack_name: str | None = None,
                            use_stored: bool = True) -> str:
        return self.local_server(datastack_name, use_stored) + "/annotation"

    def image_source(self, datastack_name: str | None = None, use_stored: bool = True,
                     format_for: str = "raw", image_mirror: str | None = None) -> str:
        return self.get_aligned_volume_info(datastack_name, use_stored, image_mirror)[
            "image_source"]

    def segmentation_source(self, datastack_name: str | None = None, format_for: str = "raw",
                            use_stored: bool = True) -> str:
        return self._field("segmentation_source", datastack_name, use_stored)

    def synapse_segmentation_source(self, datastack_name: str | None = None,
                                    use_stored: bool = True, format_for: str = "raw") -> str | None:
        return self._field("synapse_segmentation_source", datastack_name, use_stored)

    def viewer_site(self, datastack_name: str | None = None, use_stored: bool = True) -> str | None:
        return self._field("viewer_site", datastack_name, use_stored)

    def viewer_resolution(self, datastack_name: str | None = None, use_stored: bool = True):
        import numpy as np

        record = self.get_datastack_info(datastack_name, use_stored)
        return np.array([record[f"viewer_resolution_{a}"] for a in "xyz"])

    # --- CloudVolume ---------------------------------------------------------------------------

    def image_cloudvolume(self, image_mirror: str | None = None, **kwargs):
        """A cloudvolume.CloudVolume of the image source (cloud-volume must be installed);
        as caveclient: fill_missing=True, bounded=False, use_https=True unless overridden."""
        source = self.image_source(image_mirror=image_mirror)
        return self._cloudvolume(cloudvolume_path(source), True, kwargs)

    def segmentation_cloudvolume(self, use_client_secret: bool = True, **kwargs):
        """A cloudvolume.CloudVolume of the segmentation (cloud-volume must be installed). A
        graphene source gets the client's token, if its server is one of the client's."""
        return self._cloudvolume(cloudvolume_path(self.segmentation_source()),
                                 use_client_secret, kwargs)

    def _cloudvolume(self, path: str | None, use_client_secret: bool, kwargs: dict):
        from .optional import cloudvolume

        if path is None:
            raise ValueError("this datastack's source is not one CloudVolume can open")
        secrets = None
        if path.startswith("graphene://") and use_client_secret:
            auth = self.session.auth
            token = (auth.token_for(path[len("graphene://"):])
                     if isinstance(auth, http.BearerAuth) else None)
            secrets = {"token": token} if token else None
        options = dict(use_https=True, bounded=False, fill_missing=True)
        options.update(kwargs)
        return cloudvolume().CloudVolume(path, secrets=secrets, **options)


def cloudvolume_path(source: str | None) -> str | None:
    """A datastack source as CloudVolume opens it: graphene and precomputed paths as they
    are, a bare bucket or web address as precomputed (gs:// over public https)."""
    if not source:
        return None
    scheme = urlsplit(source).scheme
    if scheme in ("graphene", "precomputed"):
        return source
    if scheme == "gs":
        return f"precomputed://https://storage.googleapis.com/{source[len('gs://'):]}"
    if scheme in ("http", "https"):
        return f"precomputed://{source}"
    return None
