"""SkeletonView: one neuron's skeleton as a small plot in the notebook, with its synapses on
it (outputs where it is presynaptic, inputs where it is postsynaptic). Shown for a root id
given in code, or for the row selected in a TableBrowser it follows.

The skeleton comes from the skeleton service and the synapses from the datastack's synapse
table at the client's version (or timestamp), the one the root ids in the browser belong to.
Geometry travels to the browser as binary arrays (float32 nm, uint32 edges), never as JSON
lists; the view draws it on a canvas (xy, xz, yz, or a 3D view turned by dragging).
"""

from __future__ import annotations

import numpy as np
import traitlets

from ..client import errors
from ._base import STATIC, RequestWidget, bundle, friendly

SIGNED_OUT = ("anonymous", "rejected")
VIEWS = ("xy", "xz", "yz", "3d")


def root_of_row(row) -> int | None:
    """The root id a selected row is about: its `pt_root_id`, else the first nonzero root
    column (a synapse row: the presynaptic cell)."""
    columns = [c for c in row.columns if c.endswith("root_id")]
    columns.sort(key=lambda c: c != "pt_root_id")
    for column in columns:
        value = int(row[column].iloc[0] or 0)
        if value:
            return value
    return None


def _f32(array) -> bytes:
    return np.ascontiguousarray(np.asarray(array, dtype=np.float32)).tobytes()


