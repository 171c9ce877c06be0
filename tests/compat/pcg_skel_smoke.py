"""Compatibility smoke test: the real, unmodified ``pcg_skel`` (1.3.x) skeletonises a demo
neuron from the level-2 graph and the level-2 cache of a CAVE-compatible server, through the
real ``caveclient`` and through cave_widgets' CAVEclient, and both give the same skeleton.

Runs in a throwaway virtualenv holding pcg_skel, caveclient, cloud-volume and meshparty;
cave_widgets is imported from the repository given by --repo. The token comes from
CAVE_DEMO_TOKEN, never the command line.

    CAVE_DEMO_TOKEN=... python pcg_skel_smoke.py --url http://127.0.0.1:8000 \
        --datastack demo_local --repo /path/to/cave_widgets

The neuron is the nucleus-bearing cell with the most level-2 nodes at the latest version.
Prints ``PASS name`` / ``FAIL name: reason`` per check, then ``N passed, M failed``; exits 1
when a check failed.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
from smoke_runner import Checks, ensure, run_checks, server_arguments, token_from_env

CLIENTS = ("caveclient", "cave_widgets")
CHECKS = Checks()


class Run:
    """The two clients, the chosen neuron and what the reference client says about it."""

    def __init__(self, url: str, datastack: str, token: str):
        import caveclient

        import cave_widgets

        self.clients = {
            "caveclient": caveclient.CAVEclient(datastack, server_address=url, auth_token=token),
            "cave_widgets": cave_widgets.CAVEclient(datastack, server_address=url,
                                                    auth_token=token, write_server_cache=False),
        }
        ref = self.clients["caveclient"]
        self.version = ref.materialize.version
        self.timestamp = ref.materialize.get_timestamp()
        nuclei = ref.materialize.query_table("nuclei", desired_resolution=[1, 1, 1],
                                             split_positions=True)
        nuclei = nuclei[nuclei["pt_root_id"] != 0]
        roots = np.unique(nuclei["pt_root_id"].to_numpy(np.int64))
        leaves = ref.chunkedgraph.get_leaves_many(roots, stop_layer=2)
        self.root = int(max(leaves, key=lambda r: (len(leaves[r]), r)))
        self.l2_ids = np.unique(np.asarray(leaves[self.root], dtype=np.int64))
        row = nuclei[nuclei["pt_root_id"] == self.root].iloc[0]
        self.soma_nm = row[["pt_position_x", "pt_position_y", "pt_position_z"]].to_numpy(float)
        data = ref.l2cache.get_l2data(self.l2_ids.tolist(), attributes=["rep_coord_nm"])
        self.rep_nm = np.array([data[str(i)]["rep_coord_nm"] for i in self.l2_ids], float)
        info = ref.chunkedgraph.segmentation_info
        scale = info["scales"][0]
        self.resolution = np.array(scale["resolution"], float)
        self.chunk_nm = np.array(info["graph"]["chunk_size"], float) * self.resolution
        offset = np.array(scale["voxel_offset"], float)
        self.box_nm = (offset * self.resolution,
                       (offset + np.array(scale["size"], float)) * self.resolution)
        self.results: dict[str, dict] = {name: {} for name in CLIENTS}
        print(f"neuron {self.root}: {len(self.l2_ids)} level-2 nodes, version {self.version}")


# --- what a sane skeleton looks like -------------------------------------------------------


def n_components(n: int, edges: np.ndarray) -> int:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    return connected_components(graph, directed=False)[0]


def nearest_l2(run: Run, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance (nm) from each point to the nearest level-2 representative point, and which."""
    from scipy.spatial import cKDTree

    dist, which = cKDTree(run.rep_nm).query(points)
    return dist, which


