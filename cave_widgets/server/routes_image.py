"""The demo's EM image as a neuroglancer precomputed volume, at the `image_source` the info
service names (`precomputed://{base}/demo/em`): `info`, then one file per chunk.

Open to everyone and to every origin, like the public buckets real imagery lives in: a viewer
served from anywhere may read it, and a browser sends no token with these requests anyway.
"""

from __future__ import annotations

from starlette.responses import JSONResponse, Response

from .context import Call, route_options
from .demo import em_image
from .errors import BadRequest, NotFound

# The data never changes while the generator does not: let browsers keep it.
PUBLIC = {"Access-Control-Allow-Origin": "*", "Cache-Control": "public, max-age=86400"}


@route_options(auth=False)
def info(call: Call):
    return JSONResponse(em_image.volume_info(), headers=PUBLIC)


@route_options(auth=False)
def chunk(call: Call):
    try:
        data = em_image.chunk_bytes(call.path("scale"), call.path("chunk"))
    except LookupError as exc:
        # Neuroglancer reads a missing chunk as empty, so a 404 is the honest answer for a
        # chunk outside the volume (or of a scale that does not exist).
        raise NotFound(exc.args[0]) from None
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    return Response(data, media_type="application/octet-stream", headers=PUBLIC)


BASE = "/demo/em"
ROUTES = (
    ("GET", BASE + "/info", info),
    ("GET", BASE + "/{scale}/{chunk}", chunk),
)
