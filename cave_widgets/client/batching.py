"""Batches sent concurrently: the one way the client overlaps requests that caveclient sends
one at a time (chunkedgraph id lists, L2 attributes, skeletons in bulk). The server works on
one batch while the client decodes another; answers come back in batch order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

MAX_WORKERS = 4  # concurrent batches (the session's pool holds 10 connections by default)


def in_batches(items: Sequence, size: int) -> list:
    return [items[i:i + size] for i in range(0, len(items), size)]


def send_concurrently(send: Callable, batches: list, name: str = "cave-batch") -> list:
    """[send(batch) for batch in batches], up to MAX_WORKERS at a time, in order. A failure
    of any batch is raised (the others' answers are dropped: no partial result)."""
    if len(batches) == 1:
        return [send(batches[0])]
    with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(batches)),
                            thread_name_prefix=name) as pool:
        return list(pool.map(send, batches))
