"""Jupyter widgets (anywidget) built on the client core. Filled in by the widgets work."""
