"""Neuroglancer, served by the embedded server so that links open with no internet.

The viewer is the client the `neuroglancer` PyPI package ships (its "python build", the one
`neuroglancer.Viewer()` serves): a static page that must live under `.../v/{token}/` (it reads
the token from its own path, and loads its scripts by relative paths), asks `.../events/{token}`
for a server-sent event stream and, only when its URL has no state, posts its state to
`.../state/{token}`. Here it lives under `/neuroglancer/v/{token}/` (any token works), and it
comes from the installed package: nothing is vendored. Without the package, the viewer's
pages say how to install it (the `viewer` extra).

Links built by caveclient and nglui for a viewer without a `version.json` (this one serves
none, on purpose) end in `?json_url=<state URL>`, which this neuroglancer ignores: the page
answers that form with a redirect to `#!<state URL>`, which it reads, after a detour through
the sign-in page when the state is on this server and the browser is not signed in.

Open routes: the viewer is a public static site. The data it reads is protected as usual; a
signed-in browser sends its `middle_auth_token` cookie with the viewer's same-origin requests.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from importlib import metadata
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)

from .context import Call, route_options

PREFIX = "/neuroglancer"
DEFAULT_TOKEN = "demo"
# The names and types the package's own static handler serves (neuroglancer/static).
FILE_NAME = re.compile(r"^[a-z0-9][a-zA-Z0-9_\-.]*\.(?:js|map|css|wasm|html)$")
MEDIA_TYPES = {".css": "text/css", ".js": "application/javascript", ".html": "text/html",
               ".map": "application/json", ".wasm": "application/wasm"}
KEEPALIVE_SECONDS = 20.0

_found: dict = {}


def viewer_site(base_url: str) -> str:
    """The viewer's page for a server at `base_url`, ending in "/" (its scripts are relative,
    and neuroglancer.to_url / nglui append `#!...` to it directly)."""
    return f"{base_url}{PREFIX}/v/{DEFAULT_TOKEN}/"


def installed_viewer() -> tuple[Path, str] | None:
    """The folder of the installed neuroglancer client and the package version, or None.
    Read from the package metadata: importing neuroglancer itself would be slow. Only a
    finding is remembered, so installing the package while the server runs works."""
    if "viewer" not in _found:
        try:
            dist = metadata.distribution("neuroglancer")
        except metadata.PackageNotFoundError:
            return None
        folder = Path(dist.locate_file("neuroglancer/static/client"))
        if not (folder / "index.html").is_file():
            return None
        _found["viewer"] = (folder, dist.version)
    return _found["viewer"]


MISSING_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Neuroglancer is not installed</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>Neuroglancer is not installed on this server</h1>
<p>This page would show the neuroglancer viewer, served by cave_widgets' embedded server so
that it works offline. The viewer comes from the <code>neuroglancer</code> Python package,
which is not installed in the environment running the server.</p>
<p>Install it, then restart the server:</p>
<pre>pip install 'cave_widgets[viewer]'</pre>
<p>(or <code>pip install neuroglancer</code>). The data routes work without it: any
neuroglancer can read <code>precomputed://{base}/demo/em</code>.</p>
</body></html>
"""


def _missing(call: Call) -> Response:
    return HTMLResponse(MISSING_PAGE.replace("{base}", call.base_url), status_code=503)


# --- routes ---------------------------------------------------------------------------------


@route_options(auth=False)
def page(call: Call):
    state_url = call.query("json_url")
    if state_url is not None:
        return _open_state_url(call, state_url)
    found = installed_viewer()
    if found is None:
        return _missing(call)
    # The page names the current scripts: never let a browser keep an old one.
    return FileResponse(found[0] / "index.html", media_type="text/html",
                        headers={"Cache-Control": "no-cache"})


@route_options(auth=False)
def page_without_slash(call: Call):
    query = f"?{call.request.url.query}" if call.request.url.query else ""
    return RedirectResponse(f"{PREFIX}/v/{call.path('token')}/{query}", status_code=307)


@route_options(auth=False)
def start(call: Call):
    return RedirectResponse(f"{PREFIX}/v/{DEFAULT_TOKEN}/", status_code=307)


@route_options(auth=False)
def static_file(call: Call):
    name = call.path("name")
    found = installed_viewer()
    if found is None:
        return _missing(call)
    # version.json is deliberately not served: without it, caveclient builds `?json_url=`
    # links (redirected above) instead of `#!middleauth+http://` ones, which no neuroglancer
    # can open.
    path = found[0] / name if FILE_NAME.match(name) else None
    if path is None or not path.is_file():
        return JSONResponse({"message": f"no viewer file {name!r}"}, status_code=404)
    media_type = MEDIA_TYPES[path.suffix]
    # Every other file name carries a content hash: it never changes.
    return FileResponse(path, media_type=media_type,
                        headers={"Cache-Control": "public, max-age=31536000, immutable"})


@route_options(auth=False)
def events(call: Call):
    """A server-sent event stream that stays open and says nothing: the viewer then shows no
    "Disconnected from Python server" message. There is no Python side to send states."""

    async def keepalive():
        yield b": cave_widgets embedded server\n\n"
        while True:
            await asyncio.sleep(KEEPALIVE_SECONDS)
            yield b": keepalive\n\n"

    return StreamingResponse(keepalive(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})


@route_options(auth=False, json_body=False)
def viewer_state(call: Call):
    # Without a state in its URL the viewer posts its state here; nothing on this side keeps
    # it, but the answer has the shape the viewer expects (a new generation).
    return {"g": str(next(_GENERATIONS))}


_GENERATIONS = itertools.count(1)  # next() on a count is atomic under the GIL


def _open_state_url(call: Call, state_url: str) -> Response:
    target = urlsplit(state_url)
    if target.scheme not in ("http", "https"):
        return HTMLResponse("json_url must be an http(s) URL of a neuroglancer state",
                            status_code=400)
    if target.netloc == call.request.url.netloc and not _signed_in(call):
        # The viewer would fetch this server's state with the browser's cookie and be
        # refused: sign in first, then come back here (the sign-in sets the cookie).
        back = urlencode({"redirect": str(call.request.url)})
        return RedirectResponse(f"/sticky_auth/api/v1/authorize?{back}", status_code=302)
    # Neuroglancer reads `#!<url>` and fetches the state itself (with the browser's cookies
    # when the state is on this server). The sign-in's token parameters are left behind.
    fragment = quote(state_url, safe=":/?&=+,;@$!*'()~")
    return RedirectResponse(f"{PREFIX}/v/{call.path('token')}/#!{fragment}", status_code=302)


def _signed_in(call: Call) -> bool:
    value = call.request.cookies.get("middle_auth_token")
    return bool(value) and call.ctx.auth.lookup(value) is not None


ROUTES = (
    ("GET", PREFIX, start),
    ("GET", PREFIX + "/", start),
    ("GET", PREFIX + "/v/{token}", page_without_slash),
    ("GET", PREFIX + "/v/{token}/", page),
    ("GET", PREFIX + "/v/{token}/{name}", static_file),
    ("GET", PREFIX + "/events/{token}", events),
    ("POST", PREFIX + "/state/{token}", viewer_state),
)
