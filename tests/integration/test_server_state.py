"""The JSON state service over HTTP, as NeuroglancerJsonServer answers: a post returns the new
state's URL as a JSON string, a state comes back byte for byte, `raw` is its zlib bytes,
property files live beside states in one id space, explicit ids need an admin, the legacy
routes still work, every route but the version needs a token, and a browser gets
`middleauth+http://` sources rewritten to what a viewer can open."""

from __future__ import annotations

import zlib

import pytest
import requests
from helpers.server_http import TIMEOUT, as_user

J = "/nglstate/api/v1"
PROPS = (b'{"@type": "neuroglancer_segment_properties", "inline": {"ids": ["1"], '
         b'"properties": [{"id": "label", "type": "label", "values": ["a"]}]}}')


@pytest.fixture(scope="module")
def demo(demo_server):
    with as_user(demo_server.token) as s:
        yield s


@pytest.fixture(scope="module")
def guest(demo_server):
    with as_user(demo_server.tokens["guest"]) as s:
        yield s


def post(session, url: str, raw: bytes, **kwargs):
    # Like caveclient: the raw JSON text, no Content-Type.
    return session.post(url, data=raw, **kwargs)


def new_id(response, base: str) -> int:
    assert response.status_code == 200, response.text
    url = response.json()
    assert url.startswith(base + "/"), url
    return int(url.rsplit("/", 1)[1])


def test_version_is_open_and_a_string(demo_server):
    r = requests.get(f"{demo_server.url}{J}/version", timeout=TIMEOUT)
    assert r.status_code == 200 and r.json() == "0.7.2"


def test_a_state_comes_back_byte_for_byte(demo, demo_server):
    base = f"{demo_server.url}{J}"
    raw = b'{"layers":  [ {"type": "image"} ], "position": [1.5, 2, 3]}'
    state_id = new_id(post(demo, f"{base}/post", raw), base)
    r = demo.get(f"{base}/{state_id}")
    assert r.status_code == 200 and r.content == raw
    assert r.headers["Content-Type"] == "application/json"
    raw_answer = demo.get(f"{base}/raw/{state_id}")
    assert zlib.decompress(raw_answer.content) == raw


def test_property_files_share_the_id_space_but_not_the_routes(demo, demo_server):
    base = f"{demo_server.url}{J}"
    prop_id = new_id(post(demo, f"{base}/property/post", PROPS), f"{base}/property")
    assert demo.get(f"{base}/property/{prop_id}/info").content == PROPS
    assert zlib.decompress(demo.get(f"{base}/property/raw/{prop_id}").content) == PROPS
    assert demo.get(f"{base}/{prop_id}").status_code == 404  # not a state
    state_id = new_id(post(demo, f"{base}/post", b"{}"), base)
    assert demo.get(f"{base}/property/{state_id}/info").status_code == 404
    assert state_id != prop_id


def test_bad_posts_and_unknown_ids(demo, demo_server):
    base = f"{demo_server.url}{J}"
    for body in (b"", b"{not json", b"\xff\xfe"):
        r = post(demo, f"{base}/post", body)
        assert r.status_code == 400 and r.json()["message"], body
    assert demo.get(f"{base}/123").status_code == 404
    r = demo.get(f"{base}/twelve")
    assert r.status_code == 400 and "state id" in r.json()["message"]


def test_explicit_ids_need_an_admin_and_never_overwrite(demo, guest, demo_server):
    base = f"{demo_server.url}{J}"
    wanted = 4_845_531_975_188_480
    r = post(demo, f"{base}/post/{wanted}", b'{"mine": 1}', params={"timestamp": "1700000000"})
    assert new_id(r, base) == wanted
    assert demo_server.context.states.get("state", wanted).created == 1_700_000_000
    again = post(demo, f"{base}/post/{wanted}", b'{"mine": 2}')
    assert again.status_code == 400 and "already in use" in again.json()["message"]
    assert demo.get(f"{base}/{wanted}").json() == {"mine": 1}
    refused = post(guest, f"{base}/property/post/{wanted + 1}", PROPS)
    assert refused.status_code == 403 and "admin" in refused.text
    # Any signed-in user may post and read without an id, datastack permission or not.
    state_id = new_id(post(guest, f"{base}/post", b"{}"), base)
    assert guest.get(f"{base}/{state_id}").json() == {}


def test_legacy_routes(demo, demo_server):
    legacy = f"{demo_server.url}/nglstate"
    state_id = new_id(post(demo, f"{legacy}/post", b'{"old": true}'), legacy)
    assert demo.get(f"{legacy}/{state_id}").json() == {"old": True}
    assert zlib.decompress(demo.get(f"{legacy}/raw/{state_id}").content) == b'{"old": true}'
    assert demo.get(f"{demo_server.url}{J}/{state_id}").json() == {"old": True}


def test_index_and_table_info(demo, demo_server):
    base = f"{demo_server.url}{J}"
    assert demo.get(f"{base}/").text == "NeuroglancerJsonServer - v0.7.2"
    assert demo.get(f"{base}/index").text == "NeuroglancerJsonServer - v0.7.2"
    assert demo.get(f"{base}/table_info").text.startswith("User: 1 ")


def test_everything_but_the_version_needs_a_token(demo, demo_server):
    base = f"{demo_server.url}{J}"
    state_id = new_id(post(demo, f"{base}/post", b"{}"), base)
    for method, path in (("GET", f"/{state_id}"), ("GET", f"/raw/{state_id}"),
                         ("POST", "/post"), ("POST", "/property/post"), ("GET", "/index")):
        r = requests.request(method, base + path, data=b"{}", timeout=TIMEOUT)
        assert r.status_code == 401 and r.json()["error"] == "no_token", path
    # A browser sends the sign-in cookie instead of a header.
    cookie = {"middle_auth_token": demo_server.token}
    assert requests.get(f"{base}/{state_id}", cookies=cookie, timeout=TIMEOUT).json() == {}


def test_a_browser_gets_middleauth_http_sources_it_can_open(demo, demo_server):
    base = f"{demo_server.url}{J}"
    source = f"precomputed://middleauth+{base}/property/1"
    raw = ('{"layers": [{"type": "segmentation", "source": ["precomputed://http://x/seg", "'
           + source + '", "graphene://middleauth+https://real.example/t"]}]}').encode()
    state_id = new_id(post(demo, f"{base}/post", raw), base)
    assert demo.get(f"{base}/{state_id}").content == raw  # API clients: as posted
    seen = demo.get(f"{base}/{state_id}", headers={"Sec-Fetch-Mode": "cors"}).json()
    assert seen["layers"][0]["source"] == [
        "precomputed://http://x/seg", f"precomputed://{base}/property/1",
        "graphene://middleauth+https://real.example/t"]  # https is left alone
