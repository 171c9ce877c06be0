"""Proof that an answer is whole before anything in it is trusted.

A body cut short must never pass for a smaller answer: an Arrow stream read without its end
is fewer rows (or none) without a word from pyarrow, and a JSON number cut short is another
number. So each body is proven complete: by its framing (a Content-Length, which urllib3
enforces, or chunked transfer's last chunk), or by its own format (an Arrow stream's
end-of-stream marker; a JSON object, array or string, which does not parse without its
closing bracket or quote). What cannot be proven raises IncompleteResponseError, which
http.request retries.
"""

from __future__ import annotations

from .errors import IncompleteResponseError

ARROW_CONTENT_TYPE = "data.arrow"  # the materialization engine's
ARROW_STREAM_TYPE = "application/vnd.apache.arrow.stream"  # the registered one (skeletons)
ARROW_TYPES = (ARROW_CONTENT_TYPE, ARROW_STREAM_TYPE)
ARROW_END = b"\xff\xff\xff\xff\x00\x00\x00\x00"  # continuation marker + zero length


def length_framed(response) -> bool:
    headers = response.headers
    return (headers.get("Content-Length") is not None
            or "chunked" in headers.get("Transfer-Encoding", "").lower())


def _incomplete(response, why: str) -> IncompleteResponseError:
    return IncompleteResponseError(f"{response.url.split('?')[0]}: {why}",
                                   url=response.url.split("?")[0])


def json_document(response) -> None:
    """A JSON answer whose end is proven (framing, or an object, array or string that
    parses: none of them parses without its closing bracket or quote, and no prefix of one
    parses as a whole)."""
    if length_framed(response) or response.status_code == 204:
        return
    head = response.content.lstrip()[:1]
    if head not in (b"{", b"[", b'"'):
        # A bare number or literal: "12" parses whether or not "345" followed it.
        raise _incomplete(response, "the answer has no length and no closing bracket, so "
                                    "it cannot be told from one cut short")
    try:
        response.json()
    except ValueError:
        raise _incomplete(response, "the JSON answer is cut short") from None


def is_arrow(response) -> bool:
    """Whether the answer is an Arrow IPC stream (by its media type, parameters aside)."""
    media = response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    return media in ARROW_TYPES


def arrow_stream(response) -> None:
    """An Arrow IPC stream that ends with its end-of-stream marker and reads whole; the
    table is kept on the response (response.cave_arrow) so it is decoded once."""
    if not is_arrow(response):
        return  # not Arrow: decoding says what it is instead
    body = response.content
    if not body.endswith(ARROW_END):
        raise _incomplete(response, f"the Arrow stream ({len(body):,} bytes) has no "
                                    "end-of-stream marker: it was cut short")
    import pyarrow as pa

    try:
        response.cave_arrow = pa.ipc.open_stream(body).read_all()
    except (pa.ArrowInvalid, OSError, ValueError) as exc:
        raise _incomplete(response, f"the Arrow stream does not read ({exc})") from None


def query_answer(response) -> None:
    """A query's answer: Arrow, or JSON when a frame was not asked for."""
    if is_arrow(response):
        arrow_stream(response)
    else:
        json_document(response)
