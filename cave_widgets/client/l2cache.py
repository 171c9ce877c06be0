"""The level-2 cache (PCGL2Cache v1): per level-2 node attributes (volume, area, thickness,
a representative point, principal axes), as caveclient 8.2.1's L2CacheClient offers them.

Level-2 ids are uint64 from end to end: they are checked before anything is sent (an id that
is a float, a bool, negative or ≥ 2**64 is refused), written into the body as exact decimal
integers and never pass through float64; the answer's keys stay the exact decimal strings
the server sent. Long id lists go in batches, several at once over the client's one session;
the merged answer has the order a single request would have (the service sorts its keys).
"""

from __future__ import annotations

import warnings
from numbers import Integral
from urllib.parse import urlsplit

import numpy as np

from . import complete, errors, http
from .base import ServiceClient
from .batching import in_batches, send_concurrently

#: ids per request; the real service handles a few thousand per call comfortably
BATCH_SIZE = 10_000
#: requests in flight at once for one call (the session's pool holds 10 connections)

U64 = 2**64
#: The embedded server answers our client in Arrow (no JSON to write or parse: the bulk of a
#: large call); PCGL2Cache ignores the header and answers JSON, read as before.
ARROW = "application/vnd.apache.arrow.stream"
ACCEPT = f"{ARROW}, application/json;q=0.9"

#: how get_l2data_table splits list-valued attributes into columns (caveclient's names)
SPLIT_COLUMNS = {
    "rep_coord_nm": ["rep_coord_nm_x", "rep_coord_nm_y", "rep_coord_nm_z"],
    "pca": [f"pca_{i}_{a}" for i in range(3) for a in "xyz"],
    "pca_val": ["pca_val_0", "pca_val_1", "pca_val_2"],
    "chunk_intersect_count": [f"chunk_intersect_count_{a}_{side}"
                              for side in ("bottom", "top") for a in "xyz"],
}


def level2_ids(l2_ids, what: str = "l2_ids") -> np.ndarray:
    """`l2_ids` (an int, a list/tuple, a numpy array or a pandas Series/Index) as uint64,
    checked without ever going through float64. Raises QueryValidationError, naming the
    first bad value, for floats, bools, strings, negatives and values ≥ 2**64."""
    if isinstance(l2_ids, (Integral, np.integer)) and not isinstance(l2_ids, (bool, np.bool_)):
        l2_ids = [l2_ids]
    if hasattr(l2_ids, "to_numpy") and not isinstance(l2_ids, np.ndarray):
        l2_ids = l2_ids.to_numpy()  # pandas Series / Index
    if isinstance(l2_ids, np.ndarray):
        if l2_ids.ndim != 1:
            l2_ids = l2_ids.reshape(-1)
        kind = l2_ids.dtype.kind
        if kind == "u":
            return l2_ids.astype(np.uint64, copy=False)
        if kind == "i":
            if l2_ids.size and l2_ids.min() < 0:
                bad = l2_ids[l2_ids < 0][0]
                raise errors.QueryValidationError(
                    f"{what} are unsigned 64-bit level-2 ids; got the negative value {bad}")
            return l2_ids.astype(np.uint64)
        if kind != "O":
            raise errors.QueryValidationError(
                f"{what} are unsigned 64-bit level-2 ids; got an array of {l2_ids.dtype} "
                "(floats lose digits of large ids: pass integers)")
        l2_ids = l2_ids.tolist()
    elif isinstance(l2_ids, (str, bytes, dict)) or not hasattr(l2_ids, "__iter__"):
        raise errors.QueryValidationError(
            f"{what} are a list or array of level-2 ids; got {type(l2_ids).__name__}")
    values = list(l2_ids)
    for value in values:
        if (not isinstance(value, (Integral, np.integer))
                or isinstance(value, (bool, np.bool_)) or not 0 <= value < U64):
            raise errors.QueryValidationError(
                f"{what} are unsigned 64-bit level-2 ids (integers in [0, 2**64)); "
                f"got {value!r} ({type(value).__name__})")
    return np.array([int(v) for v in values], dtype=np.uint64)


