"""Neuroglancer states as dicts: layers in the shape neuroglancer's JSON state has, segment ids
as exact decimal strings (floats refused), deterministic annotation ids, a state for a
datastack record centred on its points, and links as neuroglancer.to_url writes them."""

from __future__ import annotations

import json
from urllib.parse import unquote

import numpy as np
import pytest

from cave_widgets.client import neuroglancer_state as ns

RES = (4, 4, 40)
RECORD = {
    "aligned_volume": {"image_source": "precomputed://http://127.0.0.1:1/demo/em"},
    "viewer_resolution_x": 4.0, "viewer_resolution_y": 4.0, "viewer_resolution_z": 40.0,
    "viewer_site": "http://127.0.0.1:1/neuroglancer/v/demo/",
}


def test_dimensions_are_metres_per_voxel():
    assert ns.dimensions(RES) == {"x": [4e-9, "m"], "y": [4e-9, "m"], "z": [4e-8, "m"]}


def test_segment_ids_become_exact_strings_and_floats_are_refused():
    big = 2**64 - 1
    assert ns.segment_id_strings([np.uint64(big), 5, "864691135000000001"]) == [
        str(big), "5", "864691135000000001"]
    for bad in (1.0, np.float64(3), True, np.bool_(False)):
        with pytest.raises(TypeError):
            ns.segment_id_strings([bad])
    for bad in (-1, 2**64):
        with pytest.raises(ValueError, match="uint64"):
            ns.segment_id_strings([bad])
    with pytest.raises(TypeError):
        ns.segment_id_strings(["twelve"])


def test_layers():
    assert ns.image_layer("precomputed://x", opacity=0.5) == {
        "type": "image", "source": "precomputed://x", "name": "img", "opacity": 0.5}
    seg = ns.segmentation_layer(("precomputed://seg", "precomputed://skel"), np.array([7, 8]))
    assert seg == {"type": "segmentation", "source": ["precomputed://seg", "precomputed://skel"],
                   "name": "seg", "segments": ["7", "8"]}


def test_annotation_layer_of_points():
    layer = ns.annotation_layer(np.array([[1, 2, 3], [4, 5, 6]]), RES, name="syn",
                                descriptions=["a", ""], point_segments=[[10], [11, 12]],
                                linked_segmentation="seg", color="#ff0000")
    assert layer["source"] == {"url": "local://annotations",
                               "transform": {"outputDimensions": ns.dimensions(RES)}}
    first, second = layer["annotations"]
    assert first["point"] == [1.0, 2.0, 3.0] and first["description"] == "a"
    assert "description" not in second and second["segments"] == [["11", "12"]]
    assert first["type"] == "point" and len(first["id"]) == 40 and first["id"] != second["id"]
    assert layer["linkedSegmentationLayer"] == {"segments": "seg"}
    again = ns.annotation_layer([[1, 2, 3], [4, 5, 6]], RES, name="syn")
    assert [a["id"] for a in again["annotations"]] == [first["id"], second["id"]]
    with pytest.raises(ValueError, match="one entry per point"):
        ns.annotation_layer([[1, 2, 3]], RES, descriptions=["a", "b"])
    with pytest.raises(ValueError, match="x, y, z"):
        ns.annotation_layer([[1, 2]], RES)


def test_a_datastack_state_centres_on_its_points():
    state = ns.datastack_state(RECORD, [[0, 0, 10], [10, 20, 30]], point_layer="synapses",
                               segmentation_source="precomputed://seg", segment_ids=[3],
                               layout="xy", cross_section_scale=2)
    assert [layer["name"] for layer in state["layers"]] == ["img", "seg", "synapses"]
    assert state["layers"][0]["source"] == RECORD["aligned_volume"]["image_source"]
    assert state["position"] == [5.0, 10.0, 20.0]
    assert state["dimensions"] == ns.dimensions(RES)
    assert (state["layout"], state["crossSectionScale"]) == ("xy", 2.0)
    plain = ns.datastack_state(RECORD)
    assert "position" not in plain and [layer["name"] for layer in plain["layers"]] == ["img"]


