"""The skeleton service (SkeletonService v1), as caveclient 8.2.1's SkeletonClient offers it:
one skeleton (dict of numpy arrays, or an SWC DataFrame), bulk retrieval (dicts of plain
lists, keys as strings), cache listings and existence (keys as ints, a single answer as a
bare bool), asynchronous generation and the refusal list.

Root ids are uint64 from end to end: a float, bool, string or negative id is refused with
QueryValidationError before anything is sent. Features are gated on the server's version as
caveclient gates them (reference skeleton-state-neuroglancer.md §2.4). Unlike caveclient, no
cloud-volume is needed: the server itself answers 400 for an id that is not a root.

Dict skeletons are asked for in Arrow first (an Accept header): the embedded server answers
our client so (wire/skeleton_rows.py: no gzip or JSON to write and parse), a real service
ignores the header and answers JSON; both decode to the same values and types. Every answer
is proven whole before it is read (complete.py; an Arrow one also holds the rows it states).
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import warnings
import zlib
from datetime import datetime, timedelta, timezone
from numbers import Integral
from urllib.parse import quote

import numpy as np

from ..wire import skeleton_rows
from . import complete, errors, http
from .base import ServiceClient
from .batching import in_batches, send_concurrently
from .l2cache import level2_ids
from .optional import _require

log = logging.getLogger(__name__)

MAX_SKELETONS_EXISTS_QUERY_SIZE = 1000
MAX_BULK_SYNCHRONOUS_SKELETONS = 10
MAX_BULK_CACHED_SKELETONS = 500
CACHED_SKELETONS_BATCH = 25  # ids per request of fetch_skeletons, several requests at once
MAX_BULK_ASYNCHRONOUS_SKELETONS = 10000
BULK_SKELETONS_BATCH_SIZE = 1000
SERVER_KEY = "skeleton_server_address"
SWC_COLUMNS = ["id", "type", "x", "y", "z", "radius", "parent"]
ARRAY_KEYS = ("edges", "mesh_to_skel_map", "vertices", "lvl2_ids", "radius", "compartment")


def _accept(output_format: str) -> dict:
    """Headers of a skeleton request: dict skeletons are asked for in Arrow first."""
    return {"Accept": skeleton_rows.ACCEPT} if output_format == "dict" else {}


class NoL2CacheException(Exception):
    def __init__(self, value=""):
        super().__init__(f"No L2Cache found. {value}")


def root_ids_of(root_ids, what: str = "root_ids") -> np.ndarray:
    """uint64 root ids, checked as level-2 ids are (no floats, bools, negatives...)."""
    return level2_ids(root_ids, what)


def root_id_of(root_id, what: str = "root_id") -> int:
    if (not isinstance(root_id, (Integral, np.integer))
            or isinstance(root_id, (bool, np.bool_)) or not 0 <= root_id < 2**64):
        raise errors.QueryValidationError(
            f"{what} is one unsigned 64-bit root id (an integer); got {root_id!r} "
            f"({type(root_id).__name__})")
    return int(root_id)


def _whole_arrow(response) -> None:
    """An Arrow answer is proven whole by its end-of-stream marker and by holding the rows
    its schema states (read once, kept as response.cave_arrow)."""
    complete.arrow_stream(response)
    why = skeleton_rows.missing_rows(response.cave_arrow)
    if why is not None:
        raise errors.IncompleteResponseError(f"{response.url.split('?')[0]}: {why}",
                                             url=response.url.split("?")[0])


def _whole_skeleton(response) -> None:
    """get_skeleton's answer: Arrow (as above), or gzip, proven whole by its length or, with
    none, by gzip's own end (its trailer) as it is read."""
    if complete.is_arrow(response):
        _whole_arrow(response)
    elif not complete.length_framed(response):
        try:
            # kept, so the answer is decompressed once (_gunzipped)
            response.cave_gunzipped = gzip.decompress(response.content)
        except (EOFError, OSError, zlib.error):
            response.cave_gunzipped = b""
        if not response.cave_gunzipped:
            raise errors.IncompleteResponseError(
                f"{response.url.split('?')[0]}: the gzip answer is cut short (or not gzip)",
                url=response.url.split("?")[0])


def _gunzipped(response) -> str:
    """The text of a gzip answer (decompressed once: _whole_skeleton may have done it)."""
    data = getattr(response, "cave_gunzipped", None)
    return (data if data is not None else gzip.decompress(response.content)).decode("utf-8")


