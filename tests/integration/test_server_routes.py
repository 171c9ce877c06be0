"""A sweep over every route the server registers (read from the app itself, so a new route
without a case here fails loudly): each answers 2xx with a valid token, whichever way the token
travels (header, query parameter, cookie); without a token it answers 401 JSON unless it is one
of the open routes; no API route ever redirects."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest
import requests
from helpers.server_http import LATEST, TIMEOUT

from cave_widgets.server.app import build_app
from cave_widgets.server.demo import catalog, em_image

# Route templates of the browser pages (open, and allowed to redirect).
BROWSER_PAGES = ("/sticky_auth/api/v1/authorize", "/sticky_auth/settings/tokens",
                 "/sticky_auth/api/v1/tos/{tos_id}/accept")
# The viewer's own pages that send a browser on (to the viewer page with its slash).
REDIRECTS = ("/neuroglancer", "/neuroglancer/", "/neuroglancer/v/{token}")
OPEN = {
    "/info/version", "/schema/versions", "/schema/api/v2/type", "/schema/api/v2/type/{name}",
    "/schema/api/v2/types", "/schema/api/v2/types_all", "/auth/version", "/sticky_auth/version",
    "/materialize/api/versions", "/materialize/version", *BROWSER_PAGES,
    "/nglstate/api/v1/version", "/demo/em/info", "/demo/em/{scale}/{chunk}",
    "/neuroglancer/v/{token}/", "/neuroglancer/v/{token}/{name}", "/neuroglancer/events/{token}",
    "/neuroglancer/state/{token}", *REDIRECTS,
}
# The JSON state service's routes that need an admin (a state or property file under an id
# of the poster's choosing).
ADMIN_STATE_ROUTES = ("/nglstate/api/v1/post/{state_id}",
                      "/nglstate/api/v1/property/post/{state_id}")


def answered(path: str, response) -> bool:
    """2xx, or for the viewer's redirecting pages a redirect to the viewer page."""
    if path in REDIRECTS:
        return response.status_code == 307 and "/neuroglancer/v/" in response.headers["location"]
    return 200 <= response.status_code < 300


@pytest.fixture(scope="module")
def routes(demo_server):
    app = build_app(demo_server.context)  # a second app on the same context: only read its table
    out = []
    for r in app.routes:
        for method in sorted(r.methods - {"HEAD"}):
            out.append((r.path, method))
    return out


@pytest.fixture(scope="module")
def ids(demo_server):
    """A supervoxel and its current root, read over HTTP."""
    h = {"Authorization": f"Bearer {demo_server.token}"}
    r = requests.post(
        f"{demo_server.url}/materialize/api/v3/datastack/demo_local/version/{LATEST}"
        "/table/nuclei/query",
        params={"return_pyarrow": "False", "arrow_format": "True"},
        json={"filter_greater_dict": {"nuclei": {"pt_root_id": 0}}, "limit": 1},
        headers=h, timeout=TIMEOUT)
    row = r.json()[0]
    sv = row["pt_supervoxel_id"]
    root = requests.post(f"{demo_server.url}/segmentation/api/v1/table/{catalog.PCG_TABLE}/roots",
                         json={"node_ids": [sv]}, headers=h, timeout=TIMEOUT).json()["root_ids"][0]
    state = requests.post(f"{demo_server.url}/nglstate/api/v1/post", json={"layers": []},
                          headers=h, timeout=TIMEOUT).json().rsplit("/", 1)[1]
    prop = requests.post(f"{demo_server.url}/nglstate/api/v1/property/post",
                         json={"@type": "neuroglancer_segment_properties"},
                         headers=h, timeout=TIMEOUT).json().rsplit("/", 1)[1]
    return sv, root, state, prop


def make_request(demo_server, ids, path: str, method: str) -> tuple[str, dict]:
    """URL and request arguments for one route; fresh per call (DELETE needs a new token,
    a post under an explicit id a new id)."""
    sv, root, state, prop = ids
    values = {"datastack": demo_server.datastack, "version": str(LATEST), "view": "nucleus_types",
              "id": "1", "group_id": "1", "tos_id": "1"}
    kwargs: dict = {}
    if path.startswith("/segmentation/"):
        values["table"] = catalog.PCG_TABLE
        values["node_id"] = str(sv if path.endswith("/root") else root)
    elif path.startswith("/materialize/"):
        values["table"] = "nuclei"
    if path.startswith("/info/"):
        values["name"] = catalog.ALIGNED_VOLUME
    elif path.startswith("/schema/"):
        values["name"] = "synapse"
    elif path.startswith("/nglstate/"):
        values["state_id"] = prop if "/property/" in path else state
        if method == "POST":
            values["state_id"] = str(np.random.default_rng().integers(10**15, 2**53))
            kwargs["json"] = {"layers": []}
    elif path.startswith("/neuroglancer/"):
        values.update(token="demo", name="index.html")
        kwargs["stream"] = True  # the event stream never ends: read the status only
    elif path.startswith("/demo/em/"):
        level = em_image.LEVELS[-1]
        start = np.array(level.voxel_offset)
        end = np.minimum(start + level.chunk_size, start + level.size)
        values.update(scale=level.key,
                      chunk="_".join(f"{a}-{b}" for a, b in zip(start, end)))
    if "{token_id}" in path:
        h = {"Authorization": f"Bearer {demo_server.token}"}
        requests.post(f"{demo_server.url}/auth/api/v1/user/token", json={"description": "sweep"},
                      headers=h, timeout=TIMEOUT)
        values["token_id"] = str(max(t.id for t in demo_server.context.auth.tokens_of(1)))
    url = demo_server.url + path.format(**values)

    now = datetime.now(timezone.utc).isoformat()
    tail = path.rsplit("/", 1)[-1]
    if path.startswith("/materialize/"):
        if tail == "query" and ("{table}" in path or "{view}" in path):
            kwargs["json"] = {"limit": 2}
        elif path.endswith("/version/{version}/query"):
            kwargs["json"] = {"tables": [["cell_type_ref", "target_id"], ["nuclei", "id"]],
                              "limit": 2}
        elif tail == "query":
            kwargs["json"] = {"table": "nuclei", "timestamp": now, "limit": 2}
        if tail == "query":
            kwargs["params"] = {"arrow_format": "True"}
    elif tail == "roots_binary":
        kwargs["data"] = np.array([sv], dtype="<u8").tobytes()
    elif tail in ("roots", "is_latest_roots", "root_timestamps"):
        kwargs["json"] = {"node_ids": [sv if tail == "roots" else root]}
    elif tail in ("past_id_mapping", "lineage_graph_multiple"):
        kwargs["json"] = {"root_ids": [root]}
    elif path.endswith("/user/token") and method == "POST":
        kwargs["json"] = {"description": "sweep"}
    elif path == "/schema/api/v2/types":
        kwargs["params"] = {"schema_names": "synapse"}
    elif path.endswith(("/user", "/username")):
        kwargs["params"] = {"id": "1"}
    elif path == "/sticky_auth/api/v1/authorize" and method == "POST":
        kwargs["data"] = {"user_id": "1"}
    return url, kwargs


