"""Segment properties of the mirror: the cell type of each root at a moment, from the demo's
`cell_types` table as materialization answers it then (rows alive at that time, root ids of
that time), so the labels neuroglancer shows sit on the same ids the volume is labelled with.

A root with several calls gets them all (``5P-IT / BC``); its classification systems become
tags (``excitatory_neuron``).
"""

from __future__ import annotations

from ..errors import NotFound

TABLE = "cell_types"


def segment_properties(store, t: float) -> dict:
    """The neuroglancer_segment_properties document at time t (seconds from the anchor)."""
    snapshot = store.snapshot_at(t)
    try:
        relation = store.table_relation(TABLE, snapshot)
    except NotFound:  # before the table existed: no labels
        return document({})
    rows = store.cursor().execute(
        f"SELECT CAST(pt_root_id AS UBIGINT), cell_type, classification_system "
        f"FROM ({relation.sql}) WHERE pt_root_id <> 0").fetchall()
    calls: dict[int, tuple[set, set]] = {}
    for root, cell_type, system in rows:
        types, systems = calls.setdefault(int(root), (set(), set()))
        if cell_type:
            types.add(str(cell_type))
        if system:
            systems.add(str(system))
    return document(calls)


def document(calls: dict[int, tuple[set, set]]) -> dict:
    ids = sorted(calls)
    tags = sorted({_tag(s) for _, systems in calls.values() for s in systems})
    index = {tag: i for i, tag in enumerate(tags)}
    return {
        "@type": "neuroglancer_segment_properties",
        "inline": {
            "ids": [str(i) for i in ids],
            "properties": [
                {"id": "cell_type", "type": "label",
                 "values": [" / ".join(sorted(calls[i][0])) for i in ids]},
                {"id": "classification", "type": "tags", "tags": tags,
                 "values": [sorted(index[_tag(s)] for s in calls[i][1]) for i in ids]},
            ],
        },
    }


def _tag(text: str) -> str:
    # neuroglancer tags hold no spaces and do not start with "#"
    return "_".join(text.split()).lstrip("#") or "unnamed"
