"""Errors the services answer with, in the real services' JSON shapes."""

from __future__ import annotations


class ServiceError(Exception):
    status = 500
    error: str | None = None

    def __init__(self, message: str, *, data: dict | None = None, headers: dict | None = None):
        super().__init__(message)
        self.message = message
        self.data = data
        self.headers = headers or {}

    def with_error(self, error: str) -> ServiceError:
        """Attach the machine-readable `error` code middle_auth puts in its bodies."""
        self.error = error
        return self

    def body(self) -> dict:
        body: dict = {"message": self.message}
        if self.error:
            body["error"] = self.error
        if self.data is not None:
            body["data"] = self.data
        if self.status >= 500:
            body["code"] = self.status
        return body


class BadRequest(ServiceError):
    status = 400


class NotFound(ServiceError):
    status = 404


class VersionExpired(ServiceError):
    status = 410


class Unauthorized(ServiceError):
    status = 401


class Forbidden(ServiceError):
    status = 403


class PayloadTooLarge(ServiceError):
    status = 413
