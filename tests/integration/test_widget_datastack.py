"""DatastackSelector's Python side, no browser: its traits follow a CAVEclient talking to the
embedded demo server over real HTTP, and choices made in Python (widget traits) or in the
browser (requests, answered in the worker thread) land on the client.

The browser is stood in for by sending the widget the messages its front end sends
({type, id, ...}) and reading the replies it sends back. HOME points at a temporary folder.
"""

from __future__ import annotations

import json
import socket
import time
import warnings
from datetime import datetime, timedelta, timezone

import pytest
from helpers.client_wire import private_home

from cave_widgets import CAVEclient
from cave_widgets.client import ExpiredVersionWarning, errors
from cave_widgets.widgets.datastack import DatastackSelector

UTC = timezone.utc
BINDING = ("datastack", "version", "mode", "timestamp")


def wait_for(condition, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def parse(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


class FakeBrowser:
    """Sends requests as datastack.js does and collects the widget's replies."""

    def __init__(self, widget, monkeypatch):
        self.widget = widget
        self.replies: dict[int, dict] = {}
        self.sent: list = []
        self._next = 0
        original = widget.send

        def send(content, buffers=None):
            self.sent.append(content)
            if isinstance(content, dict) and content.get("type") == "reply":
                self.replies[content["id"]] = content
            return original(content, buffers)

        monkeypatch.setattr(widget, "send", send)

    def request(self, kind: str, **payload) -> dict:
        self._next += 1
        request_id = self._next
        self.widget._on_browser_message(self.widget, {"type": kind, "id": request_id,
                                                      **payload}, [])
        wait_for(lambda: request_id in self.replies, what=f"the reply to {kind}")
        return self.replies[request_id]


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    return private_home(tmp_path, monkeypatch)


@pytest.fixture()
def client(demo_server):
    return CAVEclient(demo_server.datastack, server_address=demo_server.url,
                      auth_token=demo_server.token, write_server_cache=False)


@pytest.fixture()
def widgets():
    made = []
    yield made
    for widget in made:
        widget.close()


@pytest.fixture()
def make(widgets):
    def build(client, ready: bool = True) -> DatastackSelector:
        widget = DatastackSelector(client)
        widgets.append(widget)
        if ready:
            wait_for(lambda: widget.status != "loading", what="the first load")
            assert widget.status == "ready", widget.error
        return widget

    return build


@pytest.fixture()
def widget(make, client):
    return make(client)


@pytest.fixture()
def browser(widget, monkeypatch):
    return FakeBrowser(widget, monkeypatch)


def by_version(widget) -> dict[int, dict]:
    return {v["version"]: v for v in widget.versions}


# --- what it lists ---------------------------------------------------------------------------


def test_shows_the_server_and_the_demo_datastack_with_its_description(widget, demo_server):
    assert widget.server_address == demo_server.url
    assert widget.datastack == "demo_local"
    wait_for(lambda: all(d["details"] for d in widget.datastacks), what="datastack details")
    (entry,) = [d for d in widget.datastacks if d["name"] == "demo_local"]
    assert "Synthetic demo datastack" in entry["description"]
    assert entry["aligned_volume"] == "demo_volume"


def test_versions_list_dates_expiry_and_the_expired_version(widget, client):
    versions = by_version(widget)
    assert sorted(versions) == [1, 2, 3, 4, 5]
    assert [v["version"] for v in widget.versions] == [5, 4, 3, 2, 1]  # newest first
    for number, entry in versions.items():
        assert set(entry) == {"version", "time_stamp", "expires_on", "expired",
                              "expires_in_days"}
        assert parse(entry["time_stamp"]) == client.materialize.get_timestamp(number)
    assert versions[1]["expired"] is True
    assert versions[1]["expires_in_days"] is None
    assert parse(versions[1]["expires_on"]) < datetime.now(UTC)
    assert versions[2] == {**versions[2], "expired": False, "expires_on": None,
                           "expires_in_days": None}  # a long-term version never expires
    now = datetime.now(UTC)
    for number in (3, 4, 5):
        entry = versions[number]
        assert entry["expired"] is False
        assert isinstance(entry["expires_in_days"], int) and entry["expires_in_days"] >= 0
        left = parse(entry["expires_on"]) - now
        assert entry["expires_in_days"] == left // timedelta(days=1)
    # As the demo catalogue says: version 5 has ~6 days left, version 4 ~4.
    assert versions[5]["expires_in_days"] in (5, 6)
    assert versions[4]["expires_in_days"] in (3, 4)
    json.dumps(widget.versions)  # plain JSON for the browser


def test_starts_at_the_clients_state(make, demo_server):
    client = CAVEclient(demo_server.datastack, server_address=demo_server.url,
                        auth_token=demo_server.token, write_server_cache=False, version=3)
    widget = make(client)
    assert (widget.version, widget.mode) == (3, "version")
    assert parse(widget.timestamp) == client.timestamp


# --- client → widget ------------------------------------------------------------------------


def test_latest_by_default(widget, client):
    assert client.version is None and client.timestamp is None
    assert (widget.version, widget.mode, widget.timestamp) == (None, "version", "")


def test_setting_client_version_in_a_cell_moves_the_widget(widget, client):
    client.version = 3
    assert widget.version == 3
    assert widget.mode == "version"
    assert parse(widget.timestamp) == client.timestamp == client.materialize.get_timestamp(3)
    client.version = 4
    assert widget.version == 4
    client.version = None
    assert (widget.version, widget.mode, widget.timestamp) == (None, "version", "")


def test_setting_client_timestamp_in_a_cell_switches_the_widget_to_live(widget, client):
    client.version = 3
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    client.timestamp = when
    assert client.version is None
    assert widget.mode == "live"
    assert widget.version is None
    assert parse(widget.timestamp) == when


def test_client_put_on_an_expired_version_in_a_cell_shows_a_warning(widget, client):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExpiredVersionWarning)
        client.version = 1
    assert widget.version == 1
    assert "expired" in widget.notice and "Version 1" in widget.notice
    client.version = 3
    assert widget.notice == ""


# --- widget (Python) → client ---------------------------------------------------------------


def test_setting_widget_version_sets_the_client_at_once(widget, client):
    widget.version = 4
    assert client.version == 4
    assert client.timestamp == client.materialize.get_timestamp(4)
    assert widget.mode == "version"
    widget.version = None
    assert client.version is None and client.timestamp is None


def test_widget_live_mode_and_timestamp_set_the_client(widget, client):
    widget.version = 3
    when = datetime.now(UTC) - timedelta(days=2)
    widget.timestamp = when.isoformat()
    assert client.timestamp == when
    assert client.version is None
    assert widget.mode == "live"
    widget.mode = "version"  # back to the version chosen before
    assert client.version == 3 and widget.mode == "version"
    before = datetime.now(UTC)
    widget.mode = "live"  # pinned at now
    assert client.version is None
    assert before <= client.timestamp <= datetime.now(UTC)
    assert parse(widget.timestamp) == client.timestamp


def test_choosing_the_expired_version_in_python_is_refused(widget, client):
    client.version = 3
    with pytest.raises(errors.VersionExpiredError, match="Version 1 .*expired"):
        widget.version = 1
    assert client.version == 3
    assert widget.version == 3
    assert "expired" in widget.notice


def test_an_unknown_version_is_refused(widget, client):
    with pytest.raises(ValueError, match="Version 99 does not exist"):
        widget.version = 99
    assert client.version is None and widget.version is None


def test_a_future_live_time_is_refused(widget, client):
    with pytest.raises(ValueError, match="future"):
        widget.timestamp = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert client.timestamp is None
    assert (widget.mode, widget.timestamp) == ("version", "")


# --- browser → client (requests answered in the worker thread) ------------------------------


def test_picking_a_version_in_the_browser_sets_the_client(widget, client, browser):
    reply = browser.request("select_version", version=3)
    assert reply["ok"] == {"applied": True}
    assert client.version == 3
    assert widget.version == 3 and widget.mode == "version"
    reply = browser.request("select_version", version=None)
    assert client.version is None and client.timestamp is None
    assert widget.version is None


def test_picking_the_expired_version_in_the_browser_is_refused(widget, client, browser):
    browser.request("select_version", version=4)
    reply = browser.request("select_version", version=1)
    assert "expired" in reply["ok"]["refused"]
    assert client.version == 4
    assert widget.version == 4
    assert "Version 1" in widget.notice and "Pick a valid version" in widget.notice


def test_live_and_now_in_the_browser_set_the_client_timestamp(widget, client, browser):
    browser.request("select_version", version=3)
    before = datetime.now(UTC)
    reply = browser.request("select_mode", mode="live")
    assert reply["ok"] == {"applied": True}
    assert client.version is None
    assert before <= client.timestamp <= datetime.now(UTC)
    assert widget.mode == "live"
    browser.request("select_live", timestamp="2026-03-04T05:06:07Z")
    assert client.timestamp == datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert parse(widget.timestamp) == client.timestamp
    before = datetime.now(UTC)
    browser.request("select_live", timestamp=None)  # the "now" button
    assert client.timestamp >= before and client.version is None
    browser.request("select_mode", mode="version")
    assert client.version == 3 and widget.mode == "version"


def test_a_failed_choice_answers_with_an_error(widget, client, browser):
    reply = browser.request("select_live", timestamp="not a time")
    assert "ok" not in reply
    assert reply["error"]["message"]
    assert client.timestamp is None


def test_a_global_client_picks_its_datastack_in_the_widget(make, demo_server, monkeypatch):
    client = CAVEclient(server_address=demo_server.url, auth_token=demo_server.token,
                        write_server_cache=False)
    widget = make(client)
    assert widget.datastack is None and widget.versions == []
    assert [d["name"] for d in widget.datastacks] == ["demo_local"]
    browser = FakeBrowser(widget, monkeypatch)
    reply = browser.request("select_datastack", name="demo_local")
    assert reply["ok"] == {"applied": True}
    assert client.datastack_name == "demo_local"
    assert widget.datastack == "demo_local"
    wait_for(lambda: len(widget.versions) == 5 and widget.status == "ready",
             what="the versions of the new datastack")
    browser.request("select_version", version=2)
    assert client.version == 2


def test_an_unknown_datastack_is_an_error_reply(widget, client, browser):
    reply = browser.request("select_datastack", name="no_such_stack")
    assert reply["error"]["message"]
    assert client.datastack_name == "demo_local"
    assert widget.datastack == "demo_local"


# --- loading, errors, retry -----------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_server_shows_an_error_state(make, demo_server, monkeypatch):
    url = f"http://127.0.0.1:{_closed_port()}"
    client = CAVEclient(server_address=url, auth_token=demo_server.token,
                        write_server_cache=False)
    widget = make(client, ready=False)
    wait_for(lambda: widget.status == "error", what="the error state")
    assert widget.server_address == url
    assert widget.error["message"]
    assert "ServerUnreachableError" in widget.error["details"]
    reply = FakeBrowser(widget, monkeypatch).request("reload")  # Retry: still unreachable
    assert reply["error"]["message"]
    assert widget.status == "error"


def test_retry_after_a_failed_load(make, client, monkeypatch):
    materialize = client.materialize
    real = materialize.get_versions_metadata
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise errors.ServerError("503 from GET /metadata: try later")
        return real(*args, **kwargs)

    monkeypatch.setattr(materialize, "get_versions_metadata", flaky)
    widget = make(client, ready=False)
    wait_for(lambda: widget.status != "loading", what="the first load")
    assert widget.status == "error"
    assert "503" in widget.error["message"]
    reply = FakeBrowser(widget, monkeypatch).request("reload")
    assert reply["ok"] == {"loaded": True}
    assert widget.status == "ready" and widget.error == {}
    assert len(widget.versions) == 5


def test_busy_while_a_request_runs_and_idle_after(widget, browser):
    browser.request("select_version", version=3)
    wait_for(lambda: not widget.busy, what="busy to clear")


# --- what is synced ---------------------------------------------------------------------------


def test_no_synced_state_ever_holds_the_token(widget, client, browser, demo_server):
    token = demo_server.token
    states = [widget.get_state()]
    browser.request("select_version", version=3)
    states.append(widget.get_state())
    browser.request("select_version", version=1)
    browser.request("select_mode", mode="live")
    states.append(widget.get_state())
    browser.request("reload")
    states.append(widget.get_state())
    for state in states:
        assert token not in json.dumps(state, default=str)
    assert token not in json.dumps(browser.sent, default=str)
    synced = set(widget.keys)
    assert not any("token" in name for name in synced)
    assert {"datastacks", "datastack", "versions", "version", "mode", "timestamp", "status",
            "error"} <= synced


def test_after_close_the_widget_no_longer_follows_the_client(make, client):
    widget = make(client)
    widget.close()
    client.version = 3
    assert widget.version is None


def test_a_refusal_notice_goes_once_another_choice_works(widget, client, browser):
    reply = browser.request("select_version", version=1)
    assert "refused" in reply["ok"] and "Version 1" in widget.notice
    assert browser.request("select_version", version=None)["ok"] == {"applied": True}
    assert widget.notice == ""


def test_a_signed_out_client_shows_a_sign_in_state_then_loads(make, demo_server):
    client = CAVEclient(demo_server.datastack, server_address=demo_server.url,
                        write_server_cache=False)
    widget = make(client, ready=False)
    widget.wait()
    assert widget.status == "signed_out" and widget.error == {}
    assert widget.datastacks == [] and widget.versions == []
    client.change_auth(auth_token=demo_server.token)
    wait_for(lambda: widget.status == "ready" and widget.versions, what="the versions")
    assert widget.error == {} and [d["name"] for d in widget.datastacks] == ["demo_local"]
    client.change_auth(auth_token=None)
    wait_for(lambda: widget.status == "signed_out", what="signed out")
    assert widget.datastacks == [] and widget.versions == []
