"""ChunkedGraphClient: every public method and property of caveclient 8.2.1's, over the
PyChunkedGraph v1 routes (../../../shared/reference/chunkedgraph-l2cache-wire.md §2).

Ids are uint64 end to end (ids.py); times go out as epoch seconds; the client's snapshot is
read once per call, so version and time never mix; long id lists are cut into batches sent
concurrently over the shared session, results in input order.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
from packaging.specifiers import SpecifierSet

from .. import complete, errors, http
from ..base import ServiceClient
from ..batching import MAX_WORKERS, in_batches, send_concurrently
from ..times import to_utc
from . import lineage
from .ids import as_id, as_ids, decode_ids, encode_ids, epoch, id_list, package_bounds

log = logging.getLogger(__name__)

API_VERSION = 1
BATCH_SIZE = 50_000  # ids per request when a list is long
VALID_SINCE = datetime(2000, 1, 1, tzinfo=timezone.utc)  # caveclient's is_valid_nodes start
ROOT_TIMESTAMP_SERVERS = ("<2,>=1.25.0", "<3,>=2.17.0", "<4,>=3.0.4")
COVERING_NODES_SERVERS = ("<3,>=2.18.0", "<4,>=3.0.5")
BINARY = "application/octet-stream"


def _whole_edges(response) -> None:
    """A binary edge list is whole when its length is framed and a multiple of 16 bytes."""
    if not response.headers.get("Content-Type", "").startswith(BINARY):
        return complete.json_document(response)
    if not complete.length_framed(response) or len(response.content) % 16:
        raise errors.IncompleteResponseError(
            f"{response.url.split('?')[0]}: the binary edge list "
            f"({len(response.content):,} bytes) cannot be proven whole",
            url=response.url.split("?")[0])


class ChunkedGraphClient(ServiceClient):
    service = "chunkedgraph"

    def __init__(self, ctx, server_address: str, version_url: str | None = None):
        super().__init__(ctx, server_address, version_url)
        self._default_timestamp: datetime | None = None

    # --- where ---------------------------------------------------------------------------

    @property
    def table_name(self) -> str:
        return self.ctx.datastack_info()["segmentation_source"].rstrip("/").rsplit("/", 1)[-1]

    @property
    def api_version(self) -> int:
        return API_VERSION

    @property
    def _v1(self) -> str:
        return f"{self.server_address}/segmentation/api/v1/table/{self.table_name}"

    @property
    def default_url_mapping(self) -> dict:
        return {"cg_server_address": self.server_address, "table_id": self.table_name}

    @property
    def cloudvolume_path(self) -> str:
        return f"graphene://{self.server_address}/segmentation/api/v1/{self.table_name}"

    @property
    def segmentation_info(self) -> dict:
        table = self.table_name
        return self._cached(("info", table), lambda: self._get_json(
            f"{self.server_address}/segmentation/table/{table}/info"))

    @property
    def base_resolution(self):
        return self.segmentation_info["scales"][0].get("resolution")

    @property
    def fc(self):
        """caveclient's back-reference to the framework client: services here see only
        their context, never the client."""
        return None

    @staticmethod
    def raise_for_status(r, log_warning: bool = True) -> None:

        http.check(r, log_warning=log_warning)

    # --- time ----------------------------------------------------------------------------

    def _snapshot_time(self) -> datetime | None:
        """The client's time (its version's or its live timestamp) or this service's own
        default; None when neither is set. Reads the snapshot once."""
        snapshot = self.ctx.snapshot
        return snapshot.timestamp if snapshot.timestamp is not None else self._default_timestamp

    @property
    def timestamp(self) -> datetime:
        """The time queries default to: the client's version/timestamp, else now (UTC)."""
        when = self._snapshot_time()
        return when if when is not None else datetime.now(timezone.utc)

    @timestamp.setter
    def timestamp(self, value) -> None:
        if self.ctx.snapshot.version is not None:
            raise ValueError("the client is at a materialization version: its chunkedgraph "
                             "timestamp is that version's; set client.version instead")
        if value is not None and not isinstance(value, datetime):
            raise TypeError(f"timestamp must be a datetime or None, got {value!r}")
        self._default_timestamp = None if value is None else to_utc(value)

    def _when(self, timestamp) -> datetime:
        return self.timestamp if timestamp is None else to_utc(timestamp)

    # --- helpers -------------------------------------------------------------------------

    def _require_any(self, allowed: tuple[str, ...], feature: str) -> None:
        version = self.server_version
        if version is None or not any(version in SpecifierSet(s) for s in allowed):
            raise errors.ServerIncompatibilityError(
                f"{feature} needs a {self.service} server in {' or '.join(allowed)}; "
                f"{self.server_address} runs {version or 'an unknown version'}. "
                "Ask its administrators to upgrade it.")

    def _batched(self, ids: np.ndarray, send, join=np.concatenate):
        """`send(batch)` over batches of BATCH_SIZE ids, concurrently, joined in order."""
        if len(ids) <= BATCH_SIZE:
            return send(ids)
        return join(send_concurrently(send, in_batches(ids, BATCH_SIZE), "chunkedgraph"))

    def _post_ids_json(self, route: str, ids: np.ndarray, params: dict, key: str):
        """POST {"node_ids": [...]} as JSON text with no content type (as caveclient does)."""
        def send(batch):
            body = json.dumps({"node_ids": [int(i) for i in batch]})
            r = self._request("POST", f"{self._v1}/{route}", params=params, data=body)
            return np.asarray(http.json_of(r)[key])
        return self._batched(ids, send)

    # --- id lookups ----------------------------------------------------------------------

    def get_roots(self, supervoxel_ids, timestamp=None, stop_layer=None) -> np.ndarray:
        ids = as_ids(supervoxel_ids, "supervoxel_ids")
        params = {"timestamp": epoch(self._when(timestamp))}
        if stop_layer is not None:
            params["stop_layer"] = int(stop_layer)

        def send(batch):
            r = self._request("POST", f"{self._v1}/roots_binary", params=params,
                              data=encode_ids(batch))
            return decode_ids(r.content)
        if not len(ids):
            return np.zeros(0, dtype=np.uint64)
        if len(ids) <= BATCH_SIZE:
            return send(ids)

        def part(some: np.ndarray) -> np.ndarray:
            # Long lists repeat supervoxels (synapse tables do): a part asks for each once.
            distinct, where = np.unique(some, return_inverse=True)
            roots = np.concatenate([send(b) for b in in_batches(distinct, BATCH_SIZE)])
            return roots[where.reshape(-1)]
        # One part per worker: the parts' dedupes (numpy sorts without the GIL) run at once
        # and overlap the server's lookups, which one dedupe of the whole list would not.
        size = max(BATCH_SIZE, -(-len(ids) // MAX_WORKERS))
        return np.concatenate(send_concurrently(part, in_batches(ids, size), "chunkedgraph"))

    def get_root_id(self, supervoxel_id, timestamp=None, level2=False) -> np.int64:
        sv = as_id(supervoxel_id, "supervoxel_id")
        params = {"timestamp": epoch(self._when(timestamp))}
        if level2:
            params["stop_layer"] = 2
        return np.int64(self._get_json(f"{self._v1}/node/{sv}/root", params=params)["root_id"])

    def get_children(self, node_id) -> np.ndarray:
        node = as_id(node_id, "node_id")
        r = self._get_json(f"{self._v1}/node/{node}/children")
        return np.array(r["children_ids"], dtype=np.int64)

    def get_leaves(self, root_id, bounds=None, stop_layer: int | None = None) -> np.ndarray:
        node = as_id(root_id, "root_id")
        params = self._leaf_params(bounds, stop_layer)
        r = self._get_json(f"{self._v1}/node/{node}/leaves", params=params)
        return np.array(r["leaf_ids"], dtype=np.int64)

    @staticmethod
    def _leaf_params(bounds, stop_layer) -> dict:
        params = {}
        if bounds is not None:
            params["bounds"] = package_bounds(bounds)
        if stop_layer is not None:
            params["stop_layer"] = int(stop_layer)
        return params

    def get_leaves_many(self, root_ids, bounds=None, stop_layer: int | None = None) -> dict:
        ids = as_ids(root_ids, "root_ids")
        params = self._leaf_params(bounds, stop_layer)

        def send(batch):
            return self._post_json(f"{self._v1}/node/leaves_many",
                                   {"node_ids": [int(i) for i in batch]}, params=params)

        def join(parts):
            return {k: v for part in parts for k, v in part.items()}
        r = self._batched(ids, send, join)
        return {np.int64(k): np.array(v, dtype=np.int64) for k, v in r.items()}

    def get_minimal_covering_nodes(self, node_ids) -> np.ndarray:
        ids = id_list(node_ids)
        self._require_any(COVERING_NODES_SERVERS, "get_minimal_covering_nodes")
        r = self._request("POST", f"{self._v1}/minimal_covering_nodes",
                          params={"as_array": True}, json={"node_ids": ids})
        return decode_ids(r.content)

    def is_valid_nodes(self, node_ids, start_timestamp=None, end_timestamp=None) -> np.ndarray:
        ids = as_ids(node_ids)
        end = self._snapshot_time() if end_timestamp is None else to_utc(end_timestamp)
        start = VALID_SINCE if start_timestamp is None else to_utc(start_timestamp)
        params = {"start_timestamp": epoch(start)}
        if end is not None:
            params["end_timestamp"] = epoch(end)
        asked = np.unique(ids[ids > 0])
        if not len(asked):
            return np.zeros(len(ids), dtype=bool)

        def send(batch):
            body = json.dumps({"node_ids": [int(i) for i in batch]})
            r = self._request("GET", f"{self._v1}/valid_nodes", params=params, data=body)
            return np.array(http.json_of(r)["valid_roots"], dtype=np.uint64)
        valid = self._batched(asked, send)
        return np.isin(ids, valid)

    # --- roots over time -----------------------------------------------------------------

    def is_latest_roots(self, root_ids, timestamp=None) -> np.ndarray:
        ids = as_ids(root_ids, "root_ids")
        when = self._snapshot_time() if timestamp is None else to_utc(timestamp)
        params = {} if when is None else {"timestamp": epoch(when)}
        if not len(ids):
            return np.zeros(0, dtype=bool)
        return np.array(self._post_ids_json("is_latest_roots", ids, params, "is_latest"),
                        dtype=bool)

    def get_root_timestamps(self, root_ids, latest: bool = False,
                            timestamp: datetime | None = None) -> np.ndarray:
        ids = as_ids(root_ids, "root_ids")
        if latest or timestamp is not None:
            self._require_any(ROOT_TIMESTAMP_SERVERS, "get_root_timestamps(latest=, timestamp=)")
        params = {"latest": bool(latest), "timestamp": epoch(self._when(timestamp))}
        if not len(ids):
            return np.array([], dtype=object)
        seconds = self._post_ids_json("root_timestamps", ids, params, "timestamp")
        shift = timedelta(milliseconds=1 if latest else 0)
        return np.array([datetime.fromtimestamp(float(s), timezone.utc) - shift
                         for s in seconds])

    def get_lineage_graph(self, root_id, timestamp_past=None, timestamp_future=None,
                          as_nx_graph=False, exclude_links_to_future=False,
                          exclude_links_to_past=False):
        ids = sorted(set(id_list(root_id, "root_id")))
        params = {}
        if timestamp_past is not None:
            params["timestamp_past"] = epoch(timestamp_past)
        if timestamp_future is not None:
            params["timestamp_future"] = epoch(timestamp_future)
        body = json.dumps({"root_ids": ids})
        r = self._request("POST", f"{self._v1}/lineage_graph_multiple", params=params,
                          data=body)
        graph = http.json_of(r)
        if exclude_links_to_past or exclude_links_to_future:
            past = to_utc(timestamp_past).timestamp() \
                if exclude_links_to_past and timestamp_past is not None else None
            future = to_utc(timestamp_future).timestamp() \
                if exclude_links_to_future and timestamp_future is not None else None
            graph = lineage.exclude(graph, past, future)
        return lineage.to_networkx(graph) if as_nx_graph else graph

    def get_latest_roots(self, root_id, timestamp=None, timestamp_future=None) -> np.ndarray:
        root = as_id(root_id, "root_id")
        if timestamp_future is not None:
            log.warning("timestamp_future is deprecated: use timestamp")
            timestamp = timestamp if timestamp is not None else timestamp_future
        when = self._when(timestamp)
        born = min(self.get_root_timestamps([root]))
        if born < when:
            graph = self.get_lineage_graph(root, timestamp_past=born, timestamp_future=when,
                                           exclude_links_to_future=True)
            return lineage.sinks(graph)
        graph = self.get_lineage_graph(root, timestamp_past=when, timestamp_future=born,
                                       exclude_links_to_past=True)
        return lineage.sources(graph)

    def get_original_roots(self, root_id, timestamp_past=None) -> np.ndarray:
        root = as_id(root_id, "root_id")
        born = max(self.get_root_timestamps([root]))
        graph = self.get_lineage_graph(root, timestamp_past=timestamp_past,
                                       timestamp_future=born)
        return lineage.sources(graph)

    def suggest_latest_roots(self, root_id, timestamp=None, stop_layer=None, return_all=False,
                             return_fraction_overlap=False):
        root = as_id(root_id, "root_id")
        current = self.get_latest_roots(root, timestamp=timestamp)
        if root in current.tolist():
            ids, fractions = ([root], [1]) if return_all else (root, 1)
            return (ids, fractions) if return_fraction_overlap else ids
        if stop_layer is None:
            stop_layer = self.segmentation_info.get("graph", {}).get("n_layers", 6) - 4
        stop_layer = max(1, int(stop_layer))
        original = self.get_leaves(root, stop_layer=stop_layer)
        while not len(original):
            stop_layer -= 1
            if stop_layer == 1:
                raise ValueError(f"root {root} has no level-2 nodes: the chunkedgraph is "
                                 "inconsistent")
            original = self.get_leaves(root, stop_layer=stop_layer)
        fractions = np.array([
            len(np.intersect1d(original, self.get_leaves(c, stop_layer=stop_layer),
                               assume_unique=True)) / len(original) for c in current])
        order = np.argsort(fractions)[::-1]
        if not return_all:
            order = order[0]
        if return_fraction_overlap:
            return current[order], fractions[order]
        return current[order]

    def get_past_ids(self, root_ids, timestamp_past=None, timestamp_future=None) -> dict:
        ids = sorted(set(id_list(root_ids, "root_ids")))
        params = {}
        if timestamp_past is not None:
            params["timestamp_past"] = epoch(timestamp_past)
        if timestamp_future is not None:
            params["timestamp_future"] = epoch(timestamp_future)
        r = self._request("GET", f"{self._v1}/past_id_mapping", params=params,
                          data=json.dumps({"root_ids": ids}))
        answer = http.json_of(r)
        return {"past_id_map": {int(k): v for k, v in answer["past_id_map"].items()},
                "future_id_map": {int(k): v for k, v in answer["future_id_map"].items()}}

    def get_delta_roots(self, timestamp_past: datetime, timestamp_future: datetime | None = None
                        ) -> tuple[np.ndarray, np.ndarray]:
        future = datetime.now(timezone.utc) if timestamp_future is None else timestamp_future
        r = self._get_json(f"{self._v1}/delta_roots", params={
            "timestamp_past": epoch(timestamp_past), "timestamp_future": epoch(future)})
        return (np.array(r["old_roots"], dtype=np.int64),
                np.array(r["new_roots"], dtype=np.int64))

    def get_oldest_timestamp(self) -> datetime:
        return datetime.fromisoformat(self._get_json(f"{self._v1}/oldest_timestamp")["iso"])

    # --- history -------------------------------------------------------------------------

    def get_change_log(self, root_id, filtered=True) -> dict:
        root = as_id(root_id, "root_id")
        return self._get_json(f"{self._v1}/root/{root}/change_log",
                              params={"filtered": bool(filtered)})

    def get_merge_log(self, root_id) -> dict:
        root = as_id(root_id, "root_id")
        return self._get_json(f"{self._v1}/root/{root}/merge_log")

    def get_tabular_change_log(self, root_ids, filtered=True) -> dict:
        ids = sorted(set(id_list(root_ids, "root_ids")))
        r = self._request("GET", f"{self._v1}/tabular_change_log_many",
                          params={"filtered": bool(filtered)},
                          data=json.dumps({"root_ids": ids}))
        return {int(k): pd.DataFrame(json.loads(v)) for k, v in http.json_of(r).items()}

    def get_operation_details(self, operation_ids) -> dict:
        ids = id_list(operation_ids, "operation_ids")
        return self._get_json(f"{self._v1}/operation_details",
                              params={"operation_ids": str(ids)})

    def get_user_operations(self, user_id: int, timestamp_start: datetime,
                            include_undo: bool = True,
                            timestamp_end: datetime | None = None) -> pd.DataFrame:
        """As caveclient; the end defaults to now (the server requires one), and
        include_undo is honoured (sent as PCG's `include_undone`)."""
        params = {"include_undo": bool(include_undo), "include_undone": bool(include_undo)}
        if user_id is not None and int(user_id) > 0:
            params["user_id"] = int(user_id)
        if timestamp_start is not None:
            params["start_time"] = epoch(timestamp_start)
        end = datetime.now(timezone.utc) if timestamp_end is None else timestamp_end
        params["end_time"] = epoch(end)
        frame = pd.DataFrame(self._get_json(f"{self._v1}/user_operations", params=params))
        if "timestamp" in frame:
            frame["timestamp"] = frame["timestamp"].map(
                lambda ms: datetime.fromtimestamp(ms / 1000, timezone.utc))
        return frame

    # --- graph structure -----------------------------------------------------------------

    def level2_chunk_graph(self, root_id, bounds=None) -> list:
        root = as_id(root_id, "root_id")
        params = {}
        if bounds is not None:
            self._require_server("2.15.0", "level2_chunk_graph(bounds=...)")
            params["bounds"] = package_bounds(bounds)
        # The embedded server can answer raw uint64 pairs (no JSON to write or parse); PCG
        # ignores the Accept header and answers JSON.
        r = self._request("GET", f"{self._v1}/node/{root}/lvl2_graph", params=params,
                          headers={"Accept": f"{BINARY}, application/json;q=0.9"},
                          complete=_whole_edges)
        if bounds is not None and r.headers.get("Used-Bounds", "").lower() != "true":
            raise errors.ServerIncompatibilityError(
                f"{self.server_address} ignored the bounds of level2_chunk_graph")
        if r.headers.get("Content-Type", "").startswith(BINARY):
            return decode_ids(r.content).reshape(-1, 2).tolist()
        return http.json_of(r)["edge_graph"]

    def get_subgraph(self, root_id, bounds) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        root = as_id(root_id, "root_id")
        params = {} if bounds is None else {"bounds": package_bounds(bounds)}
        r = self._get_json(f"{self._v1}/node/{root}/subgraph", params=params)
        return (np.array(r["nodes"], dtype=np.int64).reshape(-1, 2),
                np.array(r["affinities"], dtype=np.float64),
                np.array(r["areas"], dtype=np.int32))

    def find_path(self, root_id, src_pt, dst_pt, precision_mode=False):
        root = as_id(root_id, "root_id")
        points = [[root, *np.asarray(p).reshape(3).tolist()] for p in (src_pt, dst_pt)]
        r = self._post_json(f"{self._v1}/graph/find_path", points,
                            params={"precision_mode": bool(precision_mode)})
        return (np.array(r["centroids_list"]), np.array(r["l2_path"], dtype=np.int64),
                np.array(r["failed_l2_ids"], dtype=np.uint64))

    def get_contact_sites(self, root_id, bounds, calc_partners=False) -> dict:
        root = as_id(root_id, "root_id")
        params = {"bounds": package_bounds(bounds), "partners": bool(calc_partners)}
        r = self._request("GET", f"{self._v1}/node/{root}/contact_sites", params=params,
                          json=[root])
        return {int(k): v for k, v in http.json_of(r).items()}

    # --- edits ---------------------------------------------------------------------------

    def do_merge(self, supervoxels, coords, resolution=(4, 4, 40)) -> dict:
        svs = id_list(supervoxels, "supervoxels")
        points = np.asarray(coords)
        if points.shape != (len(svs), 3):
            raise errors.QueryValidationError(
                f"coords must be {len(svs)}x3 (one point per supervoxel), got {points.shape}")
        scale = np.asarray(resolution)
        body = [[sv, *(points[i] * scale).tolist()] for i, sv in enumerate(svs)]
        return self._post_json(f"{self._v1}/merge", body, params={"priority": False})

    def _split_body(self, root_id, source_points, sink_points, source_supervoxels,
                    sink_supervoxels) -> dict:
        root = as_id(root_id, "root_id")
        body = {}
        for name, points, svs in (("sources", source_points, source_supervoxels),
                                  ("sinks", sink_points, sink_supervoxels)):
            points = np.asarray(points).reshape(-1, 3).tolist()
            if svs is None:
                svs = [None] * len(points)
            svs = list(svs)
            if len(svs) != len(points):
                raise errors.QueryValidationError(
                    f"{name}: {len(svs)} supervoxels for {len(points)} points; give one "
                    "per point")
            body[name] = [[root if sv is None else as_id(sv, f"{name} supervoxel"), *p]
                          for sv, p in zip(svs, points)]
        return body

    def execute_split(self, source_points, sink_points, root_id, source_supervoxels=None,
                      sink_supervoxels=None) -> tuple[int, list]:
        body = self._split_body(root_id, source_points, sink_points, source_supervoxels,
                                sink_supervoxels)
        r = self._post_json(f"{self._v1}/split", body, params={"priority": False})
        return r["operation_id"], r["new_root_ids"]

    def preview_split(self, source_points, sink_points, root_id, source_supervoxels=None,
                      sink_supervoxels=None, return_additional_ccs=False):
        body = self._split_body(root_id, source_points, sink_points, source_supervoxels,
                                sink_supervoxels)
        r = self._post_json(f"{self._v1}/graph/split_preview", body)
        ccs = r["supervoxel_connected_components"]
        ok = not r["illegal_split"]
        if return_additional_ccs:
            return ccs[0], ccs[1], ok, ccs[2:]
        return ccs[0], ccs[1], ok

    def undo_operation(self, operation_id) -> dict:
        op = as_id(operation_id, "operation_id")
        return self._post_json(f"{self._v1}/undo", {"operation_id": op},
                               params={"priority": False})

    def remesh_level2_chunks(self, chunk_ids) -> None:
        ids = id_list(chunk_ids, "chunk_ids")
        self._request("POST", f"{self.server_address}/meshing/api/v1/table/"
                      f"{self.table_name}/remeshing", json={"new_lvl2_ids": ids})
