"""Token files (cave_widgets.client.tokens): the paths caveclient reads, the resolution order,
atomic private writes that keep other keys, and the datastack→server map. HOME always points
at a temporary folder, so the real ~/.cloudvolume is never read or written."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from cave_widgets.client import tokens

DEMO = "0123456789abcdef0123456789abcdef"
OTHER = "fedcba9876543210fedcba9876543210"
THIRD = "aaaaaaaabbbbbbbbccccccccdddddddd"
NETLOC = "cave.example.org"


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("HOME", str(path))
    return path


@pytest.fixture()
def secrets(home) -> Path:
    return home / ".cloudvolume" / "secrets"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def put(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


# --- paths -------------------------------------------------------------------------------------


def test_paths_are_the_ones_caveclient_reads(secrets):
    assert tokens.secrets_dir() == secrets
    assert tokens.default_file() == secrets / "cave-secret.json"
    assert tokens.legacy_file() == secrets / "chunkedgraph-secret.json"
    assert tokens.server_file("127.0.0.1:8123") == secrets / "127.0.0.1:8123-cave-secret.json"
    assert tokens.server_map_file() == secrets / "cave_datastack_to_server_map.json"


def test_paths_follow_home(tmp_path, monkeypatch):
    elsewhere = tmp_path / "other-home"
    monkeypatch.setenv("HOME", str(elsewhere))
    assert tokens.default_file() == elsewhere / ".cloudvolume" / "secrets" / "cave-secret.json"


# --- reading -------------------------------------------------------------------------------------


def test_read_key_reads_the_named_key(secrets):
    path = put(secrets / "x.json", {"token": DEMO, "alt": OTHER})
    assert tokens.read_key(path) == DEMO
    assert tokens.read_key(path, "alt") == OTHER
    assert tokens.read_key(path, "missing") is None


@pytest.mark.parametrize("content", ["", "not json", "[1, 2]", '"a string"', '{"token": 5}',
                                     '{"token": ""}', '{"token": null}'])
def test_read_key_gives_none_for_unusable_files(secrets, content):
    path = secrets / "bad.json"
    path.parent.mkdir(parents=True)
    path.write_text(content)
    assert tokens.read_key(path) is None


def test_read_key_of_a_missing_file_is_none(secrets):
    assert tokens.read_key(secrets / "nope.json") is None


# --- resolution order ----------------------------------------------------------------------------


def test_nothing_anywhere_gives_no_token_and_the_default_file(secrets):
    assert tokens.resolve(NETLOC) == (None, tokens.default_file())


def test_explicit_token_wins_over_every_file(secrets):
    put(tokens.server_file(NETLOC), {"token": OTHER})
    put(tokens.default_file(), {"token": OTHER})
    put(tokens.legacy_file(), {"token": OTHER})
    token, path = tokens.resolve(NETLOC, token=DEMO)
    assert token == DEMO
    assert path == tokens.server_file(NETLOC)  # where it would be saved


def test_given_file_wins_over_server_default_and_legacy(secrets, tmp_path):
    given = put(tmp_path / "mine.json", {"token": DEMO})
    put(tokens.server_file(NETLOC), {"token": OTHER})
    put(tokens.default_file(), {"token": OTHER})
    put(tokens.legacy_file(), {"token": OTHER})
    assert tokens.resolve(NETLOC, token_file=given) == (DEMO, given)


def test_given_file_path_expands_the_home_folder(secrets, home):
    put(home / "tok.json", {"token": DEMO})
    assert tokens.resolve(NETLOC, token_file="~/tok.json") == (DEMO, home / "tok.json")


def test_given_file_without_the_key_does_not_fall_back_to_legacy(secrets, tmp_path):
    given = put(tmp_path / "mine.json", {"other": DEMO})
    put(tokens.legacy_file(), {"token": OTHER})
    assert tokens.resolve(NETLOC, token_file=given) == (None, given)


def test_server_file_wins_over_default_and_legacy(secrets):
    put(tokens.server_file(NETLOC), {"token": DEMO})
    put(tokens.default_file(), {"token": OTHER})
    put(tokens.legacy_file(), {"token": THIRD})
    assert tokens.resolve(NETLOC) == (DEMO, tokens.server_file(NETLOC))


def test_server_file_of_another_server_is_ignored(secrets):
    put(tokens.server_file("elsewhere.org"), {"token": OTHER})
    put(tokens.default_file(), {"token": DEMO})
    assert tokens.resolve(NETLOC) == (DEMO, tokens.default_file())


def test_server_file_is_per_port(secrets):
    put(tokens.server_file("127.0.0.1:9000"), {"token": OTHER})
    put(tokens.default_file(), {"token": DEMO})
    assert tokens.resolve("127.0.0.1:9001")[0] == DEMO
    assert tokens.resolve("127.0.0.1:9000")[0] == OTHER


def test_default_file_wins_over_legacy(secrets):
    put(tokens.default_file(), {"token": DEMO})
    put(tokens.legacy_file(), {"token": OTHER})
    assert tokens.resolve(NETLOC) == (DEMO, tokens.default_file())


def test_legacy_file_is_the_last_resort(secrets):
    put(tokens.legacy_file(), {"token": DEMO})
    token, path = tokens.resolve(NETLOC)
    assert token == DEMO
    assert path == tokens.default_file()  # saving goes to the current file, not the legacy one


def test_token_key_selects_the_key_in_every_file(secrets):
    put(tokens.default_file(), {"token": OTHER, "alt": DEMO})
    assert tokens.resolve(NETLOC, token_key="alt") == (DEMO, tokens.default_file())
    put(tokens.legacy_file(), {"alt2": THIRD})
    assert tokens.resolve(NETLOC, token_key="alt2")[0] == THIRD


# --- writing -------------------------------------------------------------------------------------


def test_write_creates_a_0600_file_in_a_0700_folder(secrets):
    path = tokens.default_file()
    assert tokens.write_key(path, DEMO) is True
    assert json.loads(path.read_text()) == {"token": DEMO}
    assert mode(path) == 0o600
    assert mode(secrets) == 0o700


def test_write_tightens_an_existing_open_secrets_folder(secrets):
    secrets.mkdir(parents=True)
    os.chmod(secrets, 0o755)
    tokens.write_key(tokens.default_file(), DEMO)
    assert mode(secrets) == 0o700


def test_write_tightens_an_existing_world_readable_file(secrets):
    path = put(tokens.default_file(), {"token": OTHER})
    os.chmod(path, 0o644)
    tokens.write_key(path, DEMO)
    assert mode(path) == 0o600


def test_write_keeps_the_other_keys(secrets):
    path = put(tokens.default_file(), {"alt": OTHER, "note": "kept"})
    tokens.write_key(path, DEMO)
    assert json.loads(path.read_text()) == {"alt": OTHER, "note": "kept", "token": DEMO}


def test_write_under_another_key(secrets):
    path = put(tokens.default_file(), {"token": OTHER})
    tokens.write_key(path, DEMO, key="alt")
    assert json.loads(path.read_text()) == {"token": OTHER, "alt": DEMO}


def test_same_value_is_a_no_op_even_without_overwrite(secrets):
    path = put(tokens.default_file(), {"token": DEMO})
    before = path.stat().st_mtime_ns
    assert tokens.write_key(path, DEMO, overwrite=False) is False
    assert path.stat().st_mtime_ns == before


def test_different_value_without_overwrite_is_refused(secrets):
    path = put(tokens.default_file(), {"token": OTHER})
    with pytest.raises(ValueError, match="overwrite=True") as info:
        tokens.write_key(path, DEMO, overwrite=False)
    assert DEMO not in str(info.value) and OTHER not in str(info.value)
    assert json.loads(path.read_text()) == {"token": OTHER}


def test_overwrite_replaces(secrets):
    path = put(tokens.default_file(), {"token": OTHER})
    assert tokens.write_key(path, DEMO, overwrite=True) is True
    assert tokens.read_key(path) == DEMO


def test_a_corrupt_file_is_replaced(secrets):
    path = tokens.default_file()
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    tokens.write_key(path, DEMO)
    assert json.loads(path.read_text()) == {"token": DEMO}


def test_writes_leave_no_temporary_files(secrets):
    tokens.write_key(tokens.default_file(), DEMO)
    tokens.write_key(tokens.default_file(), OTHER, key="alt")
    assert sorted(p.name for p in secrets.iterdir()) == ["cave-secret.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(secrets, monkeypatch):
    path = put(tokens.default_file(), {"token": OTHER})

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(tokens.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        tokens.write_key(path, DEMO)
    assert json.loads(path.read_text()) == {"token": OTHER}
    assert [p.name for p in secrets.iterdir()] == ["cave-secret.json"]


def test_write_creates_missing_folders_private(tmp_path):
    path = tmp_path / "new" / "deeper" / "tok.json"
    tokens.write_key(path, DEMO)
    assert tokens.read_key(path) == DEMO
    assert mode(path.parent) == 0o700
    assert mode(path) == 0o600


def test_write_into_an_existing_user_folder_leaves_its_mode_alone(tmp_path):
    # A token_file the user picked (a project folder, /tmp...) is not ours to chmod.
    folder = tmp_path / "project"
    folder.mkdir()
    os.chmod(folder, 0o755)
    tokens.write_key(folder / "tok.json", DEMO)
    assert mode(folder) == 0o755
    assert mode(folder / "tok.json") == 0o600


# --- the datastack→server map -------------------------------------------------------------------


def test_server_map_round_trip(secrets):
    assert tokens.read_server_map() == {}
    tokens.remember_server("ds_a", "https://a.example.org")
    tokens.remember_server("ds_b", "https://b.example.org")
    assert tokens.read_server_map() == {"ds_a": "https://a.example.org",
                                        "ds_b": "https://b.example.org"}
    assert mode(tokens.server_map_file()) == 0o600


def test_server_map_updates_an_entry(secrets):
    tokens.remember_server("ds", "https://old.example.org")
    tokens.remember_server("ds", "https://new.example.org")
    assert tokens.read_server_map() == {"ds": "https://new.example.org"}


def test_server_map_unchanged_value_does_not_rewrite(secrets):
    tokens.remember_server("ds", "https://a.example.org")
    before = tokens.server_map_file().stat().st_mtime_ns
    tokens.remember_server("ds", "https://a.example.org")
    assert tokens.server_map_file().stat().st_mtime_ns == before


@pytest.mark.parametrize("content", ["garbage", "[1]"])
def test_unreadable_server_map_reads_as_empty(secrets, content):
    secrets.mkdir(parents=True)
    tokens.server_map_file().write_text(content)
    assert tokens.read_server_map() == {}


def test_server_map_write_failure_is_silent(secrets, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError("read-only home")

    monkeypatch.setattr(tokens, "write_key", refuse)
    tokens.remember_server("ds", "https://a.example.org")  # must not raise
    assert tokens.read_server_map() == {}
