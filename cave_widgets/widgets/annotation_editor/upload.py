"""From the grid's text to staged annotations (checked against the schema, the bad row and
field named), and the rows written from the editor, kept for undo."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ...client import errors
from ...client.annotation import AnnotationValidationError
from .form import FieldSpec, value_of
from .grid import SOURCE_ID


def staged_from_grid(ann, table: str, specs: list[FieldSpec], frame: pd.DataFrame):
    """The grid's rows as caveclient-style StagedAnnotations for `table`; raises the first
    AnnotationValidationError (its `row` is the grid row) before anything is sent."""
    staged = ann.stage_annotations(table)
    by_name = {s.name: s for s in specs}
    for i, record in enumerate(frame.to_dict(orient="records")):
        fields = {}
        for name in staged.fields:
            spec = by_name.get(name)
            value = value_of(spec, record.get(name), row=i) if spec is not None else None
            if value is not None:
                fields[name] = value
        try:
            staged.add(**fields)
        except AnnotationValidationError as exc:
            exc.row = i
            raise
    return staged


@dataclass(frozen=True)
class Entry:
    id: int
    table: str
    summary: str
    batch: int

    @property
    def label(self) -> str:
        return f"{self.id} · {self.table} · {self.summary}"


class Uploaded:
    """The rows written from this editor, oldest first; each upload is one batch."""

    def __init__(self):
        self._entries: list[Entry] = []
        self._batch = 0

    def add(self, table: str, frame: pd.DataFrame, staged) -> list[Entry]:
        """Record the rows of `staged` (made from `frame`, row for row) that are uploaded."""
        tracked = staged.annotation_dataframe(include_tracking=True)
        known = {(e.table, e.id) for e in self._entries}
        self._batch += 1
        added = []
        for i, (done, new_id) in enumerate(zip(tracked["is_uploaded"], tracked["new_id"])):
            if done and (table, int(new_id)) not in known:
                added.append(Entry(int(new_id), table, _summary(frame.iloc[i]), self._batch))
        self._entries += added
        return added

    def get(self, annotation_id: int) -> Entry:
        for entry in self._entries:
            if entry.id == annotation_id:
                return entry
        raise errors.QueryValidationError(f"row {annotation_id} was not written from this "
                                          "editor (or was undone already)")

    def newest(self) -> int | None:
        return self._entries[-1].id if self._entries else None

    def last_batch(self) -> list[Entry]:
        if not self._entries:
            return []
        last = self._entries[-1].batch
        return [e for e in self._entries if e.batch == last]

    def remove(self, ids: list[int]) -> None:
        gone = set(ids)
        self._entries = [e for e in self._entries if e.id not in gone]

    def clear(self) -> None:
        self._entries = []

    def options(self) -> list[tuple[str, int]]:
        """(label, id) for a list, newest first."""
        return [(e.label, e.id) for e in reversed(self._entries)]

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"id": e.id, "table": e.table, "row": e.summary}
                             for e in self._entries], columns=["id", "table", "row"])


def _summary(row: pd.Series) -> str:
    shown = [f"{k}={v}" for k, v in row.items() if k != SOURCE_ID and str(v).strip()]
    text = ", ".join(shown[:3])
    return text if len(text) <= 80 else text[:79] + "…"
