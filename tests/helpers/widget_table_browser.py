"""The TableBrowser factory the widget tests share."""

from __future__ import annotations

import pytest

from cave_widgets.widgets.table_browser import TableBrowser


def browsers_for(client):
    """Yield make(table=None, **kwargs) → a TableBrowser on `client`, idle; close them all."""
    made = []

    def make(table: str | None = None, **kwargs) -> TableBrowser:
        b = TableBrowser(client, table=table, **kwargs)
        made.append(b)
        b.wait()
        return b

    yield make
    for b in made:
        b.close()


@pytest.fixture()
def browser(client):
    yield from browsers_for(client)
