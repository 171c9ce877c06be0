"""The TableBrowser: browse the tables and views of a datastack, page through filtered rows
on the server, and take the result back into the notebook. One feature, one subpackage:

- widget.py   the TableBrowser widget itself (traits, requests from the browser)
- query.py    what it asks: one query at a snapshot, run through the client
- filters.py  filter specs from the browser → checked query arguments
- paging.py   pages by key (id > last seen) or offset, and the page cache
- fetch.py    the whole result in chunks (browser.df), the selected rows
- listing.py  the tables and views at a snapshot, with row counts
- ipc.py      a page as Arrow IPC for the browser (ids as text)
- code.py     the current query as a client call (browser.code)
"""

from .widget import TableBrowser

__all__ = ["TableBrowser"]
