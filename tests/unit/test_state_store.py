"""The JSON state service's store: one id space for states and property files, documents
kept compressed and returned byte for byte, the real service's size limit, explicit ids that
never overwrite, and a memory budget that forgets the oldest first."""

from __future__ import annotations

import threading

import pytest

from cave_widgets.server import state_store
from cave_widgets.server.state_store import StateConflict, StateStore


def test_documents_come_back_byte_for_byte_and_are_counted():
    store = StateStore()
    raw = b'{ "layers" : [ ],  "x": 1 }'
    state_id = store.add("state", raw, user_id=1)
    assert 10**15 <= state_id < 2**53
    entry = store.get("state", state_id)
    assert entry.text() == raw and entry.user_id == 1 and entry.reads == 1
    assert store.get("state", state_id).reads == 2


def test_states_and_property_files_share_ids_but_not_documents():
    store = StateStore()
    state_id = store.add("state", b"{}", user_id=1)
    assert store.get("property", state_id) is None
    with pytest.raises(StateConflict):
        store.add("property", b"{}", user_id=1, state_id=state_id)


def test_an_explicit_id_is_kept_with_its_time():
    store = StateStore()
    assert store.add("state", b"{}", user_id=1, state_id=42, created=1.5e9) == 42
    assert store.get("state", 42).created == 1.5e9


def test_too_big_after_compression_is_refused(monkeypatch):
    monkeypatch.setattr(state_store, "MAX_COMPRESSED_SIZE", 100)
    store = StateStore()
    store.add("state", b'{"a": "' + b"x" * 10_000 + b'"}', user_id=1)  # compresses well
    noise = bytes(range(256)) * 4
    with pytest.raises(ValueError, match="after compression"):
        store.add("state", b'"' + noise.hex().encode() + b'"', user_id=1)


def test_past_the_budget_the_oldest_are_forgotten():
    store = StateStore(budget=200)
    ids = [store.add("state", f'{{"n": "{i}{"ab" * 40}"}}'.encode(), 1) for i in range(20)]
    assert store.get("state", ids[-1]) is not None
    assert store.get("state", ids[0]) is None
    assert 1 <= len(store) < 20


def test_concurrent_posts_get_distinct_ids():
    store = StateStore()
    found: list[int] = []

    def post():
        for _ in range(200):
            found.append(store.add("state", b"{}", 1))

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(found)) == len(found) == len(store) == 800
