"""cave_widgets: work with CAVE connectomics services from a notebook.

``from cave_widgets import CAVEclient`` gives a client whose API matches caveclient's; the
Jupyter widgets live in ``cave_widgets.widgets`` and an embedded CAVE-compatible demo server
in ``cave_widgets.server``. Importing this package is cheap: the client, and heavy
dependencies such as pandas and pyarrow, load on first use.
"""

__version__ = "0.1.0"

_CLIENT_NAMES = {"CAVEclient", "set_session_defaults", "get_session_defaults"}

__all__ = sorted(_CLIENT_NAMES | {"browse"})


def __getattr__(name: str):
    if name in _CLIENT_NAMES:
        from . import client

        return getattr(client, name)
    if name == "browse":
        from .widgets import browse

        return browse
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
