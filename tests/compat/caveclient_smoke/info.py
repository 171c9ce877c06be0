"""The client, info service, a bad token, schema service and annotation staging."""

from __future__ import annotations

from .checks import (
    SYNAPSES,
    CheckFailed,
    check,
    ensure,
    http_status,
    need,
)

# --------------------------------------------------------------------------------------
# info, schema
# --------------------------------------------------------------------------------------


@check("construct_client")
def _(s):
    from caveclient import CAVEclient

    s.client = CAVEclient(
        s.datastack,
        server_address=s.url,
        auth_token=s.token,
        write_server_cache=False,
    )
    ensure(s.client.datastack_name == s.datastack, f"datastack_name is {s.client.datastack_name!r}")
    ensure(s.client.server_address == s.url, f"server_address is {s.client.server_address!r}")
    ensure(
        s.client.local_server.rstrip("/") == s.url.rstrip("/"),
        f"local_server {s.client.local_server!r} is not the server {s.url!r}",
    )


@check("info.get_datastacks")
def _(s):
    stacks = s.client.info.get_datastacks()
    ensure(isinstance(stacks, list), f"expected a list, got {type(stacks).__name__}")
    ensure(s.datastack in stacks, f"{s.datastack!r} not in {stacks!r}")


@check("info.get_datastack_info")
def _(s):
    info = s.client.info.get_datastack_info()
    ensure(info["local_server"].rstrip("/") == s.url.rstrip("/"),
           f"local_server {info['local_server']!r}")
    av = info["aligned_volume"]
    ensure(isinstance(av.get("name"), str) and av["name"], f"aligned_volume name {av!r}")
    ensure(isinstance(av.get("id"), int), f"aligned_volume id {av.get('id')!r}")
    ensure(info["synapse_table"] == SYNAPSES, f"synapse_table {info['synapse_table']!r}")
    seg = info["segmentation_source"]
    ensure(isinstance(seg, str) and "/" in seg, f"segmentation_source {seg!r}")
    ensure(
        s.client.chunkedgraph.table_name == seg.rstrip("/").split("/")[-1],
        "chunkedgraph table name is not the last part of segmentation_source",
    )
    res = s.client.info.viewer_resolution()
    ensure(len(res) == 3 and all(r > 0 for r in res), f"viewer_resolution {res!r}")
    s.aligned_volume = av["name"]


@check("info.get_aligned_volumes")
def _(s):
    name = need(s, "aligned_volume")
    volumes = s.client.info.get_aligned_volumes()
    ensure(name in volumes, f"{name!r} not in {volumes!r}")
    av = s.client.info.get_aligned_volume_info()
    by_id = s.client.info.get_aligned_volume_info_by_id(av["id"])
    ensure(by_id["name"] == name, f"aligned volume {av['id']} is {by_id.get('name')!r}")


@check("a bad token is rejected")
def _(s):
    from caveclient import CAVEclient

    wrong = "0123456789abcdef" * 2
    wrong = wrong if wrong != s.token else wrong[::-1]
    status, message = http_status(lambda: CAVEclient(
        s.datastack, server_address=s.url, auth_token=wrong, write_server_cache=False
    ))
    ensure(status == 401, f"status {status}: {message}")


@check("schema.get_schemas")
def _(s):
    names = s.client.schema.get_schemas()
    ensure(isinstance(names, list) and names, f"expected a non-empty list, got {names!r}")
    for wanted in ("synapse", "nucleus_detection", "cell_type_local", "cell_type_reference"):
        ensure(wanted in names, f"{wanted!r} not in {names!r}")


@check("schema.schema_definition")
def _(s):
    doc = s.client.schema.schema_definition("synapse")
    ensure(str(doc.get("$ref", "")).startswith("#/definitions/"), f"$ref is {doc.get('$ref')!r}")
    main = doc["$ref"].split("/")[-1]
    props = doc["definitions"][main]["properties"]
    for pt in ("pre_pt", "post_pt"):
        ensure(pt in props, f"{pt} missing from the synapse definition")
        ensure(
            props[pt].get("$ref", "").endswith("BoundSpatialPoint"),
            f"{pt} is not a BoundSpatialPoint: {props[pt]!r}",
        )
    ensure("BoundSpatialPoint" in doc["definitions"], "no BoundSpatialPoint definition")
    status, message = http_status(lambda: s.client.schema.schema_definition("no_such_schema_xyz"))
    ensure(status == 404, f"an unknown schema gave {status}: {message}")


@check("schema.schema_definition_multi / schema_definition_all")
def _(s):
    names = s.client.schema.get_schemas()
    every = s.client.schema.schema_definition_all()
    ensure(isinstance(every, dict) and list(every) == names,
           f"types_all keys differ from get_schemas: {list(every or {})[:5]!r}...")
    for name, doc in every.items():
        main = str(doc.get("$ref", "")).split("/")[-1]
        ensure(main in doc.get("definitions", {}), f"{name}: $ref {doc.get('$ref')!r} unresolved")
        ensure("required" in doc["definitions"][main], f"{name}: root definition has no required")
    some = s.client.schema.schema_definition_multi(["synapse", "bound_tag"])
    ensure(isinstance(some, dict) and list(some) == ["synapse", "bound_tag"],
           f"schema_definition_multi gave {list(some or {})!r}")
    ensure(some["synapse"] == every["synapse"], "multi and all disagree on synapse")


@check("annotation.stage_annotations (the schema documents drive staging)")
def _(s):
    staged = s.client.annotation.stage_annotations(schema_name="synapse")
    staged.add(pre_pt_position=[1, 2, 3], ctr_pt_position=[2, 3, 4], post_pt_position=[3, 4, 5],
               size=3.0)
    ensure(staged.annotation_list == [{"ctr_pt": {"position": [2, 3, 4]},
                                       "post_pt": {"position": [3, 4, 5]},
                                       "pre_pt": {"position": [1, 2, 3]}, "size": 3.0}],
           f"staged rows {staged.annotation_list!r}")
    # the real synapse schema requires the three points but not size
    staged.add(pre_pt_position=[1, 2, 3], ctr_pt_position=[2, 3, 4], post_pt_position=[3, 4, 5])
    try:
        staged.add(pre_pt_position=[1, 2, 3], post_pt_position=[3, 4, 5], size=3.0)
    except TypeError:
        pass
    else:
        raise CheckFailed("a synapse without ctr_pt was accepted")
    tag = s.client.annotation.stage_annotations(schema_name="bound_tag")
    tag.add(pt_position=[1, 2, 3], tag="x")
    ensure(tag.annotation_list == [{"pt": {"position": [1, 2, 3]}, "tag": "x"}],
           f"staged bound_tag rows {tag.annotation_list!r}")
