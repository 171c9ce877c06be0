"""CAVEclient itself against the embedded server over real HTTP: construction (datastack and
global-only clients, every constructor argument), its repr, and the observable state —
server, datastack, version and timestamp — with traitlets observers and links.

HOME points at a temporary folder in every test: clients write the datastack→server map there.
"""

from __future__ import annotations

import json
import stat
import warnings
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
import requests
import traitlets
from helpers.client_wire import client, home, private_home, record_requests, secrets  # noqa: F401  (fixtures)

from cave_widgets import CAVEclient
from cave_widgets.client import (
    ExpiredVersionWarning,
    GlobalClientError,
    UnknownDatastackError,
    UnknownVersionError,
    get_session_defaults,
)

UTC = timezone.utc
TRAITS = {"server_address", "datastack_name", "version", "timestamp", "auth_state", "user_id",
          "user_name", "user_email"}


@pytest.fixture(scope="module")
def version_times(demo_server) -> dict[int, datetime]:
    """Every version's materialization time (UTC), expired ones included, read directly."""
    r = requests.get(
        f"{demo_server.url}/materialize/api/v3/datastack/{demo_server.datastack}/metadata",
        params={"expired": "True"}, headers={"Authorization": f"Bearer {demo_server.token}"},
        timeout=30)
    assert r.status_code == 200, r.text
    return {m["version"]: datetime.fromisoformat(m["time_stamp"]).replace(tzinfo=UTC)
            for m in r.json()}


class Changes:
    """Records (name, old, new) of every change of the observed traits."""

    def __init__(self, obj: traitlets.HasTraits, names):
        self.seen: list[tuple[str, object, object]] = []
        obj.observe(self, names=list(names))

    def __call__(self, change):
        self.seen.append((change["name"], change["old"], change["new"]))

    def of(self, name: str) -> list[tuple[object, object]]:
        return [(old, new) for n, old, new in self.seen if n == name]


# --- construction ----------------------------------------------------------------------------


def test_datastack_client(client, demo_server):
    assert isinstance(client, CAVEclient)
    assert isinstance(client, traitlets.HasTraits)
    assert client.datastack_name == demo_server.datastack
    assert client.server_address == demo_server.url
    assert client.local_server == demo_server.url
    assert client.version is None and client.timestamp is None
    assert client.auth_state == "unverified"  # a token, not yet checked
    assert client.info.get_datastack_info()["local_server"] == demo_server.url


def test_traits_are_the_observable_state_and_never_the_token(client):
    assert TRAITS <= set(client.trait_names())
    assert not [n for n in client.trait_names() if "token" in n]


def test_server_address_loses_its_trailing_slash(demo_server):
    c = CAVEclient(demo_server.datastack, server_address=demo_server.url + "/",
                   auth_token=demo_server.token)
    assert c.server_address == demo_server.url
    assert c.info.get_datastacks() == [demo_server.datastack]


@pytest.mark.parametrize("bad", ["127.0.0.1:8000", "ftp://example.org"])
def test_server_address_must_be_an_http_url(bad):
    with pytest.raises(traitlets.TraitError, match="http"):
        CAVEclient(server_address=bad)


def test_datastack_client_fetches_the_datastack_record_once(demo_server, monkeypatch):
    seen = record_requests(monkeypatch)
    c = CAVEclient(demo_server.datastack, server_address=demo_server.url,
                   auth_token=demo_server.token)
    full = ("GET", f"/info/api/v2/datastack/full/{demo_server.datastack}")
    assert seen == [full]
    c.local_server, c.info.segmentation_source(), c.info.viewer_site()
    assert seen == [full]


def test_global_only_client(demo_server, monkeypatch):
    seen = record_requests(monkeypatch)
    c = CAVEclient(server_address=demo_server.url, auth_token=demo_server.token)
    assert seen == []  # building it asks nothing
    assert c.datastack_name is None
    assert repr(c) == f"CAVEclient<datastack_name=None, server_address='{demo_server.url}'>"
    # The global services work...
    assert c.info.get_datastacks() == [demo_server.datastack]
    assert "synapse" in c.schema.get_schemas()
    assert c.info.get_datastack_info(demo_server.datastack)["local_server"] == demo_server.url
    # ...the datastack ones say why they cannot.
    for name in ("materialize", "chunkedgraph", "annotation", "l2cache", "skeleton",
                 "local_server"):
        with pytest.raises(GlobalClientError, match="datastack"):
            getattr(c, name)
    with pytest.raises(GlobalClientError):
        c.info.get_datastack_info()
    with pytest.raises(GlobalClientError):
        c.version = 3
    assert c.version is None


