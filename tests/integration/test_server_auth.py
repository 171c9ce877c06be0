"""Authentication and the auth service over real HTTP: how tokens travel and what a missing,
wrong, malformed or under-privileged token gets; the /auth and /sticky_auth API routes; the
demo sign-in flow (popup and redirect), the token settings page and the terms-of-service page.
"""

from __future__ import annotations

import json
import re
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from helpers.server_http import TIMEOUT, as_user, guard

HEX32 = re.compile(r"^[0-9a-f]{32}$")
PREFIXES = ["/auth", "/sticky_auth"]


# --- helpers ---------------------------------------------------------------------------------


def sign_in(url: str, user_id: int = 1, redirect: str | None = None) -> requests.Response:
    form = {"user_id": str(user_id)}
    if redirect:
        form["redirect"] = redirect
    return requests.post(f"{url}/sticky_auth/api/v1/authorize", data=form, timeout=TIMEOUT,
                         allow_redirects=False)


def opener_message(page: str) -> dict:
    """The payload the popup page posts to window.opener."""
    match = re.search(r"var msg=(\{.*?\});", page)
    assert match, page
    assert "window.opener.postMessage(msg" in page
    return json.loads(match.group(1))


# --- token transport and failures ------------------------------------------------------------


@pytest.fixture()
def protected(demo_server):
    return f"{demo_server.url}/info/api/v2/datastack/full/{demo_server.datastack}"


def test_no_token_is_401_no_token_with_www_authenticate(anon, protected, demo_server):
    r = anon.get(protected)
    assert r.status_code == 401
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == {"error": "no_token", "message": "Unauthorized - No Token Provided"}
    challenge = r.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer realm=")
    assert f"{demo_server.url}/sticky_auth/api/v1/authorize" in challenge


def test_wrong_token_is_401_invalid_token(protected):
    r = as_user("0" * 32).get(protected)
    assert r.status_code == 401
    body = r.json()
    assert body["error"] == "invalid_token" and "Invalid or Expired" in body["message"]
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]


@pytest.mark.parametrize("header", ["Basic x", "Token abc", "bearer " + "a" * 32, "Bearer"])
def test_non_bearer_authorization_header_is_400_bad_auth_header(anon, protected, header):
    r = anon.get(protected, headers={"Authorization": header})
    assert r.status_code == 400
    body = r.json()
    assert body["error"] == "bad_auth_header" and "Bearer" in body["message"]
    assert 'error="invalid_request"' in r.headers["WWW-Authenticate"]


def test_token_in_query_parameter_is_accepted(anon, protected, demo_server):
    r = anon.get(protected, params={"middle_auth_token": demo_server.token})
    assert r.status_code == 200
    assert r.json()["local_server"] == demo_server.url


def test_token_in_cookie_is_accepted(anon, protected, demo_server):
    r = anon.get(protected, cookies={"middle_auth_token": demo_server.token})
    assert r.status_code == 200
    assert r.json()["local_server"] == demo_server.url


def test_header_beats_query_parameter_and_cookie(protected, demo_server):
    wrong = as_user("f" * 32)
    r = wrong.get(protected, params={"middle_auth_token": demo_server.token},
                  cookies={"middle_auth_token": demo_server.token})
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    # Query parameter beats cookie.
    with requests.Session() as s:
        r = guard(s).get(protected, params={"middle_auth_token": "f" * 32},
                         cookies={"middle_auth_token": demo_server.token})
    assert r.status_code == 401


def test_guest_without_permission_is_403_missing_permission(protected, demo_server):
    r = as_user(demo_server.tokens["guest"]).get(protected)
    assert r.status_code == 403
    body = r.json()
    assert body["error"] == "missing_permission"
    assert "view" in body["message"]
    assert body["data"] == {"required_permission": "view", "auth_dataset": "demo"}


def test_guest_sees_no_datastacks_but_demo_user_does(demo_server):
    url = f"{demo_server.url}/info/api/v2/datastacks"
    assert as_user(demo_server.tokens["guest"]).get(url).json() == []
    assert as_user(demo_server.token).get(url).json() == [demo_server.datastack]


