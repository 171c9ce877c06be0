"""The login-redirect server extension, with jupyter_server's own test tools: nonces are
one-time, the token never appears in a page, everything sits behind Jupyter's auth."""

import json
import subprocess
import sys

import pytest
from tornado.httpclient import HTTPClientError

TOKEN = "a" * 32


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"cave_widgets.jupyter_extension": True}}}


async def nonce(jp_fetch) -> str:
    response = await jp_fetch("cave_widgets", "login", "nonce", method="POST", body="")
    return json.loads(response.body)["nonce"]


async def claim(jp_fetch, value):
    try:
        response = await jp_fetch("cave_widgets", "login", "claim", method="POST",
                                  body=json.dumps({"nonce": value}))
        return json.loads(response.body).get("token")
    except HTTPClientError as err:
        assert err.code == 404
        return None


async def callback(jp_fetch, **params):
    return await jp_fetch("cave_widgets", "login", "callback", params=params,
                          follow_redirects=False, raise_error=False)


async def test_redirect_delivers_the_token_once(jp_fetch):
    n = await nonce(jp_fetch)
    assert await claim(jp_fetch, n) is None  # nothing yet: the widget keeps polling
    response = await callback(jp_fetch, nonce=n, middle_auth_token=TOKEN,
                              middle_auth_url="example.org/sticky_auth")
    assert response.code == 302
    location = response.headers["Location"]
    assert TOKEN not in location and "status=ok" in location
    assert response.headers["Cache-Control"] == "no-store"
    assert await claim(jp_fetch, n) == TOKEN
    assert await claim(jp_fetch, n) is None  # one use


async def test_unknown_or_reused_nonce_is_refused(jp_fetch):
    response = await callback(jp_fetch, nonce="made-up", middle_auth_token=TOKEN)
    assert "status=refused" in response.headers["Location"]
    assert await claim(jp_fetch, "made-up") is None
    n = await nonce(jp_fetch)
    await callback(jp_fetch, nonce=n, middle_auth_token=TOKEN)
    again = await callback(jp_fetch, nonce=n, middle_auth_token="b" * 32)
    assert "status=refused" in again.headers["Location"]
    assert await claim(jp_fetch, n) == TOKEN


async def test_unauthenticated_callback_is_refused_without_echoing_the_token(jp_fetch):
    # `token=` is also Jupyter's own auth parameter: a wrong one means "not signed in", as
    # in a browser without Jupyter's cookie. No redirect to the login page (it would carry
    # the token in `next`), no token in the page.
    n = await nonce(jp_fetch)
    response = await callback(jp_fetch, nonce=n, middle_auth_token=TOKEN, token=TOKEN)
    assert response.code == 403 and "Location" not in response.headers
    assert TOKEN not in response.body.decode()
    assert await claim(jp_fetch, n) is None


async def test_landing_page_never_shows_the_token(jp_fetch):
    response = await callback(jp_fetch, status="ok")
    body = response.body.decode()
    assert response.code == 200 and "Signed in" in body and TOKEN not in body


async def test_routes_need_jupyters_authentication(jp_fetch):
    for path, method in [(("cave_widgets", "login", "nonce"), "POST"),
                         (("cave_widgets", "login", "claim"), "POST"),
                         (("cave_widgets", "login", "callback"), "GET")]:
        response = await jp_fetch(*path, method=method, body="" if method == "POST" else None,
                                  headers={"Authorization": ""}, raise_error=False,
                                  follow_redirects=False)
        assert response.code in (302, 403), (path, response.code)


def test_nonces_expire():
    from cave_widgets.jupyter_extension import LoginHandoff

    handoff = LoginHandoff(ttl=0.0)
    n = handoff.new_nonce()
    assert not handoff.deliver(n, TOKEN)


def test_login_redirect_extension_is_enabled_by_the_install():
    out = subprocess.run([sys.executable, "-m", "jupyter", "server", "extension", "list"],
                         capture_output=True, text=True, timeout=120)
    text = out.stdout + out.stderr
    line = next((ln for ln in text.splitlines() if "cave_widgets.jupyter_extension" in ln), "")
    assert "enabled" in line, text


@pytest.mark.parametrize("body", ["[]", "3", '"nonce"', "null", "[" * 100_000])
async def test_a_claim_that_is_not_a_json_object_is_400(jp_fetch, body):
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("cave_widgets", "login", "claim", method="POST", body=body)
    assert caught.value.code == 400

