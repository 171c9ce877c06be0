"""The info service: the datastack and its aligned volume."""

from __future__ import annotations

from .context import Call, check_datastack, route_options
from .demo import catalog
from .errors import NotFound
from .routes_seg_mirror import mirror_source
from .routes_viewer import viewer_site

INFO_VERSION = "4.3.3"
ALIGNED_VOLUME_ID = 1


def aligned_volume_record(base_url: str) -> dict:
    return {
        "id": ALIGNED_VOLUME_ID,
        "name": catalog.ALIGNED_VOLUME,
        "display_name": "Demo volume",
        "description": "A synthetic EM volume served by cave_widgets' embedded server.",
        "image_source": f"precomputed://{base_url}/demo/em",
    }


def datastack_record(base_url: str) -> dict:
    res = catalog.VOXEL_RESOLUTION
    return {
        "aligned_volume": aligned_volume_record(base_url),
        "local_server": base_url,
        "segmentation_source": f"graphene://{base_url}/segmentation/table/{catalog.PCG_TABLE}",
        # The same segmentation as a precomputed source any neuroglancer opens (offline too);
        # not a field of real deployments: clients that know it use it for viewer links.
        "segmentation_mirror_source": mirror_source(base_url),
        "synapse_table": "synapses",
        "soma_table": "nuclei",
        "skeleton_source": None,
        # Neuroglancer served by this server (routes_viewer), so links open offline.
        "viewer_site": viewer_site(base_url),
        "viewer_resolution_x": res[0],
        "viewer_resolution_y": res[1],
        "viewer_resolution_z": res[2],
        "analysis_database": None,
        "description": (
            "Synthetic demo datastack: synapses, nuclei and cell types with a proofreading "
            "history, generated deterministically by cave_widgets."
        ),
        "proofreading_status_table": None,
        "cell_identification_table": None,
        "proofreading_review_table": None,
    }


@route_options(auth=False)
def version(call: Call):
    return INFO_VERSION


@route_options(permission=None)
def datastacks(call: Call):
    return [catalog.DATASTACK] if "view" in call.user.permissions else []


def datastack_full(call: Call):
    check_datastack(call.path("datastack"))
    return datastack_record(call.base_url)


def image_sources(call: Call):
    check_datastack(call.path("datastack"))
    av = aligned_volume_record(call.base_url)
    return [
        {
            "id": 1,
            "name": "demo_em",
            "viewer_layer_name": "img",
            "image_source": av["image_source"],
            "description": "the demo EM image",
        }
    ]


@route_options(permission=None)
def aligned_volumes(call: Call):
    return [catalog.ALIGNED_VOLUME]


def check_volume(name_or_id: str, by_id: bool) -> None:
    known = str(ALIGNED_VOLUME_ID) if by_id else catalog.ALIGNED_VOLUME
    if name_or_id != known:
        raise NotFound(f"aligned volume {name_or_id!r} not found")


def aligned_volume(call: Call):
    check_volume(call.path("name"), by_id=False)
    return aligned_volume_record(call.base_url)


def aligned_volume_by_id(call: Call):
    check_volume(call.path("id"), by_id=True)
    return aligned_volume_record(call.base_url)


def datastacks_of_volume(call: Call):
    check_volume(call.path("name"), by_id=False)
    return [catalog.DATASTACK]


API = "/info/api/v2"
ROUTES = (
    ("GET", "/info/version", version),
    ("GET", API + "/datastacks", datastacks),
    ("GET", API + "/datastack/full/{datastack}", datastack_full),
    ("GET", API + "/datastack/{datastack}/image_sources", image_sources),
    ("GET", API + "/aligned_volume", aligned_volumes),
    ("GET", API + "/aligned_volume/id/{id}", aligned_volume_by_id),
    ("GET", API + "/aligned_volume/{name}", aligned_volume),
    ("GET", API + "/aligned_volume/{name}/datastacks", datastacks_of_volume),
)