def test_guest_is_refused_by_every_service(demo_server):
    guest = as_user(demo_server.tokens["guest"])
    u, ds = demo_server.url, demo_server.datastack
    for r in (
        guest.get(f"{u}/materialize/api/v3/datastack/{ds}/versions"),
        guest.post(f"{u}/materialize/api/v3/datastack/{ds}/version/5/table/nuclei/query", json={}),
        guest.post(f"{u}/segmentation/api/v1/table/demo_pcg/roots_binary", data=b"\0" * 8),
        guest.get(f"{u}/segmentation/table/demo_pcg/info"),
    ):
        assert r.status_code == 403 and r.json()["error"] == "missing_permission", r.url


def test_user_without_terms_is_403_missing_tos_with_form_url(protected, demo_server):
    r = as_user(demo_server.tokens["new"]).get(protected)
    assert r.status_code == 403
    # caveclient only opens the form when the type is exactly application/json.
    assert r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert body["error"] == "missing_tos"
    assert body["data"]["tos_form_url"] == f"{demo_server.url}/sticky_auth/api/v1/tos/1/accept"
    assert body["data"]["tos_id"] == 1


def test_accepting_the_terms_grants_access(protected, demo_server):
    user = demo_server.context.auth.users[3]
    cookie = {"middle_auth_token": demo_server.tokens["new"]}
    form_url = f"{demo_server.url}/sticky_auth/api/v1/tos/1/accept"
    try:
        with requests.Session() as s:
            page = guard(s).get(form_url, cookies=cookie)
            assert page.status_code == 200 and "id='accept'" in page.text
            accepted = s.post(form_url, cookies=cookie)
            assert accepted.status_code == 200 and "You have accepted" in accepted.text
        assert as_user(demo_server.tokens["new"]).get(protected).status_code == 200
    finally:
        user.missing_tos = True
    assert as_user(demo_server.tokens["new"]).get(protected).status_code == 403


def test_terms_page_without_sign_in_asks_to_sign_in(anon, demo_server):
    r = anon.get(f"{demo_server.url}/sticky_auth/api/v1/tos/1/accept")
    assert r.status_code == 200 and "Sign in first" in r.text
    r = anon.post(f"{demo_server.url}/sticky_auth/api/v1/tos/1/accept")
    assert r.status_code == 200 and "Sign in first" in r.text
    assert demo_server.context.auth.users[3].missing_tos is True


# --- the auth API ------------------------------------------------------------------------------


def test_auth_version_is_plain_text(anon, demo_server):
    for prefix in PREFIXES:
        r = anon.get(f"{demo_server.url}{prefix}/version")
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
        assert re.match(r"^\d+\.\d+\.\d+$", r.text)


@pytest.mark.parametrize("prefix", PREFIXES)
def test_user_me_and_cache(api, demo_server, prefix):
    me = api.get(f"{demo_server.url}{prefix}/api/v1/user/me").json()
    assert me["id"] == 1 and me["name"] == "Demo User" and me["admin"] is True
    assert parsedate_to_datetime(me["created"]).year >= 2000  # an HTTP date, like middle_auth
    assert isinstance(me["affiliations"], list) and isinstance(me["affiliations"][0], list)
    cache = api.get(f"{demo_server.url}{prefix}/api/v1/user/cache").json()
    assert cache["id"] == 1 and cache["email"] == me["email"]
    # `admin_view` is what PCG's /user_operations requires (chunkedgraph-l2cache-wire.md §2.3,
    # §2.7), so the demo user holds it; the legacy level stays 2 (edit is the top of 0/1/2).
    assert cache["permissions_v2"] == {"demo": ["view", "edit", "admin_view"]}
    assert cache["permissions"] == {"demo": 2}
    assert cache["missing_tos"] == []


def test_user_cache_of_guest_and_new_user(demo_server):
    guest = as_user(demo_server.tokens["guest"]).get(
        f"{demo_server.url}/auth/api/v1/user/cache").json()
    assert guest["id"] == 2 and guest["permissions_v2"] == {"demo": []}
    assert guest["permissions"] == {"demo": 0}
    new = as_user(demo_server.tokens["new"]).get(
        f"{demo_server.url}/auth/api/v1/user/cache").json()
    assert new["id"] == 3 and new["permissions_v2"] == {"demo": []}
    assert new["permissions_v2_ignore_tos"] == {"demo": ["view"]}
    assert new["missing_tos"][0]["tos_id"] == 1


