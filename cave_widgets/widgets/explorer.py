"""Explorer: sign-in, datastack/version selection and the table browser in one display,
all bound to one client, with the selected row's segment history beside the browser."""

from __future__ import annotations

import ipywidgets

from .datastack import DatastackSelector
from .lineage import LineagePanel
from .login import LoginWidget
from .table_browser import TableBrowser


class Explorer(ipywidgets.VBox):
    """The three widgets together; `explorer.df`, `.selected_df` and `.code` come from its
    table browser."""

    def __init__(self, client, **kwargs):
        self.client = client
        self.login = LoginWidget(client)
        self.selector = DatastackSelector(client)
        self.browser = TableBrowser(client)
        self.lineage = LineagePanel(self.browser, layout=ipywidgets.Layout(
            width="260px", flex="0 0 auto", padding="0 0 0 8px"))
        row = ipywidgets.HBox([self.browser, self.lineage],
                              layout=ipywidgets.Layout(align_items="flex-start"))
        self.browser.layout.flex = "1 1 auto"
        super().__init__([self.login, self.selector, row], **kwargs)
        self.add_class("cave-explorer")

    @property
    def df(self):
        return self.browser.df

    @property
    def selected_df(self):
        return self.browser.selected_df

    @property
    def code(self) -> str:
        return self.browser.code

    def close(self) -> None:
        for part in (self.lineage, self.browser, self.selector, self.login):
            part.close()
        super().close()


def browse(client=None, datastack_name: str | None = None, server_address: str | None = None,
           **client_args) -> Explorer:
    """Open the explorer on `client`, or on a new CAVEclient built from the arguments."""
    if client is None:
        from ..client import CAVEclient

        client = CAVEclient(datastack_name, server_address=server_address, **client_args)
    return Explorer(client)
