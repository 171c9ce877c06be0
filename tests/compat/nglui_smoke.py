"""Compatibility smoke test: the real, unmodified ``nglui`` (4.x) makes neuroglancer links and
segment properties against a CAVE-compatible server, through the real ``caveclient`` and
through cave_widgets' CAVEclient.

Runs in a throwaway virtualenv holding nglui, caveclient and their pins; cave_widgets is
imported from the repository given by --repo (its client needs only requests, numpy, pandas,
pyarrow, traitlets and packaging). The token comes from CAVE_DEMO_TOKEN, never the command
line.

    CAVE_DEMO_TOKEN=... python nglui_smoke.py --url http://127.0.0.1:8000 \
        --datastack demo_local --repo /path/to/cave_widgets

Prints ``PASS name`` / ``FAIL name: reason`` per check, then ``N passed, M failed``; exits 1
when a check failed.
"""

from __future__ import annotations

import json
import os
import re
import sys

import numpy as np
import pandas as pd
import requests
from smoke_runner import TOKEN_ENV, Checks, ensure, run_checks, server_arguments, token_from_env

CHECKS = Checks()


def state_id_of(link: str, base: str) -> int:
    found = re.fullmatch(re.escape(f"{base}/nglstate/api/v1/") + r"(\d+)",
                         link.split("json_url=", 1)[-1])
    ensure(found, f"{link!r} does not point to a state on {base}")
    return int(found.group(1))


def same_json(a, b) -> bool:
    return json.loads(json.dumps(a)) == json.loads(json.dumps(b))


class Run:
    def __init__(self, url: str, datastack: str, token: str):
        import caveclient

        import cave_widgets

        self.url, self.datastack = url, datastack
        self.clients = {
            "caveclient": caveclient.CAVEclient(datastack, server_address=url, auth_token=token),
            "cave_widgets": cave_widgets.CAVEclient(datastack, server_address=url,
                                                    auth_token=token, write_server_cache=False),
        }
        reference = self.clients["caveclient"]
        self.viewer = reference.info.viewer_site()
        synapses = reference.materialize.query_table("synapses", limit=8, split_positions=False)
        self.synapses = synapses
        roots = pd.unique(synapses["pre_pt_root_id"])[:4]
        self.cells = pd.DataFrame({"pt_root_id": roots,
                                   "cell_type": [f"type_{i % 2}" for i in range(len(roots))],
                                   "n_synapses": np.arange(1, len(roots) + 1, dtype=float)})

    def viewer_state(self, client):
        from nglui.statebuilder import ViewerState

        state = ViewerState().add_layers_from_client(client, segmentation=False, target_url=True)
        state.add_points(self.synapses, name="synapses", point_column="ctr_pt_position",
                         linked_segmentation=False)
        return state


def _per_client(name: str):
    """Register one check per client: fn(run, client_name, client)."""

    def register(fn):
        for client_name in ("caveclient", "cave_widgets"):
            CHECKS.append((f"{name} [{client_name}]",
                           lambda run, c=client_name: fn(run, c, run.clients[c])))
        return fn

    return register


@_per_client("add_layers_from_client: the image layer and viewer")
def _(run, name, client):
    state = run.viewer_state(client).to_dict()
    image = next(layer for layer in state["layers"] if layer["type"] == "image")
    source = image["source"] if isinstance(image["source"], str) else image["source"][0]["url"]
    ensure(source == f"precomputed://{run.url}/demo/em", f"image source {source!r}")
    ensure(state["dimensions"]["z"][0] == 4e-8, f"dimensions {state['dimensions']}")
    ensure(run.viewer == f"{run.url}/neuroglancer/v/demo/", f"viewer_site {run.viewer!r}")


@_per_client("to_url(shorten=True) stores the state and links the embedded viewer")
def _(run, name, client):
    state = run.viewer_state(client)
    link = state.to_url(shorten=True, client=client)
    ensure(link.startswith(f"{run.viewer}?json_url="), f"link {link!r}")
    stored = client.state.get_state_json(state_id_of(link, run.url))
    ensure(same_json(stored, state.to_dict()), "the stored state differs from the built one")
    signed_in = {"middle_auth_token": os.environ[TOKEN_ENV]}  # a browser after sign-in
    opened = requests.get(link, allow_redirects=False, timeout=30, cookies=signed_in)
    ensure(opened.status_code == 302 and opened.headers["location"].endswith(
        "#!" + link.split("json_url=", 1)[1]), f"viewer answered {opened.status_code}")


@_per_client("to_link_shortener and cross-client reads")
def _(run, name, client):
    state = run.viewer_state(client)
    link = state.to_link_shortener(client)
    state_id = state_id_of(link, run.url)
    other = run.clients["cave_widgets" if name == "caveclient" else "caveclient"]
    ensure(same_json(other.state.get_state_json(state_id), state.to_dict()),
           "the other client reads another state")


@_per_client("to_url(shorten='if_long') keeps a short state in the link")
def _(run, name, client):
    link = run.viewer_state(client).to_url(shorten="if_long", client=client)
    ensure(link.startswith(f"{run.viewer}#!"), f"link {link[:120]!r}")