def test_global_only_flag_ignores_the_datastack(demo_server, monkeypatch, home):
    seen = record_requests(monkeypatch)
    c = CAVEclient(demo_server.datastack, server_address=demo_server.url,
                   auth_token=demo_server.token, global_only=True)
    assert c.datastack_name is None
    assert seen == []
    with pytest.raises(GlobalClientError):
        c.materialize
    assert not (secrets(home) / "cave_datastack_to_server_map.json").exists()


def test_every_registered_service_builds_and_is_built_once(client):
    from cave_widgets.client.registry import SERVICES

    assert {spec.name for spec in SERVICES} | {"auth"} == {
        "annotation", "auth", "chunkedgraph", "info", "l2cache", "materialize", "schema",
        "skeleton", "state"}
    for spec in SERVICES:
        service = getattr(client, spec.name)
        assert type(service).__name__ == spec.implementation.partition(":")[2]
        assert getattr(client, spec.name) is service


def test_info_cache_skips_the_datastack_request(demo_server, monkeypatch):
    first = CAVEclient(demo_server.datastack, server_address=demo_server.url,
                       auth_token=demo_server.token)
    record = dict(first.info.get_datastack_info(), description="from the cache")
    cache = {demo_server.datastack: record}
    seen = record_requests(monkeypatch)
    c = CAVEclient(demo_server.datastack, server_address=demo_server.url,
                   auth_token=demo_server.token, info_cache=cache)
    assert c.local_server == demo_server.url
    assert c.info.get_datastack_info()["description"] == "from the cache"
    assert not [p for _, p in seen if "/datastack/full/" in p]
    # use_stored=False asks the server, and the caller's cache follows.
    fresh = c.info.get_datastack_info(use_stored=False)
    assert fresh["description"] != "from the cache"
    assert ("GET", f"/info/api/v2/datastack/full/{demo_server.datastack}") in seen
    assert cache[demo_server.datastack]["description"] == fresh["description"]


def test_info_cache_with_another_local_server(demo_server):
    # The local server comes from the (cached) record, not from the global address.
    port = demo_server.url.rsplit(":", 1)[1]
    record = CAVEclient(server_address=demo_server.url, auth_token=demo_server.token
                        ).info.get_datastack_info(demo_server.datastack)
    cache = {demo_server.datastack: dict(record, local_server=f"http://localhost:{port}/")}
    c = CAVEclient(demo_server.datastack, server_address=demo_server.url,
                   auth_token=demo_server.token, info_cache=cache)
    assert c.local_server == f"http://localhost:{port}"
    assert f"localhost:{port}" in c.session.auth.hosts  # the token may go there too
    assert c.materialize.server_address == f"http://localhost:{port}"
    assert max(c.materialize.get_versions()) == 5  # and it answers, with the token


def test_write_server_cache_writes_the_map_under_home(demo_server, home):
    mapfile = secrets(home) / "cave_datastack_to_server_map.json"
    mapfile.parent.mkdir(parents=True)
    mapfile.write_text(json.dumps({"another_ds": "https://elsewhere.example.org"}))
    CAVEclient(demo_server.datastack, server_address=demo_server.url,
               auth_token=demo_server.token)
    assert json.loads(mapfile.read_text()) == {
        "another_ds": "https://elsewhere.example.org", demo_server.datastack: demo_server.url}
    assert stat.S_IMODE(mapfile.stat().st_mode) == 0o600
    assert stat.S_IMODE(mapfile.parent.stat().st_mode) == 0o700
    # Next time the datastack alone finds its server.
    again = CAVEclient(demo_server.datastack, auth_token=demo_server.token)
    assert again.server_address == demo_server.url
    assert again.local_server == demo_server.url


def test_write_server_cache_false_writes_nothing(demo_server, home):
    CAVEclient(demo_server.datastack, server_address=demo_server.url,
               auth_token=demo_server.token, write_server_cache=False)
    assert not (secrets(home) / "cave_datastack_to_server_map.json").exists()


def test_server_map_is_not_written_for_an_unknown_datastack(demo_server, home):
    with pytest.raises(UnknownDatastackError):
        CAVEclient("no_such_ds", server_address=demo_server.url, auth_token=demo_server.token)
    assert not (secrets(home) / "cave_datastack_to_server_map.json").exists()


