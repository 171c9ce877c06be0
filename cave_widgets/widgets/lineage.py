"""A root id's history, as a person reads it: when the segment was made, by which edits
(merges and splits) from which earlier roots, and whether it is still the latest — shown by
the Explorer beside its table browser for the selected row."""

from __future__ import annotations

from datetime import datetime, timezone
from html import escape

import ipywidgets

from ..client import errors
from ._base import log


def _when(value) -> str:
    if isinstance(value, (int, float)):
        value = datetime.fromtimestamp(value, timezone.utc)
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace(" ", "T"))
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def lineage_facts(client, root: int) -> dict:
    """What the panel says about `root`, from the chunkedgraph (four requests)."""
    cg = client.chunkedgraph
    graph = cg.get_lineage_graph(root)
    parents = [link["source"] for link in graph["links"] if link["target"] == root]
    nodes = {n["id"]: n for n in graph["nodes"]}
    made_by = sorted({nodes[p]["operation_id"] for p in parents if "operation_id" in nodes[p]})
    details = cg.get_operation_details(made_by) if made_by else {}
    edits = [{"operation": int(op),
              "kind": "split" if details.get(str(op), {}).get("removed_edges") else "merge",
              "when": _when(details.get(str(op), {}).get("timestamp") or
                            nodes[parents[0]]["timestamp"]),
              "user": details.get(str(op), {}).get("user", "")}
             for op in made_by]
    latest = bool(cg.is_latest_roots([root])[0])
    return {"root": int(root), "made": _when(cg.get_root_timestamps([root])[0]),
            "from": [int(p) for p in parents], "edits": edits, "latest": latest,
            "now": [] if latest else [int(r) for r in cg.get_latest_roots(root)],
            "history": cg.get_change_log(root)}


def lineage_html(facts: dict) -> str:
    root = facts["root"]
    lines = [f"<b>Root {root}</b>", f"made {escape(facts['made'])}"]
    if facts["edits"]:
        for edit in facts["edits"]:
            parents = ", ".join(str(p) for p in facts["from"])
            user = f" by user {escape(str(edit['user']))}" if edit["user"] else ""
            lines.append(f"by a {edit['kind']} (operation {edit['operation']}{user}, "
                         f"{escape(edit['when'])}) of {parents}")
    else:
        lines.append("as first segmented: no edit made it")
    history = facts["history"]
    lines.append(f"{history.get('n_mergers', 0)} merges and {history.get('n_splits', 0)} "
                 "splits in its past")
    lines.append("the latest root: nothing edited it since" if facts["latest"] else
                 "since edited: now part of " + ", ".join(str(r) for r in facts["now"]))
    return "<div class='cw-lineage'>" + "<br>".join(lines) + "</div>"


class LineagePanel(ipywidgets.VBox):
    """Follows a TableBrowser: with one row selected, the history of each of its root ids."""

    def __init__(self, browser, **kwargs):
        self.browser = browser
        self.text = ipywidgets.HTML(self._hint())
        super().__init__([ipywidgets.HTML("<b>Lineage</b>"), self.text], **kwargs)
        self.add_class("cave-lineage")
        self._shown = None
        browser.observe(self._selection_changed, names=["selection", "generation"])

    @staticmethod
    def _hint() -> str:
        return "<i>Select one row to see how its segments came to be.</i>"

    def _selection_changed(self, _change) -> None:
        chosen = list(self.browser.selection)
        if len(chosen) != 1:
            self._shown = None
            self.text.value = self._hint()
            return
        self._shown = chosen[0]
        self.text.value = "<i>Reading the history…</i>"
        self.browser.submit(self._show, chosen[0])  # the browser's workers: not the kernel's

    def _show(self, row_id: str) -> None:
        try:
            row = self.browser.selected_df
            roots = [c for c in row.columns if c.endswith("_root_id")]
            facts = [lineage_facts(self.browser._client, int(row[c].iloc[0]))
                     for c in roots if int(row[c].iloc[0] or 0)]
            html = "<hr>".join(f"<div><i>{escape(c)}</i><br>{lineage_html(f)}</div>"
                               for c, f in zip(roots, facts)) or "no segment on this row"
        except (errors.CAVEError, NotImplementedError, ValueError) as exc:
            log.debug("no lineage: %s", exc)
            html = f"<i>No history available: {escape(str(exc).splitlines()[0])}</i>"
        if self._shown == row_id:  # still the selection: an older answer is dropped
            self.text.value = html

    def close(self) -> None:
        try:
            self.browser.unobserve(self._selection_changed, names=["selection", "generation"])
        except ValueError:
            pass
        super().close()
