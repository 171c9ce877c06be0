"""Optional dependencies, imported on first use with an error that says how to install them.

`import cave_widgets` never imports these; a method that needs one calls the helper here at
call time, so users who never ask for it never need it."""

from __future__ import annotations

from importlib import import_module


def _require(module: str, feature: str, extra: str):
    try:
        return import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{feature} needs {module}: pip install 'cave_widgets[{extra}]'"
        ) from exc


def networkx():
    """The networkx module (for the chunkedgraph's graph methods); ImportError with the
    install command when it is missing."""
    return _require("networkx", "this graph method", "graph")


def cloudvolume():
    """The cloudvolume module (for info.segmentation_cloudvolume / image_cloudvolume)."""
    try:
        return import_module("cloudvolume")
    except ImportError as exc:
        raise ImportError("this method needs cloud-volume: pip install cloud-volume") from exc
