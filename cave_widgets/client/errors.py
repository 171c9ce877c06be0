"""Typed errors: each says what the server said and what to do about it.

HTTP failures subclass `requests.HTTPError`, so code written for caveclient that catches
`HTTPError` keeps working; lookups of unknown things also subclass `ValueError`, as the
matching caveclient errors are ValueErrors.
"""

from __future__ import annotations

import os
import sys
import warnings

import requests


class CAVEError(Exception):
    """Base of every cave_widgets client error."""

    action: str = ""

    def __str__(self) -> str:
        text = super().__str__()
        return f"{text} {self.action}".strip() if self.action else text


class CAVEHTTPError(CAVEError, requests.HTTPError):
    """A CAVE service answered with an error status."""

    def __init__(self, message: str, *, status: int | None = None, url: str | None = None,
                 server_message: str | None = None, action: str = "", response=None,
                 data: dict | None = None):
        super().__init__(message, response=response)
        self.status = status
        self.url = url
        self.server_message = server_message
        self.data = data or {}
        if action:
            self.action = action


class AuthenticationError(CAVEHTTPError):
    """No token, or the server rejected it (401)."""


class PermissionDeniedError(CAVEHTTPError):
    """Signed in, but this user may not see the resource (403 missing_permission)."""


class TermsOfServiceError(PermissionDeniedError):
    """The dataset's terms of service have not been accepted (403 missing_tos)."""

    @property
    def tos_form_url(self) -> str | None:
        return self.data.get("tos_form_url")


class NotFoundError(CAVEHTTPError, ValueError):
    """The server does not know the thing asked for (404)."""


class UnknownDatastackError(NotFoundError):
    pass


class UnknownTableError(NotFoundError):
    pass


class UnknownVersionError(NotFoundError):
    pass


class VersionExpiredError(CAVEHTTPError, ValueError):
    """The materialization version has expired on the server (410)."""


class InvalidRequestError(CAVEHTTPError, ValueError):
    """The server refused the request as malformed (400)."""


class ServerError(CAVEHTTPError):
    """The server failed (5xx) after any retries."""


class IncompleteResponseError(ServerError):
    """The answer arrived cut short or unreadable (after retries): nothing of it is used."""


class ServerUnreachableError(CAVEError, requests.ConnectionError):
    """No answer from the server (connection refused, DNS, timeout) after retries."""


class ServerTimeoutError(ServerUnreachableError, requests.Timeout):
    """The server took longer than the client's timeout to connect or to answer."""


class ServerIncompatibilityError(CAVEError):
    """The server is too old for this feature."""


class GlobalClientError(CAVEError, ValueError):
    """A datastack service was asked of a client that has no datastack."""


class QueryValidationError(CAVEError, ValueError):
    """A query argument is wrong; nothing was sent. The message names the argument."""


class VersionTypeError(QueryValidationError, TypeError):
    """A materialization version that is not an integer."""


class RowCapWarning(UserWarning):
    """The server returned fewer rows than match: its row cap truncated the result."""


class ExpiredVersionWarning(UserWarning):
    """The chosen materialization version has expired on the server."""


_OWN_CODE = (os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep,)


def warn_user(message: str, category: type[Warning]) -> None:
    """Warn, attributed to the first caller outside cave_widgets and traitlets (the user's
    cell), whatever the depth of the call: `client.version = 1` passes through traitlets."""
    import traitlets

    skip = _OWN_CODE + (os.path.dirname(os.path.abspath(traitlets.__file__)) + os.sep,)
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(skip):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level + 1 if frame is not None else 2)
