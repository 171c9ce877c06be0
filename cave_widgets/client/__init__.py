"""The client core: a CAVEclient-compatible client talking the CAVE wire format.

Importable without Jupyter; pandas and pyarrow load only when a query needs them.
"""

from __future__ import annotations

from .errors import (  # noqa: F401  (re-exported)
    AuthenticationError,
    CAVEError,
    CAVEHTTPError,
    ExpiredVersionWarning,
    GlobalClientError,
    IncompleteResponseError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    QueryValidationError,
    RowCapWarning,
    ServerError,
    ServerIncompatibilityError,
    ServerTimeoutError,
    ServerUnreachableError,
    TermsOfServiceError,
    UnknownDatastackError,
    UnknownTableError,
    UnknownVersionError,
    VersionExpiredError,
)
from .framework import CAVEclient  # noqa: F401
from .http import get_session_defaults, set_session_defaults  # noqa: F401