@pytest.mark.parametrize("prefix", PREFIXES)
def test_user_by_ids_for_admins_only(api, demo_server, prefix):
    url = f"{demo_server.url}{prefix}/api/v1/user"
    users = api.get(url, params={"id": "1,3"}).json()
    assert [u["id"] for u in users] == [1, 3]
    assert [u["name"] for u in users] == ["Demo User", "New User"]
    assert all("email" in u for u in users)
    assert api.get(url, params={"id": "99"}).json() == []
    assert [u["id"] for u in api.get(url, params={"email": "guest@example.org"}).json()] == [2]
    r = as_user(demo_server.tokens["guest"]).get(url, params={"id": "1"})
    assert r.status_code == 403 and "admin" in r.text


@pytest.mark.parametrize("prefix", PREFIXES)
def test_username_by_ids_for_any_user(demo_server, prefix):
    url = f"{demo_server.url}{prefix}/api/v1/username"
    guest = as_user(demo_server.tokens["guest"])
    assert guest.get(url, params={"id": "1,2"}).json() == [
        {"id": 1, "name": "Demo User"}, {"id": 2, "name": "Guest User"}]
    assert guest.get(url, params={"id": "7"}).json() == []
    r = guest.get(url, params={"id": "1,x"})
    assert r.status_code == 400 and "id" in r.json()["message"]


def test_group_users(api, demo_server):
    users = api.get(f"{demo_server.url}/auth/api/v1/group/1/user").json()
    assert {u["id"] for u in users} == {1, 2, 3}
    assert all(set(u) == {"id", "name", "admin"} for u in users)
    r = api.get(f"{demo_server.url}/auth/api/v1/group/9/user")
    assert r.status_code == 404 and "9" in r.json()["message"]
    r = as_user(demo_server.tokens["guest"]).get(f"{demo_server.url}/auth/api/v1/group/1/user")
    assert r.status_code == 403


@pytest.mark.parametrize("prefix", PREFIXES)
def test_token_list_create_use_and_delete(api, demo_server, prefix):
    base = f"{demo_server.url}{prefix}/api/v1"
    before = api.get(f"{base}/user/token").json()
    assert demo_server.token in [t["token"] for t in before]
    assert all(t["user_id"] == 1 for t in before)
    new = api.post(f"{base}/user/token", json={"description": "from the tests"})
    assert new.status_code == 200
    value = new.json()
    assert HEX32.match(value)
    listed = {t["token"]: t for t in api.get(f"{base}/user/token").json()}
    assert listed[value]["description"] == "from the tests"
    assert set(listed[value]) == {"id", "user_id", "token", "description", "created", "updated",
                                  "last_used"}
    # The new key works at once, and the old one still does.
    me = as_user(value).get(f"{demo_server.url}/auth/api/v1/user/me")
    assert me.status_code == 200 and me.json()["id"] == 1
    # Delete it: gone from the list and refused afterwards.
    token_id = listed[value]["id"]
    deleted = api.delete(f"{base}/user/token/{token_id}")
    assert deleted.status_code == 200
    assert value not in [t["token"] for t in api.get(f"{base}/user/token").json()]
    assert as_user(value).get(f"{demo_server.url}/auth/api/v1/user/me").status_code == 401
    assert api.get(f"{base}/user/me").status_code == 200
    # Deleting it again, or someone else's token, is a 404.
    assert api.delete(f"{base}/user/token/{token_id}").status_code == 404
    guest_token_id = next(t.id for t in demo_server.context.auth.tokens_of(2))
    r = api.delete(f"{base}/user/token/{guest_token_id}")
    assert r.status_code == 404 and str(guest_token_id) in r.json()["message"]
    assert as_user(demo_server.tokens["guest"]).get(f"{base}/user/me").status_code == 200


def test_create_token_route_returns_a_bare_json_string(api, demo_server):
    r = api.get(f"{demo_server.url}/auth/api/v1/create_token")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    value = r.json()
    assert HEX32.match(value) and value != demo_server.token
    assert as_user(value).get(f"{demo_server.url}/info/api/v2/datastacks").json() == ["demo_local"]


def test_create_token_rejects_a_non_text_description(api, demo_server):
    r = api.post(f"{demo_server.url}/auth/api/v1/user/token", json={"description": 5})
    assert r.status_code == 400 and "description" in r.json()["message"]


