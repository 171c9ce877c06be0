"""TableBrowser → "Open selected in neuroglancer", in real JupyterLab and headless Chromium,
with nothing but 127.0.0.1 reachable: a person selects a cell in the grid and clicks the
button; the browser opens the state service's link in a new tab (the embedded viewer, through
the sign-in page); the viewer's state lists the cell's root id as a selected segment, and the
screenshots show it rendered in its own colour — in the 3D panel (its mesh) and in the 2D
panel (the mirror's segmentation over the EM image) — which disappears when the layer is
hidden. WebGL here is Chromium's SwiftShader (software), which headless Chromium uses without
any flag. Screenshots go to test-artifacts/."""

from __future__ import annotations

import base64
import re
import time

import pytest
from helpers.browser import NOTEBOOK, keep_on_loopback

from cave_widgets import CAVEclient
from cave_widgets.server import routes_viewer

pytestmark = pytest.mark.slow
MIN_PIXELS = 150  # pixels of the segment's colour a panel must show

# Pixels of one colour: in 3D a lit mesh is the colour scaled (same direction in RGB); in 2D
# the segmentation is the colour blended with grey EM (same direction once grey is taken out).
COUNT_COLOUR = """async ({png, colour}) => {
    const blob = await (await fetch("data:image/png;base64," + png)).blob();
    const bitmap = await createImageBitmap(blob);
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const ctx = canvas.getContext("2d");
    ctx.drawImage(bitmap, 0, 0);
    const d = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
    const norm = (v) => Math.hypot(v[0], v[1], v[2]);
    const c = colour, cm = (c[0] + c[1] + c[2]) / 3;
    const chroma = [c[0] - cm, c[1] - cm, c[2] - cm], cn = norm(c), hn = norm(chroma);
    let lit = 0, blended = 0;
    for (let i = 0; i < d.length; i += 4) {
        const p = [d[i], d[i + 1], d[i + 2]], pn = norm(p);
        if (pn > 60 && (p[0] * c[0] + p[1] * c[1] + p[2] * c[2]) / (pn * cn) > 0.995) lit++;
        const m = (p[0] + p[1] + p[2]) / 3, q = [p[0] - m, p[1] - m, p[2] - m], qn = norm(q);
        if (qn > 25 && (q[0] * chroma[0] + q[1] * chroma[1] + q[2] * chroma[2]) / (qn * hn) > 0.97)
            blended++;
    }
    return {lit, blended, width: bitmap.width, height: bitmap.height};
}"""
SEGMENT_COLOUR = """id => {
    const layer = viewer.layerManager.getLayerByName("seg").layer;
    const css = layer.displayState.segmentationColorGroupState.value.segmentColorHash
        .computeCssColor(BigInt(id));
    return css.match(/[\\d.]+%?/g).slice(0, 3).map(v => v.endsWith("%")
        ? Math.round(parseFloat(v) * 2.55) : Number(v));
}"""
RESOURCES = "() => performance.getEntriesByType('resource').map(e => [e.name, e.responseStatus])"
LAYERS = """() => viewer.layerManager.managedLayers.map(l => ({
    name: l.name,
    sources: l.layer ? l.layer.dataSources.map(d => d.loadState === undefined ? "loading"
        : d.loadState.error ? "error: " + d.loadState.error.message : "ok") : [],
}))"""


@pytest.fixture()
def cell(demo_for_browser):
    """The first row of cell_types at the newest version: (id, root id)."""
    if routes_viewer.installed_viewer() is None:
        pytest.fail("the neuroglancer package is not installed: pip install -e '.[test]' "
                    "(the viewer extra)", pytrace=False)
    client = CAVEclient(demo_for_browser.datastack, server_address=demo_for_browser.url,
                        auth_token=demo_for_browser.token, write_server_cache=False)
    row = client.materialize.query_table("cell_types", limit=1).iloc[0]
    return int(row["id"]), int(row["pt_root_id"])


def panels_colour_counts(page, colour) -> list[dict]:
    """Counts of the segment's colour in each data panel, left to right."""
    panels = page.locator(".neuroglancer-rendered-data-panel")
    boxes = sorted(range(panels.count()), key=lambda i: panels.nth(i).bounding_box()["x"])
    out = []
    for i in boxes:
        png = base64.b64encode(panels.nth(i).screenshot()).decode()
        out.append(page.evaluate(COUNT_COLOUR, {"png": png, "colour": colour}))
    return out


def wait_for(check, timeout: float, what: str, page=None, artifacts=None):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            if page is not None and artifacts is not None:
                page.screenshot(path=str(artifacts / "table-browser-neuroglancer-failed.png"))
            pytest.fail(f"{what} within {timeout:.0f} s")
        time.sleep(0.5)


