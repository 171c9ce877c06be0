"""What every cave_widgets widget shares: its bundled front end, and a request/reply channel
whose handlers run off the kernel's message thread.

The browser sends ``{"type": T, "id": N, ...}``; the handler registered for T runs in a
worker thread and its result goes back as ``{"type": "reply", "id": N, "ok": ...}`` (plus
binary buffers) or ``{"type": "reply", "id": N, "error": message}``. The browser drops
replies to requests it no longer waits for (stale ids), so the kernel stays responsive
and fast clicking never shows old answers.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anywidget
import traitlets

from ..client import errors

log = logging.getLogger("cave_widgets.widgets")
STATIC = Path(__file__).resolve().parent.parent / "static"


def bundle(name: str) -> Path:
    """The built front end of one widget (cave_widgets/static/<name>.js)."""
    path = STATIC / f"{name}.js"
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: the front end was not built. Reinstall the package with "
            "Node.js available (pip install -e .), or run `npm run build` in js/."
        )
    return path


def friendly(exc: BaseException) -> dict:
    """A short message for the person, an action, and the details on demand."""
    action = getattr(exc, "action", "") or ""
    text = str(exc)
    if action and text.endswith(action):
        text = text[: -len(action)].strip()
    kind = "auth" if isinstance(exc, errors.AuthenticationError) else (
        "permission" if isinstance(exc, errors.PermissionDeniedError) else (
            "invalid" if isinstance(exc, (errors.QueryValidationError, ValueError)) else "error"))
    link = getattr(exc, "tos_form_url", None)
    return {"message": text.split("\n")[0][:300], "action": action, "kind": kind,
            "link": link or "", "details": f"{type(exc).__name__}: {text}"}


class RequestWidget(anywidget.AnyWidget):
    """An anywidget whose browser requests are answered from a worker thread."""

    busy = traitlets.Bool(False).tag(sync=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="cave-widget")
        self._handlers: dict = {}
        self._pending = 0
        self._pending_lock = threading.Lock()
        self.on_msg(self._on_browser_message)

    def handle(self, kind: str, fn) -> None:
        """Register fn(content, buffers) -> result | (result, buffers) for requests of kind."""
        self._handlers[kind] = fn

    def _on_browser_message(self, _widget, content, buffers) -> None:
        if not isinstance(content, dict):
            return
        kind, request_id = content.get("type"), content.get("id")
        handler = self._handlers.get(kind)
        if handler is None:
            return
        with self._pending_lock:
            self._pending += 1
            self.busy = True
        self._executor.submit(self._answer, handler, request_id, content, buffers)

    def _answer(self, handler, request_id, content, buffers) -> None:
        try:
            result = handler(content, buffers)
            out_buffers = []
            if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], list):
                result, out_buffers = result
            self.send({"type": "reply", "id": request_id, "ok": result}, out_buffers)
        except Exception as exc:  # every failure reaches the person, never a silent timeout
            log.debug("request %s failed", content.get("type"), exc_info=True)
            self.send({"type": "reply", "id": request_id, "error": friendly(exc)})
        finally:
            with self._pending_lock:
                self._pending -= 1
                self.busy = self._pending > 0

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        super().close()
