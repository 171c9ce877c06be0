"""Neuroglancer states as plain dicts, and links that open them: what a widget needs to show
a datastack's image, some points (synapses, cell bodies) and some segments in a viewer.

No neuroglancer or nglui import: the dicts follow neuroglancer's JSON state (the shape
`neuroglancer.ViewerState.to_json()` gives). Positions and points are in voxels of the
state's `dimensions` (the datastack's viewer resolution, e.g. 4 x 4 x 40 nm, which is also
the resolution of CAVE annotation tables). Segment ids are decimal strings: neuroglancer reads
64-bit ids exactly only as strings.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from urllib.parse import quote

# What neuroglancer's own to_url leaves unescaped in the fragment.
_FRAGMENT_SAFE = "~@#$&()*!+=:;,.?/'"
_UINT64_LIMIT = 1 << 64


def dimensions(resolution_nm: Sequence[float]) -> dict:
    """The x, y, z coordinate space of a state, from a voxel size in nanometres."""
    return {axis: [float(r) * 1e-9, "m"] for axis, r in zip("xyz", resolution_nm)}


def segment_id_strings(segment_ids: Iterable) -> list[str]:
    """Segment ids as the decimal strings neuroglancer wants. Floats are refused: an id that
    went through a float may have lost its last digits."""
    out = []
    for value in segment_ids:
        kind = type(value).__name__
        if isinstance(value, bool) or "float" in kind or "bool" in kind:
            raise TypeError(f"segment ids are integers, got {kind} {value!r}")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise TypeError(f"segment ids are integers, got {value!r}") from None
        if not 0 <= number < _UINT64_LIMIT:
            raise ValueError(f"segment id {value!r} is not a uint64")
        out.append(str(number))
    return out


def image_layer(source: str, name: str = "img", **settings) -> dict:
    """An image layer, e.g. from `client.info.image_source()`. `settings` are further
    neuroglancer layer fields (opacity, shader, ...)."""
    return {"type": "image", "source": source, "name": name, **settings}


def segmentation_layer(source: str | Sequence[str], segment_ids: Iterable = (),
                       name: str = "seg", **settings) -> dict:
    """A segmentation layer showing `segment_ids`. `source` is one data source or a list of
    them (a volume, then e.g. a skeleton or segment-properties source)."""
    if not isinstance(source, str):
        source = list(source)
    layer = {"type": "segmentation", "source": source, "name": name,
             "segments": segment_id_strings(segment_ids)}
    layer.update(settings)
    return layer


def annotation_layer(points, resolution_nm: Sequence[float], name: str = "annotations",
                     descriptions: Sequence[str] | None = None,
                     point_segments: Sequence[Iterable] | None = None,
                     linked_segmentation: str | None = None, color: str | None = None) -> dict:
    """A layer of point annotations kept in the state itself (`local://annotations`).

    `points` is (n, 3) positions in voxels of `resolution_nm`; `descriptions` and
    `point_segments` (the segment ids each point belongs to) are optional, one per point;
    `linked_segmentation` names the segmentation layer those segments are in. Annotation
    ids are derived from the positions, so the same points give the same state."""
    rows = [[float(v) for v in p] for p in points]
    if any(len(p) != 3 for p in rows):
        raise ValueError("points must be (x, y, z) positions")
    for what, given in (("descriptions", descriptions), ("point_segments", point_segments)):
        if given is not None and len(given) != len(rows):
            raise ValueError(f"{what} needs one entry per point ({len(rows)}), got {len(given)}")
    annotations = []
    for i, point in enumerate(rows):
        annotation = {"type": "point", "id": _annotation_id(name, i, point), "point": point}
        if descriptions is not None and descriptions[i]:
            annotation["description"] = str(descriptions[i])
        if point_segments is not None:
            annotation["segments"] = [segment_id_strings(point_segments[i])]
        annotations.append(annotation)
    layer = {
        "type": "annotation",
        "source": {"url": "local://annotations",
                   "transform": {"outputDimensions": dimensions(resolution_nm)}},
        "annotations": annotations,
        "name": name,
    }
    if linked_segmentation:
        layer["linkedSegmentationLayer"] = {"segments": linked_segmentation}
    if color:
        layer["annotationColor"] = color
    return layer


def _annotation_id(layer: str, index: int, point: list[float]) -> str:
    return hashlib.sha1(f"{layer}|{index}|{point}".encode()).hexdigest()


def viewer_state(layers: Sequence[dict], resolution_nm: Sequence[float],
                 position: Sequence[float] | None = None, *, layout: str | dict = "xy-3d",
                 cross_section_scale: float | None = None,
                 projection_scale: float | None = None,
                 selected_layer: str | None = None) -> dict:
    """A whole state. Without `position` the viewer centres on the data. Scales are in
    units of `dimensions` per screen pixel (cross sections) and of the 3d view's height."""
    state: dict = {"dimensions": dimensions(resolution_nm), "layers": list(layers),
                   "layout": layout}
    if position is not None:
        state["position"] = [float(v) for v in position]
    if cross_section_scale is not None:
        state["crossSectionScale"] = float(cross_section_scale)
    if projection_scale is not None:
        state["projectionScale"] = float(projection_scale)
    if selected_layer is not None:
        state["selectedLayer"] = {"layer": selected_layer, "visible": True}
    return state


