"""DatastackSelector: pick a datastack and a materialization version, or Live at one pinned
timestamp, bound both ways to a CAVEclient.

The client owns the state (datastack_name, version, timestamp); this widget keeps only what
the browser needs to draw it (lists of datastacks and versions, what is selected, loading and
error state) and follows the client through traitlets observers. A choice made in the browser
arrives as a request and is applied to the client in a worker thread; setting the widget's
``datastack``, ``version``, ``mode`` or ``timestamp`` from Python applies it at once, in the
caller's thread. Expired versions are listed as such and refused when chosen; a client put
on one from a cell (which only warns) shows a warning here.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import traitlets

from ..client import errors
from ._base import STATIC, RequestWidget, bundle, friendly

UTC = timezone.utc
# What the client refuses when chosen here, answered to the browser as a refusal (shown in
# the notice), not as a failure.
_REFUSALS = (errors.VersionExpiredError, errors.UnknownVersionError)


def _iso(when: datetime | None) -> str:
    if when is None:
        return ""
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def version_entry(record: dict, now: datetime) -> dict:
    """One row of get_versions_metadata(expired=True) as plain JSON for the browser."""
    expires = record.get("expires_on")
    if expires is not None and expires.year >= 9999:  # datetime.max: a long-term version
        expires = None
    expired = not record.get("valid", True) or (expires is not None and expires <= now)
    days = None
    if expires is not None and not expired:
        days = (expires - now) // timedelta(days=1)
    return {
        "version": int(record["version"]),
        "time_stamp": _iso(record.get("time_stamp")),
        "expires_on": _iso(expires) or None,
        "expired": bool(expired),
        "expires_in_days": days,
    }


def _day(iso: str | None) -> str:
    return iso[:10] if iso else "an unknown date"


def _mode_of(snapshot) -> str:
    return "live" if snapshot.version is None and snapshot.timestamp is not None else "version"


class DatastackSelector(RequestWidget):
    """Server address, a searchable datastack picker, and a materialization version (with
    its date and expiry) or Live mode with one pinned timestamp, all bound to `client`.

    Every choice goes to the client (`client.set_snapshot`, `client.datastack_name`), which
    validates it; the widget shows the client's answer and its typed error, and keeps no
    rules of its own."""

    _esm = bundle("datastack")
    _css = STATIC / "datastack.css"

    server_address = traitlets.Unicode("").tag(sync=True)
    # [{name, description, aligned_volume, details}]; details: False until fetched
    datastacks = traitlets.List(traitlets.Dict()).tag(sync=True)
    datastack = traitlets.Unicode(None, allow_none=True).tag(sync=True)
    # [{version, time_stamp, expires_on, expired, expires_in_days}], newest first
    versions = traitlets.List(traitlets.Dict()).tag(sync=True)
    version = traitlets.Int(None, allow_none=True).tag(sync=True)
    mode = traitlets.Enum(["version", "live"], "version").tag(sync=True)
    timestamp = traitlets.Unicode("").tag(sync=True)  # ISO 8601 UTC, "" when none is pinned
    # signed_out: nobody may list datastacks yet; the widget loads by itself at sign-in
    status = traitlets.Enum(["loading", "ready", "error", "signed_out"],
                            "loading").tag(sync=True)
    error = traitlets.Dict().tag(sync=True)  # friendly(exc) of the last failed load, or {}
    notice = traitlets.Unicode("").tag(sync=True)  # a warning: expired version, refusal

    _CLIENT_TRAITS = ["server_address", "datastack_name", "version", "timestamp"]

    def __init__(self, client, **kwargs):
        super().__init__(**kwargs)
        self.client = client
        self._lock = threading.RLock()
        self._loads = self.generations()  # results of older loads are dropped
        self._last_version: int | None = None
        self._details: dict[str, dict] = {}
        self._loaded_with = None  # the client's AuthClient the lists were loaded with
        self.handle("select_datastack", lambda c, b: self._request(
            self.select_datastack, c.get("name")))
        self.handle("select_version", lambda c, b: self._request(
            self.select_version, c.get("version")))
        self.handle("select_live", lambda c, b: self._request(
            self.select_live, c.get("timestamp")))
        self.handle("select_mode", lambda c, b: self._request(self.select_mode, c.get("mode")))
        self.handle("reload", lambda c, b: self._load(self._loads.next(), everything=True))
        self._pull()
        client.observe(self._on_client_change, names=self._CLIENT_TRAITS)
        client.observe(self._on_auth_change, names=["auth_state"])
        self.refresh()

    def close(self) -> None:
        for observer, names in ((self._on_client_change, self._CLIENT_TRAITS),
                                (self._on_auth_change, ["auth_state"])):
            try:
                self.client.unobserve(observer, names=names)
            except ValueError:
                pass
        super().close()

    # --- choices (from Python, or from the browser via requests) ---------------------------

    def select_datastack(self, name: str | None) -> None:
        """Point the client at another datastack (its version and timestamp reset)."""
        self.client.datastack_name = name or None

    def select_version(self, version: int | None) -> None:
        """Pin a materialization version (None: the newest valid one, decided per query).
        The client refuses expired and unknown versions (VersionExpiredError,
        UnknownVersionError)."""
        try:
            self.client.set_snapshot(version=version, allow_expired=False)
        except _REFUSALS as exc:
            self.notice = str(exc)
            raise
        if version is not None:
            self._last_version = int(version)

    def select_live(self, timestamp=None) -> None:
        """Live mode at one pinned time (now if not given); the version becomes None."""
        when = datetime.now(UTC) if timestamp in (None, "") else timestamp
        self.client.set_snapshot(version=None, timestamp=when)

    def select_mode(self, mode: str) -> None:
        """Switch between a version (the last one chosen, if still valid, else the newest)
        and Live (pinned at now; a client already live keeps its time)."""
        if mode == "live":
            if _mode_of(self.client.snapshot) != "live":
                self.select_live(None)
            return
        if mode != "version":
            raise ValueError(f"mode must be 'version' or 'live', got {mode!r}")
        if self._last_version is not None:
            try:
                self.client.set_snapshot(version=self._last_version, allow_expired=False)
                return
            except _REFUSALS:
                pass  # expired (or gone) since it was chosen: the newest instead
        self.client.set_snapshot(version=None)

    def refresh(self) -> None:
        """Fetch the datastacks and versions again, in the worker thread."""
        if self.client.auth_state in ("anonymous", "rejected"):
            self._show_signed_out()
            return
        self.submit(self._load, self._loads.next(), True)

    def _show_signed_out(self) -> None:
        self._loads.next()  # a load under way answers for the previous user: drop it
        self._details.clear()
        with self._lock, self.hold_sync():
            self.datastacks, self.versions, self.error = [], [], {}
            self.status = "signed_out"

    def _on_auth_change(self, change) -> None:
        """Signed out or another user: the lists of the previous one go; signed in, they
        load again (an error caused by the missing sign-in goes with them)."""
        if (change["new"] == "verified" and self.client.auth is self._loaded_with
                and self.status == "ready"):
            return  # the token the lists were loaded with was just confirmed
        self._details.clear()
        with self._lock, self.hold_sync():
            self.datastacks, self.versions, self.error = [], [], {}
        self.refresh()

    def _request(self, choose, value):
        """Apply a choice made in the browser; a refusal is an answer, not a failure."""
        try:
            choose(value)
        except _REFUSALS as exc:
            return {"refused": str(exc)}
        self._update_notice()  # a refusal shown before is no longer the news
        return {"applied": True}

    def _entry(self, version: int | None) -> dict | None:
        return next((v for v in self.versions if v["version"] == version), None)

    # --- widget traits set from Python: apply them to the client ---------------------------

    @traitlets.observe("datastack", "version", "mode", "timestamp")
    def _widget_changed(self, change) -> None:
        name, new = change["name"], change["new"]
        client = self.client
        snapshot = client.snapshot
        shown = {"datastack": client.datastack_name or None, "version": snapshot.version,
                 "mode": _mode_of(snapshot), "timestamp": _iso(snapshot.timestamp)}
        if new == shown[name]:
            return  # the widget shows the client (a pull, or nothing new)
        choose = {"datastack": self.select_datastack, "version": self.select_version,
                  "mode": self.select_mode,
                  "timestamp": lambda t: self.select_live(t) if t else self.select_version(None),
                  }[name]
        try:
            choose(new)
        except Exception as exc:
            self._pull()  # show the client's state again, then tell the caller
            if isinstance(exc, _REFUSALS):
                self.notice = str(exc)
            raise

    # --- the client changed (in a cell, or by us): show it ---------------------------------

    def _on_client_change(self, change) -> None:
        server_moved = change["name"] == "server_address"
        datastack_moved = self._pull()
        if server_moved:
            self._details.clear()  # another server: its datastacks may differ in all but name
            self.refresh()
        elif datastack_moved:
            self.submit(self._load, self._loads.next(), False)

    def _pull(self) -> bool:
        """Copy the client's state into the widget; True if the datastack changed. Holding
        the client's snapshot steady meanwhile, so what the widget shows is one state (and
        the observers above find nothing to send back)."""
        client = self.client
        with client.holding_snapshot(), self._lock, self.hold_sync():
            snapshot = client.snapshot
            datastack = client.datastack_name or None
            moved = datastack != self.datastack
            self.server_address = client.server_address
            self.datastack = datastack
            if moved:
                self.versions = []
            self.version = snapshot.version
            self.timestamp = _iso(snapshot.timestamp)
            self.mode = _mode_of(snapshot)
            if snapshot.version is not None:
                self._last_version = snapshot.version
            self._update_notice()
        return moved

    def _update_notice(self) -> None:
        entry = self._entry(self.version) if self.version is not None else None
        if entry and entry["expired"]:
            self.notice = (f"Version {entry['version']} of {self.datastack} expired on "
                           f"{_day(entry['expires_on'])}: queries against it will fail. "
                           "Pick a valid version, or Live with a timestamp.")
        else:
            self.notice = ""

    # --- loading (worker thread) ------------------------------------------------------------

    def _fetch_versions(self) -> list[dict]:
        if not self.client.datastack_name:
            return []
        now = datetime.now(UTC)
        records = self.client.materialize.get_versions_metadata(expired=True)
        return sorted((version_entry(r, now) for r in records),
                      key=lambda v: v["version"], reverse=True)

    def _store_versions(self, versions: list[dict], datastack: str | None) -> None:
        with self._lock, self.hold_sync():
            if datastack == (self.client.datastack_name or None):
                self.versions = versions
                self._update_notice()

    def _load(self, generation: int, everything: bool = True):
        """Fetch the datastack list (if `everything`) and the current datastack's versions,
        then each datastack's description and aligned volume."""
        client = self.client
        datastack = client.datastack_name or None
        self.status = "loading"
        self._loaded_with = client.auth
        try:
            names = client.info.get_datastacks() if everything or not self.datastacks else None
            versions = self._fetch_versions()
        except Exception as exc:
            with self._lock:
                if self._loads.current(generation):
                    self.error = friendly(exc)
                    self.status = "error"
            raise
        with self._lock:
            if not self._loads.current(generation) or datastack != (client.datastack_name or None):
                return {"stale": True}
            with self.hold_sync():
                if names is not None:
                    if datastack and datastack not in names:
                        names = [datastack, *names]  # visible to us even if not listed
                    self.datastacks = [self._datastack_entry(n) for n in names]
                self._store_versions(versions, datastack)
                self.error = {}
                self.status = "ready"
        self._fetch_details(datastack)
        return {"loaded": True}

    def _datastack_entry(self, name: str) -> dict:
        return self._details.get(name, {"name": name, "description": "",
                                        "aligned_volume": "", "details": False})

    def _fetch_details(self, first: str | None) -> None:
        """Descriptions and aligned volumes, one datastack at a time (the selected first);
        a datastack whose details fail keeps just its name."""
        names = [d["name"] for d in self.datastacks if not d.get("details")]
        names.sort(key=lambda n: n != first)
        for name in names:
            try:
                record = self.client.info.get_datastack_info(name)
                volume = record.get("aligned_volume") or {}
                entry = {"name": name, "description": record.get("description") or "",
                         "aligned_volume": volume.get("name") or "", "details": True}
            except Exception:
                entry = {"name": name, "description": "", "aligned_volume": "",
                         "details": True}
            self._details[name] = entry
            with self._lock:
                self.datastacks = [entry if d["name"] == name else d for d in self.datastacks]
