"""A sweep over every route the server registers (read from the app itself, so a new route
without a case here fails loudly): each answers 2xx with a valid token, whichever way the token
travels (header, query parameter, cookie); without a token it answers 401 JSON unless it is one
of the open routes; no API route ever redirects."""

from __future__ import annotations

import itertools
from datetime import datetime, timezone

import numpy as np
import pytest
import requests
from helpers.own_server import own_server as demo_server  # noqa: F401  (this module's own)
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
    "/materialize/api/versions", "/materialize/version", "/openapi.json", *BROWSER_PAGES,
    # L2 cache: the index texts, cache_metadata() and table_mapping() need no token (reference
    # chunkedgraph-l2cache-wire.md §3.1)
    "/l2cache/", "/l2cache/api/v1/", "/l2cache/api/v1/attribute_metadata",
    "/l2cache/api/v1/table_mapping",
    "/skeletoncache/api/version", "/skeletoncache/api/versions", "/skeletoncache/health",
    "/annotation/api/versions",
    "/nglstate/api/v1/version", "/demo/em/info", "/demo/em/{scale}/{chunk}",
    # the precomputed mirror of the segmentation (routes_seg_mirror.py), latest and at a time
    *(prefix + tail for prefix in ("/demo/seg", "/demo/seg/at/{when}")
      for tail in ("/info", "/mesh/{name}", "/skeletons/{name}", "/props/info",
                   "/{scale}/{chunk}")),
    "/neuroglancer/v/{token}/", "/neuroglancer/v/{token}/{name}", "/neuroglancer/events/{token}",
    "/neuroglancer/state/{token}", *REDIRECTS,
}
# The JSON state service's routes that need an admin (a state or property file under an id
# of the poster's choosing).
ADMIN_STATE_ROUTES = ("/nglstate/api/v1/post/{state_id}",
                      "/nglstate/api/v1/property/post/{state_id}")
# Routes that answer an error by design, with a token: this server writes no meshworks
# (meshparty) and keeps skeletons in memory, not in a bucket (routes_skeleton.py).
_SK = "/skeletoncache/api/v1/{datastack}"
BY_DESIGN = {_SK + "/precomputed/meshwork/{rid}": 500, _SK + "/bulk/gen_meshworks": 500,
             _SK + "/bulk/get_skeleton_token/{skvn}": 501}
EDITS = ("merge", "split", "split_preview")
SWEEP_TABLE = "sweep_cells"  # the annotation routes' table, made by make_request on first use
_fresh_names = itertools.count()


def answered(path: str, response) -> bool:
    """2xx, the error a route answers by design, or for the viewer's redirecting pages a
    redirect to the viewer page."""
    if path in REDIRECTS:
        return response.status_code == 307 and "/neuroglancer/v/" in response.headers["location"]
    return 200 <= response.status_code < 300 or response.status_code == BY_DESIGN.get(path)


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