def _is_arrow(response) -> bool:
    return response.headers.get("Content-Type", "").startswith(ARROW)


def _whole(response) -> None:
    """The answer is complete: an Arrow stream ends with its end-of-stream marker."""
    if not _is_arrow(response):
        return complete.json_document(response)
    if not response.content.endswith(complete.ARROW_END):
        raise errors.IncompleteResponseError(
            f"{response.url.split('?')[0]}: the Arrow answer "
            f"({len(response.content):,} bytes) has no end-of-stream marker",
            url=response.url.split("?")[0])


def _from_arrow(body: bytes, asked: np.ndarray) -> dict:
    """The JSON answer's dict from the Arrow one: a key per distinct id asked for, sorted
    as strings ({} where the cache has no row)."""
    import pyarrow as pa

    from ..wire.l2rows import rows_as_dicts

    table = pa.ipc.open_stream(body).read_all()
    rows = dict(zip(table.column("l2").to_numpy().tolist(), rows_as_dicts(table)))
    keys = sorted(map(str, np.unique(asked).tolist()))
    return {key: rows.get(int(key), {}) for key in keys}


def _body(ids: np.ndarray) -> bytes:
    # uint64 → Python ints → decimal text: exact for every id, and fast for long lists.
    return ('{"l2_ids":[' + ",".join(map(str, ids.tolist())) + "]}").encode()


