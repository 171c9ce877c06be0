"""The JSON state service (`client.state`): neuroglancer states and segment-property files
stored on the global server by id, and the viewer links that open them.

Same API as caveclient's JSONService. Differences, each on purpose:
- errors are the client's typed errors (HTTPError subclasses, as before);
- `ngl_url` follows the client's datastack (its `viewer_site`) until set by hand;
- `build_neuroglancer_url` asks a viewer for its `version.json` once per client, not per link
  (at `{ngl_url}/version.json` without doubling a trailing slash);
- for a state server on plain http, links carry no `middleauth+` prefix: neuroglancer knows
  only `middleauth+https`, so `middleauth+http://...` never opens (on https the links are
  exactly caveclient's);
- `get_state_json` also takes a viewer link (`...?json_url=<url>`, `...#!<url>`) and reads
  the state it points to;
- `upload_state_json(..., state_id=..., timestamp=...)` sends the timestamp (caveclient
  accepts and drops it).
"""

from __future__ import annotations

import json
import numbers
import os
import re
from datetime import datetime
from urllib.parse import parse_qs, unquote, urlsplit

from .base import ServiceClient
from .errors import NotFoundError, QueryValidationError, ServerError

FALLBACK_NGL_URL = "https://neuroglancer.neuvue.io/"
SEUNGLAB_NAMES = ["seunglab"]
SPELUNKER_NAMES = ["spelunker", "mainline", "cave-explorer"]
PROPERTIES_VERSION = "0.4.0"
_FROM_DATASTACK = object()
_ID_AT_END = re.compile(r".*/(\d+)")


def neuroglancer_json_encoder(obj):
    """`json.dumps(..., default=...)` for neuroglancer states, as caveclient's: integers that
    are not Python ints (numpy ints above all) become strings, which is how neuroglancer
    wants segment ids (exact beyond 2**53); numpy floats become floats; arrays, sets and
    pandas Series become lists. Python ints stay numbers."""
    if isinstance(obj, numbers.Integral):
        return str(obj)
    module = type(obj).__module__.split(".")[0]
    if module == "numpy":
        import numpy as np

        if isinstance(obj, np.integer):
            return str(obj)
        if isinstance(obj, np.floating):
            return float(obj)
        if isinstance(obj, np.bool_):
            return bool(obj)
        if isinstance(obj, np.ndarray):
            return list(obj)
    if isinstance(obj, (set, frozenset)):
        return list(obj)
    if module == "pandas" and hasattr(obj, "to_numpy"):
        return list(obj.to_numpy())  # numpy scalars: ids become strings, as from an array
    raise TypeError(f"cannot put {type(obj).__name__} in a neuroglancer state: {obj!r}")


def _encode(document) -> bytes:
    return json.dumps(document, default=neuroglancer_json_encoder).encode()


def state_url_in_link(link: str) -> str | None:
    """The state URL a viewer link points to (`?json_url=<url>`, `#!<url>`,
    `#!middleauth+<url>`), or None if the link holds no state URL."""
    parts = urlsplit(link)
    found = parse_qs(parts.query).get("json_url")
    if found:
        return found[0]
    fragment = unquote(parts.fragment)
    if fragment.startswith("!"):
        target = fragment[1:].removeprefix("middleauth+")
        if re.match(r"^https?://", target):
            return target
    return None


