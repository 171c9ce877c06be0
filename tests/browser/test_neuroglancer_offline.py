"""Neuroglancer from the embedded server, in headless Chromium, with nothing but 127.0.0.1:
every request the page or its workers make to anywhere else is aborted and counted, and the
test fails if there is one. A state in the link (the demo's EM image and a few synapses) must
load its layers and its image chunks (served 200); a shortened link (a `?json_url=` link from
client.state) must open through the sign-in page and the state service in the same viewer.
Screenshots go to test-artifacts/."""

from __future__ import annotations

import time

import pytest
from helpers.browser import keep_on_loopback

from cave_widgets import CAVEclient
from cave_widgets.client import neuroglancer_state
from cave_widgets.server import routes_viewer

VIEWPORT = {"width": 900, "height": 700}
ENOUGH_CHUNKS = 24  # a 900x700 view needs well over this many 64x64 chunks

LAYERS = """() => viewer.layerManager.managedLayers.map(l => ({
    name: l.name,
    type: l.layer ? l.layer.type : null,
    sources: l.layer ? l.layer.dataSources.map(d => d.loadState === undefined ? "loading"
        : d.loadState.error ? "error: " + d.loadState.error.message : "ok") : [],
}))"""
RESOURCES = "() => performance.getEntriesByType('resource').map(e => [e.name, e.responseStatus])"


@pytest.fixture(scope="module")
def demo_client(demo_for_browser):
    if routes_viewer.installed_viewer() is None:
        pytest.fail("the neuroglancer package is not installed: pip install -e '.[test]' "
                    "(the viewer extra)", pytrace=False)
    return CAVEclient(demo_for_browser.datastack, server_address=demo_for_browser.url,
                      auth_token=demo_for_browser.token, write_server_cache=False)


@pytest.fixture(scope="module")
def synapse_points(demo_client):
    table = demo_client.materialize.query_table("synapses", limit=5, split_positions=False)
    return [[int(v) for v in p] for p in table["ctr_pt_position"]]


@pytest.fixture()
def offline_page(browser, demo_for_browser, artifacts, request):
    """A page whose every request outside 127.0.0.1 (page or worker) is aborted and kept in
    `page.outside`."""
    context = browser.new_context(viewport=VIEWPORT)
    outside = keep_on_loopback(context)
    page = context.new_page()
    page.outside = outside
    try:
        yield page
    finally:
        page.screenshot(path=str(artifacts / f"{request.node.name}-final.png"))
        context.close()


def image_chunks(page) -> list[tuple[str, int]]:
    """Image chunks the viewer fetched, with their status: neuroglancer reads chunks in a web
    worker, whose own performance timeline records them."""
    found = []
    for worker in page.workers:
        found += [(url, status) for url, status in worker.evaluate(RESOURCES)
                  if "/demo/em/" in url and not url.endswith("/info")]
    return found


def wait_for_chunks(page, timeout: float = 90.0) -> list[tuple[str, int]]:
    """Until at least ENOUGH_CHUNKS chunks came and no new one for a second (the view is
    complete), or the timeout."""
    deadline, last, steady_since = time.monotonic() + timeout, -1, time.monotonic()
    while time.monotonic() < deadline:
        chunks = image_chunks(page)
        if len(chunks) != last:
            last, steady_since = len(chunks), time.monotonic()
        elif len(chunks) >= ENOUGH_CHUNKS and time.monotonic() - steady_since > 1.0:
            return chunks
        time.sleep(0.25)
    return image_chunks(page)


def wait_for_layers(page, expected: dict[str, str], timeout: float = 90.0) -> list[dict]:
    """The viewer's layers once all of `expected` exist and every data source has loaded
    (or failed); on timeout, fails with what the viewer had."""
    page.wait_for_function("() => window.viewer !== undefined", timeout=timeout * 1000)
    deadline = time.monotonic() + timeout
    while True:
        layers = page.evaluate(LAYERS)
        names = {layer["name"]: layer["type"] for layer in layers}
        settled = all(layer["sources"] and "loading" not in layer["sources"]
                      for layer in layers)
        if names == expected and settled:
            return layers
        if time.monotonic() > deadline:
            pytest.fail(f"the viewer's layers after {timeout:.0f} s: {layers}; "
                        f"state: {page.evaluate('() => viewer.state.toJSON()')}")
        time.sleep(0.25)


