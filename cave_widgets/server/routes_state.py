"""The JSON state service ("nglstate", NeuroglancerJsonServer 0.7.x): neuroglancer states and
segment-property files posted by one person and opened by another, by id.

As the real service: every route needs a signed-in user (any user: states are not tied to a
datastack), posting under an explicit id needs an admin, a post answers with the new state's
URL as a JSON string, and a state is returned byte for byte as it was posted (`raw` gives the
zlib-compressed bytes). Differences, on purpose: the version route is open, so a client can be
built before anyone signs in; an unknown id is a 404, not a 500; and a browser (a viewer
fetching a state or property file) gets `middleauth+http://` sources rewritten to `http://`,
because no neuroglancer can open `middleauth+http` (only `middleauth+https` exists) while the
real caveclient writes it into every property source it builds for an http server. API clients
get the bytes they posted.
"""

from __future__ import annotations

from starlette.responses import PlainTextResponse, Response

from .context import Call, parse_int, route_options
from .errors import BadRequest, NotFound
from .routes_auth import admin_only
from .state_store import StateConflict

STATE_VERSION = "0.7.2"
API = "/nglstate/api/v1"
LEGACY = "/nglstate"
UNOPENABLE_SCHEME = b"middleauth+http://"


def _store(call: Call):
    return call.ctx.states


def _id(call: Call) -> int:
    return parse_int(call.path("state_id"), "state id")


def _add(call: Call, kind: str, url_base: str, state_id: int | None = None) -> str:
    if call.body is None:
        raise BadRequest("the request body must be a JSON document")
    created = None
    if state_id is not None and call.query("timestamp") is not None:
        try:
            created = float(call.query("timestamp"))
        except ValueError:
            raise BadRequest("timestamp must be seconds since the Unix epoch") from None
    try:
        new_id = _store(call).add(kind, call.raw_body, call.user.id, state_id, created)
    except StateConflict as exc:
        raise BadRequest(str(exc)) from None
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    return f"{call.base_url}{url_base}/{new_id}"


def _read(call: Call, kind: str):
    entry = _store(call).get(kind, _id(call))
    if entry is None:
        what = "state" if kind == "state" else "segment property file"
        raise NotFound(f"no {what} with id {call.path('state_id')}")
    return entry


def _json_response(call: Call, text: bytes) -> Response:
    # Browsers announce themselves with Fetch Metadata headers; requests and caveclient do not.
    if "sec-fetch-mode" in call.request.headers:
        text = text.replace(UNOPENABLE_SCHEME, b"http://")
    return Response(text, media_type="application/json", headers={"Vary": "Sec-Fetch-Mode"})


# --- routes ---------------------------------------------------------------------------------


@route_options(auth=False)
def version(call: Call):
    return STATE_VERSION


@route_options(permission=None)
def index(call: Call):
    return PlainTextResponse(f"NeuroglancerJsonServer - v{STATE_VERSION}")


@route_options(permission=None)
def table_info(call: Call):
    return PlainTextResponse(f"User: {call.user.id} - project cave_widgets - table demo")


@route_options(permission=None)
def post_state(call: Call):
    return _add(call, "state", API)


@route_options(permission=None)
def post_state_with_id(call: Call):
    return admin_only(call.user) or _add(call, "state", API, _id(call))


@route_options(permission=None)
def get_state(call: Call):
    return _json_response(call, _read(call, "state").text())


@route_options(permission=None)
def get_state_raw(call: Call):
    return Response(_read(call, "state").compressed, media_type="application/octet-stream")


@route_options(permission=None)
def post_property(call: Call):
    return _add(call, "property", API + "/property")


@route_options(permission=None)
def post_property_with_id(call: Call):
    return admin_only(call.user) or _add(call, "property", API + "/property", _id(call))


@route_options(permission=None)
def get_property(call: Call):
    # Neuroglancer reads `precomputed://.../property/{id}` as a segment-properties source and
    # appends /info.
    return _json_response(call, _read(call, "property").text())


@route_options(permission=None)
def get_property_raw(call: Call):
    return Response(_read(call, "property").compressed, media_type="application/octet-stream")


@route_options(permission=None)
def legacy_post_state(call: Call):
    return _add(call, "state", LEGACY)


# Literal paths before the `{state_id}` ones that would swallow them. (The real service also
# takes GET on the post routes, which without a body can only fail.)
ROUTES = (
    ("GET", API + "/version", version),
    ("GET", API + "/", index),
    ("GET", API + "/index", index),
    ("GET", API + "/table_info", table_info),
    ("POST", API + "/post", post_state),
    ("POST", API + "/post/{state_id}", post_state_with_id),
    ("POST", API + "/property/post", post_property),
    ("POST", API + "/property/post/{state_id}", post_property_with_id),
    ("GET", API + "/property/raw/{state_id}", get_property_raw),
    ("GET", API + "/property/{state_id}/info", get_property),
    ("GET", API + "/raw/{state_id}", get_state_raw),
    ("GET", API + "/{state_id}", get_state),
    ("POST", LEGACY + "/post", legacy_post_state),
    ("GET", LEGACY + "/raw/{state_id}", get_state_raw),
    ("GET", LEGACY + "/{state_id}", get_state),
)
