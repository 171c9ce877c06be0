"""cave_widgets: work with CAVE connectomics services from a notebook.

The client core lives in ``cave_widgets.client``, the Jupyter widgets in
``cave_widgets.widgets`` and an embedded CAVE-compatible demo server in
``cave_widgets.server``. Importing this package is cheap: heavy dependencies load on first use.
"""

__version__ = "0.1.0"
