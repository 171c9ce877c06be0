"""The embedded CAVE-compatible server and its synthetic demo datastack.

``serve_demo(scale="small")`` starts it on a free loopback port in a background thread and
returns a handle with ``.url``, ``.datastack``, ``.token`` and ``.stop()``; the command
``cave-widgets serve --demo`` runs it in the foreground. Needs the ``server`` extra
(``pip install 'cave_widgets[server]'``).
"""

from __future__ import annotations

__all__ = ["serve_demo", "DemoServer"]


def __getattr__(name: str):
    # Keep `import cave_widgets.server` cheap and give a clear message when extras are missing.
    if name in __all__:
        try:
            from . import runner
        except ImportError as exc:
            raise ImportError(
                f"the embedded server needs its extra dependencies ({exc.name} is missing): "
                "pip install 'cave_widgets[server]'"
            ) from exc
        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
