"""Lineage graphs as PCG sends them (networkx node-link JSON), filtered and walked without
networkx; networkx itself is imported only when a graph object is asked for."""

from __future__ import annotations

import numpy as np


def exclude(graph: dict, past: float | None, future: float | None) -> dict:
    """Drop nodes older than `past` / newer than `future` (seconds), and their links."""
    keep = {n["id"] for n in graph["nodes"]
            if (past is None or n["timestamp"] >= past)
            and (future is None or n["timestamp"] <= future)}
    return {**graph, "nodes": [n for n in graph["nodes"] if n["id"] in keep],
            "links": [e for e in graph["links"] if e["source"] in keep and e["target"] in keep]}


def to_networkx(graph: dict):
    try:
        import networkx as nx
    except ImportError:
        raise ImportError("get_lineage_graph(as_nx_graph=True) needs networkx: "
                          "pip install networkx") from None
    try:
        return nx.node_link_graph(graph, directed=True, edges="links")
    except TypeError:  # networkx < 3.4 has no `edges` argument (and reads "links")
        return nx.node_link_graph(graph, directed=True)


def sources(graph: dict) -> np.ndarray:
    """Nodes no link points to (in-degree 0), in node order."""
    targets = {e["target"] for e in graph["links"]}
    return np.array([n["id"] for n in graph["nodes"] if n["id"] not in targets], dtype=np.int64)


def sinks(graph: dict) -> np.ndarray:
    """Nodes with no outgoing link (out-degree 0), in node order."""
    starts = {e["source"] for e in graph["links"]}
    return np.array([n["id"] for n in graph["nodes"] if n["id"] not in starts], dtype=np.int64)
