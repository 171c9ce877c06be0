"""The staged rows: a small in-memory frame in an editable ipydatagrid DataGrid, every cell
text (ipydatagrid turns int64 into int32; ids stay exact as text)."""

from __future__ import annotations

import pandas as pd

SOURCE_ID = "source_id"  # the row of the browser a staged row came from
ROW = "row"  # the first column: the staged row's number, as errors name it
# Sizes in pixels: the row-number column, a column, the header, a row.
ROW_HEADER, COLUMN, HEADER, LINE = 48, 160, 24, 24


class StagedGrid:
    def __init__(self):
        from ipydatagrid import DataGrid

        self.widget = DataGrid(pd.DataFrame(), editable=True, selection_mode="row",
                               base_row_header_size=ROW_HEADER, base_column_size=COLUMN,
                               base_column_header_size=HEADER, base_row_size=LINE,
                               layout={"height": "180px"})
        self.widget.add_class("cw-ae-grid")
        self._columns: list[str] = []

    @property
    def frame(self) -> pd.DataFrame:
        """The staged rows as the grid holds them now (cells edited in the browser
        included), numbered from 0."""
        if not self._columns:
            return pd.DataFrame()
        return self.widget.data.reset_index(drop=True)[self._columns].astype(str)

    def reset(self, columns: list[str]) -> None:
        """No rows, these columns."""
        self._columns = list(columns)
        self._show(pd.DataFrame(columns=self._columns))

    def append(self, rows: list[dict]) -> None:
        new = pd.DataFrame(rows, columns=self._columns)
        self._show(pd.concat([self.frame, new], ignore_index=True) if len(self.frame) else new)

    def keep(self, indexes: list[int]) -> None:
        """Keep only these rows (by position), in order."""
        self._show(self.frame.iloc[list(indexes)].reset_index(drop=True))

    def selected_rows(self) -> list[int]:
        """Rows selected in the grid (by position)."""
        n = len(self.frame)
        return sorted({int(cell["r"]) for cell in self.widget.selected_cells
                       if 0 <= int(cell["r"]) < n})

    def _show(self, frame: pd.DataFrame) -> None:
        text = frame.astype(object).where(frame.notna(), "").astype(str)
        text = text.reset_index(drop=True)
        text.index.name = ROW
        self.widget.clear_selection()
        self.widget.data = text
