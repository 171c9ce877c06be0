"""The demo segmentation as a neuroglancer precomputed source (`server/precomputed/`): the
same segments as the chunkedgraph (the datastack's graphene `segmentation_source`, which
stays for caveclient and pcg_skel), in formats every neuroglancer reads, offline included.

    precomputed://{server}/demo/seg                  latest root ids at each request
    precomputed://{server}/demo/seg/at/{unix secs}   root ids at that moment

Under either: `info` (a segmentation volume naming `mesh`, `skeletons` and
`segment_properties`), `{scale}/{chunk}` (compressed_segmentation), `mesh/{root}:0` and its
fragment (legacy meshes), `skeletons/info` and `skeletons/{root}` (precomputed skeletons),
`props/info` (cell types of the roots at that moment). The datastack's info record names the
base as `segmentation_mirror_source` (see routes_info).

Open to everyone and to every origin, like the EM image (routes_image.py): browsers send no
token with these requests.
"""

from __future__ import annotations

from starlette.responses import JSONResponse, Response

from .context import Call, parse_unix_seconds, route_options
from .errors import BadRequest, NotFound
from .precomputed import meshes
from .precomputed.mirror import mirror_of, skeleton_info
from .precomputed.volume import level_of, volume_info

BASE = "/demo/seg"
AT = BASE + "/at/{when}"
# A root's mesh and skeleton never change; neither does a moment that has passed.
FOREVER = {"Access-Control-Allow-Origin": "*", "Cache-Control": "public, max-age=86400"}
# The latest roots, or a moment still to come: ask again every time.
CHANGING = {"Access-Control-Allow-Origin": "*", "Cache-Control": "no-cache"}


def mirror_source(base_url: str) -> str:
    """The mirror's precomputed source for a server at `base_url` (latest roots)."""
    return f"precomputed://{base_url}{BASE}"


def _moment(call: Call) -> tuple[float, dict]:
    """(time relative to the anchor, cache headers) of the request's URL."""
    mirror = mirror_of(call.ctx)
    text = call.request.path_params.get("when")
    now = mirror.now()
    if text is None:
        return now, CHANGING
    seconds = parse_unix_seconds(text, "the moment")
    t = mirror.relative(seconds)
    if t < mirror.oldest():
        raise NotFound(f"the segmentation has no roots before {text} (its history starts at "
                       f"{mirror.oldest() + call.ctx.store.anchor.timestamp():.0f})")
    return t, (FOREVER if t <= now else CHANGING)


def _root(text: str) -> int:
    try:
        root = int(text)
    except ValueError:
        raise NotFound(f"{text!r} is not a segment id") from None
    if not 0 < root < 1 << 64:
        raise NotFound(f"{text!r} is not a segment id")
    return root


def _known_root(call: Call, text: str) -> int:
    root = _root(text)
    if not mirror_of(call.ctx).is_root(root):
        raise NotFound(f"{root} is not a root id of this segmentation")
    return root


@route_options(auth=False)
def info(call: Call):
    _, headers = _moment(call)
    return JSONResponse(volume_info(), headers=headers)


@route_options(auth=False)
def chunk(call: Call):
    t, headers = _moment(call)
    scale, name = call.path("scale"), call.path("chunk")
    try:
        level_of(scale).chunk_bounds(name)
    except LookupError as exc:
        # neuroglancer reads a missing chunk as empty: a 404 is right outside the volume
        raise NotFound(exc.args[0]) from None
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    data = mirror_of(call.ctx).chunk(scale, name, t)
    return Response(data, media_type="application/octet-stream", headers=headers)


@route_options(auth=False)
def mesh(call: Call):
    _moment(call)
    name = call.path("name")
    if name == "info":
        return JSONResponse({"@type": "neuroglancer_legacy_mesh"}, headers=FOREVER)
    parts = name.split(":")
    if len(parts) == 2 and parts[1] == "0":
        root = _known_root(call, parts[0])
        return JSONResponse(meshes.manifest(root), headers=FOREVER)
    if len(parts) == 3 and name == meshes.fragment_name(_root(parts[0])):
        root = _known_root(call, parts[0])
        return Response(mirror_of(call.ctx).mesh_fragment(root),
                        media_type="application/octet-stream", headers=FOREVER)
    raise NotFound(f"no mesh file {name!r} (manifests are {{root}}:0)")


@route_options(auth=False)
def skeleton(call: Call):
    _moment(call)
    name = call.path("name")
    if name == "info":
        return JSONResponse(skeleton_info(), headers=FOREVER)
    root = _known_root(call, name)
    try:
        data = mirror_of(call.ctx).skeleton(root)
    except ValueError as exc:  # a level-2 node without cache data
        raise NotFound(f"no skeleton for {root}: {exc}") from None
    return Response(data, media_type="application/octet-stream", headers=FOREVER)


@route_options(auth=False)
def segment_properties(call: Call):
    t, headers = _moment(call)
    document = mirror_of(call.ctx).segment_properties(t, cache=headers is FOREVER)
    return JSONResponse(document, headers=headers)


def _routes(prefix: str) -> tuple:
    # The named subdirectories before the chunk route, whose {scale} would match them too.
    return (
        ("GET", prefix + "/info", info),
        ("GET", prefix + "/mesh/{name}", mesh),
        ("GET", prefix + "/skeletons/{name}", skeleton),
        ("GET", prefix + "/props/info", segment_properties),
        ("GET", prefix + "/{scale}/{chunk}", chunk),
    )


ROUTES = _routes(AT) + _routes(BASE)