MIRROR_FIELD = "segmentation_mirror_source"


def viewer_segmentation_source(datastack_info: dict,
                               timestamp: datetime | float | None = None) -> str:
    """The segmentation source viewer links to this datastack use. One rule:

    - a datastack whose info record names a precomputed mirror of its segmentation
      (`segmentation_mirror_source`, which cave_widgets' embedded server advertises) gets
      the mirror, labelled with the root ids of `timestamp` (a datetime, or unix seconds;
      None: the latest roots whenever the viewer reads). Any neuroglancer opens it, offline
      too, and root ids of rows from that moment select their segments;
    - any other datastack (a real deployment) keeps its `segmentation_source` (graphene),
      with `middleauth+` before an https address as nglui writes it: the chunkedgraph
      wants a signed-in viewer.
    """
    mirror = datastack_info.get(MIRROR_FIELD)
    if mirror:
        if timestamp is None:
            return mirror
        seconds = timestamp.timestamp() if isinstance(timestamp, datetime) else float(timestamp)
        return f"{mirror}/at/{seconds:.6f}"
    source = datastack_info.get("segmentation_source")
    if not source:
        raise ValueError("the datastack names no segmentation_source")
    scheme, sep, rest = source.partition("://")
    if scheme == "graphene" and rest.startswith("https://"):
        return f"{scheme}{sep}middleauth+{rest}"
    return source


def datastack_state(datastack_info: dict, points=None, *, point_layer: str = "points",
                    segmentation_source: str | Sequence[str] | None = None,
                    segment_ids: Iterable = (), position: Sequence[float] | None = None,
                    timestamp: datetime | float | None = None,
                    point_descriptions: Sequence[str] | None = None,
                    point_segments: Sequence[Iterable] | None = None,
                    **view) -> dict:
    """A state for a datastack's info record (`client.info.get_datastack_info()`): its
    image, optionally `points` (voxels of its viewer resolution) as an annotation layer,
    and a segmentation layer showing `segment_ids` when there are any or a
    `segmentation_source` is given (by default viewer_segmentation_source at `timestamp`).
    Points may carry descriptions and the segments they belong to (linked to that layer).
    Centred on the points unless `position` is given. `view` goes to viewer_state."""
    resolution = [datastack_info[f"viewer_resolution_{axis}"] for axis in "xyz"]
    layers = [image_layer(datastack_info["aligned_volume"]["image_source"])]
    segment_ids = segment_id_strings(segment_ids)
    linked = None
    if segmentation_source is not None or segment_ids:
        if segmentation_source is None:
            segmentation_source = viewer_segmentation_source(datastack_info, timestamp)
        layers.append(segmentation_layer(segmentation_source, segment_ids))
        linked = layers[-1]["name"]
    if points is not None:
        rows = [[float(v) for v in p] for p in points]
        layers.append(annotation_layer(rows, resolution, name=point_layer,
                                       descriptions=point_descriptions,
                                       point_segments=point_segments,
                                       linked_segmentation=linked if point_segments else None))
        if position is None and rows:
            position = [sum(p[a] for p in rows) / len(rows) for a in range(3)]
    return viewer_state(layers, resolution, position, **view)


def state_link(viewer_url: str, state: dict) -> str:
    """A link that opens `state` in the viewer at `viewer_url` with the state in the link
    itself (no state service needed), as `neuroglancer.to_url` writes it. The viewer URL
    should end with "/".

    Annotation layers go first in the link: neuroglancer 2.41's python build (the viewer the
    embedded server serves), opening a state held in its URL, often drops the layers listed
    before an annotation layer (seen nearly every time in headless Chromium; a state loaded
    from a URL is not affected). Annotations are drawn over images whatever the order."""
    layers = state.get("layers", [])
    ordered = ([la for la in layers if la.get("type") == "annotation"]
               + [la for la in layers if la.get("type") != "annotation"])
    text = json.dumps({**state, "layers": ordered}, separators=(",", ":"))
    return f"{viewer_url}#!{quote(text, safe=_FRAGMENT_SAFE)}"