def test_open_the_selected_cell_in_the_embedded_viewer(open_notebook, demo_for_browser,
                                                       token_file, cell, artifacts):
    row_id, root = cell
    setup = (
        "from cave_widgets import CAVEclient\n"
        "from cave_widgets.widgets.table_browser import TableBrowser\n"
        f"client = CAVEclient({demo_for_browser.datastack!r}, "
        f"server_address={demo_for_browser.url!r}, auth_token_file={str(token_file)!r}, "
        "write_server_cache=False)\n"
        "browser = TableBrowser(client, table='cell_types', page_size=25)\n"
        "browser"
    )
    page = open_notebook("table_browser_neuroglancer", [setup])
    outside = keep_on_loopback(page.context)
    row = page.locator(f"{NOTEBOOK} .cw-grid-row[data-key='{row_id}']")
    row.wait_for(timeout=120_000)
    row.click()
    page.locator(".cw-selection", has_text="1 selected").wait_for(timeout=30_000)
    button = page.locator(".cw-ngl-selected")
    assert button.is_enabled()
    with page.expect_popup(timeout=60_000) as opened:
        button.click()
    viewer = opened.value
    # The viewer's workers fetch the data. Playwright's routes and response events do not see
    # their requests, and a worker's performance timeline keeps 250 entries (the EM image's
    # chunks fill it): each worker gets room for all, as soon as it starts.
    viewer.on("worker", lambda worker: worker.evaluate(
        "() => performance.setResourceTimingBufferSize(100000)"))
    page.locator(".cw-ngl-status", has_text="Opened in neuroglancer").wait_for(timeout=60_000)
    link = page.locator(".cw-ngl-status a").get_attribute("href")
    assert re.fullmatch(rf"{re.escape(demo_for_browser.url)}/neuroglancer/v/demo/\?json_url="
                        rf"{re.escape(demo_for_browser.url)}/nglstate/api/v1/\d+", link)
    assert demo_for_browser.token not in link
    page.screenshot(path=str(artifacts / "table-browser-neuroglancer-1-clicked.png"),
                    full_page=True)

    # A browser not signed in to the server goes through its sign-in page, then the viewer.
    viewer.set_viewport_size({"width": 1000, "height": 700})
    viewer.bring_to_front()  # the tab a person now looks at (hidden tabs do not render)
    wait_for(lambda: viewer.locator("button[data-user='1']").count()
             or viewer.evaluate("() => window.viewer !== undefined"), 90,
             "no sign-in page or viewer")
    if viewer.locator("button[data-user='1']").count():
        viewer.locator("button[data-user='1']").click()
    viewer.wait_for_function("() => window.viewer !== undefined", timeout=90_000)

    def layers_loaded():
        layers = viewer.evaluate(LAYERS)
        names = [layer["name"] for layer in layers]
        done = all(layer["sources"] and "loading" not in layer["sources"] for layer in layers)
        return layers if done and {"img", "seg", "cell_types"} <= set(names) else None

    layers = wait_for(layers_loaded, 90, "the link's layers did not load")
    for layer in layers:
        assert all(s == "ok" for s in layer["sources"]), layer
    state = viewer.evaluate("() => viewer.state.toJSON()")
    seg = next(layer for layer in state["layers"] if layer["name"] == "seg")
    assert seg["segments"] == [str(root)]
    assert "/demo/seg/at/" in str(seg["source"])

    # the segment's mesh and its chunks came from the mirror
    def mirror_files() -> list[tuple[str, int]]:
        found = viewer.evaluate(RESOURCES)
        for worker in viewer.workers:
            found += worker.evaluate(RESOURCES)
        return [(url, status) for url, status in found if "/demo/seg/" in url]

    fragment = f"/mesh/{root}:0:all"
    wait_for(lambda: any(url.endswith(fragment) and status == 200
                         for url, status in mirror_files()), 90, "no mesh was fetched", viewer,
             artifacts)
    colour = viewer.evaluate(SEGMENT_COLOUR, str(root))

    def coloured():
        counts = panels_colour_counts(viewer, colour)
        ok = len(counts) == 2 and counts[0]["blended"] >= MIN_PIXELS \
            and counts[1]["lit"] >= MIN_PIXELS
        return counts if ok else None

    shown = wait_for(coloured, 120, f"the segment's colour {colour} never filled both panels",
                     viewer, artifacts)
    viewer.screenshot(path=str(artifacts / "table-browser-neuroglancer-2-viewer.png"))
    files = mirror_files()
    assert {status for _, status in files} <= {200, 0}, files  # 0: a fetch the viewer cancelled
    assert any(re.search(r"/demo/seg/at/[\d.]+/\d+nm/", url) and status == 200
               for url, status in files)

    # hidden, the colour goes: it was the segment, not the image or the annotations
    viewer.evaluate("() => viewer.layerManager.getLayerByName('seg').setVisible(false)")
    time.sleep(2)
    hidden = panels_colour_counts(viewer, colour)
    viewer.screenshot(path=str(artifacts / "table-browser-neuroglancer-3-hidden.png"))
    assert hidden[0]["blended"] < shown[0]["blended"] / 5, (shown, hidden)
    assert hidden[1]["lit"] < shown[1]["lit"] / 5, (shown, hidden)
    assert outside == []