def _post(demo_server, route: str, body) -> requests.Response:
    r = requests.post(f"{demo_server.url}/segmentation/api/v1/table/{catalog.PCG_TABLE}/{route}",
                      json=body, headers={"Authorization": f"Bearer {demo_server.token}"},
                      timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    return r


def _operations(demo_server) -> dict:
    return demo_server.context.segmentation.graph.operations


@pytest.fixture(scope="module")
def edits(demo_server):
    """Points for the edit routes and operations with harmless undo/redo answers, read from
    the data: a merge pair (two nearby synapse points on different objects), a split pair
    (the two farthest synapse points of the object with most of them), an operation that is
    already undone (undo answers null) and a demo operation never undone (redo answers null)."""
    from cave_widgets import CAVEclient

    client = CAVEclient(demo_server.datastack, server_address=demo_server.url,
                        auth_token=demo_server.token)
    cg = client.chunkedgraph
    syn = client.materialize.query_table("synapses")
    res = np.asarray(syn.attrs.get("dataframe_resolution", (4, 4, 40)), float)
    svs = syn["pre_pt_supervoxel_id"].to_numpy()
    nm = np.stack(syn["pre_pt_position"].to_numpy()).astype(float) * res
    roots = cg.get_roots(svs).astype(np.int64)
    chunk = np.asarray(cg.segmentation_info["graph"]["chunk_size"], float)
    vox = nm / np.asarray(cg.base_resolution, float) // chunk

    def point(i):
        return [int(svs[i]), *(float(x) for x in nm[i])]

    pair = next(((i, int(j)) for i in range(len(svs))
                 for j in np.flatnonzero((np.abs(vox - vox[i]).max(axis=1) <= 2)
                                         & (roots != roots[i]))), None)
    assert pair is not None, "no two nearby objects in the demo synapses"
    merge = [point(pair[0]), point(pair[1])]
    values, counts = np.unique(roots, return_counts=True)
    mine = np.flatnonzero(roots == values[np.argmax(counts)])
    far = int(mine[np.argmax(np.linalg.norm(nm[mine] - nm[mine[0]], axis=1))])
    split = {"sources": [point(int(mine[0]))], "sinks": [point(far)]}

    from cave_widgets.server.routes_chunkedgraph_history import _undone

    logs = _operations(demo_server)
    never_undone = min(op for op, log in logs.items() if op not in _undone(logs)
                       and ("added_edges" in log or "removed_edges" in log))
    baseline = max(logs)
    undone = _post(demo_server, "merge", merge).json()["operation_id"]
    _post(demo_server, "undo", {"operation_id": undone})
    scale = cg.segmentation_info["scales"][0]
    lo = np.asarray(scale["voxel_offset"], int)
    whole = "_".join(f"{a}-{b}" for a, b in zip(lo, lo + np.asarray(scale["size"], int)))
    return {"bounds": whole, "merge": merge, "split": split,
            "split_root": int(values[np.argmax(counts)]), "undone": undone,
            "never_undone": never_undone, "baseline": baseline,
            "l2": int(cg.get_leaves(int(roots[0]), stop_layer=2)[0])}


def undo_sweep_edits(demo_server, edits) -> None:
    """Undo, newest first, every edit made since the fixture (undo records are left alone)."""
    from cave_widgets.server.routes_chunkedgraph_history import _undone

    logs = _operations(demo_server)
    gone = _undone(logs)
    for op in sorted(logs, reverse=True):
        log = logs[op]
        if op > edits["baseline"] and op not in gone and (
                "added_edges" in log or "removed_edges" in log):
            _post(demo_server, "undo", {"operation_id": op})


def make_request(demo_server, ids, path: str, method: str, edits=None) -> tuple[str, dict]:
    """URL and request arguments for one route; fresh per call (DELETE needs a new token,
    a post under an explicit id a new id, edit routes the graph as the demo built it)."""
    sv, root, state, prop = ids
    if edits is not None:
        undo_sweep_edits(demo_server, edits)
    values = {"datastack": demo_server.datastack, "version": str(LATEST), "view": "nucleus_types",
              "id": "1", "group_id": "1", "tos_id": "1"}
    kwargs: dict = {}
    if path.startswith("/segmentation/"):
        values["table"] = catalog.PCG_TABLE
        values["node_id"] = str(sv if path.endswith("/root") else root)
        values["root_id"] = str(root)
    elif path.startswith(("/l2cache/", "/meshing/")):
        values["table"] = catalog.PCG_TABLE
    elif path.startswith("/materialize/"):
        values["table"] = "nuclei"
    elif path.startswith("/skeletoncache/"):
        values.update(skvn="4", rid=str(root), rids=str(root), fmt="flatdict", gms="False",
                      prefixes="0", limit="0")
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
    elif path.startswith("/demo/seg/"):
        from cave_widgets.server.precomputed.volume import LEVELS

        level = LEVELS[-1]
        start = np.array(level.voxel_offset)
        end = np.minimum(start + level.chunk_size, start + level.size)
        values.update(when=str(datetime.now(timezone.utc).timestamp() - 60), scale=level.key,
                      chunk="_".join(f"{a}-{b}" for a, b in zip(start, end)),
                      name=f"{root}:0" if "/mesh/" in path else str(root))
    if "{token_id}" in path:
        h = {"Authorization": f"Bearer {demo_server.token}"}
        requests.post(f"{demo_server.url}/auth/api/v1/user/token", json={"description": "sweep"},
                      headers=h, timeout=TIMEOUT)
        values["token_id"] = str(max(t.id for t in demo_server.context.auth.tokens_of(1)))
    if path.startswith("/annotation/"):
        values.update(aligned_volume=catalog.ALIGNED_VOLUME, table=SWEEP_TABLE)
    url = demo_server.url + path.format(**values)

    now = datetime.now(timezone.utc).isoformat()
    tail = path.rsplit("/", 1)[-1]
    if path.startswith("/annotation/api/v2/"):
        kwargs = _annotation_request(demo_server, path, method)
    elif path.startswith("/materialize/"):
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
    elif tail in ("past_id_mapping", "lineage_graph_multiple", "tabular_change_log_many"):
        kwargs["json"] = {"root_ids": [root]}
    elif tail in ("leaves_many", "valid_nodes"):
        kwargs["json"] = {"node_ids": [root]}
    elif tail == "minimal_covering_nodes":
        kwargs["json"] = {"node_ids": [sv]}
    elif path.startswith("/skeletoncache/") and method == "POST":
        kwargs["json"] = {"root_ids": [root], "skeleton_version": 4}
    elif tail == "attributes":
        kwargs["json"] = {"l2_ids": [edits["l2"]]}
    elif tail == "contact_sites":
        kwargs["params"] = {"bounds": edits["bounds"]}  # the whole volume
    elif tail == "delta_roots":
        kwargs["params"] = {"timestamp_past": "0"}
    elif tail == "operation_details":
        kwargs["params"] = {"operation_ids": f"[{edits['never_undone']}]"}
    elif tail == "user_operations":
        kwargs["params"] = {"user_id": "1", "end_time": str(datetime.now().timestamp())}
    elif tail in EDITS:
        kwargs["json"] = edits[tail if tail == "merge" else "split"]
    elif tail == "find_path":
        kwargs["json"] = [[edits["split_root"], *p[1:]]
                          for p in (edits["split"]["sources"] + edits["split"]["sinks"])]
    elif tail == "undo":
        kwargs["json"] = {"operation_id": edits["undone"]}  # already undone: null answer
    elif tail == "redo":
        kwargs["json"] = {"operation_id": edits["never_undone"]}  # nothing to redo: null
    elif tail == "remeshing":
        kwargs["json"] = {"new_lvl2_ids": []}  # 202, nothing queued
    elif path.endswith("/user/token") and method == "POST":
        kwargs["json"] = {"description": "sweep"}
    elif path == "/schema/api/v2/types":
        kwargs["params"] = {"schema_names": "synapse"}
    elif path.endswith(("/user", "/username")):
        kwargs["params"] = {"id": "1"}
    elif path == "/sticky_auth/api/v1/authorize" and method == "POST":
        kwargs["data"] = {"user_id": "1"}
    return url, kwargs


def _annotation_request(demo_server, path: str, method: str) -> dict:
    """Arguments for an annotation route, on the sweep's own table: a fresh table name to
    create, a fresh row to update or delete (each row can be superseded only once)."""
    base = f"{demo_server.url}/annotation/api/v2/aligned_volume/{catalog.ALIGNED_VOLUME}/table"
    h = {"Authorization": f"Bearer {demo_server.token}"}

    def create(name):
        return {"schema_type": "cell_type_local", "table_name": name,
                "metadata": {"description": "sweep", "voxel_resolution_x": 4.0,
                             "voxel_resolution_y": 4.0, "voxel_resolution_z": 40.0}}

    row = {"pt": {"position": [100, 100, 10]}, "cell_type": "x", "classification_system": "y"}
    requests.post(base, json=create(SWEEP_TABLE), headers=h, timeout=TIMEOUT)  # 400 if made
    if path.endswith("/table") and method == "POST":
        return {"json": create(f"sweep_{next(_fresh_names)}")}
    if path.endswith("/table") and method == "PUT":
        return {"json": {"table_name": SWEEP_TABLE, "metadata": {"description": "swept"}}}
    if not path.endswith("/annotations"):
        return {}
    if method == "GET":
        return {"params": {"annotation_ids": "1"}}
    if method == "POST":
        return {"json": {"annotations": [row]}}
    [fresh] = requests.post(f"{base}/{SWEEP_TABLE}/annotations", json={"annotations": [row]},
                            headers=h, timeout=TIMEOUT).json()
    if method == "PUT":
        return {"json": {"annotations": [{"id": fresh, **row}]}}
    return {"json": {"annotation_ids": [fresh]}}


def test_the_sweep_sees_the_whole_surface(routes):
    # The sweeps below read the route table from the app; make sure it is the full one
    # (91 route/method pairs when written, 118 with the chunkedgraph and the L2 cache). A new
    # route needs no edit here unless it has a path parameter or body make_request() does not
    # know, and then the sweeps fail loudly.
    paths = {p for p, _ in routes}
    assert len(routes) >= 118, sorted(routes)
    for must in ("/segmentation/api/v1/table/{table}/past_id_mapping",
                 "/materialize/api/v2/datastack/{datastack}/version/{version}/table/{table}/count",
                 "/materialize/api/v3/datastack/{datastack}/query",
                 "/sticky_auth/api/v1/user/token/{token_id}",
                 "/segmentation/api/v1/table/{table}/root/{root_id}/change_log",
                 "/segmentation/api/v1/table/{table}/merge",
                 "/meshing/api/v1/table/{table}/remeshing",
                 "/l2cache/api/v1/table/{table}/attributes",
                 "/annotation/api/v2/aligned_volume/{aligned_volume}/table/{table}/annotations",
                 "/materialize/api/v2/materialize/run/create_frozen/datastack/{datastack}"):
        assert must in paths


def test_every_route_answers_with_a_token_in_header_parameter_or_cookie(
        demo_server, ids, routes, edits):
    failures = []
    for path, method in routes:
        for how in ("header", "param", "cookie"):
            if how == "param" and path == "/sticky_auth/settings/tokens":
                continue  # a browser page: moves the token into a cookie with a redirect
            url, kwargs = make_request(demo_server, ids, path, method, edits)
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
            elif path.endswith(("/undo", "/redo")) and r.json() != {
                    "operation_id": None, "new_root_ids": []}:
                failures.append(f"{method} {path} ({how}) changed the graph: {r.text[:150]}")
            r.close()
    assert not failures, "\n".join(failures)


def test_no_token_gives_401_json_on_protected_routes_and_never_a_redirect(
        demo_server, ids, routes, edits):
    failures = []
    for path, method in routes:
        url, kwargs = make_request(demo_server, ids, path, method, edits)
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


def test_guest_gets_403_on_datastack_data_but_may_use_the_auth_api(
        demo_server, ids, routes, edits):
    """Datastack services check `view`; the auth API and the listing routes do not."""
    guest = demo_server.tokens["guest"]
    unchecked = ("/auth/", "/sticky_auth/", "/info/api/v2/datastacks",
                 "/info/api/v2/aligned_volume", "/nglstate/")  # states belong to no datastack
    admin_only = ("/api/v1/user", "/api/v1/group/{group_id}/user", *ADMIN_STATE_ROUTES)
    failures = []
    for path, method in routes:
        if path in OPEN or "{token_id}" in path:
            continue
        url, kwargs = make_request(demo_server, ids, path, method, edits)
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


@pytest.mark.parametrize("credential, status, error", [
    ("bad token", 401, "invalid_token"),
    ("wrong scheme", 400, "bad_auth_header"),
    ("terms not accepted", 403, "missing_tos"),
])
def test_every_other_credential_reads_nothing(demo_server, ids, routes, edits, credential,
                                              status, error):
    """The auth matrix's other rows: a token the server does not know, a header that is not
    Bearer, a user who has not accepted the terms of service. None reads a protected route;
    each gets the error shape middle_auth uses."""
    header = {"bad token": "Bearer " + "0" * 32,
              "wrong scheme": f"Basic {demo_server.token}",
              "terms not accepted": f"Bearer {demo_server.tokens['new']}"}[credential]
    unchecked = ("/auth/", "/sticky_auth/", "/info/api/v2/datastacks",
                 "/info/api/v2/aligned_volume", "/nglstate/")  # states: no datastack's terms
    failures = []
    for path, method in routes:
        if path in OPEN or "{token_id}" in path:
            continue
        if credential == "terms not accepted" and (
                path.startswith(unchecked) and not path.startswith(
                    "/info/api/v2/aligned_volume/")):
            continue  # the auth API, the listings and the state service need no terms
        if credential == "terms not accepted" and path.endswith(
                ("/api/v1/user", "/api/v1/group/{group_id}/user")):
            continue  # admin only: 403 for another reason
        url, kwargs = make_request(demo_server, ids, path, method, edits)
        kwargs["headers"] = {"Authorization": header}
        r = requests.request(method, url, timeout=TIMEOUT, allow_redirects=False, **kwargs)
        body = r.json() if r.headers.get("Content-Type") == "application/json" else {}
        if r.status_code != status or body.get("error") != error:
            failures.append(f"{method} {path}: {r.status_code} {r.text[:150]}")
    assert not failures, "\n".join(failures)