def _whole_bulk(response) -> None:
    """A bulk answer: Arrow (as above) or a JSON document."""
    if complete.is_arrow(response):
        _whole_arrow(response)
    else:
        complete.json_document(response)


def _one_skeleton(response) -> dict:
    """The skeleton of a whole Arrow get_skeleton answer: one row, a skeleton."""
    table = response.cave_arrow
    if table.num_rows != 1 or table.column(skeleton_rows.PROBLEM)[0].is_valid:
        raise errors.ServerError(f"{response.url.split('?')[0]}: expected one skeleton, got "
                                 f"{table.num_rows} rows",
                                 status=response.status_code, url=response.url.split("?")[0])
    return skeleton_rows.as_arrays(table)


def _swc_frame(text: str):
    import pandas as pd

    return pd.read_csv(io.StringIO(text), sep=" ", names=SWC_COLUMNS)


class SkeletonClient(ServiceClient):
    """client.skeleton: skeletons of the datastack's roots."""

    service = "skeleton"

    def __init__(self, ctx, server_address: str, version_url: str | None = None):
        super().__init__(ctx, server_address, version_url)
        self._api = f"{self.server_address}/skeletoncache/api"
        self._token: dict | None = None

    # --- helpers ---------------------------------------------------------------------------

    def _v1(self, datastack_name: str | None) -> str:
        ds = datastack_name or self.ctx.datastack_name
        return f"{self._api}/v1/{http.path_segment(ds, 'a datastack name')}"

    def _check_version(self, skeleton_version) -> int:
        if (not isinstance(skeleton_version, (Integral, np.integer))
                or isinstance(skeleton_version, bool)):
            raise errors.QueryValidationError(
                f"skeleton_version is an integer; got {skeleton_version!r}")
        valid = self.get_versions() or []
        if skeleton_version not in valid:
            raise ValueError(f"Unknown skeleton version: {skeleton_version}. Valid options: "
                             f"{valid}")
        return int(skeleton_version)

    def _check_l2cache(self) -> None:
        if not self.ctx.service("l2cache").has_cache():
            raise NoL2CacheException("SkeletonClient requires an L2Cache.")

    @staticmethod
    def _check_format(output_format: str) -> None:
        if output_format not in ("dict", "swc"):
            raise ValueError(f"Unknown output format: {output_format}. Valid options: "
                             "['dict', 'swc']")

    # --- caveclient's static helpers -------------------------------------------------------

    @staticmethod
    def compressStringToBytes(inputString: str) -> bytes:
        return gzip.compress(inputString.encode("utf-8"))

    @staticmethod
    def compressDictToBytes(inputDict: dict, remove_spaces: bool = True) -> bytes:
        text = json.dumps(inputDict)
        if remove_spaces:
            text = text.replace(" ", "")
        return SkeletonClient.compressStringToBytes(text)

    @staticmethod
    def decompressBytesToString(inputBytes: bytes) -> str:
        return gzip.decompress(inputBytes).decode("utf-8")

    @staticmethod
    def decompressBytesToDict(inputBytes: bytes) -> dict:
        return json.loads(SkeletonClient.decompressBytesToString(inputBytes))

    # --- versions --------------------------------------------------------------------------

    def get_version(self):
        """The service's software version (a packaging Version), or None."""
        return self.server_version

    def get_versions(self) -> list | None:
        """The skeleton versions the service offers, e.g. [-1, 0, 1, 2, 3, 4] (asked once)."""
        def fetch():
            try:
                return self._get_json(f"{self._api}/versions")
            except errors.NotFoundError:
                return None
        return self._cached("versions", fetch)

    # --- listings --------------------------------------------------------------------------

    def get_refusal_list(self, datastack_name: str | None = None, log_warning: bool = True,
                         verbose_level: int = 0):
        """The roots the service refuses to skeletonize: DataFrame DATASTACK_NAME, ROOT_ID
        (the service's CSV header row is dropped, which caveclient keeps as a data row)."""
        import pandas as pd

        self._require_server("0.21.0", "get_refusal_list")
        r = self._request("GET", f"{self._v1(datastack_name)}/precomputed/skeleton/"
                          "get_refusal_list", params={"verbose_level": verbose_level},
                          log_warning=log_warning)
        text = gzip.decompress(r.content).decode()
        df = pd.read_csv(io.StringIO(text), sep=",", names=["DATASTACK_NAME", "ROOT_ID"],
                         dtype=str)
        df = df[~((df.DATASTACK_NAME == "DATASTACK_NAME") & (df.ROOT_ID == "ROOT_ID"))]
        df = df.reset_index(drop=True)
        df["ROOT_ID"] = np.array([int(x) for x in df.ROOT_ID], dtype=np.uint64)
        return df

    def get_cache_contents(self, datastack_name: str | None = None, skeleton_version: int = 4,
                           root_id_prefixes=0, limit: int = 0, log_warning: bool = True,
                           verbose_level: int = 0) -> dict:
        """{"num_found": n, "files": [cache object names]} of skeletons already made whose
        root ids start with one of `root_id_prefixes` (0: any); `limit` 0 means no limit."""
        self._require_server("0.5.9", "get_cache_contents")
        v = self._check_version(skeleton_version)
        if isinstance(root_id_prefixes, (list, tuple, np.ndarray)):
            prefixes = ",".join(str(int(p) if not isinstance(p, str) else p)
                                for p in root_id_prefixes)
        else:
            prefixes = str(root_id_prefixes)
        url = (f"{self._v1(datastack_name)}/precomputed/skeleton/query_cache/{v}/"
               f"{quote(prefixes, safe=',')}/{int(limit)}")
        return self._get_json(url, params={"verbose_level": verbose_level},
                              log_warning=log_warning)

    def skeletons_exist(self, datastack_name: str | None = None, skeleton_version: int = 4,
                        root_ids=0, log_warning: bool = True, verbose_level: int = 0):
        """{root id (int): whether its skeleton is made}; one id gives a bare bool. At most
        1000 ids (more are dropped with a warning)."""
        self._require_server("0.5.10", "skeletons_exist")
        v = self._check_version(skeleton_version)
        ids = root_ids_of(root_ids).tolist()
        if len(ids) > MAX_SKELETONS_EXISTS_QUERY_SIZE:
            warnings.warn(f"skeletons_exist checks at most {MAX_SKELETONS_EXISTS_QUERY_SIZE} "
                          f"ids; dropping the other {len(ids) - MAX_SKELETONS_EXISTS_QUERY_SIZE}",
                          stacklevel=2)
            ids = ids[:MAX_SKELETONS_EXISTS_QUERY_SIZE]
        url = f"{self._v1(datastack_name)}/precomputed/skeleton/exists"
        result: dict = {}
        for i in range(0, len(ids), BULK_SKELETONS_BATCH_SIZE):
            batch = ids[i:i + BULK_SKELETONS_BATCH_SIZE]
            answer = self._post_json(url, {"root_ids": batch, "skeleton_version": v,
                                           "verbose_level": verbose_level},
                                     log_warning=log_warning)
            if isinstance(answer, bool) and len(batch) == 1:
                result[batch[0]] = answer
            elif isinstance(answer, dict):
                result.update({int(k): bool(val) for k, val in answer.items()})
            else:
                raise ValueError("Unexpected response type")
        if len(result) == 1:
            return next(iter(result.values()))
        return result

    def get_precomputed_skeleton_info(self, skvn: int = 0,
                                      datastack_name: str | None = None) -> dict:
        """The neuroglancer skeleton `info` of skeleton version `skvn` (asked once an hour)."""
        self._check_l2cache()
        url = f"{self._v1(datastack_name)}/precomputed/skeleton/{int(skvn)}/info"
        return self._cached(("info", url), lambda: self._get_json(url), ttl=3600)

    # --- skeletons -------------------------------------------------------------------------

    def get_skeleton(self, root_id, datastack_name: str | None = None,
                     skeleton_version: int = 4, output_format: str = "dict",
                     log_warning: bool = True, verbose_level: int = 0):
        """One root's skeleton: "dict" gives numpy arrays (vertices in nm, edges
        [child, parent], radius, compartment, mesh_to_skel_map, lvl2_ids) with `meta` and
        `root`; "swc" gives a DataFrame id,type,x,y,z,radius,parent (µm). A non-root id is
        answered 400 (InvalidRequestError, a ValueError)."""
        rid = root_id_of(root_id)
        self._check_l2cache()
        self._check_format(output_format)
        v = self._check_version(skeleton_version)
        self._require_server("0.13.7", "get_skeleton")
        fmt = "flatdict" if output_format == "dict" else "swccompressed"
        url = f"{self._v1(datastack_name)}/async/get_skeleton/{v}/{rid}/{fmt}"
        # dict: our embedded server answers in Arrow (wire/skeleton_rows.py), a real
        # service in gzip(JSON); both give the same skeleton.
        r = self._request("GET", url, params={"verbose_level": verbose_level},
                          log_warning=log_warning, headers=_accept(output_format),
                          complete=_whole_skeleton)
        if output_format == "swc":
            return _swc_frame(_gunzipped(r))
        if complete.is_arrow(r):
            return _one_skeleton(r)
        sk = json.loads(_gunzipped(r))
        for key in ARRAY_KEYS:
            if key in sk:
                sk[key] = np.array(sk[key], dtype=np.uint64 if key == "lvl2_ids" else None)
        return sk

    def get_bulk_skeletons(self, root_ids, datastack_name: str | None = None,
                           skeleton_version: int = 4, output_format: str = "dict",
                           generate_missing_skeletons: bool = False, log_warning: bool = True,
                           verbose_level: int = 0) -> dict:
        """{"<root id>": skeleton} for up to 10 roots (dicts of plain lists, or SWC
        DataFrames); ids that are not roots are left out with a warning."""
        self._require_server("0.5.9", "get_bulk_skeletons")
        ids = root_ids_of(root_ids).tolist()
        self._check_l2cache()
        self._check_format(output_format)
        v = self._check_version(skeleton_version)
        if not ids:
            return {}
        if len(ids) > MAX_BULK_SYNCHRONOUS_SKELETONS:
            warnings.warn(f"get_bulk_skeletons returns at most {MAX_BULK_SYNCHRONOUS_SKELETONS}"
                          " skeletons; use fetch_skeletons for more", stacklevel=2)
            ids = ids[:MAX_BULK_SYNCHRONOUS_SKELETONS]
        fmt = "flatdict" if output_format == "dict" else "swc"
        url = (f"{self._v1(datastack_name)}/bulk/get_skeletons/{v}/{fmt}/"
               f"{bool(generate_missing_skeletons)}/{','.join(map(str, ids))}")
        r = self._request("GET", url, params={"verbose_level": verbose_level},
                          log_warning=log_warning, headers=_accept(output_format),
                          complete=_whole_bulk)
        return self._decode_bulk(r, output_format)

    def _decode_bulk(self, r, output_format: str) -> dict:
        """{"<rid>": skeleton} of a bulk answer: JSON {"<rid>": hex value or marker}, or the
        same rows in Arrow (already decoded: the values are the skeletons)."""
        arrow = complete.is_arrow(r)
        answer = skeleton_rows.as_plain(r.cave_arrow) if arrow else http.json_of(r)
        out = {}
        for rid, value in answer.items():
            if isinstance(value, str) and value in ("async", "invalid_rid",
                                                    "invalid_layer_rid"):
                if value != "async":
                    warnings.warn(f"{rid} is not a valid root id ({value}); skipped",
                                  stacklevel=3)
                continue
            if arrow:
                out[rid] = value
                continue
            try:
                raw = bytes.fromhex(value)
                out[rid] = (_swc_frame(raw.decode()) if output_format == "swc"
                            else self.decompressBytesToDict(raw))
            except Exception as exc:  # as caveclient: log and skip the one skeleton
                log.error("could not decode the skeleton of %s: %s", rid, exc)
        return out

    def generate_bulk_skeletons_async(self, root_ids, datastack_name: str | None = None,
                                      skeleton_version: int | None = None,
                                      log_warning: bool = True, verbose_level: int = 0):
        """Ask the service to make skeletons of up to 10000 roots; returns its estimate of
        the seconds it needs (this server makes them before it answers)."""
        self._require_server("0.8.0", "generate_bulk_skeletons_async")
        self._check_l2cache()
        if skeleton_version is None:
            warnings.warn("skeleton_version is not set; using 4", stacklevel=2)
            skeleton_version = 4
        v = self._check_version(skeleton_version)
        if not isinstance(root_ids, (list, np.ndarray)):
            raise ValueError("root_ids must be a list or numpy array")
        ids = root_ids_of(root_ids).tolist()
        if not ids:
            return {}
        if len(ids) > MAX_BULK_ASYNCHRONOUS_SKELETONS:
            warnings.warn(f"at most {MAX_BULK_ASYNCHRONOUS_SKELETONS} ids; dropping the rest",
                          stacklevel=2)
            ids = ids[:MAX_BULK_ASYNCHRONOUS_SKELETONS]
        url = f"{self._v1(datastack_name)}/bulk/gen_skeletons"
        total = 0.0
        for i in range(0, len(ids), BULK_SKELETONS_BATCH_SIZE):
            r = self._request("POST", url, json={"root_ids": ids[i:i + BULK_SKELETONS_BATCH_SIZE],
                                                 "skeleton_version": v,
                                                 "verbose_level": verbose_level},
                              log_warning=log_warning)
            total += float(r.text)
        return total

    def fetch_skeletons(self, root_ids, datastack_name: str | None = None,
                        skeleton_version: int = 4, output_format: str = "dict",
                        method: str = "server", generate_missing_skeletons: bool = False,
                        verbose_level: int = 0) -> dict:
        """{"<root id>": skeleton} of the roots whose skeletons are already made (up to 500);
        the others are missing (and made, with `generate_missing_skeletons`). method="gcs"
        reads H5 files from the service's bucket: it needs h5py (cave_widgets[h5]) and a
        service with a bucket."""
        self._require_server("0.23.9", "fetch_skeletons")
        if output_format not in ("dict", "swc"):
            raise ValueError(f"Unknown output format: {output_format}. Valid options: "
                             "['dict', 'swc']")
        if method not in ("server", "gcs"):
            raise ValueError(f"Unknown method: {method}. Valid options: ['server', 'gcs']")
        if method == "gcs" and output_format == "swc":
            raise ValueError("method='gcs' returns H5 skeletons: use output_format='dict'")
        v = self._check_version(skeleton_version)
        ids = root_ids_of(root_ids).tolist()
        if method == "gcs":
            return self._fetch_gcs(ids, datastack_name, v, generate_missing_skeletons,
                                   verbose_level)
        if len(ids) > MAX_BULK_CACHED_SKELETONS:
            warnings.warn(f"fetch_skeletons returns at most {MAX_BULK_CACHED_SKELETONS} "
                          "skeletons; dropping the rest", stacklevel=2)
            ids = ids[:MAX_BULK_CACHED_SKELETONS]
        if not ids:
            return {}
        fmt = "flatdict" if output_format == "dict" else "swccompressed"
        url = f"{self._v1(datastack_name)}/bulk/get_cached_skeletons/{v}/{fmt}"

        def fetch(batch: list) -> dict:
            # A POST that only reads: an answer cut short is asked for again.
            r = self._request("POST", url, json={
                "root_ids": batch, "generate_missing": bool(generate_missing_skeletons),
                "verbose_level": verbose_level}, headers=_accept(output_format),
                complete=_whole_bulk, idempotent=True)
            return self._decode_bulk(r, output_format)

        # Batches in flight together: the service encodes one while this decodes another.
        out: dict = {}
        for part in send_concurrently(fetch, in_batches(ids, CACHED_SKELETONS_BATCH),
                                      "skeletons"):
            out.update(part)
        return out

    def _fetch_gcs(self, ids, datastack_name, v, generate_missing, verbose_level) -> dict:
        h5py = _require("h5py", "fetch_skeletons(method='gcs')", "h5")
        token = self._token
        now = datetime.now(timezone.utc)
        if token is None or token["expiry"] - timedelta(minutes=5) < now:
            body = self._post_json(f"{self._v1(datastack_name)}/bulk/get_skeleton_token/{v}",
                                   {"verbose_level": verbose_level})
            expiry = datetime.fromisoformat(str(body["expiry"]).replace("Z", "+00:00"))
            token = self._token = dict(body, expiry=expiry)
        out, missing = {}, []
        for rid in ids:
            path = token["path_template"].replace("{rid}", str(rid))
            r = self.session.get(
                f"https://storage.googleapis.com/download/storage/v1/b/{token['bucket']}/o/"
                f"{quote(path, safe='')}", params={"alt": "media"},
                headers={"Authorization": f"Bearer {token['token']}"})
            if r.status_code == 404:
                missing.append(rid)
                continue
            http.check(r)
            raw = r.content
            if raw[:2] == b"\x1f\x8b":
                raw = gzip.decompress(raw)
            with h5py.File(io.BytesIO(raw), "r") as f:
                sk = {k: np.array(f[k]) for k in ("vertices", "edges", "mesh_to_skel_map",
                                                 "lvl2_ids") if k in f}
                for k in f.get("vertex_properties", {}):
                    sk[k] = np.array(json.loads(f["vertex_properties"][k][()]))
                sk["meta"] = json.loads(f["meta"][()])
            out[str(rid)] = sk
        if missing and generate_missing:
            self.generate_bulk_skeletons_async(missing, datastack_name, v)
        return out