# --- sign-in pages and flow --------------------------------------------------------------------


def test_authorize_shows_a_sign_in_page_with_one_form_per_user(anon, demo_server):
    r = anon.get(f"{demo_server.url}/sticky_auth/api/v1/authorize",
                 params={"redirect": "http://127.0.0.1:9/cb"})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    assert sorted(re.findall(r"name='user_id' value='(\d+)'", r.text)) == ["1", "2", "3"]
    assert r.text.count("name='redirect' value='http://127.0.0.1:9/cb'") == 3
    assert demo_server.token not in r.text


def test_authorize_for_xhr_returns_the_url_to_open(anon, demo_server):
    r = anon.get(f"{demo_server.url}/sticky_auth/api/v1/authorize",
                 params={"redirect": "http://127.0.0.1:9/cb"},
                 headers={"X-Requested-With": "XMLHttpRequest"})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    assert r.text.startswith(f"{demo_server.url}/sticky_auth/api/v1/authorize?redirect=")


def test_popup_sign_in_posts_a_working_token_to_the_opener(demo_server):
    r = sign_in(demo_server.url, 1)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    msg = opener_message(r.text)
    assert set(msg) == {"token", "app_urls"}
    assert HEX32.match(msg["token"]) and msg["token"] != demo_server.token
    assert msg["app_urls"] == [demo_server.url]
    assert r.cookies.get("middle_auth_token") == msg["token"]
    user = as_user(msg["token"])
    assert user.get(f"{demo_server.url}/auth/api/v1/user/me").json()["id"] == 1
    record = user.get(f"{demo_server.url}/info/api/v2/datastack/full/demo_local")
    assert record.status_code == 200
    # A login token is not an API key: it does not show up in the key list.
    keys = user.get(f"{demo_server.url}/auth/api/v1/user/token").json()
    assert msg["token"] not in [k["token"] for k in keys]


def test_sign_in_as_guest_gives_a_guest_token(demo_server):
    token = opener_message(sign_in(demo_server.url, 2).text)["token"]
    r = as_user(token).get(f"{demo_server.url}/info/api/v2/datastack/full/demo_local")
    assert r.status_code == 403 and r.json()["error"] == "missing_permission"


def test_redirect_sign_in_302s_to_the_callback_with_tokens(demo_server):
    r = sign_in(demo_server.url, 1, redirect="http://127.0.0.1:9/cb?keep=me")
    assert r.status_code == 302
    target = urlsplit(r.headers["Location"])
    assert (target.scheme, target.netloc, target.path) == ("http", "127.0.0.1:9", "/cb")
    query = parse_qs(target.query)
    assert query["keep"] == ["me"]
    token = query["middle_auth_token"][0]
    assert query["token"] == [token] and HEX32.match(token)
    assert query["middle_auth_url"] == [urlsplit(demo_server.url).netloc + "/sticky_auth"]
    assert as_user(token).get(f"{demo_server.url}/auth/api/v1/user/me").json()["id"] == 1


@pytest.mark.parametrize(
    "form, words",
    [
        ({"user_id": "99"}, "99"),
        ({"user_id": "abc"}, "user_id"),
        ({}, "user_id"),
        ({"user_id": "1", "redirect": "javascript:alert(1)"}, "redirect"),
        # the token goes nowhere but this server and this machine
        ({"user_id": "1", "redirect": "https://attacker.example/steal"}, "redirect"),
        ({"user_id": "1", "redirect": "http://127.0.0.1.attacker.example/"}, "redirect"),
        ({"user_id": "1", "redirect": "//attacker.example/"}, "redirect"),
    ],
)
def test_bad_sign_in_forms_are_400(demo_server, form, words):
    r = requests.post(f"{demo_server.url}/sticky_auth/api/v1/authorize", data=form,
                      timeout=TIMEOUT, allow_redirects=False)
    assert r.status_code == 400 and words in r.json()["message"]