def check_viewer(page, expected_layers: dict[str, str]) -> list[dict]:
    layers = wait_for_layers(page, expected_layers)
    for layer in layers:
        assert layer["sources"] and all(s == "ok" for s in layer["sources"]), layer
    chunks = wait_for_chunks(page)
    assert len(chunks) >= ENOUGH_CHUNKS, f"only {len(chunks)} image chunks were fetched"
    assert {status for _, status in chunks} == {200}, [c for c in chunks if c[1] != 200][:5]
    statuses = page.evaluate(
        "() => Array.from(document.querySelectorAll('.neuroglancer-status'))"
        ".map(e => e.textContent)")
    assert not [s for s in statuses if "Disconnected" in s or "rror" in s], statuses
    return layers


def test_a_state_in_the_link_renders_image_and_synapses(offline_page, demo_client,
                                                        synapse_points, artifacts):
    record = demo_client.info.get_datastack_info()
    state = neuroglancer_state.datastack_state(
        record, synapse_points, point_layer="synapses", position=synapse_points[0],
        layout="xy", cross_section_scale=4)
    offline_page.goto(neuroglancer_state.state_link(demo_client.info.viewer_site(), state))
    check_viewer(offline_page, {"img": "image", "synapses": "annotation"})
    shown = offline_page.evaluate("() => viewer.state.toJSON()")
    synapses = next(layer for layer in shown["layers"] if layer["name"] == "synapses")
    assert [p["point"] for p in synapses["annotations"]] == synapse_points
    assert shown["position"] == synapse_points[0]
    offline_page.screenshot(path=str(artifacts / "neuroglancer-offline-state-in-link.png"))
    assert offline_page.outside == []


def test_a_shortened_link_opens_through_the_state_service(offline_page, demo_client,
                                                          demo_for_browser, synapse_points,
                                                          artifacts):
    record = demo_client.info.get_datastack_info()
    state = neuroglancer_state.datastack_state(
        record, synapse_points[:2], point_layer="synapses", position=synapse_points[1],
        layout="xy", cross_section_scale=8)
    labels = {"@type": "neuroglancer_segment_properties",
              "inline": {"ids": ["11", "22"],
                         "properties": [{"id": "label", "type": "label",
                                         "values": ["pyramidal", "basket"]}]}}
    prop_id = demo_client.state.upload_property_json(labels)
    # The source as the real caveclient writes it for an http server: the state service
    # hands it to the browser as plain http.
    state["layers"].append(neuroglancer_state.segmentation_layer(
        [f"precomputed://middleauth+{demo_for_browser.url}/nglstate/api/v1/property/{prop_id}"],
        [11], name="cells"))
    link = demo_client.state.build_neuroglancer_url(demo_client.state.upload_state_json(state))
    assert "?json_url=" in link
    # Not signed in yet: the link leads through the sign-in page, which sets the cookie the
    # viewer's fetches of the state and the property file then carry.
    offline_page.goto(link)
    offline_page.locator("button[data-user='1']").click()
    check_viewer(offline_page, {"img": "image", "synapses": "annotation",
                                "cells": "segmentation"})
    assert "middle_auth_token" not in offline_page.url
    fetched = dict(offline_page.evaluate(RESOURCES))
    state_fetches = {url: status for url, status in fetched.items() if "/nglstate/" in url}
    assert len(state_fetches) == 2 and set(state_fetches.values()) == {200}, state_fetches
    offline_page.screenshot(path=str(artifacts / "neuroglancer-offline-shortened-link.png"))
    assert offline_page.outside == []
