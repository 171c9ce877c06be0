"""SkeletonView in real JupyterLab and headless Chromium: a neuron's skeleton and synapses
are drawn on the canvas (its pixels, not only the element), the planes and the 3D view
switch and the 3D view turns when dragged. Screenshots go to test-artifacts/."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.browser import ensure_ran

pytestmark = pytest.mark.slow

# Counts of the canvas's pixels by colour: ink (anything not white), output red, input blue.
PIXELS = """canvas => {
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let ink = 0, red = 0, blue = 0;
  for (let i = 0; i < data.length; i += 4) {
    const [r, g, b, a] = [data[i], data[i + 1], data[i + 2], data[i + 3]];
    if (a === 0 || (r > 240 && g > 240 && b > 240)) continue;
    ink++;
    if (r > 180 && g < 80 && b < 80) red++;
    if (b > 150 && r < 80 && g < 160) blue++;
  }
  return { ink, red, blue, png: canvas.toDataURL() };
}"""


@pytest.fixture()
def neuron(demo_for_browser):
    """A root with synapses both ways, and its counts, read directly."""
    from cave_widgets import CAVEclient

    client = CAVEclient(demo_for_browser.datastack, server_address=demo_for_browser.url,
                        auth_token=demo_for_browser.token, write_server_cache=False)
    syn = client.materialize.query_table("synapses")
    pre, post = syn["pre_pt_root_id"].to_numpy(), syn["post_pt_root_id"].to_numpy()
    both = np.intersect1d(pre[pre != 0], post[post != 0])
    counts = [(int((pre == r).sum() + (post == r).sum()), int(r)) for r in both]
    root = max(counts)[1]
    return {"root": root, "outputs": len(client.materialize.synapse_query(pre_ids=root)),
            "inputs": len(client.materialize.synapse_query(post_ids=root))}


def test_a_neuron_is_drawn_with_its_synapses_and_turns_in_3d(open_notebook, demo_for_browser,
                                                             neuron, token_file, artifacts):
    setup = (
        "from cave_widgets import CAVEclient\n"
        "from cave_widgets.widgets import SkeletonView\n"
        f"client = CAVEclient({demo_for_browser.datastack!r}, "
        f"server_address={demo_for_browser.url!r}, auth_token_file={str(token_file)!r}, "
        "write_server_cache=False)\n"
        f"view = SkeletonView(client, {neuron['root']})\n"
        "view"
    )
    page = open_notebook("skeleton_view", [setup])
    ensure_ran(page)
    summary = page.locator(".cw-sk-summary", has_text="vertices")
    summary.wait_for(timeout=120_000)
    text = summary.inner_text()
    assert str(neuron["root"]) in text
    assert f"{neuron['outputs']} outputs, {neuron['inputs']} inputs" in text
    canvas = page.locator(".cw-sk-canvas")
    xy = canvas.evaluate(PIXELS)
    page.screenshot(path=str(artifacts / "skeleton-view-xy.png"), full_page=True)
    assert xy["ink"] > 500 and xy["red"] > 0 and xy["blue"] > 0, {
        k: v for k, v in xy.items() if k != "png"}

    page.locator(".cw-sk-view[data-view='xz']").click()
    page.locator(".cw-sk-view.cw-active[data-view='xz']").wait_for(timeout=30_000)
    xz = canvas.evaluate(PIXELS)
    assert xz["ink"] > 500 and xz["png"] != xy["png"]  # another plane, another picture

    page.locator(".cw-sk-view[data-view='3d']").click()
    page.locator(".cw-sk-view.cw-active[data-view='3d']").wait_for(timeout=30_000)
    before = canvas.evaluate(PIXELS)
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + 120, box["y"] + box["height"] / 2 + 20,
                    steps=8)
    page.mouse.up()
    after = canvas.evaluate(PIXELS)
    page.screenshot(path=str(artifacts / "skeleton-view-3d.png"), full_page=True)
    assert after["ink"] > 500 and after["png"] != before["png"]  # dragging turned it