def test_logout_revokes_a_login_token_but_not_an_api_key(demo_server):
    token = opener_message(sign_in(demo_server.url, 1).text)["token"]
    user = as_user(token)
    r = user.get(f"{demo_server.url}/auth/api/v1/logout")
    assert r.status_code == 200 and r.text == "success"
    cleared = r.headers["Set-Cookie"]
    assert 'middle_auth_token=""' in cleared or "Max-Age=0" in cleared
    assert user.get(f"{demo_server.url}/auth/api/v1/user/me").status_code == 401
    api_key = as_user(demo_server.token)
    assert api_key.get(f"{demo_server.url}/auth/api/v1/logout").status_code == 200
    assert api_key.get(f"{demo_server.url}/auth/api/v1/user/me").status_code == 200


def test_token_settings_page_signed_out_links_to_sign_in(anon, demo_server):
    r = anon.get(f"{demo_server.url}/sticky_auth/settings/tokens")
    assert r.status_code == 200 and "not signed in" in r.text
    assert "/sticky_auth/api/v1/authorize?redirect=" in r.text


def test_token_settings_page_lists_and_creates_keys(demo_server):
    cookie = {"middle_auth_token": demo_server.token}
    url = f"{demo_server.url}/sticky_auth/settings/tokens"
    with requests.Session() as s:
        s = guard(s)
        page = s.get(url, cookies=cookie)
        assert page.status_code == 200 and "Demo User" in page.text
        assert demo_server.token not in page.text  # keys are shown abbreviated only
        assert f"<code>{demo_server.token[:4]}…</code>" in page.text
        created = s.post(url, cookies=cookie)
    match = re.search(r"id='new-token'>([0-9a-f]{32})<", created.text)
    assert match, created.text
    value = match.group(1)
    assert as_user(value).get(f"{demo_server.url}/auth/api/v1/user/me").json()["id"] == 1
    assert value in [t.value for t in demo_server.context.auth.tokens_of(1)]


def test_token_in_the_settings_page_url_moves_into_a_cookie(anon, demo_server):
    r = anon.get(f"{demo_server.url}/sticky_auth/settings/tokens",
                 params={"middle_auth_token": demo_server.token, "token": demo_server.token,
                         "x": "1"})
    assert r.status_code == 302
    assert r.headers["Location"] == f"{demo_server.url}/sticky_auth/settings/tokens?x=1"
    assert f"middle_auth_token={demo_server.token}" in r.headers["Set-Cookie"]
    assert "HttpOnly" in r.headers["Set-Cookie"]


def test_a_redirect_elsewhere_mints_no_token(demo_server):
    before = len(demo_server.context.auth._tokens)
    r = requests.post(f"{demo_server.url}/sticky_auth/api/v1/authorize",
                      data={"user_id": "1", "redirect": "https://attacker.example/steal"},
                      timeout=TIMEOUT, allow_redirects=False)
    assert r.status_code == 400 and "Location" not in r.headers
    assert len(demo_server.context.auth._tokens) == before
    r = requests.get(f"{demo_server.url}/sticky_auth/api/v1/authorize",
                     params={"redirect": "https://attacker.example/steal"}, timeout=TIMEOUT)
    assert r.status_code == 400


def test_same_origin_and_loopback_redirects_are_fine(demo_server):
    for target in (f"{demo_server.url}/sticky_auth/settings/tokens", "http://localhost:8888/x"):
        r = sign_in(demo_server.url, 1, redirect=target)
        assert r.status_code == 302 and r.headers["Location"].startswith(target)


def test_served_beyond_loopback_sign_in_needs_the_printed_secret(demo_server):
    settings = demo_server.settings
    settings.signin_secret = "s3cret-printed-at-start"
    try:
        page = requests.get(f"{demo_server.url}/sticky_auth/api/v1/authorize", timeout=TIMEOUT)
        assert "Sign-in secret" in page.text and "s3cret" not in page.text
        r = requests.post(f"{demo_server.url}/sticky_auth/api/v1/authorize",
                          data={"user_id": "1"}, timeout=TIMEOUT)
        assert r.status_code == 403 and r.json()["error"] == "bad_secret"
        r = requests.post(f"{demo_server.url}/sticky_auth/api/v1/authorize",
                          data={"user_id": "1", "secret": "wrong"}, timeout=TIMEOUT)
        assert r.status_code == 403
        r = requests.post(f"{demo_server.url}/sticky_auth/api/v1/authorize",
                          data={"user_id": "1", "secret": settings.signin_secret},
                          timeout=TIMEOUT)
        assert r.status_code == 200 and opener_message(r.text)["token"]
    finally:
        settings.signin_secret = None