class L2CacheClient(ServiceClient):
    """client.l2cache: attributes of level-2 nodes of the datastack's chunkedgraph."""

    service = "l2cache"

    def __init__(self, ctx, server_address: str, version_url: str | None = None):
        super().__init__(ctx, server_address, version_url)
        self._base = f"{self.server_address}/l2cache/api/v1"

    # --- what caveclient exposes about the client ------------------------------------------

    @property
    def table_name(self) -> str:
        """The chunkedgraph table: the last path component of the segmentation source."""
        source = self.ctx.datastack_info()["segmentation_source"] or ""
        return source.rstrip("/").rsplit("/", 1)[-1]

    @property
    def api_version(self) -> int:
        return 1

    @property
    def default_url_mapping(self) -> dict:
        """What caveclient fills its URL templates with (a copy)."""
        return {"l2cache_server_address": self.server_address, "table_id": self.table_name}

    @staticmethod
    def raise_for_status(r, log_warning: bool = True):
        """Raise the typed error for an error response (caveclient's static helper)."""
        http.check(r, log_warning=log_warning)

    # --- attributes ------------------------------------------------------------------------

    def get_l2data(self, l2_ids, attributes: list | None = None) -> dict:
        """Attributes of level-2 nodes: {"<l2 id>": {attribute: value, ...}, ...}.

        Every distinct id asked for gets a key (the decimal string of the id); an id the
        cache has no row for gets {}; `pca`/`pca_val` are left out for tiny nodes. Keys come
        in the service's order (sorted as strings), whatever the batching. Attributes:
        area_nm2, chunk_intersect_count, max_dt_nm, mean_dt_nm, pca, pca_val, rep_coord_nm,
        size_nm3 (see `cache_metadata()`); None asks for all of them.
        """
        ids = level2_ids(l2_ids)
        params = {"int64_as_str": False}
        if attributes is not None:
            if isinstance(attributes, str):
                attributes = [attributes]
            attributes = list(attributes)
            if not attributes or not all(isinstance(a, str) and a for a in attributes):
                raise errors.QueryValidationError(
                    f"attributes is a list of attribute names (or None for all); got "
                    f"{attributes!r}")
            params["attribute_names"] = ",".join(attributes)
        if ids.size == 0:
            return {}
        ids = np.unique(ids)  # the service de-duplicates too; no id goes out twice
        url = f"{self._base}/table/{http.path_segment(self.table_name)}/attributes"
        batches = in_batches(ids, BATCH_SIZE)

        def fetch(batch: np.ndarray) -> dict:
            r = self._request("POST", url, params=params, data=_body(batch),
                              headers={"Accept": ACCEPT}, complete=_whole)
            if _is_arrow(r):
                return _from_arrow(r.content, batch)
            return http.json_of(r)

        if len(batches) == 1:
            return fetch(batches[0])
        merged: dict = {}
        for answer in send_concurrently(fetch, batches, "l2cache"):
            merged.update(answer)
        # One request would have answered with the keys sorted as strings: keep that order.
        return {key: merged[key] for key in sorted(merged)}

    def get_l2data_table(self, l2_ids, attributes: list | None = None,
                         split_columns: bool = True):
        """`get_l2data` as a DataFrame indexed by `l2_id` (uint64), one column per attribute.

        With `split_columns`, list-valued attributes become one column per component, named
        as caveclient names them (rep_coord_nm_x, pca_0_x … pca_2_z, pca_val_0,
        chunk_intersect_count_x_bottom …). A value the cache does not have is NaN (caveclient
        fills it with uninitialised memory).
        """
        import pandas as pd

        data = self.get_l2data(l2_ids, attributes=attributes)
        index = pd.Index(np.array([int(k) for k in data], dtype=np.uint64), name="l2_id")
        rows = list(data.values())
        names: list[str] = []
        for row in rows:  # the order caveclient's DataFrame(data).T gives: first appearance
            for name in row:
                if name not in names:
                    names.append(name)
        columns: dict = {}
        split: dict = {}
        for name in names:
            values = [row.get(name) for row in rows]
            if split_columns and name in SPLIT_COLUMNS:
                split[name] = _split(values, SPLIT_COLUMNS[name])
            elif name in SPLIT_COLUMNS:
                columns[name] = pd.Series(values, index=index, dtype=object)
            else:
                columns[name] = _scalar_column(values)
        for name in SPLIT_COLUMNS:  # appended after the others, in caveclient's order
            columns.update(split.get(name, {}))
        return pd.DataFrame(columns, index=index)

    # --- metadata --------------------------------------------------------------------------

    def cache_metadata(self) -> dict:
        """{attribute name: the numpy type the cache stores it as}, e.g.
        {"area_nm2": "<class 'numpy.uint32'>", ...} (asked once)."""
        return self._cached("metadata", lambda: self._get_json(f"{self._base}/attribute_metadata"))

    @property
    def attributes(self) -> list[str]:
        """The names of the attributes the cache serves."""
        return list(self.cache_metadata().keys())

    def table_mapping(self) -> dict:
        """{chunkedgraph table: {"cv_path": ..., "l2cache_id": ...}} for every table the
        cache serves (asked once)."""
        return self._cached("table_mapping",
                            lambda: self._get_json(f"{self._base}/table_mapping"))

    def has_cache(self, datastack_name: str | None = None) -> bool:
        """Whether the level-2 cache serves this datastack's chunkedgraph table.

        False when the datastack's segmentation is not a graphene (chunkedgraph) source, or
        when the cache has no table mapping (404, with a warning). As in caveclient, the
        table looked up is this client's own chunkedgraph table."""
        source = self.ctx.service("info").segmentation_source(datastack_name=datastack_name)
        if urlsplit(source or "").scheme != "graphene":
            return False
        try:
            mapping = self.table_mapping()
        except errors.NotFoundError:
            warnings.warn(f"L2cache deployment '{self.server_address}/l2cache' does not have a "
                          "l2 cache table mapping. Assuming no cache.", stacklevel=2)
            return False
        return self.table_name in mapping


def _scalar_column(values: list):
    """A numeric column: int64 when every value is an integer, else float64 (missing → NaN)."""
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return np.array(values, dtype=np.int64)
    if all(v is None or isinstance(v, (int, float)) for v in values):
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    return np.array(values, dtype=object)


def _split(values: list, names: list[str]) -> dict:
    """One column per component of a list-valued attribute; integer counts stay int64 when
    no value is missing."""
    out = np.full((len(values), len(names)), np.nan)
    integral = True
    for i, value in enumerate(values):
        if value is not None:
            flat = np.asarray(value).reshape(-1)
            integral = integral and flat.dtype.kind in "iu"
            out[i] = flat
    if integral and values and None not in values:
        out = out.astype(np.int64)
    return {name: out[:, j] for j, name in enumerate(names)}
