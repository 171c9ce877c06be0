"""Neuroglancer served by the embedded server, and the EM image it shows: the viewer's page and
files come from the installed `neuroglancer` package with the types its own server uses, the
routes its python build needs answer, `?json_url=` links are redirected to `#!`, a server
without the package says how to install it, and the image volume answers as precomputed
data any origin may read."""

from __future__ import annotations

import re
import time
from importlib import metadata

import numpy as np
import pytest
import requests
from helpers.server_http import TIMEOUT

from cave_widgets.server import routes_viewer
from cave_widgets.server.demo import em_image


@pytest.fixture(scope="module")
def viewer(demo_server):
    if routes_viewer.installed_viewer() is None:
        pytest.fail("the neuroglancer package is not installed: pip install -e '.[test]' "
                    "(the viewer extra)", pytrace=False)
    return f"{demo_server.url}/neuroglancer/v/demo/"


def get(url: str, **kwargs) -> requests.Response:
    return requests.get(url, timeout=TIMEOUT, allow_redirects=False, **kwargs)


def test_the_page_and_every_file_it_loads(viewer):
    page = get(viewer)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-cache"
    names = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert any(n.startswith("main.") and n.endswith(".js") for n in names), names
    for name in names:
        r = get(viewer + name)
        expected = "text/css" if name.endswith(".css") else "application/javascript"
        assert r.status_code == 200 and r.headers["content-type"].startswith(expected), name
        assert "immutable" in r.headers["cache-control"]
    folder, version = routes_viewer.installed_viewer()
    wasm = sorted(p.name for p in folder.glob("*.wasm"))[0]
    assert get(viewer + wasm).headers["content-type"] == "application/wasm"
    assert version == metadata.version("neuroglancer")


def test_no_version_json_and_no_file_outside_the_client(viewer, demo_server):
    # Without version.json caveclient builds ?json_url= links, which this page redirects.
    for url in (viewer + "version.json", viewer + "/version.json",
                viewer + "..%2F__init__.py", viewer + "%2E%2E"):
        assert get(url).status_code == 404, url


def test_json_url_links_are_redirected_to_the_fragment(viewer, demo_server):
    state_url = f"{demo_server.url}/nglstate/api/v1/123"
    signed_in = {"middle_auth_token": demo_server.token}
    r = get(viewer, params={"json_url": state_url}, cookies=signed_in)
    assert r.status_code == 302 and r.headers["location"] == f"/neuroglancer/v/demo/#!{state_url}"
    elsewhere = "https://global.example.test/nglstate/api/v1/5"
    r = get(viewer, params={"json_url": elsewhere})
    assert r.status_code == 302 and r.headers["location"] == f"/neuroglancer/v/demo/#!{elsewhere}"
    assert get(viewer, params={"json_url": "javascript:alert(1)"}).status_code == 400


def test_a_state_on_this_server_needs_a_signed_in_browser_first(viewer, demo_server):
    state_url = f"{demo_server.url}/nglstate/api/v1/123"
    for cookies in ({}, {"middle_auth_token": "0" * 32}):
        r = get(viewer, params={"json_url": state_url}, cookies=cookies)
        assert r.status_code == 302
        assert r.headers["location"].startswith("/sticky_auth/api/v1/authorize?redirect=")
    # Signing in comes back to the link, with the cookie set; the link then opens.
    link = requests.Request("GET", viewer, params={"json_url": state_url}).prepare().url
    back = requests.post(f"{demo_server.url}/sticky_auth/api/v1/authorize",
                         data={"user_id": "1", "redirect": link}, allow_redirects=False,
                         timeout=TIMEOUT)
    assert back.status_code == 302 and back.headers["location"].startswith(link)
    r = get(back.headers["location"], cookies=back.cookies)
    assert r.headers["location"] == f"/neuroglancer/v/demo/#!{state_url}"