def test_a_link_holds_the_state_after_the_viewer_url_annotations_first():
    image = ns.image_layer("precomputed://http://h/x")
    points = ns.annotation_layer([[1, 2, 3]], RES, name="pts")
    seg = ns.segmentation_layer("precomputed://http://h/s", [1])
    state = ns.viewer_state([image, seg, points], RES, [1, 2, 3], selected_layer="img")
    link = ns.state_link(RECORD["viewer_site"], state)
    viewer, _, fragment = link.partition("#!")
    assert viewer == RECORD["viewer_site"]
    assert " " not in fragment and '"' not in fragment
    assert json.loads(unquote(fragment)) == dict(state, layers=[points, image, seg])
    assert [layer["name"] for layer in state["layers"]] == ["img", "seg", "pts"]  # untouched


# --- which segmentation source a link uses ----------------------------------------------------

MIRRORED = dict(RECORD, segmentation_source="graphene://http://127.0.0.1:1/segmentation/table/t",
                segmentation_mirror_source="precomputed://http://127.0.0.1:1/demo/seg")


def test_a_datastack_with_a_mirror_gets_the_mirror_at_the_moment_of_the_rows():
    from datetime import datetime, timezone

    assert ns.viewer_segmentation_source(MIRRORED) == "precomputed://http://127.0.0.1:1/demo/seg"
    when = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=timezone.utc)
    source = ns.viewer_segmentation_source(MIRRORED, when)
    assert source == f"precomputed://http://127.0.0.1:1/demo/seg/at/{when.timestamp():.6f}"
    assert float(source.rsplit("/", 1)[1]) == pytest.approx(when.timestamp(), abs=1e-6)
    assert ns.viewer_segmentation_source(MIRRORED, 1714566615.5).endswith("/at/1714566615.500000")


def test_a_datastack_without_a_mirror_keeps_its_segmentation_source():
    graphene_http = dict(RECORD, segmentation_source="graphene://http://h/segmentation/table/t")
    assert ns.viewer_segmentation_source(graphene_http, 5.0) == graphene_http[
        "segmentation_source"]
    real = dict(RECORD, segmentation_source="graphene://https://minnie.microns-daf.com/"
                "segmentation/table/minnie65_public")
    assert ns.viewer_segmentation_source(real) == (
        "graphene://middleauth+https://minnie.microns-daf.com/segmentation/table/"
        "minnie65_public")
    signed = dict(RECORD, segmentation_source="graphene://middleauth+https://h/segmentation/t")
    assert ns.viewer_segmentation_source(signed) == signed["segmentation_source"]
    flat = dict(RECORD, segmentation_source="precomputed://gs://bucket/seg")
    assert ns.viewer_segmentation_source(flat) == "precomputed://gs://bucket/seg"
    with pytest.raises(ValueError, match="segmentation_source"):
        ns.viewer_segmentation_source(RECORD)


def test_segment_ids_bring_a_segmentation_layer_linked_to_the_points():
    state = ns.datastack_state(MIRRORED, [[1, 2, 3], [4, 5, 6]], point_layer="cells",
                               segment_ids=[864691135000000001, 864691135000000002],
                               timestamp=100.0, point_descriptions=["a", "b"],
                               point_segments=[[864691135000000001], [864691135000000002]])
    img, seg, cells = state["layers"]
    assert seg["source"] == "precomputed://http://127.0.0.1:1/demo/seg/at/100.000000"
    assert seg["segments"] == ["864691135000000001", "864691135000000002"]
    assert cells["linkedSegmentationLayer"] == {"segments": "seg"}
    assert [a["segments"] for a in cells["annotations"]] == [[["864691135000000001"]],
                                                             [["864691135000000002"]]]
    assert [a["description"] for a in cells["annotations"]] == ["a", "b"]
    without = ns.datastack_state(MIRRORED, [[1, 2, 3]])
    assert [layer["name"] for layer in without["layers"]] == ["img", "points"]