def test_server_map_is_not_written_when_the_server_was_not_given(demo_server, home):
    # As caveclient: only an explicit server is remembered. (info_cache keeps this offline.)
    record = CAVEclient(server_address=demo_server.url, auth_token=demo_server.token
                        ).info.get_datastack_info(demo_server.datastack)
    c = CAVEclient("some_ds", auth_token=demo_server.token, info_cache={"some_ds": record})
    assert c.server_address == "https://global.daf-apis.com"
    assert not (secrets(home) / "cave_datastack_to_server_map.json").exists()


def test_pool_and_retry_arguments_reach_the_session_adapters(demo_server):
    c = CAVEclient(demo_server.datastack, server_address=demo_server.url,
                   auth_token=demo_server.token, max_retries=7, pool_maxsize=21, pool_block=True)
    defaults = get_session_defaults()
    for prefix in ("http://", "https://"):
        adapter = c.session.adapters[prefix]
        assert adapter._pool_maxsize == 21
        assert adapter._pool_block is True
        assert adapter.max_retries.total == 7
        assert adapter.max_retries.backoff_factor == defaults["backoff_factor"]
        assert tuple(adapter.max_retries.status_forcelist) == tuple(defaults["status_forcelist"])
        assert set(adapter.max_retries.allowed_methods) == {"GET", "POST"}
    # Every service shares that one session, and it works.
    assert c.info.session is c.session and c.schema.session is c.session
    assert c.materialize.session is c.session
    assert c.info.get_datastacks() == [demo_server.datastack]


def test_session_defaults_when_not_given(client):
    defaults = get_session_defaults()
    adapter = client.session.adapters["https://"]
    assert adapter._pool_maxsize == defaults["pool_maxsize"]
    assert adapter._pool_block == defaults["pool_block"]
    assert adapter.max_retries.total == defaults["max_retries"]


def test_desired_resolution_is_kept(demo_server):
    c = CAVEclient(demo_server.datastack, server_address=demo_server.url,
                   auth_token=demo_server.token, desired_resolution=[4, 4, 40])
    assert list(c.desired_resolution) == [4, 4, 40]


def test_version_argument_sets_version_and_timestamp(demo_server, version_times):
    c = CAVEclient(demo_server.datastack, server_address=demo_server.url,
                   auth_token=demo_server.token, version=3)
    assert c.version == 3
    assert c.timestamp == version_times[3]
    assert c.materialize.version == 3


def test_unknown_version_argument_fails_construction(demo_server):
    with pytest.raises(UnknownVersionError):
        CAVEclient(demo_server.datastack, server_address=demo_server.url,
                   auth_token=demo_server.token, version=99)


def test_repr_shows_datastack_and_server_never_the_token(client, demo_server):
    assert repr(client) == (f"CAVEclient<datastack_name='{demo_server.datastack}', "
                            f"server_address='{demo_server.url}'>")
    client.auth.whoami()
    for text in (repr(client), str(client), repr(client.auth), repr(client.info),
                 repr(client.schema), repr(client.materialize), repr(client.session.auth),
                 repr(client.trait_values())):
        assert demo_server.token not in text


# --- server address ------------------------------------------------------------------------


def test_server_address_must_be_http(client):
    with pytest.raises(traitlets.TraitError, match="http"):
        client.server_address = "ftp://example.org"
    assert client.server_address.startswith("http://")


def test_changing_server_drops_the_datastack_and_the_version(client, demo_server):
    client.version = 4
    changes = Changes(client, ["datastack_name", "version", "timestamp"])
    client.server_address = "http://127.0.0.1:9"  # never contacted
    assert client.datastack_name is None
    assert client.version is None and client.timestamp is None
    assert changes.of("datastack_name") == [(demo_server.datastack, None)]
    assert changes.of("version") == [(4, None)]
    with pytest.raises(GlobalClientError):
        client.materialize


# --- datastack ---------------------------------------------------------------------------------


def test_unknown_datastack_is_refused_and_nothing_changes(client, demo_server):
    changes = Changes(client, ["datastack_name", "version"])
    with pytest.raises(UnknownDatastackError, match="no_such_ds"):
        client.datastack_name = "no_such_ds"
    assert client.datastack_name == demo_server.datastack
    assert changes.seen == []