def test_short_addresses_lead_to_the_page(viewer, demo_server):
    for path in ("/neuroglancer", "/neuroglancer/", "/neuroglancer/v/demo"):
        r = get(demo_server.url + path, params={"json_url": "http://h/s"} if "v" in path else {})
        assert r.status_code == 307 and r.headers["location"].startswith("/neuroglancer/v/demo/")
    r = requests.get(f"{demo_server.url}/neuroglancer", timeout=TIMEOUT)
    assert r.status_code == 200 and r.url == viewer


def test_the_python_builds_own_routes(demo_server):
    with requests.get(f"{demo_server.url}/neuroglancer/events/demo", params={"c": "x"},
                      stream=True, timeout=TIMEOUT) as events:
        assert events.status_code == 200
        assert events.headers["content-type"].startswith("text/event-stream")
        assert next(events.iter_content(64)).startswith(b":")  # a comment: no state message
    r = requests.post(f"{demo_server.url}/neuroglancer/state/demo",
                      data=b'{"s": {}, "g": 1, "pg": "", "c": "x"}', timeout=TIMEOUT)
    assert r.status_code == 200 and int(r.json()["g"]) > 0


def test_without_the_package_the_page_says_how_to_install_it(demo_server, monkeypatch):
    monkeypatch.setattr(routes_viewer, "installed_viewer", lambda: None)
    for path in ("/neuroglancer/v/demo/", "/neuroglancer/v/demo/main.js"):
        r = get(demo_server.url + path)
        assert r.status_code == 503 and "pip install 'cave_widgets[viewer]'" in r.text
        assert f"precomputed://{demo_server.url}/demo/em" in r.text


def test_the_datastack_names_the_viewer_and_the_image(demo_server, http):
    record = http.get(f"{demo_server.url}/info/api/v2/datastack/full/{demo_server.datastack}",
                      timeout=TIMEOUT).json()
    assert record["viewer_site"] == f"{demo_server.url}/neuroglancer/v/demo/"
    assert record["aligned_volume"]["image_source"] == f"precomputed://{demo_server.url}/demo/em"


# --- the image volume ----------------------------------------------------------------------


def test_image_info_and_chunks_for_any_origin(demo_server):
    info = get(f"{demo_server.url}/demo/em/info", headers={"Origin": "https://viewer.test"})
    assert info.status_code == 200 and info.json() == em_image.volume_info()
    assert info.headers["access-control-allow-origin"] == "*"
    level = em_image.LEVELS[1]
    start = np.array(level.voxel_offset) + np.array(level.chunk_size) * [10, 20, 30]
    end = start + level.chunk_size
    name = "_".join(f"{a}-{b}" for a, b in zip(start, end))
    chunk = get(f"{demo_server.url}/demo/em/{level.key}/{name}")
    assert chunk.status_code == 200
    assert chunk.headers["content-type"] == "application/octet-stream"
    assert chunk.content == em_image.render_chunk(level, start, end).tobytes()
    assert "max-age" in chunk.headers["cache-control"]


def test_chunks_outside_or_off_the_grid(demo_server):
    base = f"{demo_server.url}/demo/em"
    outside = get(f"{base}/4_4_40/0-64_0-64_0-16")  # neuroglancer reads a 404 as empty
    assert outside.status_code == 404 and "outside" in outside.json()["message"]
    assert get(f"{base}/5_5_5/0-64_0-64_0-16").status_code == 404
    off_grid = get(f"{base}/4_4_40/100001-100065_100000-100064_15000-15016")
    assert off_grid.status_code == 400 and "grid" in off_grid.json()["message"]


def test_an_open_event_stream_does_not_hold_up_stopping_the_server():
    from cave_widgets.server import serve_demo
    from cave_widgets.server.runner import SHUTDOWN_GRACE

    server = serve_demo("small")
    events = requests.get(f"{server.url}/neuroglancer/events/demo", stream=True, timeout=TIMEOUT)
    try:
        assert events.status_code == 200
        thread, started = server._thread, time.monotonic()
        server.stop(timeout=SHUTDOWN_GRACE + 5)
        assert not thread.is_alive(), "the server still runs with a viewer connected"
        assert time.monotonic() - started < SHUTDOWN_GRACE + 5
    finally:
        events.close()
        server.stop()
