"""A tiny HTTP server on 127.0.0.1 that answers from a script: for each path, a list of
(status, JSON body) answers given in order (the last one repeats). For tests of how the
client copes with what a server says over a real socket (503 bursts, an old API), where
the demo server is not the point. Always stopped by its context manager."""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self._answer()

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self._answer()

    def _answer(self):
        server: ScriptedServer = self.server  # type: ignore[assignment]
        path = self.path.split("?", 1)[0]
        with server.lock:
            server.seen.append((self.command, path))
            answers = server.script.get(path)
            if not answers:
                status, body = 404, {"message": f"no route {path}"}
            else:
                status, body = answers.pop(0) if len(answers) > 1 else answers[0]
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):  # keep test output clean
        pass


class ScriptedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, script: dict[str, list[tuple[int, object]]]):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script = {path: list(answers) for path, answers in script.items()}
        self.seen: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def count(self, path: str) -> int:
        with self.lock:
            return sum(1 for _, p in self.seen if p == path)


@contextmanager
def scripted_server(script: dict[str, list[tuple[int, object]]]):
    server = ScriptedServer(script)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
