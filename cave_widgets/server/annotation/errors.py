"""AE's error answers (reference annotation-schema-wire.md §3.10).

The real AE answers every route-level ``abort(code, msg)`` with HTTP **500** and the body
``{"code": 500, "message": "<code> <Reason>: <msg>", "traceback": [...]}`` (its catch-all
handler swallows the code). We keep the message text word for word, so anything that reads it
sees the real words, but answer with a 4xx that says what went wrong — a 500 here would read
as a bug in this server: bad input (schema validation 422, unknown reference targets, names)
is 400, ownership/permission refusals 403 (not 401: clients take 401 as "sign in again"), a
missing table 404, an already superseded row 409, too many rows 413. Body-schema rejections
keep their real body ``{"schema_errors": {...}}``, also with 400.
"""

from __future__ import annotations

from ..errors import ServiceError

REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           409: "Conflict", 413: "Request Entity Too Large", 422: "Unprocessable Entity"}


class AnnotationError(ServiceError):
    def __init__(self, code: int, text: str, status: int | None = None):
        super().__init__(f"{code} {REASONS[code]}: {text}")
        self.status = status or code

    def body(self) -> dict:
        return {"code": self.status, "message": self.message}


class SchemaErrors(ServiceError):
    """A request body that does not fit AE's request schema (flask-accepts' shape)."""

    status = 400

    def __init__(self, errors: dict):
        super().__init__(repr(errors))
        self.errors = errors

    def body(self) -> dict:
        return {"schema_errors": self.errors}


def bad_request(text: str) -> AnnotationError:
    return AnnotationError(400, text)


def invalid_row(index: int, messages: dict) -> AnnotationError:
    # The real text is "422 Unprocessable Entity: {messages}"; the row's index is added so a
    # batch's bad row can be found.
    return AnnotationError(422, f"annotation {index}: {messages!r}", status=400)


def unauthorized(text: str) -> AnnotationError:
    return AnnotationError(401, text, status=403)


def table_not_found(name: str, volume: str) -> AnnotationError:
    return AnnotationError(404, f"Table {name} not found in aligned volume {volume}")
