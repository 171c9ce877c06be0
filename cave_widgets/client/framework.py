"""CAVEclient: one object that owns the state that matters (server, datastack, version,
timestamp, who is signed in) as observable traits, and hands out the service clients.

Widgets `link` and `observe` these traits; every service client reads version and timestamp
from here, so materialization and chunkedgraph never disagree.
"""

from __future__ import annotations

import warnings
from datetime import datetime, timezone

import requests
import traitlets

from . import errors, http, tokens
from .auth import AuthClient
from .info import InfoServiceClient
from .schema import SchemaClient

DEFAULT_SERVER = "https://global.daf-apis.com"
UTC = timezone.utc


def _utc(when) -> datetime:
    """A timezone-aware UTC datetime from a datetime (naive = UTC), an ISO string or epoch
    seconds."""
    if isinstance(when, str):
        when = datetime.fromisoformat(when.replace("Z", "+00:00"))
    elif isinstance(when, (int, float)) and not isinstance(when, bool):
        when = datetime.fromtimestamp(when, UTC)
    elif hasattr(when, "to_pydatetime"):  # pandas Timestamp
        when = when.to_pydatetime()
    if not isinstance(when, datetime):
        raise TypeError(f"a timestamp must be a datetime, ISO string or epoch seconds, got {when!r}")
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


class _UTCTimestamp(traitlets.TraitType):
    """A timezone-aware UTC datetime, set from anything `_utc` understands (or None)."""

    default_value = None
    allow_none = True
    info_text = "a datetime, an ISO 8601 string or epoch seconds"

    def validate(self, obj, value):
        try:
            return _utc(value)
        except (TypeError, ValueError, OverflowError, OSError):
            self.error(obj, value)


