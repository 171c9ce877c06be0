"""One server's precomputed mirror of its segmentation: the chunk, mesh, skeleton and
property caches, and the choice of root ids.

Which ids: a chunk is labelled with the **root ids at one moment**. Every URL of the mirror
names its moment: `/demo/seg/at/{unix seconds}/...` (what cave_widgets' links use: the
moment of the version or live timestamp the rows came from, so every root id in those rows
selects its segment), or `/demo/seg/...`, the latest roots when each request is answered.
Meshes and skeletons are per root: a root id names one fixed set of supervoxels forever, so
they are the same at every moment (and cached until the server stops; a root an edit
retired keeps its mesh).
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict

import numpy as np

from ..skeletons import formats as skeleton_formats
from ..skeletons.cache import cache_of as skeleton_cache_of
from . import meshes, properties, volume

_MIRRORS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()
SKELETON_VERSION = skeleton_formats.NEUROGLANCER_VERSION


class BytesCache:
    """Values (bytes or small documents with their size) by key, least recently used dropped
    past `budget` bytes."""

    def __init__(self, budget: int):
        self.budget = budget
        self._held: OrderedDict = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get_or_make(self, key, make, size=len):
        with self._lock:
            if key in self._held:
                self._held.move_to_end(key)
                return self._held[key]
        value = make()  # outside the lock: others go on meanwhile
        with self._lock:
            if key not in self._held:
                self._held[key] = value
                self._size += size(value)
                while self._size > self.budget and len(self._held) > 1:
                    _, dropped = self._held.popitem(last=False)
                    self._size -= size(dropped)
        return value


class SegmentationMirror:
    def __init__(self, segmentation, store):
        self.segmentation = segmentation
        self.store = store
        self.chunks = volume.EncodedChunks(lambda: segmentation.geometry)
        self._meshes = BytesCache(64 * 2**20)
        self._skeletons = BytesCache(16 * 2**20)
        self._properties = BytesCache(8 * 2**20)

    # --- time -----------------------------------------------------------------------------

    def now(self) -> float:
        return self.store.now()

    def relative(self, unix_seconds: float) -> float:
        return float(unix_seconds) - self.store.anchor.timestamp()

    def oldest(self) -> float:
        return self.segmentation.oldest

    # --- what a request asks for ------------------------------------------------------------

    def chunk(self, level_key: str, name: str, t: float) -> bytes:
        graph = self.segmentation.graph
        return volume.chunk_bytes(self.chunks, level_key, name,
                                  lambda svs: graph.roots_of(svs, t))

    def is_root(self, root: int) -> bool:
        ids = np.array([root], dtype=np.uint64)
        seg = self.segmentation
        return bool(seg.meta.layer(ids)[0] == seg.meta.n_layers and seg.known(ids)[0])

    def mesh_fragment(self, root: int) -> bytes:
        def make():
            members = self.segmentation.graph.members_of(int(root))
            return meshes.encode_fragment(*meshes.root_mesh(self.segmentation.geometry,
                                                            members))
        return self._meshes.get_or_make(int(root), make)

    def skeleton(self, root: int) -> bytes:
        def make():
            sk = skeleton_cache_of(self.segmentation).compute(
                int(root), self.store.anchor.timestamp())
            return skeleton_formats.precomputed(sk, SKELETON_VERSION)
        return self._skeletons.get_or_make(int(root), make)

    def segment_properties(self, t: float, cache: bool) -> dict:
        if not cache:
            return properties.segment_properties(self.store, t)
        return self._properties.get_or_make(
            ("props", float(t)), lambda: properties.segment_properties(self.store, t),
            size=lambda doc: 64 * len(doc["inline"]["ids"]) + 256)


def skeleton_info() -> dict:
    return skeleton_formats.info(SKELETON_VERSION)


def mirror_of(ctx) -> SegmentationMirror:
    with _LOCK:
        found = _MIRRORS.get(ctx.segmentation)
        if found is None:
            found = _MIRRORS[ctx.segmentation] = SegmentationMirror(ctx.segmentation, ctx.store)
        return found