def check_skeleton(run: Run, sk, exempt_root: bool = False) -> None:
    """A tree over the neuron's level-2 points: connected, n-1 edges, every vertex (the
    collapsed soma excepted) on a level-2 point, edges no longer than two level-2 chunks."""
    vertices, edges = np.asarray(sk.vertices, float), np.asarray(sk.edges, np.int64)
    n = len(vertices)
    ensure(1 < n <= len(run.l2_ids), f"{n} vertices for {len(run.l2_ids)} level-2 nodes")
    ensure(edges.shape == (n - 1, 2), f"edges {edges.shape} for {n} vertices: not a tree")
    ensure(n_components(n, edges) == 1, "the skeleton is not connected")
    dist, _ = nearest_l2(run, vertices)
    on_l2 = np.ones(n, bool)
    if exempt_root:
        on_l2[int(sk.root)] = False
    ensure(np.all(dist[on_l2] < 1.0),
           f"{int(np.sum(dist[on_l2] >= 1.0))} vertices are not at a level-2 point "
           f"(farthest {dist[on_l2].max():.1f} nm)")
    lo, hi = run.box_nm
    ensure(np.all((vertices >= lo) & (vertices <= hi)), "vertices outside the dataset's box")
    lengths = np.linalg.norm(vertices[edges[:, 0]] - vertices[edges[:, 1]], axis=1)
    longest = 2 * float(np.linalg.norm(run.chunk_nm))
    ensure(np.all(lengths > 0), "zero-length edges")
    if not exempt_root:
        ensure(lengths.max() <= longest,
               f"an edge of {lengths.max():.0f} nm spans more than two level-2 chunks "
               f"({longest:.0f} nm)")
    cable = float(lengths.sum())
    extent = float(np.linalg.norm(vertices.max(0) - vertices.min(0)))
    ensure(extent <= cable <= 50 * extent + 1,
           f"cable length {cable:.0f} nm for an extent of {extent:.0f} nm")
    ensure(1e3 < cable < 1e8, f"cable length {cable:.0f} nm is not a neuron's")


def check_level2_mesh(run: Run, mesh, l2dict_mesh: dict) -> None:
    """The graph pcg_skel skeletonises: one vertex per level-2 node, at its rep_coord_nm."""
    ensure(sorted(map(int, l2dict_mesh)) == run.l2_ids.tolist(),
           "the level-2 graph's nodes are not the neuron's level-2 ids")
    order = np.array([l2dict_mesh[i] for i in run.l2_ids.tolist()])
    ensure(np.allclose(np.asarray(mesh.vertices)[order], run.rep_nm),
           "level-2 vertices are not at their rep_coord_nm")
    edges = np.asarray(mesh.link_edges)
    ensure(n_components(len(mesh.vertices), edges) == 1, "the level-2 graph is not connected")


# --- the checks --------------------------------------------------------------------------


def per_client(name: str):
    def register(fn):
        for client_name in CLIENTS:
            CHECKS.append((f"{name} [{client_name}]",
                           lambda run, c=client_name: fn(run, run.clients[c],
                                                         run.results[c])))
        return fn
    return register


@per_client("pcg_skeleton(root_id, client): a sane skeleton on the level-2 graph")
def _(run, client, out):
    import pcg_skel

    sk, mesh, (l2dict, _), (l2dict_mesh, _) = pcg_skel.pcg_skeleton(
        run.root, client, return_mesh=True, return_l2dict=True, return_l2dict_mesh=True)
    out["skeleton"], out["mesh"], out["l2dict"] = sk, mesh, l2dict
    check_level2_mesh(run, mesh, l2dict_mesh)
    check_skeleton(run, sk)
    print(f"  {len(sk.vertices)} vertices, {len(sk.edges)} edges, cable "
          f"{sk.path_length() / 1000:.1f} µm, {len(sk.end_points)} end points")
    mapped = np.asarray(sk.mesh_to_skel_map)
    ensure(len(mapped) == len(run.l2_ids) and mapped.min() >= 0
           and mapped.max() < len(sk.vertices), "mesh_to_skel_map does not cover the graph")


@per_client("pcg_skeleton with a soma point read through segmentation_cloudvolume")
def _(run, client, out):
    import pcg_skel

    cv = client.info.segmentation_cloudvolume(progress=False)
    resolution = np.asarray(cv.mip_resolution(0), float)
    ensure(np.array_equal(resolution, run.resolution),
           f"CloudVolume's resolution {resolution} is not the info's {run.resolution}")
    sk = pcg_skel.pcg_skeleton(run.root, client, root_point=run.soma_nm / resolution,
                               collapse_soma=True)
    out["soma_skeleton"] = sk
    check_skeleton(run, sk, exempt_root=True)
    ensure(np.allclose(sk.vertices[sk.root], run.soma_nm, atol=1.0),
           f"the root {sk.vertices[sk.root]} is not at the soma {run.soma_nm}")
    plain = out.get("skeleton")
    ensure(plain is None or len(sk.vertices) <= len(plain.vertices),
           "collapsing the soma added vertices")