class CAVEclient(traitlets.HasTraits):
    """A client for CAVE services, API-compatible with caveclient's CAVEclient.

    Observable traits: ``server_address``, ``datastack_name``, ``version``, ``timestamp``,
    ``auth_state`` ("anonymous", "unverified", "verified" or "rejected") and the signed-in
    user's ``user_id``, ``user_name``, ``user_email``. The token itself is never a trait.
    """

    server_address = traitlets.Unicode(DEFAULT_SERVER)
    datastack_name = traitlets.Unicode(None, allow_none=True)
    version = traitlets.Int(None, allow_none=True)
    timestamp = _UTCTimestamp()
    auth_state = traitlets.Enum(["anonymous", "unverified", "verified", "rejected"], "anonymous")
    user_id = traitlets.Int(None, allow_none=True)
    user_name = traitlets.Unicode(None, allow_none=True)
    user_email = traitlets.Unicode(None, allow_none=True)

    def __init__(self, datastack_name: str | None = None, server_address: str | None = None,
                 auth_token_file: str | None = None, auth_token_key: str | None = None,
                 auth_token: str | None = None, global_only: bool = False,
                 max_retries: int | None = None, pool_maxsize: int | None = None,
                 pool_block: bool | None = None, desired_resolution=None,
                 info_cache: dict | None = None, write_server_cache: bool = True,
                 version: int | None = None):
        server_given = bool(server_address)
        if server_address is None and datastack_name:
            server_address = tokens.read_server_map().get(datastack_name)
        server_address = (server_address or DEFAULT_SERVER).rstrip("/")
        self._global_only = global_only or not datastack_name
        self._pool = dict(max_retries=max_retries, pool_maxsize=pool_maxsize,
                          pool_block=pool_block)
        self.desired_resolution = desired_resolution
        self._info_cache = info_cache if info_cache is not None else {}
        self._syncing = False
        self._services: dict = {}
        self._session: requests.Session | None = None
        self._auth_args = dict(token=auth_token, token_file=auth_token_file,
                               token_key=auth_token_key)
        super().__init__(server_address=server_address)
        self._setup_auth()
        if not self._global_only:
            self.datastack_name = datastack_name
            # As caveclient: remember the server only when both were given, and (unlike it)
            # only once the server has confirmed the datastack exists.
            if server_given and write_server_cache:
                tokens.remember_server(datastack_name, self.server_address)
        if version is not None:
            self.version = version

    def __repr__(self) -> str:
        return (f"CAVEclient<datastack_name={self.datastack_name!r}, "
                f"server_address={self.server_address!r}>")

    @staticmethod
    def setup_token(server_address: str = DEFAULT_SERVER, overwrite: bool = True,
                    open: bool = True) -> CAVEclient:
        """Interactive set-up: open the token page, read the pasted token (hidden), check it
        against the server, save it where caveclient also looks. Returns a client using it."""
        import getpass

        probe = CAVEclient(server_address=server_address, auth_token=None)
        print(f"Sign in at {probe.auth.get_token_page(open=open)}, create or copy a token "
              "and paste it here.")
        while True:
            token = getpass.getpass("token: ").strip().lower()
            if not tokens.TOKEN_PATTERN.match(token):
                print("A token is 32 hexadecimal characters; try again.")
                continue
            client = CAVEclient(server_address=server_address, auth_token=token)
            try:
                client.info.get_datastacks()
            except errors.AuthenticationError:
                print("The server did not accept that token; try again.")
                continue
            client.auth.save_token(token, overwrite=overwrite)
            return client

    # --- configuration shared by the services ---------------------------------------------

    def _setup_auth(self) -> None:
        args = self._auth_args
        token, path = tokens.resolve(http.netloc(self.server_address), args["token"],
                                     args["token_file"], args["token_key"])
        self._auth = AuthClient(self, token, path, args["token_key"])
        self._session = None
        self._services.clear()
        self._set_auth_state("unverified" if token else "anonymous", None)

    @property
    def session(self) -> requests.Session:
        """The one HTTP session every service uses (pools, retries, the token)."""
        if self._session is None:
            hosts = {http.netloc(self.server_address)}
            if not self._global_only and self.datastack_name in self._info_cache:
                hosts.add(http.netloc(self.local_server))
            self._session = http.make_session(self._auth.token, hosts, **self._pool)
        return self._session

    def _trust_host(self, url: str) -> None:
        """Let the token go to a datastack's local server too (only CAVE hosts get it)."""
        auth = self.session.auth
        if isinstance(auth, http.BearerAuth):
            auth.hosts.add(http.netloc(url))

    def change_auth(self, auth_token_file: str | None = None, auth_token_key: str | None = None,
                    auth_token: str | None = None) -> None:
        """Switch token everywhere. File and key not given keep their current values (unlike
        caveclient, which forgets them)."""
        current = self._auth_args
        self._auth_args = dict(
            token=auth_token,
            token_file=auth_token_file if auth_token_file is not None else current["token_file"],
            token_key=auth_token_key if auth_token_key is not None else current["token_key"],
        )
        self._setup_auth()
        if not self._global_only:
            self._trust_host(self.local_server)

    def _set_auth_state(self, state: str, record: dict | None) -> None:
        with self.hold_trait_notifications():
            self.auth_state = state
            self.user_id = record.get("id") if record else None
            self.user_name = record.get("name") if record else None
            self.user_email = record.get("email") if record else None

    # --- datastack, version, timestamp -----------------------------------------------------

    @traitlets.validate("server_address")
    def _valid_server(self, proposal) -> str:
        value = proposal["value"].rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise traitlets.TraitError(f"server_address must be an http(s) URL, got {value!r}")
        return value

    @traitlets.observe("server_address")
    def _server_changed(self, change) -> None:
        if change["old"] is traitlets.Undefined or not hasattr(self, "_auth"):
            return
        self._info_cache.clear()
        # Tokens are per server: an explicit token must not follow us to another server.
        self._auth_args["token"] = None
        self._setup_auth()
        with self.hold_trait_notifications():
            self.version = None
            self.timestamp = None
            self._global_only = True
            self.datastack_name = None

    @traitlets.validate("datastack_name")
    def _valid_datastack(self, proposal):
        name = proposal["value"]
        if name:
            self.info.get_datastack_info(name)  # raises UnknownDatastackError if absent
        return name

    @traitlets.observe("datastack_name")
    def _datastack_changed(self, change) -> None:
        for key in ("materialize", "chunkedgraph", "annotation", "l2cache", "skeleton",
                    "state", "info"):
            self._services.pop(key, None)
        self._global_only = not change["new"]
        if change["new"]:
            self._trust_host(self.local_server)
        if change["old"] is not None and not self._syncing:
            with self.hold_trait_notifications():
                self.version = None
                self.timestamp = None

    @traitlets.validate("version")
    def _valid_version(self, proposal):
        version = proposal["value"]
        if version is None:
            return None
        if isinstance(version, bool) or not isinstance(version, int):
            raise TypeError(f"version must be an int, got {type(version).__name__}")
        valid = {v["version"]: v["valid"]
                 for v in self.materialize.get_versions_metadata(expired=True)}
        if version not in valid:
            raise errors.UnknownVersionError(
                f"Version {version} does not exist for {self.datastack_name}; "
                f"versions: {sorted(valid)}")
        if not valid[version]:
            warnings.warn(
                f"version {version} of {self.datastack_name} has expired; queries against it "
                "will fail. Pick a valid one with client.materialize.get_versions().",
                errors.ExpiredVersionWarning, stacklevel=4)
        return version

    @traitlets.observe("version")
    def _version_changed(self, change) -> None:
        if self._syncing:
            return
        self._syncing = True
        try:
            # A version pins its snapshot time; no version (latest) pins none.
            new = change["new"]
            self.timestamp = None if new is None else self.materialize.get_timestamp(new)
        finally:
            self._syncing = False

    @traitlets.validate("timestamp")
    def _valid_timestamp(self, proposal):
        value = proposal["value"]
        return None if value is None else _utc(value)

    @traitlets.observe("timestamp")
    def _timestamp_changed(self, change) -> None:
        if self._syncing or self.version is None:
            return
        self._syncing = True
        try:
            # A timestamp set on its own means live at that time: the version no longer applies.
            if change["new"] != self.materialize.get_timestamp(self.version):
                self.version = None
        finally:
            self._syncing = False

    # --- services ------------------------------------------------------------------------

    def _service(self, name: str, factory):
        if name not in self._services:
            self._services[name] = factory()
        return self._services[name]

    def _require_datastack(self, service: str) -> None:
        if self._global_only:
            raise errors.GlobalClientError(
                f"client.{service} needs a datastack, and this client has none: create it with "
                "CAVEclient(datastack_name=...) or set client.datastack_name.")

    @property
    def auth(self) -> AuthClient:
        return self._auth

    @property
    def info(self) -> InfoServiceClient:
        return self._service("info", lambda: InfoServiceClient(
            self, self.server_address, self.datastack_name, self._info_cache))

    @property
    def schema(self) -> SchemaClient:
        return self._service("schema", lambda: SchemaClient(self, self.server_address))

    @property
    def local_server(self) -> str:
        self._require_datastack("local_server")
        return self.info.local_server().rstrip("/")

    @property
    def materialize(self):
        self._require_datastack("materialize")
        from .materialize import MaterializationClient

        return self._service("materialize", lambda: MaterializationClient(self, self.local_server))

    def _not_yet(self, service: str):
        self._require_datastack(service)
        raise NotImplementedError(
            f"client.{service} is not part of cave_widgets yet; use caveclient for it for now.")

    @property
    def chunkedgraph(self):
        return self._not_yet("chunkedgraph")

    @property
    def annotation(self):
        return self._not_yet("annotation")

    @property
    def l2cache(self):
        return self._not_yet("l2cache")

    @property
    def skeleton(self):
        return self._not_yet("skeleton")

    @property
    def state(self):
        raise NotImplementedError(
            "client.state is not part of cave_widgets yet; use caveclient for it for now.")
