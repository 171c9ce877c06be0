"""The minimum cut a multicut split makes: the cheapest set of supervoxel edges (capacity =
affinity) whose removal separates the sources from the sinks (Edmonds–Karp max flow)."""

from __future__ import annotations

from collections import defaultdict, deque


def min_cut(a, b, capacity, sources, sinks) -> list[tuple[int, int]]:
    """Edges (a, b) to remove; [] if sources and sinks are not connected at all."""
    cap: dict[int, dict[int, float]] = defaultdict(dict)
    for x, y, c in zip(a, b, capacity):
        x, y = int(x), int(y)
        cap[x][y] = cap[x].get(y, 0.0) + float(c)
        cap[y][x] = cap[y].get(x, 0.0) + float(c)
    source, sink = -1, -2
    for s in sources:
        cap[source][int(s)] = float("inf")
    for s in sinks:
        cap[int(s)][sink] = float("inf")
        cap[sink].setdefault(int(s), 0.0)
    flow: dict[tuple[int, int], float] = defaultdict(float)

    while True:
        parent = {source: None}
        queue = deque([source])
        while queue and sink not in parent:
            u = queue.popleft()
            for v in cap[u]:
                if v not in parent and cap[u][v] - flow[(u, v)] > 1e-12:
                    parent[v] = u
                    queue.append(v)
        if sink not in parent:
            break
        path, v = [], sink
        while parent[v] is not None:
            path.append((parent[v], v))
            v = parent[v]
        push = min(cap[u][v] - flow[(u, v)] for u, v in path)
        if push == float("inf"):
            return []  # a source is a sink
        for u, v in path:
            flow[(u, v)] += push
            flow[(v, u)] -= push
    reach = set(parent)
    if len(reach) == 1 and not any(cap[source]):
        return []
    cut = []
    for x in reach:
        if x < 0:
            continue
        for y in cap[x]:
            if y >= 0 and y not in reach:
                cut.append((min(x, y), max(x, y)))
    return sorted(set(cut))