@per_client("pcg_meshwork with synapses, volume and segment properties")
def _(run, client, out):
    import pcg_skel
    from pcg_skel import features

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nrn = pcg_skel.pcg_meshwork(run.root, client=client, synapses=True,
                                    root_point=run.soma_nm, root_point_resolution=[1, 1, 1],
                                    collapse_soma=True)
        features.add_volumetric_properties(nrn, client)
        features.add_segment_properties(nrn)
    out["meshwork"] = nrn
    ref = run.clients["caveclient"]
    lvl2 = nrn.anno.lvl2_ids.df
    ensure(sorted(lvl2["lvl2_id"].astype(np.int64)) == run.l2_ids.tolist(),
           "lvl2_ids annotation is not the neuron's level-2 ids")
    for side, other in (("pre", "post"), ("post", "pre")):
        syn = getattr(nrn.anno, f"{side}_syn").df
        table = ref.materialize.query_table(
            "synapses", filter_equal_dict={f"{side}_pt_root_id": run.root})
        table = table[table[f"{other}_pt_root_id"] != run.root]
        ensure(sorted(syn["id"]) == sorted(table["id"]),
               f"{side}-synapses: {len(syn)} in the meshwork, {len(table)} in the table")
        ensure(len(syn) > 0, f"the neuron has no {side}-synapses to check")
        ensure(np.isin(syn[f"{side}_pt_level2_id"].astype(np.int64), run.l2_ids).all(),
               f"{side}-synapses on level-2 ids that are not the neuron's")
    props = nrn.anno.vol_prop.df
    ensure(len(props) == len(run.l2_ids) and (props["size_nm3"] > 0).all()
           and (props["area_nm2"] > 0).all(), "volume properties missing or empty")
    ensure(len(nrn.anno.segment_properties.df) == len(run.l2_ids), "segment properties")


def same_skeleton(a, b, what: str) -> None:
    ensure(len(a.vertices) == len(b.vertices),
           f"{what}: {len(a.vertices)} vs {len(b.vertices)} vertices")
    ensure(np.allclose(a.vertices, b.vertices, atol=1e-6), f"{what}: vertices differ")
    ensure(np.array_equal(np.sort(a.edges, axis=1), np.sort(b.edges, axis=1)),
           f"{what}: edges differ")
    ensure(int(a.root) == int(b.root), f"{what}: roots {a.root} vs {b.root}")
    ensure(np.array_equal(a.mesh_to_skel_map, b.mesh_to_skel_map),
           f"{what}: mesh_to_skel_map differs")


def _skeletons_agree(run):
    ours, theirs = run.results["cave_widgets"], run.results["caveclient"]
    for key in ("skeleton", "soma_skeleton"):
        ensure(key in ours and key in theirs, f"{key}: a client made none (see above)")
        same_skeleton(ours[key], theirs[key], key)
    ensure(np.array_equal(ours["mesh"].vertices, theirs["mesh"].vertices)
           and np.array_equal(ours["mesh"].link_edges, theirs["mesh"].link_edges),
           "the level-2 graphs differ")
    ensure(ours["l2dict"] == theirs["l2dict"], "level-2 id → vertex maps differ")


def _meshworks_agree(run):
    ours, theirs = (run.results[c].get("meshwork") for c in ("cave_widgets", "caveclient"))
    ensure(ours is not None and theirs is not None, "a client made no meshwork (see above)")
    same_skeleton(ours.skeleton, theirs.skeleton, "meshwork skeleton")
    for table, key in (("pre_syn", "id"), ("post_syn", "id"), ("lvl2_ids", "lvl2_id"),
                       ("vol_prop", "mesh_ind"), ("segment_properties", "mesh_ind")):
        a = getattr(ours.anno, table).df.sort_values(key).reset_index(drop=True)
        b = getattr(theirs.anno, table).df.sort_values(key).reset_index(drop=True)
        ensure(list(a.columns) == list(b.columns), f"{table}: columns differ")
        for column in a.columns:
            x, y = a[column].to_numpy(), b[column].to_numpy()
            if x.dtype.kind == "f":
                ensure(np.allclose(x, y, equal_nan=True), f"{table}.{column} differs")
            else:
                ensure([str(v) for v in x] == [str(v) for v in y], f"{table}.{column} differs")


CHECKS.append(("the two clients' skeletons agree", _skeletons_agree))
CHECKS.append(("the two clients' meshworks agree", _meshworks_agree))


def main(argv: list[str] | None = None) -> int:
    parser = server_arguments(__doc__.split("\n\n")[0], repo=True)
    args = parser.parse_args(argv)
    token = token_from_env()
    if not token:
        return 2
    sys.path.insert(0, args.repo)
    warnings.simplefilter("ignore", FutureWarning)  # scipy's, from inside meshparty
    import caveclient
    import meshparty
    import pcg_skel

    print(f"pcg_skel {pcg_skel.__version__}, caveclient {caveclient.__version__}, "
          f"meshparty {meshparty.__version__}")
    run = Run(args.url.rstrip("/"), args.datastack, token)
    return run_checks(CHECKS, run, [token], traceback_limit=6)


if __name__ == "__main__":
    sys.exit(main())
