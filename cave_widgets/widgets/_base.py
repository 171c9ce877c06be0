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
import time
from concurrent.futures import Future, ThreadPoolExecutor
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


class Generations:
    """Numbers the loads (or queries) a widget starts: only the newest one's answer is
    shown; an answer to an older one arrived too late and is dropped."""

    def __init__(self):
        self._newest = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            self._newest += 1
            return self._newest

    def current(self, number: int) -> bool:
        return number == self._newest


class Workers:
    """The one mechanism for a widget's background work: a small pool of threads, the
    futures it still runs (for wait()), failures logged (what a person should see, the work
    shows in its widget itself)."""

    def __init__(self, size: int):
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="cave-widget")
        self._tasks: set[Future] = set()
        self._lock = threading.Lock()

    def submit(self, fn, *args, waited_for: bool = True) -> Future:
        def task():
            try:
                return fn(*args)
            except Exception:
                log.debug("background task %s failed", getattr(fn, "__name__", fn),
                          exc_info=True)

        future = self._executor.submit(task)
        if waited_for:
            with self._lock:
                self._tasks = {f for f in self._tasks if not f.done()} | {future}
        return future

    def run(self, fn, *args) -> Future:
        """fn(*args) on the pool, nothing caught (for callers that answer failures)."""
        return self._executor.submit(fn, *args)

    def pending(self) -> list[Future]:
        with self._lock:
            return [f for f in self._tasks if not f.done()]

    def wait(self, timeout: float, busy=lambda: False, name: str = "the widget") -> None:
        deadline = time.monotonic() + timeout
        while self.pending() or busy():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} is still busy")
            time.sleep(0.01)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class RequestWidget(anywidget.AnyWidget):
    """An anywidget whose work runs off the kernel's message thread.

    One mechanism for all of it: a small pool of worker threads per widget. Browser
    requests are answered there; `submit` runs anything else there (loads, counts, a
    whole-table fetch). Long jobs check their own cancel flag."""

    busy = traitlets.Bool(False).tag(sync=True)
    WORKERS = 4  # requests stay answered while a long fetch and a listing run

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._workers = Workers(self.WORKERS)
        self._handlers: dict = {}
        self._pending = 0
        self._pending_lock = threading.Lock()
        self.on_msg(self._on_browser_message)

    @staticmethod
    def generations() -> Generations:
        return Generations()

    def submit(self, fn, *args, waited_for: bool = True) -> Future:
        """Run fn(*args) on the widget's workers. A failure is logged, not raised: what a
        person should see, fn shows in the widget itself. `waited_for=False` leaves a long
        job (a whole-table fetch, with its own progress and cancel) out of `wait()`."""
        return self._workers.submit(fn, *args, waited_for=waited_for)

    def wait(self, timeout: float = 60.0) -> None:
        """Block until background work (loads, requests) is done; for scripts and tests."""
        self._workers.wait(timeout, busy=lambda: self.busy, name=type(self).__name__)

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
        self._workers.run(self._answer, handler, request_id, content, buffers)

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
        self._workers.shutdown()
        super().close()
