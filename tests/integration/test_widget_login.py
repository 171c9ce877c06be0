"""LoginWidget, Python side, no browser: the browser's requests are simulated through
`_on_browser_message` (handlers run in the widget's worker thread, as in a kernel), against the
embedded server over real HTTP. Outside a kernel ipywidgets uses a dummy comm.

HOME points at a temporary folder in every test, so ~/.cloudvolume is never the real one. Every
widget made here records each value its synced traits take and each message it sends; at the
end of each test none of them may contain any token."""

from __future__ import annotations

import json
import re
import stat
import time
from urllib.parse import urlsplit

import pytest
import requests
import traitlets
from helpers.client_wire import private_home, secrets

from cave_widgets import CAVEclient
from cave_widgets.client import tokens
from cave_widgets.widgets.login import LoginWidget

HEX32 = re.compile(r"[0-9a-f]{32}")
BAD = "0" * 32  # well-formed, unknown to the server


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    return private_home(tmp_path, monkeypatch)


def sign_in_token(server, user_id: int = 1) -> str:
    """A 7-day login token, minted the way the popup gets one: POST the demo sign-in form
    without a redirect and read the token the page posts to its opener."""
    r = requests.post(f"{server.url}/sticky_auth/api/v1/authorize",
                      data={"user_id": str(user_id)}, timeout=30)
    assert r.status_code == 200, r.text
    found = re.search(r'"token": "([0-9a-f]{32})"', r.text)
    assert found, "the sign-in page did not carry a token"
    return found.group(1)


