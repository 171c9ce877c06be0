"""The JSON state service's storage: neuroglancer states and segment-property files, by id.

Like the real NeuroglancerJsonServer, states and property files share one id space of large
integers and are kept zlib-compressed, with the same 50 MiB limit after compression. Unlike
it, nothing outlives the server: the demo server is ephemeral, and a link made against it is
only meant to open while it runs. A total budget keeps a long-running server's memory
bounded: past it, the oldest entries are forgotten first.
"""

from __future__ import annotations

import secrets
import threading
import time
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field

MAX_COMPRESSED_SIZE = 52_428_800  # the real service's MAX_JSON_SIZE, applied after zlib
DEFAULT_BUDGET = 512 * 1024 * 1024  # compressed bytes kept before the oldest are dropped
# Real ids are Datastore-allocated 16-digit integers; staying below 2**53 keeps them exact
# wherever a state id is read as a JavaScript number.
_ID_LOW, _ID_HIGH = 10**15, 2**53


class StateConflict(Exception):
    """An explicit id that is already taken."""


@dataclass
class StoredJSON:
    kind: str  # "state" or "property"
    compressed: bytes = field(repr=False)
    user_id: int
    created: float
    last_read: float | None = None
    reads: int = 0

    def text(self) -> bytes:
        return zlib.decompress(self.compressed)


class StateStore:
    """Thread-safe: handlers run in a thread pool."""

    def __init__(self, budget: int = DEFAULT_BUDGET):
        self._entries: OrderedDict[int, StoredJSON] = OrderedDict()
        self._lock = threading.Lock()
        self._size = 0
        self.budget = budget

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, kind: str, raw: bytes, user_id: int, state_id: int | None = None,
            created: float | None = None) -> int:
        """Store `raw` (already checked to be JSON) and return its id. Raises ValueError when
        it is too big, StateConflict when `state_id` is taken."""
        compressed = zlib.compress(raw)
        if len(compressed) > MAX_COMPRESSED_SIZE:
            raise ValueError(
                f"the JSON is {len(compressed)} bytes after compression; the limit is "
                f"{MAX_COMPRESSED_SIZE}")
        entry = StoredJSON(kind, compressed, user_id, time.time() if created is None else created)
        with self._lock:
            if state_id is None:
                state_id = self._new_id()
            elif state_id in self._entries:
                raise StateConflict(f"id {state_id} is already in use")
            self._entries[state_id] = entry
            self._size += len(compressed)
            self._forget_oldest()
        return state_id

    def get(self, kind: str, state_id: int) -> StoredJSON | None:
        """The entry (counted as read), or None if there is none of this kind."""
        with self._lock:
            entry = self._entries.get(state_id)
            if entry is None or entry.kind != kind:
                return None
            entry.reads += 1
            entry.last_read = time.time()
            return entry

    def _new_id(self) -> int:
        while True:
            candidate = _ID_LOW + secrets.randbelow(_ID_HIGH - _ID_LOW)
            if candidate not in self._entries:
                return candidate

    def _forget_oldest(self) -> None:
        # The newest entry always stays, even alone over budget: it was just accepted.
        while self._size > self.budget and len(self._entries) > 1:
            _, dropped = self._entries.popitem(last=False)
            self._size -= len(dropped.compressed)