def test_datastack_changes_are_observed_and_reset_the_version(client, demo_server,
                                                              version_times):
    client.version = 3
    changes = Changes(client, ["datastack_name", "version", "timestamp"])
    client.datastack_name = None
    assert changes.of("datastack_name") == [(demo_server.datastack, None)]
    assert changes.of("version") == [(3, None)]
    assert changes.of("timestamp") == [(version_times[3], None)]
    with pytest.raises(GlobalClientError):
        client.materialize
    client.datastack_name = demo_server.datastack
    assert changes.of("datastack_name")[-1] == (None, demo_server.datastack)
    assert client.materialize.datastack_name == demo_server.datastack
    client.version = 2
    assert client.timestamp == version_times[2]


def test_a_global_client_can_pick_a_datastack_later(demo_server):
    c = CAVEclient(server_address=demo_server.url, auth_token=demo_server.token)
    c.datastack_name = demo_server.datastack
    assert c.local_server == demo_server.url
    c.version = 5
    assert c.materialize.version == 5


# --- version and timestamp -------------------------------------------------------------------


def test_setting_a_version_pins_its_timestamp(client, version_times):
    changes = Changes(client, ["version", "timestamp"])
    client.version = 4
    assert client.version == 4
    assert client.timestamp == version_times[4]
    assert client.timestamp.tzinfo is not None
    assert client.timestamp.utcoffset() == timedelta(0)
    assert changes.of("version") == [(None, 4)]
    assert changes.of("timestamp") == [(None, version_times[4])]
    assert client.materialize.version == 4


def test_moving_between_versions_moves_the_timestamp(client, version_times):
    client.version = 2
    changes = Changes(client, ["version", "timestamp"])
    client.version = 5
    assert changes.of("version") == [(2, 5)]
    assert changes.of("timestamp") == [(version_times[2], version_times[5])]


def test_expired_version_warns_but_is_accepted(client, version_times):
    with pytest.warns(ExpiredVersionWarning, match="expired"):
        client.version = 1
    assert client.version == 1
    assert client.timestamp == version_times[1]


def test_valid_version_does_not_warn(client):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        client.version = 3
    assert client.version == 3


def test_unknown_version_is_refused_and_nothing_changes(client, version_times):
    client.version = 3
    changes = Changes(client, ["version", "timestamp"])
    with pytest.raises(UnknownVersionError, match="99") as info:
        client.version = 99
    assert isinstance(info.value, ValueError)
    assert "versions: [1, 2, 3, 4, 5]" in str(info.value)
    assert client.version == 3 and client.timestamp == version_times[3]
    assert changes.seen == []


@pytest.mark.parametrize("bad", ["3", 3.5, [3]])
def test_version_must_be_an_integer(client, bad):
    with pytest.raises((traitlets.TraitError, TypeError)):
        client.version = bad
    assert client.version is None


def test_version_accepts_numpy_integers(client, version_times):
    client.version = np.int64(4)
    assert client.version == 4 and type(client.version) is int
    assert client.timestamp == version_times[4]


def test_version_none_clears_both(client):
    client.version = 4
    changes = Changes(client, ["version", "timestamp"])
    client.version = None
    assert client.version is None and client.timestamp is None
    assert changes.of("version") == [(4, None)]
    assert len(changes.of("timestamp")) == 1


def test_a_timestamp_alone_means_live_and_clears_the_version(client, version_times):
    client.version = 4
    changes = Changes(client, ["version", "timestamp"])
    live = version_times[4] + timedelta(hours=1)
    client.timestamp = live
    assert client.timestamp == live
    assert client.version is None
    assert changes.of("version") == [(4, None)]
    assert changes.of("timestamp") == [(version_times[4], live)]


def test_the_versions_own_timestamp_keeps_the_version(client, version_times):
    client.version = 4
    client.timestamp = version_times[4]
    assert client.version == 4
    # The same instant written in another time zone is the same timestamp.
    client.timestamp = version_times[4].astimezone(timezone(timedelta(hours=-5)))
    assert client.version == 4


def test_clearing_the_timestamp_clears_the_version(client):
    client.version = 4
    client.timestamp = None
    assert client.version is None and client.timestamp is None


def test_timestamp_without_a_version_stays_live(client):
    when = datetime(2024, 6, 1, 12, tzinfo=UTC)
    client.timestamp = when
    assert client.timestamp == when and client.version is None


@pytest.mark.parametrize("value", [
    datetime(2024, 6, 1, 12),  # naive: UTC
    datetime(2024, 6, 1, 14, tzinfo=timezone(timedelta(hours=2))),
    "2024-06-01T12:00:00Z",
    "2024-06-01T12:00:00+00:00",
    "2024-06-01T12:00:00",
    1717243200,
    1717243200.0,
])
def test_timestamp_forms_all_become_aware_utc(client, value):
    client.timestamp = value
    assert client.timestamp == datetime(2024, 6, 1, 12, tzinfo=UTC)
    assert client.timestamp.tzinfo == UTC