class JSONService(ServiceClient):
    """Neuroglancer states on the global server (NeuroglancerJsonServer)."""

    service = "state"
    api_version = 1

    def __init__(self, ctx, server_address: str, version_url: str | None = None):
        super().__init__(ctx, server_address, version_url)
        self._ngl_url = _FROM_DATASTACK

    @property
    def _base(self) -> str:
        return f"{self.server_address}/nglstate/api/v1"

    @property
    def state_service_endpoint(self) -> str:
        """The URL states are posted to."""
        return f"{self._base}/post"

    @property
    def ngl_url(self) -> str | None:
        """The default viewer: the datastack's `viewer_site` (followed when the client's
        datastack changes) until set by hand; None for a client without a datastack."""
        if self._ngl_url is not _FROM_DATASTACK:
            return self._ngl_url
        if not self.ctx.datastack_name:
            return None
        return self.ctx.datastack_info().get("viewer_site")

    @ngl_url.setter
    def ngl_url(self, value: str | None) -> None:
        self._ngl_url = value

    # --- reading ---------------------------------------------------------------------------

    def get_neuroglancer_info(self, ngl_url: str | None = None) -> dict:
        """The `version.json` of a neuroglancer deployment, or {} if it has none (404)."""
        ngl_url = ngl_url if ngl_url is not None else self.ngl_url
        if ngl_url is None:
            raise QueryValidationError("no viewer: pass ngl_url=... or set client.state.ngl_url")
        try:
            return self._get_json(f"{ngl_url.rstrip('/')}/version.json")
        except NotFoundError:
            return {}

    def get_state_json(self, state_id: int | str) -> dict:
        """A state by id, by URL (fetched with this client's session), or by a viewer link
        that points to a state URL."""
        try:
            url = f"{self._base}/{int(state_id)}"
        except (TypeError, ValueError):
            url = state_url_in_link(state_id) or state_id
            url = url.removeprefix("middleauth+")
        return self._get_json(url)

    def get_property_json(self, state_id: int) -> dict:
        """A segment-properties document by id."""
        self._require_server(PROPERTIES_VERSION, "get_property_json")
        return self._get_json(f"{self._base}/property/{int(state_id)}/info")

    # --- writing ---------------------------------------------------------------------------

    def upload_state_json(self, json_state: dict, state_id: int | None = None,
                          timestamp: datetime | float | None = None) -> int:
        """Store a state; returns its id. An explicit `state_id` (with an optional
        `timestamp`, a datetime or epoch seconds) needs an admin."""
        url, params = self.state_service_endpoint, None
        if state_id is not None:
            url = f"{url}/{int(state_id)}"
            if timestamp is not None:
                seconds = timestamp.timestamp() if isinstance(timestamp, datetime) else timestamp
                params = {"timestamp": float(seconds)}
        return self._post_document(url, _encode(json_state), params)

    def upload_property_json(self, property_json: dict, state_id: int | None = None,
                             max_size: int | None = 2_500_000) -> int:
        """Store a segment-properties document; returns its id. Refused before sending when
        its JSON is over `max_size` bytes (None: no limit)."""
        self._require_server(PROPERTIES_VERSION, "upload_property_json")
        data = _encode(property_json)
        if max_size is not None and len(data) > max_size:
            raise ValueError(
                f"Data size {len(data)} exceeds maximum size of {max_size} bytes. Please "
                "reduce the size of the data or increase the `max_size` if your state server "
                "can handle larger inputs.")
        url = f"{self._base}/property/post"
        if state_id is not None:
            url = f"{url}/{int(state_id)}"
        return self._post_document(url, data)

    def _post_document(self, url: str, data: bytes, params: dict | None = None) -> int:
        response = self._request("POST", url, data=data, params=params,
                                 headers={"Content-Type": "application/json"})
        # The answer is the new document's URL (a JSON string); the id is its last number.
        found = _ID_AT_END.match(response.text.strip().strip('"'))
        if found is None:
            raise ServerError(f"the state service answered {response.text[:200]!r}, which "
                              "holds no state id", url=url)
        return int(found.group(1))

    @staticmethod
    def save_state_json_local(json_state: dict, filename: str, overwrite: bool = False) -> None:
        """Write a state to a local JSON file, encoded as for uploads."""
        if os.path.exists(filename) and not overwrite:
            raise ValueError("File exists and overwrite is False")
        with open(filename, "w") as f:
            json.dump(json_state, f, default=neuroglancer_json_encoder)

    # --- links ------------------------------------------------------------------------------

    def build_neuroglancer_url(self, state_id, ngl_url: str | None = None,
                               target_site: str | None = None, static_url: bool = False,
                               format_properties: bool = False) -> str:
        """A link that opens a stored state in a viewer (or, with format_properties=True, the
        neuroglancer source of a stored segment-properties file).

        The viewer is `ngl_url`, else this client's `ngl_url`, else caveclient's fallback
        deployment. Without `target_site` the viewer's `version.json` decides: one that has
        it gets a spelunker-style link (`#!`), one that has none a `?json_url=` link.
        `static_url=True` takes `state_id` as the state's URL."""
        ngl_url = ngl_url or self.ngl_url or FALLBACK_NGL_URL
        if target_site is None:
            info = self._cached(("neuroglancer_info", ngl_url.rstrip("/")),
                                lambda: self.get_neuroglancer_info(ngl_url))
            target_site = SPELUNKER_NAMES[0] if info else SEUNGLAB_NAMES[0]
        slash = "" if ngl_url.endswith("/") else "/"
        if target_site in SEUNGLAB_NAMES:
            separator, auth = f"{slash}?json_url=", ""
        elif target_site in SPELUNKER_NAMES:
            separator, auth = f"{slash}#!", self._middleauth
        else:
            raise ValueError("A specified target_site must be one of 'seunglab', "
                             "'cave-explorer' or 'mainline'")
        if format_properties:
            return f"precomputed://{self._middleauth}{self._base}/property/{state_id}"
        if static_url:
            return f"{ngl_url}{separator}{state_id}"
        return f"{ngl_url}{separator}{auth}{self._base}/{state_id}"

    @property
    def _middleauth(self) -> str:
        # Neuroglancer has middleauth+https only: on http the prefix would make the link fail.
        return "middleauth+" if self.server_address.startswith("https://") else ""
