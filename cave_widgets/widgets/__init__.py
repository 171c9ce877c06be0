"""Jupyter widgets on the client core (anywidget): LoginWidget, DatastackSelector,
TableBrowser, SkeletonView, AnnotationEditor, and Explorer / browse() with the first
three together. Each is bound to a
CAVEclient's traits both ways: a change made in a cell shows in every widget, a change made
in a widget is on the client at once."""

from __future__ import annotations

_WHERE = {
    "LoginWidget": "login",
    "DatastackSelector": "datastack",
    "TableBrowser": "table_browser",
    "Explorer": "explorer",
    "AnnotationEditor": "annotation_editor",
    "SkeletonView": "skeleton_view",
    "browse": "explorer",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    # ipywidgets/anywidget load only when a widget is first used.
    if name in _WHERE:
        from importlib import import_module

        try:
            module = import_module(f"{__name__}.{_WHERE[name]}")
        except ImportError as exc:
            if exc.name in ("anywidget", "ipywidgets", "ipydatagrid"):
                raise ImportError(
                    f"the widgets need {exc.name}: pip install 'cave_widgets[widgets]'"
                ) from exc
            raise
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