def server_file(server):
    return tokens.server_file(urlsplit(server.url).netloc)


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def wait_until(predicate, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class Recorder:
    """Everything a widget exposed: each value of a synced trait and each message sent."""

    def __init__(self):
        self.seen: list[str] = []
        self.widgets: list[LoginWidget] = []

    def attach(self, widget: LoginWidget) -> LoginWidget:
        synced = set(widget.keys)
        self.seen.append(json.dumps(widget.get_state(), default=str))

        def on_change(change):
            if change["name"] in synced:
                self.seen.append(json.dumps(change["new"], default=str))

        widget.observe(on_change, names=traitlets.All)
        widget.sent = []

        def send(content, buffers=None):
            widget.sent.append(content)
            self.seen.append(json.dumps(content, default=str))

        widget.send = send
        self.widgets.append(widget)
        return widget

    def text(self) -> str:
        for w in self.widgets:
            self.seen.append(json.dumps(w.get_state(), default=str))
        return "\n".join(self.seen)


@pytest.fixture()
def recorder(demo_server, home):
    rec = Recorder()
    yield rec
    for w in rec.widgets:
        wait_until(lambda w=w: not w.busy and w.status != "checking", what="the widget to settle")
    known = set(demo_server.tokens.values()) | rec_tokens(rec) | saved_tokens(home)
    text = rec.text()
    leaked = [t for t in known if t in text]
    assert not leaked, "a token reached a synced trait or a message to the browser"
    for w in rec.widgets:
        w.close()


def rec_tokens(rec: Recorder) -> set[str]:
    return set(getattr(rec, "extra", set()))


def saved_tokens(home) -> set[str]:
    found = set()
    folder = secrets(home)
    if folder.exists():
        for path in folder.iterdir():
            found |= set(HEX32.findall(path.read_text()))
    return found


@pytest.fixture()
def make_widget(recorder):
    def make(client: CAVEclient) -> LoginWidget:
        return recorder.attach(LoginWidget(client))

    return make


def ask(widget: LoginWidget, kind: str, recorder: Recorder | None = None, **payload) -> dict:
    """Send one request as the browser would and return the reply."""
    ask.next_id = getattr(ask, "next_id", 0) + 1
    request_id = ask.next_id
    if recorder is not None and "token" in payload:
        recorder.extra = rec_tokens(recorder) | {payload["token"]}
    widget._on_browser_message(widget, {"type": kind, "id": request_id, **payload}, [])
    wait_until(lambda: any(m.get("id") == request_id for m in widget.sent), what=f"{kind} reply")
    reply = next(m for m in widget.sent if m.get("id") == request_id)
    assert "error" not in reply, reply
    return reply["ok"]


def anonymous_client(server, **kwargs) -> CAVEclient:
    return CAVEclient(server_address=server.url, **kwargs)


# --- signing in ---------------------------------------------------------------------------------


def test_a_new_widget_shows_the_server_and_the_sign_in_urls(demo_server, make_widget):
    w = make_widget(anonymous_client(demo_server))
    assert w.status == "signed_out"
    assert w.server_address == demo_server.url
    assert w.login_url == f"{demo_server.url}/sticky_auth/api/v1/authorize"
    assert w.keys_page_url == f"{demo_server.url}/sticky_auth/settings/tokens"
    assert (w.user_name, w.user_email, w.notice) == ("", "", {})
    assert w.remember is False
    state = w.get_state()
    assert {"status", "user_name", "user_email", "remember", "login_url", "keys_page_url",
            "notice", "server_address"} <= set(state)
    assert not any("token" == k for k in state)


def test_a_token_from_the_browser_signs_the_client_in(demo_server, make_widget, recorder, home):
    client = anonymous_client(demo_server)
    w = make_widget(client)
    token = sign_in_token(demo_server)
    assert ask(w, "token", recorder, token=token, remember=False) == {"status": "signed_in"}
    assert client.auth_state == "verified"
    assert client.auth.token == token
    assert (client.user_name, client.user_email) == ("Demo User", "demo@example.org")
    assert (w.status, w.user_name, w.user_email) == ("signed_in", "Demo User", "demo@example.org")
    assert w.notice == {}
    assert not secrets(home).exists() or not any(secrets(home).iterdir())  # nothing saved


def test_remember_mints_a_key_and_saves_it_0600_where_caveclient_looks(
        demo_server, make_widget, recorder, home):
    client = anonymous_client(demo_server)
    w = make_widget(client)
    token = sign_in_token(demo_server)
    assert ask(w, "token", recorder, token=token, remember=True) == {"status": "signed_in"}
    path = secrets(home) / f"{urlsplit(demo_server.url).netloc}-cave-secret.json"
    assert path.exists()
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    key = json.loads(path.read_text())["token"]
    assert HEX32.fullmatch(key) and key != token
    # The client uses the new key, not the 7-day login token, and is signed in.
    assert client.auth.token == key
    assert (client.auth_state, client.user_name) == ("verified", "Demo User")
    assert w.status == "signed_in"
    # A key with the machine's name exists on the server, and a fresh client finds it.
    keys = {t["token"]: t["description"] for t in client.auth.get_tokens()}
    assert keys[key].startswith("cave_widgets on ")
    fresh = anonymous_client(demo_server)
    assert fresh.auth.token == key and fresh.auth.whoami()["name"] == "Demo User"
    # The generic cave-secret.json (maybe another server's token) is left alone.
    assert not tokens.default_file().exists()
    # The person is told where the key went.
    assert w.notice["kind"] == "info" and path.name in w.notice["message"]
    assert w.notice["message"].count("~/.cloudvolume/secrets/") == 1


def test_remember_follows_the_checkbox_when_the_request_does_not_say(
        demo_server, make_widget, recorder, home):
    client = anonymous_client(demo_server)
    w = make_widget(client)
    w.set_state({"remember": True})  # what ticking the box in the browser does
    assert w.remember is True
    token = sign_in_token(demo_server)
    ask(w, "token", recorder, token=token)
    assert server_file(demo_server).exists()
    assert client.auth.token != token


def test_a_rejected_token_is_an_error_and_keeps_whoever_is_signed_in(
        demo_server, make_widget, recorder):
    client = anonymous_client(demo_server, auth_token=demo_server.token)
    w = make_widget(client)
    wait_until(lambda: w.status == "signed_in", what="the first check")
    assert ask(w, "token", recorder, token=BAD, remember=True) == {"status": "error"}
    assert w.status == "error"
    assert w.notice["message"] == "The server did not accept that token."
    assert w.notice["kind"] == "auth"
    assert w.notice["link"] == f"{demo_server.url}/sticky_auth/settings/tokens"
    # The bad token did not replace the good one.
    assert client.auth.token == demo_server.token
    assert (client.auth_state, client.user_name) == ("verified", "Demo User")
    assert not server_file(demo_server).exists()


def test_something_that_is_not_a_token_is_refused_without_asking_the_server(
        demo_server, make_widget, recorder):
    client = anonymous_client(demo_server)
    w = make_widget(client)
    assert ask(w, "token", recorder, token="not a token", remember=False) == {"status": "error"}
    assert "does not look like a CAVE token" in w.notice["message"]
    assert client.auth_state == "anonymous"


def test_pasted_tokens_are_trimmed(demo_server, make_widget, recorder):
    client = anonymous_client(demo_server)
    w = make_widget(client)
    ask(w, "token", recorder, token=f"  {demo_server.token.upper()}\n", remember=False)
    assert client.auth.token == demo_server.token
    assert w.status == "signed_in"


# --- access: terms of service and permissions ----------------------------------------------------


def datastack_client(server) -> CAVEclient:
    return CAVEclient(server.datastack, server_address=server.url, auth_token=server.token)


def test_a_guest_without_permission_sees_why(demo_server, make_widget, recorder):
    client = datastack_client(demo_server)
    w = make_widget(client)
    wait_until(lambda: w.status == "signed_in", what="the first check")
    ask(w, "token", recorder, token=demo_server.tokens["guest"], remember=False)
    assert (client.auth_state, client.user_name) == ("verified", "Guest User")
    assert w.status == "signed_in" and w.user_name == "Guest User"
    assert w.notice["kind"] == "permission"
    assert "no permission" in w.notice["message"] and demo_server.datastack in w.notice["message"]
    assert "administrators" in w.notice["action"]


def test_a_guest_on_a_client_without_datastack_sees_why(demo_server, make_widget, recorder):
    client = anonymous_client(demo_server)
    w = make_widget(client)
    ask(w, "token", recorder, token=demo_server.tokens["guest"], remember=False)
    assert w.status == "signed_in"
    assert w.notice["kind"] == "permission"
    assert "Guest User has no permission" in w.notice["message"]


@pytest.mark.parametrize("with_datastack", [True, False])
def test_missing_terms_of_service_link_to_the_form_and_check_again_clears_it(
        demo_server, make_widget, recorder, with_datastack):
    client = datastack_client(demo_server) if with_datastack else anonymous_client(demo_server)
    w = make_widget(client)
    wait_until(lambda: w.status != "checking", what="the first check")
    new_token = demo_server.tokens["new"]
    ask(w, "token", recorder, token=new_token, remember=False)
    form = f"{demo_server.url}/sticky_auth/api/v1/tos/1/accept"
    assert (w.status, w.user_name) == ("signed_in", "New User")
    assert w.notice["kind"] == "tos"
    assert w.notice["link"] == form
    assert "terms of service" in w.notice["message"]
    user = demo_server.context.auth.users[3]
    try:
        # The person follows the link and accepts; "Check again" then finds access.
        accepted = requests.post(form, cookies={"middle_auth_token": new_token}, timeout=30)
        assert "You have accepted" in accepted.text
        assert ask(w, "check") == {"status": "signed_in"}
        assert w.notice == {}
    finally:
        user.missing_tos = True  # the server is shared by the whole session


# --- signing out --------------------------------------------------------------------------------


def test_logout_after_remember_forgets_the_saved_key(demo_server, make_widget, recorder, home):
    client = anonymous_client(demo_server)
    w = make_widget(client)
    ask(w, "token", recorder, token=sign_in_token(demo_server), remember=True)
    path = server_file(demo_server)
    assert tokens.read_key(path)
    assert ask(w, "logout", confirmed=False) == {"status": "signed_out"}
    assert client.auth.token is None and client.auth_state == "anonymous"
    assert (w.status, w.user_name, w.user_email) == ("signed_out", "", "")
    assert w.notice["message"] == "Signed out."
    # The key is gone from the file (which stays, 0600, so no other file is consulted), and
    # neither this client nor a new one picks a token up again.
    assert tokens.read_key(path) is None and mode(path) == 0o600
    client.change_auth(auth_token=None)
    assert client.auth.token is None
    assert anonymous_client(demo_server).auth.token is None


def test_logout_without_saved_token(demo_server, make_widget, recorder):
    client = anonymous_client(demo_server)
    w = make_widget(client)
    ask(w, "token", recorder, token=demo_server.token, remember=False)
    assert ask(w, "logout", confirmed=False) == {"status": "signed_out"}
    assert client.auth_state == "anonymous" and w.status == "signed_out"


def test_logout_asks_before_removing_a_token_the_widget_did_not_save(
        demo_server, make_widget, recorder, home):
    path = server_file(demo_server)
    tokens.write_key(path, demo_server.token)
    tokens.write_key(path, "other value", key="other_key")
    client = anonymous_client(demo_server)  # finds the saved token
    w = make_widget(client)
    wait_until(lambda: w.status == "signed_in", what="the check of the saved token")
    reply = ask(w, "logout", confirmed=False)
    assert reply == {"confirm": str(path)}
    assert client.auth_state == "verified" and tokens.read_key(path) == demo_server.token
    assert ask(w, "logout", confirmed=True) == {"status": "signed_out"}
    assert client.auth_state == "anonymous"
    assert tokens.read_key(path) is None
    assert tokens.read_key(path, "other_key") == "other value"  # other entries are kept


def test_logout_also_clears_a_saved_token_that_would_take_over(
        demo_server, make_widget, recorder, home):
    # Signed in as the guest for this session only, while the demo user's token is saved:
    # signing out must not quietly leave the client signed in with the saved one.
    tokens.write_key(tokens.default_file(), demo_server.token)
    client = anonymous_client(demo_server)
    w = make_widget(client)
    ask(w, "token", recorder, token=demo_server.tokens["guest"], remember=False)
    assert w.user_name == "Guest User"
    assert ask(w, "logout", confirmed=False) == {"confirm": str(tokens.default_file())}
    assert w.user_name == "Guest User"
    ask(w, "logout", confirmed=True)
    assert client.auth_state == "anonymous" and w.status == "signed_out"


# --- following the client -----------------------------------------------------------------------


def test_a_token_the_client_already_has_is_checked_on_construction(demo_server, make_widget):
    client = anonymous_client(demo_server, auth_token=demo_server.token)
    assert client.auth_state == "unverified"
    w = make_widget(client)
    assert w.status in ("checking", "signed_in")
    wait_until(lambda: w.status == "signed_in", what="the construction check")
    assert (w.user_name, w.user_email) == ("Demo User", "demo@example.org")
    assert client.auth_state == "verified"


def test_a_rejected_saved_token_shows_on_construction(demo_server, make_widget, home):
    tokens.write_key(server_file(demo_server), BAD)
    client = anonymous_client(demo_server)
    w = make_widget(client)
    wait_until(lambda: w.status == "error", what="the construction check")
    assert client.auth_state == "rejected"
    assert w.notice["message"] == "The server did not accept that token."


def test_changes_made_in_a_cell_show_in_the_widget(demo_server, make_widget):
    client = anonymous_client(demo_server)
    w = make_widget(client)
    client.change_auth(auth_token=demo_server.tokens["guest"])
    client.auth.whoami()
    wait_until(lambda: w.status == "signed_in", what="the cell's sign-in")
    assert (w.user_name, w.user_email) == ("Guest User", "guest@example.org")
    # A token set in a cell without whoami is checked by the widget itself.
    client.change_auth(auth_token=demo_server.token)
    wait_until(lambda: w.user_name == "Demo User" and w.status == "signed_in",
               what="the widget's own check")
    assert client.auth_state == "verified"
    client.change_auth(auth_token=BAD)
    wait_until(lambda: w.status == "error", what="the rejection")
    assert w.user_name == "" and client.auth_state == "rejected"
    client.change_auth(auth_token=None)
    assert (w.status, w.notice) == ("signed_out", {})
    client.server_address = "http://127.0.0.1:9"
    assert w.server_address == "http://127.0.0.1:9"
    assert w.login_url == "http://127.0.0.1:9/sticky_auth/api/v1/authorize"
    assert w.keys_page_url == "http://127.0.0.1:9/sticky_auth/settings/tokens"


def test_an_unreachable_server_is_an_error_with_a_message(make_widget, recorder):
    client = CAVEclient(server_address="http://127.0.0.1:9", max_retries=0)
    w = make_widget(client)
    ask(w, "token", recorder, token=BAD, remember=False)
    assert w.status == "error"
    assert w.notice["message"]


def test_closing_the_widget_stops_following_the_client(demo_server):
    client = anonymous_client(demo_server)
    w = LoginWidget(client)
    w.close()
    client.server_address = "http://127.0.0.1:9"
    assert w.server_address == demo_server.url


def test_a_whoami_overtaken_by_a_token_change_does_not_set_the_state(demo_server):
    # What the widget's worker can run into: it checks the token while a cell switches it.
    client = anonymous_client(demo_server, auth_token=demo_server.tokens["guest"])
    overtaken = client.auth
    client.change_auth(auth_token=demo_server.token)
    overtaken.whoami()
    assert (client.auth_state, client.user_name) == ("unverified", None)
    client.auth.whoami()
    assert (client.auth_state, client.user_name) == ("verified", "Demo User")