class SkeletonView(RequestWidget):
    """`SkeletonView(client, root_id)` or `SkeletonView(client, browser=table_browser)`.

    `view.skeleton` is the skeleton dict (as `client.skeleton.get_skeleton` returns it) and
    `view.synapses` a DataFrame of the shown synapses (`direction` "output" or "input",
    positions in nm); `view.show(root_id)` shows another neuron."""

    _esm = bundle("skeleton_view")
    _css = STATIC / "skeleton_view.css"

    root_id = traitlets.Unicode("").tag(sync=True)  # a string: uint64 ids exceed JS numbers
    view = traitlets.Enum(VIEWS, default_value="xy").tag(sync=True)
    status = traitlets.Unicode("empty").tag(sync=True)  # empty, loading, ready, error, signed_out
    error = traitlets.Dict().tag(sync=True)
    summary = traitlets.Dict().tag(sync=True)
    vertices = traitlets.Bytes(b"").tag(sync=True)  # float32 (N, 3) nm
    edges = traitlets.Bytes(b"").tag(sync=True)  # uint32 (E, 2) [child, parent]
    compartment = traitlets.Bytes(b"").tag(sync=True)  # uint8 (N,)
    outputs = traitlets.Bytes(b"").tag(sync=True)  # float32 (n, 3) nm: presynaptic sites
    inputs = traitlets.Bytes(b"").tag(sync=True)  # float32 (n, 3) nm: postsynaptic sites

    def __init__(self, client, root_id=None, browser=None, synapses: bool = True, **kwargs):
        super().__init__(**kwargs)
        self._client = client
        self._browser = browser
        self._with_synapses = synapses
        self._loads = self.generations()
        self.skeleton: dict | None = None
        self.synapses = None
        client.observe(self._client_changed, names=["auth_state", "version", "timestamp",
                                                     "datastack_name"])
        if browser is not None:
            browser.observe(self._selection_changed, names=["selection", "generation"])
        if root_id is not None:
            self.show(root_id)
        elif client.auth_state in SIGNED_OUT:
            self._clear("signed_out")

    # --- what is shown ------------------------------------------------------------------

    def show(self, root_id) -> None:
        """Show the neuron `root_id` (loads in the background; `wait()` for it in scripts)."""
        value = int(root_id)
        if value <= 0 or value >= 2**64:
            raise ValueError(f"a root id is a positive uint64, got {root_id!r}")
        self.root_id = str(value)
        self._load()

    def _load(self) -> None:
        number = self._loads.next()
        if not self.root_id:
            self._clear("empty")
            return
        if self._client.auth_state in SIGNED_OUT:
            self._clear("signed_out")
            return
        self.status, self.error = "loading", {}
        self.submit(self._fetch, int(self.root_id), number)

    def _fetch(self, root: int, number: int) -> None:
        try:
            skeleton = self._client.skeleton.get_skeleton(root, output_format="dict")
            synapses, note = self._synapses_of(root) if self._with_synapses else (None, "")
        except (errors.CAVEError, ValueError, NotImplementedError) as exc:
            if self._loads.current(number):
                self._clear("error", keep_root=True)
                self.error = friendly(exc)
            return
        if self._loads.current(number):  # a newer load started: this answer is dropped
            self._install(root, skeleton, synapses, note)

    def _synapses_of(self, root: int):
        """The root's synapses at the client's snapshot, and a note when there are none to
        show because the root is not a segment there (edited before, or made after): its
        synapses at that snapshot belong to other roots, and zero would be a wrong answer."""
        import pandas as pd

        mat = self._client.materialize
        state = self._client.snapshot
        when = state.timestamp or mat.get_timestamp(mat.most_recent_version())
        if not self._client.chunkedgraph.is_latest_roots([root], timestamp=when)[0]:
            where = f"version {state.version}" if state.version is not None else (
                f"{when:%Y-%m-%d %H:%M} UTC" if state.timestamp else "the newest version")
            return None, (f"{root} is not a segment at {where} (edited before, or made "
                          "after): its synapses there are not shown. "
                          "client.chunkedgraph.suggest_latest_roots gives its successor.")
        nm = [1, 1, 1]
        out = mat.synapse_query(pre_ids=root, desired_resolution=nm, split_positions=True)
        inc = mat.synapse_query(post_ids=root, desired_resolution=nm, split_positions=True)
        parts = []
        for frame, side, direction in ((out, "pre", "output"), (inc, "post", "input")):
            xyz = frame[[f"{side}_pt_position_{a}" for a in "xyz"]].to_numpy(float)
            parts.append(pd.DataFrame({"id": frame["id"].to_numpy(), "direction": direction,
                                       "x_nm": xyz[:, 0], "y_nm": xyz[:, 1],
                                       "z_nm": xyz[:, 2]}))
        return pd.concat(parts, ignore_index=True), ""

    def _install(self, root: int, skeleton: dict, synapses, note: str = "") -> None:
        vertices = np.asarray(skeleton["vertices"], float).reshape(-1, 3)
        edges = np.asarray(skeleton["edges"], np.int64).reshape(-1, 2)
        lengths = np.linalg.norm(vertices[edges[:, 0]] - vertices[edges[:, 1]], axis=1)
        compartment = np.asarray(skeleton.get("compartment", np.full(len(vertices), 3)))
        self.skeleton, self.synapses = skeleton, synapses
        summary = {"root_id": str(root), "vertices": int(len(vertices)),
                   "cable_um": round(float(lengths.sum()) / 1000, 1),
                   "soma": int(skeleton.get("root", -1)), "note": note}
        if synapses is not None:
            summary.update(outputs=int((synapses["direction"] == "output").sum()),
                           inputs=int((synapses["direction"] == "input").sum()))
        with self.hold_sync():
            self.vertices = _f32(vertices)
            self.edges = np.ascontiguousarray(edges.astype(np.uint32)).tobytes()
            self.compartment = np.ascontiguousarray(compartment.astype(np.uint8)).tobytes()
            self.outputs = self._points(synapses, "output")
            self.inputs = self._points(synapses, "input")
            self.summary = summary
            self.status, self.error = "ready", {}

    @staticmethod
    def _points(synapses, direction: str) -> bytes:
        if synapses is None:
            return b""
        chosen = synapses[synapses["direction"] == direction]
        return _f32(chosen[["x_nm", "y_nm", "z_nm"]].to_numpy(float))

    def _clear(self, status: str, keep_root: bool = False) -> None:
        self.skeleton = self.synapses = None
        with self.hold_sync():
            if not keep_root:
                self.root_id = "" if status != "signed_out" else self.root_id
            self.vertices = self.edges = self.compartment = b""
            self.outputs = self.inputs = b""
            self.summary, self.error = {}, {}
            self.status = status

    # --- following the client and a browser --------------------------------------------

    def _client_changed(self, change) -> None:
        # Signed out: nothing of the previous user stays. Signed in again, another version
        # or timestamp: the same neuron loads again (its synapses depend on the snapshot).
        if change["name"] == "auth_state" and change["new"] == "verified" \
                and self.status == "ready":
            return  # the token this view loaded with was just confirmed
        self._load()

    def _selection_changed(self, _change) -> None:
        if len(self._browser.selection) != 1:
            return  # keep the neuron on show until one row is chosen
        self.submit(self._follow_row)

    def _follow_row(self) -> None:
        root = root_of_row(self._browser.selected_df)
        if root is not None and str(root) != self.root_id:
            self.show(root)

    def close(self) -> None:
        self._client.unobserve(self._client_changed, names=["auth_state", "version",
                                                           "timestamp", "datastack_name"])
        if self._browser is not None:
            try:
                self._browser.unobserve(self._selection_changed,
                                        names=["selection", "generation"])
            except ValueError:
                pass
        super().close()