@_per_client("SegmentationLayer.add_segment_properties uploads and adds a source")
def _(run, name, client):
    from nglui.statebuilder import ViewerState

    state = ViewerState().add_layers_from_client(client, segmentation=False)
    state.add_segmentation_layer(source=f"precomputed://{run.url}/demo/seg", name="cells")
    state.add_segment_properties(run.cells, client=client, id_column="pt_root_id",
                                 label_column="cell_type", number_columns=["n_synapses"],
                                 name="cells")
    layer = next(la for la in state.to_dict()["layers"] if la["name"] == "cells")
    sources = [s["url"] if isinstance(s, dict) else s for s in layer["source"]]
    prefix = "precomputed://middleauth+" if name == "caveclient" else "precomputed://"
    props = [s for s in sources if s.startswith(f"{prefix}{run.url}/nglstate/api/v1/property/")]
    ensure(len(props) == 1, f"sources {sources}")
    doc = client.state.get_property_json(int(props[0].rsplit("/", 1)[1]))
    ensure(doc["@type"] == "neuroglancer_segment_properties", f"document {doc}")
    ensure(doc["inline"]["ids"] == [str(i) for i in run.cells["pt_root_id"]], "ids")
    kinds = {p["id"]: p["type"] for p in doc["inline"]["properties"]}
    ensure(kinds.get("n_synapses") == "number" and "label" in kinds.values(), f"{kinds}")


@_per_client("helpers.add_segment_properties_source")
def _(run, name, client):
    from nglui.segmentprops import SegmentProperties
    from nglui.statebuilder import ViewerState, helpers

    state = ViewerState().add_layers_from_client(client, segmentation=False)
    state.add_segmentation_layer(source=f"precomputed://{run.url}/demo/seg", name="cells")
    props = SegmentProperties.from_dataframe(run.cells, id_col="pt_root_id",
                                             label_col="cell_type")
    helpers.add_segment_properties_source(state, props, client, name="cells")
    layer = next(la for la in state.to_dict()["layers"] if la["name"] == "cells")
    ensure(any("/nglstate/api/v1/property/" in (s["url"] if isinstance(s, dict) else s)
               for s in layer["source"]), f"sources {layer['source']}")


@_per_client("helpers.make_neuron_neuroglancer_link (synapse_query, shortened)")
def _(run, name, client):
    from nglui.statebuilder import helpers

    root = int(run.cells["pt_root_id"].iloc[0])
    link = helpers.make_neuron_neuroglancer_link(client, root, return_as="url", shorten=True,
                                                 target_url=run.viewer)
    stored = client.state.get_state_json(state_id_of(link, run.url))
    layers = {layer["name"]: layer for layer in stored["layers"]}
    outputs = client.materialize.synapse_query(pre_ids=[root])
    ensure(len(layers["outputs"]["annotations"]) == len(outputs) > 0,
           f"{len(layers['outputs']['annotations'])} output points, {len(outputs)} synapses")
    ensure(layers["segmentation"]["segments"] == [str(root)], "the neuron is not selected")


def _caveclient_json_service(run):
    """What nglui does not call: the legacy API, explicit ids, every link form."""
    from caveclient.jsonservice import JSONService

    client = run.clients["caveclient"]
    state = client.state
    base = f"{run.url}/nglstate/api/v1"
    ensure(str(state.server_version) == "0.7.2", f"server_version {state.server_version}")
    ensure(state.state_service_endpoint == f"{base}/post", state.state_service_endpoint)
    ensure(state.get_neuroglancer_info() == {}, "the embedded viewer has no version.json")
    wanted = int(np.random.default_rng().integers(10**15, 2**53))
    ensure(state.upload_state_json({"n": np.int64(3)}, state_id=wanted) == wanted, "explicit")
    ensure(state.get_state_json(wanted) == {"n": "3"}, "numpy ints are sent as strings")
    ensure(state.get_state_json(f"{base}/{wanted}") == {"n": "3"}, "by URL")
    mainline = state.build_neuroglancer_url(wanted, target_site="mainline")
    ensure(mainline == f"{run.viewer}#!middleauth+{base}/{wanted}", mainline)
    static = state.build_neuroglancer_url("http://h/s.json", target_site="seunglab",
                                          static_url=True)
    ensure(static == f"{run.viewer}?json_url=http://h/s.json", static)
    legacy = JSONService(server_address=run.url, auth_client=client.auth, api_version=0)
    old = legacy.upload_state_json({"old": True})
    ensure(legacy.get_state_json(old) == {"old": True} == state.get_state_json(old), "legacy")


CHECKS.append(("caveclient JSONService: legacy API, explicit ids, link forms",
               _caveclient_json_service))


def main(argv: list[str] | None = None) -> int:
    parser = server_arguments(__doc__.split("\n\n")[0], repo=True)
    args = parser.parse_args(argv)
    token = token_from_env()
    if not token:
        return 2
    sys.path.insert(0, args.repo)
    import caveclient
    import nglui

    print(f"nglui {nglui.__version__}, caveclient {caveclient.__version__}")
    run = Run(args.url.rstrip("/"), args.datastack, token)
    return run_checks(CHECKS, run, [token], traceback_limit=4)


if __name__ == "__main__":
    sys.exit(main())