def test_the_sweep_sees_the_whole_surface(routes):
    # The sweeps below read the route table from the app; make sure it is the full one
    # (91 route/method pairs when written). A new route needs no edit here unless it has a
    # path parameter or body make_request() does not know, and then the sweeps fail loudly.
    paths = {p for p, _ in routes}
    assert len(routes) >= 91, sorted(routes)
    for must in ("/segmentation/api/v1/table/{table}/past_id_mapping",
                 "/materialize/api/v2/datastack/{datastack}/version/{version}/table/{table}/count",
                 "/materialize/api/v3/datastack/{datastack}/query",
                 "/sticky_auth/api/v1/user/token/{token_id}"):
        assert must in paths


def test_every_route_answers_with_a_token_in_header_parameter_or_cookie(demo_server, ids, routes):
    failures = []
    for path, method in routes:
        for how in ("header", "param", "cookie"):
            if how == "param" and path == "/sticky_auth/settings/tokens":
                continue  # a browser page: moves the token into a cookie with a redirect
            url, kwargs = make_request(demo_server, ids, path, method)
            token = demo_server.token
            if how == "header":
                kwargs["headers"] = {"Authorization": f"Bearer {token}"}
            elif how == "param":
                kwargs["params"] = {**kwargs.get("params", {}), "middle_auth_token": token}
            else:
                kwargs["cookies"] = {"middle_auth_token": token}
            r = requests.request(method, url, timeout=TIMEOUT, allow_redirects=False, **kwargs)
            if not answered(path, r):
                failures.append(f"{method} {path} ({how}): {r.status_code} {r.text[:150]}")
            r.close()
    assert not failures, "\n".join(failures)


def test_no_token_gives_401_json_on_protected_routes_and_never_a_redirect(demo_server, ids, routes):
    failures = []
    for path, method in routes:
        url, kwargs = make_request(demo_server, ids, path, method)
        r = requests.request(method, url, timeout=TIMEOUT, allow_redirects=False, **kwargs)
        r.close()
        if path in OPEN:
            ok = answered(path, r)
        else:
            ok = (r.status_code == 401 and r.headers.get("Content-Type") == "application/json"
                  and r.json().get("error") == "no_token" and "WWW-Authenticate" in r.headers)
        if not ok or (r.is_redirect and path not in REDIRECTS):
            failures.append(f"{method} {path}: {r.status_code} {r.text[:150]}")
    assert not failures, "\n".join(failures)


def test_guest_gets_403_on_datastack_data_but_may_use_the_auth_api(demo_server, ids, routes):
    """Datastack services check `view`; the auth API and the listing routes do not."""
    guest = demo_server.tokens["guest"]
    unchecked = ("/auth/", "/sticky_auth/", "/info/api/v2/datastacks",
                 "/info/api/v2/aligned_volume", "/nglstate/")  # states belong to no datastack
    admin_only = ("/api/v1/user", "/api/v1/group/{group_id}/user", *ADMIN_STATE_ROUTES)
    failures = []
    for path, method in routes:
        if path in OPEN or "{token_id}" in path:
            continue
        url, kwargs = make_request(demo_server, ids, path, method)
        kwargs["headers"] = {"Authorization": f"Bearer {guest}"}
        r = requests.request(method, url, timeout=TIMEOUT, allow_redirects=False, **kwargs)
        if path.endswith(admin_only):
            ok = r.status_code == 403 and "admin" in r.text
        elif path.startswith(unchecked) and not path.startswith("/info/api/v2/aligned_volume/"):
            ok = r.status_code == 200
        else:
            ok = r.status_code == 403 and r.json().get("error") == "missing_permission"
        if not ok:
            failures.append(f"{method} {path}: {r.status_code} {r.text[:150]}")
    assert not failures, "\n".join(failures)
