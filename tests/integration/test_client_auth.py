"""client.auth and the token life cycle against the embedded server over real HTTP: who is
signed in (auth_state), typed errors for 401/403/ToS/404, change_auth, the auth service's user
and token routes, the URLs people open, save_token and where tokens are looked up.

HOME points at a temporary folder in every test, so ~/.cloudvolume is never the real one."""

from __future__ import annotations

import errno
import json
import re
import stat
import traceback
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
import requests
import traitlets
from helpers.client_wire import client, home, private_home, secrets  # noqa: F401  (fixtures)

from cave_widgets import CAVEclient
from cave_widgets.client import (
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    TermsOfServiceError,
    UnknownDatastackError,
    tokens,
)
from cave_widgets.client import (
    auth as auth_module,
)

HEX32 = re.compile(r"^[0-9a-f]{32}$")
BAD = "0" * 32  # well-formed, unknown to the server


def global_client(demo_server, **kwargs) -> CAVEclient:
    return CAVEclient(server_address=demo_server.url, **kwargs)


def netloc(url: str) -> str:
    return urlsplit(url).netloc


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def put(path, data: dict):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


@pytest.fixture()
def fresh_token(demo_server) -> str:
    """A new valid API key of the demo user (minted over HTTP, not through the client)."""
    r = requests.post(f"{demo_server.url}/auth/api/v1/user/token",
                      json={"description": "test fixture"},
                      headers={"Authorization": f"Bearer {demo_server.token}"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


# --- who is signed in --------------------------------------------------------------------------


def test_whoami_verifies_the_demo_user(client):
    changes = []
    client.observe(lambda ch: changes.append((ch["name"], ch["new"])),
                   names=["auth_state", "user_id", "user_name", "user_email"])
    assert client.auth_state == "unverified"
    record = client.auth.whoami()
    assert record["id"] == 1 and record["name"] == "Demo User"
    # admin_view: PCG's /user_operations requires it (chunkedgraph-l2cache-wire.md §2.7)
    assert record["permissions_v2"] == {"demo": ["view", "edit", "admin_view"]}
    assert (client.auth_state, client.user_id, client.user_name, client.user_email) == (
        "verified", 1, "Demo User", "demo@example.org")
    assert ("auth_state", "verified") in changes
    assert ("user_id", 1) in changes and ("user_name", "Demo User") in changes


def test_whoami_of_a_guest_is_verified_without_access(demo_server):
    c = global_client(demo_server, auth_token=demo_server.tokens["guest"])
    record = c.auth.whoami()
    assert (c.auth_state, c.user_id, c.user_name) == ("verified", 2, "Guest User")
    assert record["permissions_v2"] == {"demo": []}


def test_whoami_of_a_user_without_terms_lists_the_missing_terms(demo_server):
    c = global_client(demo_server, auth_token=demo_server.tokens["new"])
    record = c.auth.whoami()
    assert (c.auth_state, c.user_id) == ("verified", 3)
    assert record["missing_tos"][0]["tos_id"] == 1


def test_whoami_with_a_rejected_token(demo_server):
    c = global_client(demo_server, auth_token=BAD)
    assert c.auth_state == "unverified"
    with pytest.raises(AuthenticationError) as info:
        c.auth.whoami()
    assert info.value.status == 401
    assert c.auth_state == "rejected"
    assert (c.user_id, c.user_name, c.user_email) == (None, None, None)
    assert BAD not in str(info.value)
    assert f"{demo_server.url}/sticky_auth/settings/tokens" in str(info.value)


def test_whoami_without_a_token(demo_server):
    c = global_client(demo_server)
    assert c.auth.token is None
    assert c.auth_state == "anonymous"
    with pytest.raises(AuthenticationError, match="No token") as info:
        c.auth.whoami()
    assert f"{demo_server.url}/sticky_auth/settings/tokens" in str(info.value)
    assert c.auth_state == "anonymous"


def test_auth_state_follows_every_token_change(client, demo_server):
    states = []
    client.observe(lambda ch: states.append(ch["new"]), names=["auth_state"])
    client.auth.whoami()
    client.change_auth(auth_token=BAD)
    assert client.user_id is None  # who it was no longer holds
    with pytest.raises(AuthenticationError):
        client.auth.whoami()
    client.change_auth(auth_token=demo_server.tokens["guest"])
    client.auth.whoami()
    assert client.user_id == 2
    assert states == ["verified", "unverified", "rejected", "unverified", "verified"]


def test_auth_state_is_an_enum(client):
    with pytest.raises(traitlets.TraitError):
        client.auth_state = "maybe"


# --- typed errors ------------------------------------------------------------------------------


def test_rejected_token_at_construction_is_a_state_then_a_typed_error(demo_server):
    # Signed out is a state: the client is made (a LoginWidget needs it), and says so.
    client = CAVEclient(demo_server.datastack, server_address=demo_server.url, auth_token=BAD)
    assert client.auth_state == "rejected" and client.datastack_name == demo_server.datastack
    with pytest.raises(AuthenticationError) as info:
        client.materialize.get_versions()  # the first call that needs the datastack
    err = info.value
    assert err.status == 401
    assert isinstance(err, requests.HTTPError)
    assert err.server_message == "Unauthorized - Token is Invalid or Expired"
    assert "did not accept the token" in str(err) and "Sign in again" in str(err)
    assert f"{demo_server.url}/sticky_auth/settings/tokens" in str(err)
    assert BAD not in str(err) and BAD not in repr(err)
    assert "traitlets" not in "".join(traceback.format_tb(err.__traceback__))


def test_no_token_at_construction_is_signed_out_then_a_typed_error(demo_server):
    client = CAVEclient(demo_server.datastack, server_address=demo_server.url)
    assert client.auth_state == "anonymous"
    assert repr(client) == (f"CAVEclient<datastack_name='{demo_server.datastack}', "
                            f"server_address='{demo_server.url}', auth_state='anonymous'>")
    with pytest.raises(AuthenticationError) as info:
        client.materialize.get_versions()
    assert info.value.status == 401
    assert str(info.value).startswith("Not signed in: GET ")
    assert "LoginWidget(client)" in str(info.value)
    assert "traitlets" not in "".join(traceback.format_tb(info.value.__traceback__))
    # Signing in later checks the datastack and makes the client whole.
    client.change_auth(auth_token=demo_server.token)
    assert client.materialize.get_versions() and client.auth_state == "unverified"


def test_a_wrong_datastack_still_raises_once_the_server_can_be_asked(demo_server):
    client = CAVEclient("no_such_stack", server_address=demo_server.url)
    assert client.auth_state == "anonymous"  # nobody could ask yet
    client.change_auth(auth_token=demo_server.token)
    with pytest.raises(UnknownDatastackError):
        client.materialize.get_versions()
    with pytest.raises(UnknownDatastackError) as info:
        CAVEclient("no_such_stack", server_address=demo_server.url,
                   auth_token=demo_server.token)
    # raised by the constructor itself: a short traceback, no traitlets frames
    assert "traitlets" not in "".join(traceback.format_tb(info.value.__traceback__))


def test_guest_gets_permission_denied(demo_server):
    guest = demo_server.tokens["guest"]
    with pytest.raises(PermissionDeniedError) as info:
        CAVEclient(demo_server.datastack, server_address=demo_server.url, auth_token=guest)
    err = info.value
    assert type(err) is PermissionDeniedError
    assert err.status == 403
    assert "Missing permission: view for dataset demo" in str(err)
    assert err.data == {"required_permission": "view", "auth_dataset": "demo"}
    assert guest not in str(err)
    # A global client of the guest sees no datastacks, and is refused the record.
    c = global_client(demo_server, auth_token=guest)
    assert c.info.get_datastacks() == []
    with pytest.raises(PermissionDeniedError):
        c.info.get_datastack_info(demo_server.datastack)


def test_unsigned_terms_give_terms_of_service_error_with_the_link(demo_server):
    new = demo_server.tokens["new"]
    with pytest.raises(TermsOfServiceError) as info:
        CAVEclient(demo_server.datastack, server_address=demo_server.url, auth_token=new)
    err = info.value
    link = f"{demo_server.url}/sticky_auth/api/v1/tos/1/accept"
    assert isinstance(err, PermissionDeniedError)
    assert err.status == 403
    assert err.tos_form_url == link
    assert link in str(err)
    assert new not in str(err)


def test_unknown_datastack_is_unknown_datastack_error(demo_server):
    with pytest.raises(UnknownDatastackError) as info:
        CAVEclient("no_such_ds", server_address=demo_server.url, auth_token=demo_server.token)
    err = info.value
    assert err.status == 404
    assert isinstance(err, ValueError) and isinstance(err, requests.HTTPError)
    assert "no_such_ds" in str(err) and demo_server.datastack in str(err)


# --- change_auth and the token property ------------------------------------------------------


def test_change_auth_swaps_the_token_everywhere(client, demo_server):
    client.version = 3
    info_before, session_before = client.info, client.session
    client.change_auth(auth_token=demo_server.tokens["guest"])
    assert client.auth.token == demo_server.tokens["guest"]
    assert client.auth_state == "unverified"
    assert client.info is not info_before and client.session is not session_before
    with pytest.raises(PermissionDeniedError):  # the new session sends the guest's token
        client.info.get_datastack_info(use_stored=False)
    assert client.version == 3  # the state that is not about who you are stays
    client.change_auth(auth_token=demo_server.token)
    assert client.info.get_datastack_info(use_stored=False)["local_server"] == demo_server.url
    assert client.materialize.version == 3


def test_change_auth_keeps_the_token_file_and_key(demo_server, tmp_path):
    team = put(tmp_path / "team.json", {"alt": demo_server.tokens["guest"],
                                        "token": demo_server.token})
    c = global_client(demo_server, auth_token_file=str(team), auth_token_key="alt")
    assert c.auth.token == demo_server.tokens["guest"]
    c.change_auth(auth_token=demo_server.token)
    assert (c.auth.token, c.auth.token_file, c.auth.token_key) == (
        demo_server.token, team, "alt")
    assert c.auth.whoami()["id"] == 1
    # Without a token, change_auth reloads from the kept file and key.
    put(team, {"alt": demo_server.tokens["new"], "token": demo_server.token})
    c.change_auth()
    assert c.auth.token == demo_server.tokens["new"]
    assert c.auth.token_file == team and c.auth.token_key == "alt"
    assert c.auth.whoami()["id"] == 3
    # A new key alone keeps the file.
    c.change_auth(auth_token_key="token")
    assert c.auth.token == demo_server.token and c.auth.token_file == team


def test_change_auth_to_another_file(demo_server, tmp_path):
    other = put(tmp_path / "other.json", {"token": demo_server.tokens["guest"]})
    c = global_client(demo_server, auth_token=demo_server.token)
    c.change_auth(auth_token_file=str(other))
    assert c.auth.token_file == other
    assert c.auth.whoami()["id"] == 2


def test_setting_the_token_property_is_change_auth(client, demo_server):
    session = client.session
    client.auth.token = demo_server.tokens["guest"]
    assert client.auth.token == demo_server.tokens["guest"]
    assert client.session is not session
    assert client.auth.whoami()["id"] == 2


def test_request_header(demo_server):
    assert global_client(demo_server, auth_token=demo_server.token).auth.request_header == {
        "Authorization": f"Bearer {demo_server.token}"}
    assert global_client(demo_server).auth.request_header == {}


# --- the auth service's routes ---------------------------------------------------------------


def test_get_user_information(client):
    users = client.auth.get_user_information([1, 2])
    assert sorted(u["id"] for u in users) == [1, 2]
    by_id = {u["id"]: u for u in users}
    assert by_id[1]["name"] == "Demo User" and by_id[2]["name"] == "Guest User"
    assert by_id[2]["email"] == "guest@example.org"  # admins see emails
    assert [u["id"] for u in client.auth.get_user_information(np.array([3]))] == [3]


def test_get_user_information_needs_admin_rights(demo_server):
    c = global_client(demo_server, auth_token=demo_server.tokens["guest"])
    with pytest.raises(PermissionDeniedError, match="admin"):
        c.auth.get_user_information([1])


def test_get_usernames_works_for_anyone_signed_in(demo_server):
    c = global_client(demo_server, auth_token=demo_server.tokens["guest"])
    assert c.auth.get_usernames([1, 3]) == {1: "Demo User", 3: "New User"}


def test_get_group_users(client, demo_server):
    members = client.auth.get_group_users(1)
    assert sorted(m["id"] for m in members) == [1, 2, 3]
    assert {m["id"]: m["admin"] for m in members}[1] is True
    with pytest.raises(NotFoundError):
        client.auth.get_group_users(99)
    guest = global_client(demo_server, auth_token=demo_server.tokens["guest"])
    with pytest.raises(PermissionDeniedError):
        guest.auth.get_group_users(1)


def test_get_tokens_lists_the_callers_keys(client, demo_server):
    keys = client.auth.get_tokens()
    assert keys and all(k["user_id"] == 1 for k in keys)
    assert any(k["token"] == demo_server.token for k in keys)
    assert {"id", "user_id", "token", "description", "created"} <= set(keys[0])


def test_create_token_then_use_it(client, demo_server):
    before = {k["token"] for k in client.auth.get_tokens()}
    new = client.auth.create_token("made by test_create_token")
    assert HEX32.match(new)
    assert new not in before and new != demo_server.token
    other = global_client(demo_server, auth_token=new)
    assert other.auth.whoami()["id"] == 1
    assert other.info.get_datastacks() == [demo_server.datastack]
    keys = {k["token"]: k for k in client.auth.get_tokens()}
    assert keys[new]["description"] == "made by test_create_token"
    assert demo_server.token in keys  # older keys stay valid


def test_create_token_needs_a_valid_token(demo_server):
    with pytest.raises(AuthenticationError):
        global_client(demo_server, auth_token=BAD).auth.create_token()


# --- URLs people open ----------------------------------------------------------------------------


def test_token_page_url_is_served_and_carries_no_token(client, demo_server):
    url = client.auth.token_page_url
    assert url == f"{demo_server.url}/sticky_auth/settings/tokens"
    r = requests.get(url, timeout=30)
    assert r.status_code == 200 and "API tokens" in r.text
    assert client.auth.get_token_page() == url


def test_new_token_url_mints_a_key_when_signed_in(client, demo_server):
    url = client.auth.new_token_url
    assert url == f"{demo_server.url}/auth/api/v1/create_token"
    assert client.auth.get_new_token() == url
    r = requests.get(url, headers={"Authorization": f"Bearer {demo_server.token}"}, timeout=30)
    assert r.status_code == 200
    assert HEX32.match(r.json())
    assert global_client(demo_server, auth_token=r.json()).auth.whoami()["id"] == 1


def test_login_url_popup_and_redirect(client, demo_server):
    plain = client.auth.login_url()
    assert plain == f"{demo_server.url}/sticky_auth/api/v1/authorize"
    callback = "http://127.0.0.1:8888/cave/callback?x=1"
    url = client.auth.login_url(redirect=callback)
    assert parse_qs(urlsplit(url).query) == {"redirect": [callback]}
    page = requests.get(url, timeout=30)
    assert page.status_code == 200
    assert "Sign in as Demo User" in page.text
    assert "/cave/callback" in page.text  # the sign-in form carries the redirect along
    for u in (plain, url, client.auth.token_page_url, client.auth.new_token_url):
        assert demo_server.token not in u


def test_pages_open_in_a_browser_only_when_asked_and_possible(client, monkeypatch, capsys):
    opened = []
    monkeypatch.setattr(auth_module.webbrowser, "open", lambda url, *a, **k: opened.append(url))
    monkeypatch.setattr(auth_module, "_browser_available", lambda: True)
    client.auth.get_token_page(open=False)
    client.auth.get_new_token(open=False)
    assert opened == []
    client.auth.get_token_page(open=True)
    client.auth.get_new_token(open=True)
    assert opened == [client.auth.token_page_url, client.auth.new_token_url]
    monkeypatch.setattr(auth_module, "_browser_available", lambda: False)  # headless
    assert client.auth.get_token_page(open=True) == client.auth.token_page_url
    assert len(opened) == 2


def test_setup_token_and_get_new_token_print_what_to_do(client, capsys):
    assert client.auth.get_new_token(no_text=True) == client.auth.new_token_url
    assert capsys.readouterr().out == ""
    client.auth.get_new_token(no_text=False)
    out = capsys.readouterr().out
    assert client.auth.new_token_url in out and "save_token" in out
    assert client.auth.setup_token(make_new=False, open=False) == client.auth.token_page_url
    assert client.auth.token_page_url in capsys.readouterr().out
    assert client.auth.setup_token(make_new=True, open=False) == client.auth.new_token_url


def test_local_server_and_its_token_file(client, demo_server, home):
    assert client.auth.local_server == demo_server.url
    assert client.auth.local_server_filepath == (
        secrets(home) / f"{netloc(demo_server.url)}-cave-secret.json")
    g = global_client(demo_server, auth_token=demo_server.token)
    assert g.auth.local_server is None and g.auth.local_server_filepath is None


# --- save_token ------------------------------------------------------------------------------


def server_file(home, demo_server):
    return secrets(home) / f"{netloc(demo_server.url)}-cave-secret.json"


def test_save_token_writes_private_files_and_switches(client, demo_server, home, fresh_token):
    default = secrets(home) / "cave-secret.json"
    assert client.auth.token_file == default
    client.auth.save_token(fresh_token)
    for path in (server_file(home, demo_server), default):
        assert json.loads(path.read_text()) == {"token": fresh_token}
        assert mode(path) == 0o600
    assert mode(secrets(home)) == 0o700
    assert sorted(p.name for p in secrets(home).iterdir()) == sorted(
        ["cave-secret.json", f"{netloc(demo_server.url)}-cave-secret.json",
         "cave_datastack_to_server_map.json"])
    assert client.auth.token == fresh_token
    assert client.auth.whoami()["id"] == 1
    assert client.auth.get_token() == fresh_token
    # A brand-new client finds it on its own.
    assert global_client(demo_server).auth.token == fresh_token


def test_save_token_keeps_other_keys(client, demo_server, home, fresh_token):
    put(secrets(home) / "cave-secret.json", {"other": "kept", "token": fresh_token})
    put(server_file(home, demo_server), {"something": "else"})
    client.auth.save_token(fresh_token)
    assert json.loads((secrets(home) / "cave-secret.json").read_text()) == {
        "other": "kept", "token": fresh_token}
    assert json.loads(server_file(home, demo_server).read_text()) == {
        "something": "else", "token": fresh_token}


def test_save_token_overwrite_semantics(client, demo_server, home, fresh_token):
    client.auth.save_token(demo_server.token)
    client.auth.save_token(demo_server.token)  # the same value again: fine
    with pytest.raises(ValueError, match="overwrite=True"):
        client.auth.save_token(fresh_token)
    assert tokens.read_key(server_file(home, demo_server)) == demo_server.token
    assert client.auth.token == demo_server.token
    client.auth.save_token(fresh_token, overwrite=True)
    assert tokens.read_key(server_file(home, demo_server)) == fresh_token
    assert tokens.read_key(secrets(home) / "cave-secret.json") == fresh_token
    assert client.auth.token == fresh_token


def test_save_token_without_switching(client, demo_server, home):
    guest = demo_server.tokens["guest"]
    client.auth.save_token(guest, switch_token=False)
    assert tokens.read_key(server_file(home, demo_server)) == guest
    assert client.auth.token == demo_server.token
    assert client.auth.whoami()["id"] == 1


def test_save_token_under_another_key(client, demo_server, home):
    guest = demo_server.tokens["guest"]
    client.auth.save_token(guest, token_key="alt")
    assert json.loads(server_file(home, demo_server).read_text()) == {"alt": guest}
    assert (client.auth.token, client.auth.token_key) == (guest, "alt")
    assert client.auth.whoami()["id"] == 2
    assert client.auth.get_token("token") is None


def test_save_token_to_a_chosen_file(demo_server, home, tmp_path):
    chosen = tmp_path / "project" / "cave.json"
    c = global_client(demo_server, auth_token=demo_server.token)
    c.auth.save_token(token_file=str(chosen))  # no token given: the current one
    assert tokens.read_key(chosen) == demo_server.token
    assert mode(chosen) == 0o600
    assert tokens.read_key(server_file(home, demo_server)) == demo_server.token
    assert not (secrets(home) / "cave-secret.json").exists()
    assert c.auth.token_file == chosen


def test_save_token_only_to_the_chosen_file(demo_server, home, tmp_path):
    chosen = tmp_path / "only.json"
    c = global_client(demo_server, auth_token=demo_server.token)
    c.auth.save_token(token_file=chosen, write_to_server_file=False)
    assert tokens.read_key(chosen) == demo_server.token
    assert not secrets(home).exists()


def test_save_token_writes_the_local_servers_file(demo_server, home):
    # A datastack whose local server is another host (here: the same server as "localhost").
    port = demo_server.url.rsplit(":", 1)[1]
    record = global_client(demo_server, auth_token=demo_server.token
                           ).info.get_datastack_info(demo_server.datastack)
    cache = {demo_server.datastack: dict(record, local_server=f"http://localhost:{port}")}
    c = CAVEclient(demo_server.datastack, server_address=demo_server.url,
                   auth_token=demo_server.token, info_cache=cache)
    local_file = secrets(home) / f"localhost:{port}-cave-secret.json"
    assert c.auth.local_server_filepath == local_file
    c.auth.save_token(local_server=False)
    assert not local_file.exists()
    c.auth.save_token()
    assert tokens.read_key(local_file) == demo_server.token
    assert mode(local_file) == 0o600
    assert tokens.read_key(server_file(home, demo_server)) == demo_server.token


def test_save_token_skips_read_only_files_unless_told(demo_server, home, monkeypatch):
    blocked = server_file(home, demo_server)
    write = tokens.write_key

    def refuse_server_file(path, *args, **kwargs):
        if path == blocked:
            raise PermissionError(f"read-only: {path}")
        return write(path, *args, **kwargs)

    monkeypatch.setattr(tokens, "write_key", refuse_server_file)
    c = global_client(demo_server, auth_token=demo_server.token)
    with pytest.raises(PermissionError):
        c.auth.save_token(ignore_readonly=False)
    c.auth.save_token()  # ignore_readonly=True: the other files still get it
    assert not blocked.exists()
    assert tokens.read_key(secrets(home) / "cave-secret.json") == demo_server.token


def test_save_token_skips_a_read_only_file_system(demo_server, home, monkeypatch):
    blocked = server_file(home, demo_server)
    write = tokens.write_key

    def read_only_fs(path, *args, **kwargs):
        if path == blocked:
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return write(path, *args, **kwargs)

    monkeypatch.setattr(tokens, "write_key", read_only_fs)
    c = global_client(demo_server, auth_token=demo_server.token)
    with pytest.raises(OSError):
        c.auth.save_token(ignore_readonly=False)
    c.auth.save_token()
    assert tokens.read_key(secrets(home) / "cave-secret.json") == demo_server.token


def test_a_refused_save_writes_no_file(client, demo_server, home, fresh_token):
    # The default file holds another token: without overwrite the save is refused, and then
    # no file may have taken the new token (else the next client would silently use it).
    guest = demo_server.tokens["guest"]
    default = put(secrets(home) / "cave-secret.json", {"token": guest})
    with pytest.raises(ValueError, match="overwrite=True"):
        client.auth.save_token(fresh_token)
    assert not server_file(home, demo_server).exists()
    assert tokens.read_key(default) == guest
    assert client.auth.token == demo_server.token
    assert global_client(demo_server).auth.token == guest


@pytest.mark.parametrize("bad", [None, "", 12345])
def test_save_token_needs_a_token(demo_server, bad):
    c = global_client(demo_server)  # no token to fall back on
    with pytest.raises(ValueError, match="needs a token"):
        c.auth.save_token(bad)


# --- where a client finds its token ----------------------------------------------------------


def test_explicit_token_beats_every_file(demo_server, home, tmp_path):
    guest = demo_server.tokens["guest"]
    given = put(tmp_path / "given.json", {"token": guest})
    put(server_file(home, demo_server), {"token": guest})
    put(secrets(home) / "cave-secret.json", {"token": guest})
    c = global_client(demo_server, auth_token=demo_server.token, auth_token_file=str(given))
    assert c.auth.token == demo_server.token
    assert c.auth.whoami()["id"] == 1


def test_given_file_beats_server_default_and_legacy(demo_server, home, tmp_path):
    given = put(tmp_path / "given.json", {"token": demo_server.token})
    for path in (server_file(home, demo_server), secrets(home) / "cave-secret.json",
                 secrets(home) / "chunkedgraph-secret.json"):
        put(path, {"token": demo_server.tokens["guest"]})
    c = global_client(demo_server, auth_token_file=str(given))
    assert (c.auth.token, c.auth.token_file) == (demo_server.token, given)
    assert c.auth.whoami()["id"] == 1


def test_server_file_beats_default_and_legacy(demo_server, home):
    put(server_file(home, demo_server), {"token": demo_server.token})
    put(secrets(home) / "cave-secret.json", {"token": demo_server.tokens["guest"]})
    put(secrets(home) / "chunkedgraph-secret.json", {"token": demo_server.tokens["new"]})
    c = global_client(demo_server)
    assert c.auth.token_file == server_file(home, demo_server)
    assert c.auth.whoami()["id"] == 1
    assert c.auth_state == "verified"


def test_default_file_beats_legacy(demo_server, home):
    put(secrets(home) / "cave-secret.json", {"token": demo_server.tokens["guest"]})
    put(secrets(home) / "chunkedgraph-secret.json", {"token": demo_server.token})
    c = global_client(demo_server)
    assert c.auth.token_file == secrets(home) / "cave-secret.json"
    assert c.auth.whoami()["id"] == 2


def test_legacy_file_is_the_last_resort(demo_server, home):
    put(secrets(home) / "chunkedgraph-secret.json", {"token": demo_server.token})
    c = CAVEclient(demo_server.datastack, server_address=demo_server.url)
    assert c.auth.token == demo_server.token
    assert c.auth.whoami()["id"] == 1


def test_token_key_picks_the_key(demo_server, home):
    put(secrets(home) / "cave-secret.json", {"token": demo_server.tokens["guest"],
                                             "mine": demo_server.token})
    c = global_client(demo_server, auth_token_key="mine")
    assert (c.auth.token, c.auth.token_key) == (demo_server.token, "mine")
    assert c.auth.whoami()["id"] == 1


def test_nothing_anywhere_is_anonymous(demo_server, home):
    c = global_client(demo_server)
    assert c.auth.token is None and c.auth_state == "anonymous"
    assert c.auth.token_file == secrets(home) / "cave-secret.json"
    assert "synapse" in c.schema.get_schemas()  # open routes still answer
    with pytest.raises(AuthenticationError):
        c.info.get_datastacks()
