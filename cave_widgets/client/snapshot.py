"""The one path by which a CAVEclient's version and timestamp change.

A version pins a snapshot and its time; a timestamp alone means live at that time; neither
means the newest version, decided per call. Whoever asks — a cell setting
`client.version`, a widget, a worker thread — goes through `SnapshotRules.set`: it validates
against the server's versions (fetched once per client, see MaterializationClient
.version_records) and applies version and timestamp together under one lock, so no observer
or thread ever sees a version with another version's time.
"""

from __future__ import annotations

import numbers
import threading
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from . import errors
from .context import Snapshot
from .times import to_utc

if TYPE_CHECKING:
    from .framework import CAVEclient

FUTURE_SLACK = timedelta(minutes=1)  # clocks of kernel and server may differ a little


def as_version(value) -> int:
    """A version number: a Python or numpy integer, nothing else (3.0 and "3" are refused:
    a version silently rounded would query another snapshot)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise errors.VersionTypeError(
            f"a materialization version is an integer, got {value!r} "
            f"({type(value).__name__})")
    return int(value)


class SnapshotRules:
    UNSET = object()

    def __init__(self, client: CAVEclient):
        self._client = client
        self._lock = threading.RLock()
        self._local = threading.local()  # .target: the snapshot being applied by this thread

    # --- reading ------------------------------------------------------------------------

    def current(self) -> Snapshot:
        with self._lock:
            return Snapshot(self._client.version, self._client.timestamp)

    def held(self):
        return self._lock

    def being_applied(self, name: str, value) -> bool:
        """True when `value` is what this thread is applying to trait `name` right now (the
        trait validators then let it through instead of starting over)."""
        target = getattr(self._local, "target", None)
        if target is None:
            return False
        return getattr(target, name) == value

    # --- changing -----------------------------------------------------------------------

    def set(self, version=UNSET, timestamp=UNSET, *, allow_expired: bool = True) -> Snapshot:
        with self._lock:
            target = self._resolve(version, timestamp, allow_expired)
            self._apply(target)
            return target

    def reset(self) -> None:
        """Back to the newest version (a new datastack or server): no validation needed."""
        with self._lock:
            self._apply(Snapshot(None, None))

    def _apply(self, target: Snapshot) -> None:
        client = self._client
        if (client.version, client.timestamp) == (target.version, target.timestamp):
            return
        previous = getattr(self._local, "target", None)
        self._local.target = target
        try:
            with client.hold_trait_notifications():
                client.version = target.version
                client.timestamp = target.timestamp
        finally:
            self._local.target = previous

    def _resolve(self, version, timestamp, allow_expired: bool) -> Snapshot:
        unset = self.UNSET
        if version is not unset and version is not None:
            number = as_version(version)
            when = self._version_time(number, allow_expired)
            if timestamp is not unset and timestamp is not None and to_utc(timestamp) != when:
                raise errors.QueryValidationError(
                    f"version {number} is the snapshot of {when.isoformat()}, not of "
                    f"{to_utc(timestamp).isoformat()}: give a version or a timestamp")
            return Snapshot(number, when)
        if timestamp is unset:
            return Snapshot(None, None) if version is None else self.current()
        if timestamp is None:
            return Snapshot(None, None)
        when = to_utc(timestamp)
        if when > datetime.now(timezone.utc) + FUTURE_SLACK:
            raise errors.QueryValidationError(
                f"{when.isoformat()} is in the future: a snapshot is a time up to now.")
        current = self.current()
        if version is unset and current.version is not None and current.timestamp == when:
            return current  # the version's own time: still that version
        return Snapshot(None, when)

    def _version_time(self, number: int, allow_expired: bool) -> datetime:
        mat = self._client.materialize
        records = mat.version_records()
        if number not in records:  # perhaps materialized since we last asked
            records = mat.version_records(refresh=True)
        if number not in records:
            raise errors.UnknownVersionError(
                f"Version {number} does not exist for {self._client.datastack_name}; "
                f"versions: {sorted(records)}",
                action="Pick one of them (client.materialize.get_versions()).")
        record = records[number]
        if not record.get("valid", True):
            expired_on = record.get("expires_on")
            day = f" on {expired_on:%Y-%m-%d}" if expired_on and expired_on.year < 9999 else ""
            valid = sorted(v for v, r in records.items() if r.get("valid", True))
            message = (f"Version {number} of {self._client.datastack_name} expired{day} and "
                       "can no longer be queried")
            if not allow_expired:
                raise errors.VersionExpiredError(
                    f"{message}.", action=f"Pick a valid version ({valid}) or a live time.")
            errors.warn_user(f"{message}; queries against it will fail. Pick a valid one: "
                             f"{valid}.", errors.ExpiredVersionWarning)
        return record["time_stamp"]
