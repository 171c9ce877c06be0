"""A fault-injecting HTTP proxy on 127.0.0.1, between a client and the embedded server.

Each request is forwarded whole to the upstream server; the answer is then passed back as
it came, or spoiled as the plan says: the connection dropped before any answer, a 429 (with
Retry-After), 502, 503 or 504 instead of the answer, the body cut short (after the Arrow
schema, mid-batch, mid-buffer) with its Content-Length kept or removed (then the end of the
body is the end of the connection, as in HTTP/1.0), the connection reset mid-body, or a
stall longer than the client's read timeout. The proxy counts what it did, by kind.
"""

from __future__ import annotations

import http.client
import random
import socket
import struct
import threading
import time
from collections import Counter
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

FAULTS = ("drop", "429", "502", "503", "504", "cut_after_schema", "cut_mid_body",
          "cut_near_end", "cut_after_schema_close", "cut_mid_body_close",
          "cut_near_end_close", "reset", "stall")


def _schema_end(body: bytes) -> int:
    """Where the first Arrow IPC message (the schema) ends: 0xFFFFFFFF, a length, the
    metadata (padded to 8), no body."""
    if len(body) >= 8 and body[:4] == b"\xff\xff\xff\xff":
        (length,) = struct.unpack("<i", body[4:8])
        return min(len(body), 8 + length)
    return min(len(body), 64)


class FaultPlan:
    """Decides, request by request, what goes wrong. Deterministic for a seed. `rate` of the
    requests that `eligible(method, path)` accepts get a fault; at most `max_run` faults in
    a row, so a client that retries enough gets through."""

    def __init__(self, seed: int = 7, rate: float = 0.5, kinds=FAULTS, max_run: int = 2,
                 eligible=lambda method, path: True):
        self.rng = random.Random(seed)
        self.rate, self.kinds, self.max_run, self.eligible = rate, tuple(kinds), max_run, eligible
        self.run = 0
        self.lock = threading.Lock()

    def choose(self, method: str, path: str) -> str | None:
        with self.lock:
            if not self.eligible(method, path) or self.run >= self.max_run:
                self.run = 0
                return None
            if self.rng.random() >= self.rate:
                self.run = 0
                return None
            self.run += 1
            return self.rng.choice(self.kinds)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):  # http.server names handlers so
        self._relay()

    def do_POST(self):
        self._relay()

    def _relay(self):
        proxy: FaultProxy = self.server.owner  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        fault = proxy.plan.choose(self.command, self.path.split("?")[0])
        proxy.count(fault)
        if fault == "drop":
            self.close_connection = True
            self.connection.close()
            return
        if fault in ("429", "502", "503", "504"):
            return self._status(int(fault))
        if fault == "stall":
            time.sleep(proxy.stall_seconds)
        up = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=120)
        # the Host header is kept: the server names itself (local_server) after it, so the
        # client keeps talking through the proxy
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("connection", "content-length")}
        headers["Content-Length"] = str(len(body))
        up.request(self.command, self.path, body=body, headers=headers)
        answer = up.getresponse()
        data = answer.read()
        reply_headers = [(k, v) for k, v in answer.getheaders()
                         if k.lower() not in ("content-length", "transfer-encoding",
                                              "connection", "date", "server")]
        up.close()
        if fault is None or fault == "stall" or not data:
            return self._send(answer.status, reply_headers, data, len(data))
        cut = {"after_schema": _schema_end(data), "mid_body": len(data) // 2,
               "near_end": max(0, len(data) - 5)}
        if fault == "reset":
            self._send(answer.status, reply_headers, data[: len(data) // 2], len(data),
                       keep=False)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.connection.close()
            return
        where = fault.removeprefix("cut_").removesuffix("_close")
        length_kept = not fault.endswith("_close")
        self._send(answer.status, reply_headers, data[: cut[where]],
                   len(data) if length_kept else None, keep=False)
        self.connection.close()

    def _status(self, status: int):
        body = b'{"message": "injected fault"}'
        headers = [("Content-Type", "application/json")]
        if status in (429, 503):
            headers.append(("Retry-After", "0"))
        self._send(status, headers, body, len(body))

    def _send(self, status: int, headers, body: bytes, length: int | None, keep: bool = True):
        self.send_response_only(status)
        for key, value in headers:
            self.send_header(key, value)
        if length is not None:
            self.send_header("Content-Length", str(length))
        if not keep or length is None:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        try:
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True


class FaultProxy:
    def __init__(self, upstream: str, plan: FaultPlan, stall_seconds: float = 3.0):
        parts = urlsplit(upstream)
        self.upstream_host, self.upstream_port = parts.hostname, parts.port
        self.plan = plan
        self.stall_seconds = stall_seconds
        self.faults: Counter = Counter()
        self.requests = 0
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.owner = self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def count(self, fault: str | None) -> None:
        with self._lock:
            self.requests += 1
            if fault:
                self.faults[fault] += 1


@contextmanager
def fault_proxy(upstream: str, plan: FaultPlan, stall_seconds: float = 3.0):
    proxy = FaultProxy(upstream, plan, stall_seconds)
    thread = threading.Thread(target=proxy.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.server.shutdown()
        proxy.server.server_close()
        thread.join(10)
