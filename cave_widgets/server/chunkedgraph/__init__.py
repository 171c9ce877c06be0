"""The embedded chunkedgraph: node-id packing (meta), the demo neuron geometry (geometry), the
supervoxel → level-2 → … → root hierarchy over time (graph), edits (edits) and the level-2
cache attributes (l2cache). Routes live in server/routes_chunkedgraph*.py and
server/routes_l2cache.py."""
