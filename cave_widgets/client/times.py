"""Time values as the client keeps them: timezone-aware UTC datetimes.

Users pass datetimes (naive ones mean UTC, as in caveclient), ISO 8601 strings, epoch
seconds or pandas Timestamps; servers send naive UTC ISO strings. Everything becomes one
aware UTC datetime here, and anything else is a typed error that says what is accepted.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

from .errors import QueryValidationError

UTC = timezone.utc
NEVER = datetime.max.replace(tzinfo=UTC)
ACCEPTED = "a datetime, an ISO 8601 string (2024-06-05T10:10:01Z) or epoch seconds"


class TimestampError(QueryValidationError, TypeError):
    """A value that is not a point in time. A TypeError too, as traitlets and caveclient
    callers expect for a wrong type."""


def to_utc(when) -> datetime:
    """A timezone-aware UTC datetime from anything a user may pass as a time."""
    original = when
    if isinstance(when, str):
        try:
            when = datetime.fromisoformat(when.strip().replace("Z", "+00:00"))
        except ValueError:
            raise TimestampError(f"{original!r} is not a time: pass {ACCEPTED}.") from None
    elif isinstance(when, (int, float)) and not isinstance(when, bool):
        if not math.isfinite(when):
            raise TimestampError(f"{original!r} is not a time: pass {ACCEPTED}.")
        try:
            when = datetime.fromtimestamp(when, UTC)
        except (OverflowError, OSError, ValueError):
            raise TimestampError(f"{original!r} seconds is out of range: pass {ACCEPTED}.") \
                from None
    elif hasattr(when, "to_pydatetime"):  # pandas Timestamp
        when = when.to_pydatetime()
    if not isinstance(when, datetime):
        raise TimestampError(f"a time must be {ACCEPTED}, got {original!r}")
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def parse_server_time(text: str | None) -> datetime | None:
    """Version and table times arrive as naive UTC ISO strings (with microseconds)."""
    if text is None:
        return None
    when = datetime.fromisoformat(text)
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def naive_utc_text(when: datetime) -> str:
    """The form caveclient puts in df.attrs: naive, always with microseconds."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