@pytest.mark.parametrize("bad", ["yesterday", True, [2024, 6, 1]])
def test_bad_timestamps_are_refused(client, bad):
    with pytest.raises(traitlets.TraitError):
        client.timestamp = bad
    assert client.timestamp is None


# --- observers and links: widgets bind to the client this way -----------------------------------


class Picker(traitlets.HasTraits):
    """Stands for a widget's version picker."""

    version = traitlets.Int(None, allow_none=True)
    timestamp = traitlets.Instance(datetime, allow_none=True)
    datastack = traitlets.Unicode(None, allow_none=True)


def test_link_version_both_ways(client, version_times):
    picker = Picker()
    link = traitlets.link((client, "version"), (picker, "version"))
    try:
        picker.version = 4  # the widget picks a version
        assert client.version == 4
        assert client.timestamp == version_times[4]
        client.version = 2  # a cell sets one
        assert picker.version == 2
        client.timestamp = version_times[2] + timedelta(minutes=5)  # live: no version
        assert picker.version is None
        picker.version = 5
        assert client.version == 5
    finally:
        link.unlink()
    client.version = 3
    assert picker.version == 5  # unlinked


def test_directional_link_of_timestamp_and_datastack(client, demo_server, version_times):
    picker = Picker()
    links = [traitlets.dlink((client, "timestamp"), (picker, "timestamp")),
             traitlets.dlink((client, "datastack_name"), (picker, "datastack"))]
    try:
        assert picker.datastack == demo_server.datastack
        client.version = 3
        assert picker.timestamp == version_times[3]
        client.version = None
        assert picker.timestamp is None
        client.datastack_name = None
        assert picker.datastack is None
    finally:
        for link in links:
            link.unlink()


def test_a_linked_unknown_version_raises_and_the_client_keeps_its_version(client):
    picker = Picker()
    client.version = 3
    link = traitlets.link((client, "version"), (picker, "version"))
    try:
        with pytest.raises(UnknownVersionError):
            picker.version = 42
        assert client.version == 3
    finally:
        link.unlink()


def test_observers_can_be_removed(client):
    changes = Changes(client, ["version"])
    client.version = 3
    client.unobserve(changes, names=["version"])
    client.version = 4
    assert changes.of("version") == [(None, 3)]


def test_observers_see_a_consistent_state(client, version_times):
    # Whichever notification comes first, version and timestamp already agree by then.
    seen = []

    def observer(change):
        seen.append((change["name"], client.version, client.timestamp))

    client.observe(observer, names=traitlets.All)
    client.version = 5
    assert sorted(name for name, _, _ in seen) == ["timestamp", "version"]
    assert all((v, t) == (5, version_times[5]) for _, v, t in seen)
    seen.clear()
    live = version_times[5] + timedelta(seconds=1)
    client.timestamp = live
    assert sorted(name for name, _, _ in seen) == ["timestamp", "version"]
    assert all((v, t) == (None, live) for _, v, t in seen)


def test_an_explicit_token_does_not_follow_a_server_change(client):
    assert client.auth.token is not None
    client.server_address = "http://127.0.0.1:9"  # nothing listens there
    assert client.auth.token is None and client.auth_state == "anonymous"
    assert client.datastack_name is None and client.version is None


def test_setup_token_checks_and_saves_the_pasted_token(demo_server, monkeypatch, home, capsys):
    pasted = iter(["not-a-token", "0" * 32, demo_server.token.upper()])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(pasted))
    client = CAVEclient.setup_token(demo_server.url, open=False)
    out = capsys.readouterr().out
    assert "32 hexadecimal" in out and "did not accept" in out
    assert client.auth.token == demo_server.token
    saved = secrets(home) / f"{demo_server.url.split('//')[1]}-cave-secret.json"
    assert json.loads(saved.read_text())["token"] == demo_server.token
    assert demo_server.token not in out


def test_neuroglancer_paths(client, demo_server):
    mat = client.materialize
    base = f"{demo_server.url}/materialize/api/v3/datastack/demo_local"
    assert mat.neuroglancer_annotation_path("synapses") == (
        f"precomputed://middleauth+{base}/table/synapses/precomputed")
    assert mat.neuroglancer_segprop_path("nuclei", materialization_version=3,
                                         for_neuroglancer=False) == f"{base}/version/3/table/nuclei"
