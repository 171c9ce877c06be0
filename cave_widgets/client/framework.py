"""CAVEclient: one object that owns the state that matters (server, datastack, version,
timestamp, who is signed in) as observable traits, and hands out the service clients.

Widgets `link` and `observe` these traits. Services never see the client: each gets the
client's ServiceContext (context.py), built from the registry (registry.py). Version and
timestamp change only through `set_snapshot`, one locked, validated operation, whoever asks
(a cell setting `client.version`, a widget, a worker thread).
"""

from __future__ import annotations

import threading

import requests
import traitlets

from . import errors, http, tokens
from .auth import AuthClient
from .context import ServiceContext, Snapshot
from .errors import GlobalClientError
from .registry import BY_NAME, SERVICES, ServiceSpec
from .snapshot import SnapshotRules
from .times import to_utc

DEFAULT_SERVER = "https://global.daf-apis.com"
_UNSET = SnapshotRules.UNSET


class _SnapshotTrait:
    """Version and timestamp are validated by the client even when set to None (traitlets
    skips validators for None), so `client.version = None` also clears the timestamp
    before anyone is notified."""

    def _validate(self, obj, value):
        if value is None and obj._cross_validation_lock is False:
            return self._cross_validate(obj, value)
        return super()._validate(obj, value)


class _Version(_SnapshotTrait, traitlets.Int):
    """A materialization version number (or None)."""


class _UTCTimestamp(_SnapshotTrait, traitlets.TraitType):
    """A timezone-aware UTC datetime, set from anything `to_utc` understands (or None)."""

    default_value = None
    allow_none = True
    info_text = "a datetime, an ISO 8601 string or epoch seconds"

    def validate(self, obj, value):
        try:
            return to_utc(value)
        except (TypeError, ValueError):
            self.error(obj, value)


class _ServiceProperty:
    """`client.<name>` for one registry row: built on first use, dropped on resets."""

    def __init__(self, spec: ServiceSpec):
        self.spec = spec
        self.__doc__ = f"The {spec.name} service client (built on first use)."

    def __get__(self, client, owner=None):
        if client is None:
            return self
        return client._service(self.spec.name)


class CAVEclient(traitlets.HasTraits):
    """A client for CAVE services, API-compatible with caveclient's CAVEclient.

    Observable traits: ``server_address``, ``datastack_name``, ``version``, ``timestamp``,
    ``auth_state`` ("anonymous", "unverified", "verified" or "rejected") and the signed-in
    user's ``user_id``, ``user_name``, ``user_email``. The token itself is never a trait.
    """

    server_address = traitlets.Unicode(DEFAULT_SERVER)
    datastack_name = traitlets.Unicode(None, allow_none=True)
    version = _Version(None, allow_none=True)
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
        self._services: dict = {}
        self._services_lock = threading.RLock()
        self._session: requests.Session | None = None
        self._auth_args = dict(token=auth_token, token_file=auth_token_file,
                               token_key=auth_token_key)
        self._rules = SnapshotRules(self)
        self._context = self._make_context()
        self._unchecked_datastack: str | None = None  # kept while nobody may ask the server
        super().__init__(server_address=server_address)
        self._setup_auth()
        if not self._global_only:
            # Checked here, not in the trait's validator, so a wrong name fails with a short
            # traceback; the validator then finds the answer cached.
            self._check_datastack(datastack_name)
            self.datastack_name = datastack_name
            # As caveclient: remember the server only when both were given, and (unlike it)
            # only once the server has confirmed the datastack exists.
            if server_given and write_server_cache:
                tokens.remember_server(datastack_name, self.server_address)
        if version is not None:
            self.version = version

    def __repr__(self) -> str:
        signed_out = ", auth_state='anonymous'" if self.auth_state == "anonymous" else ""
        return (f"CAVEclient<datastack_name={self.datastack_name!r}, "
                f"server_address={self.server_address!r}{signed_out}>")

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
            if probe.auth.check_token(token) is None:
                print("The server did not accept that token; try again.")
                continue
            client = CAVEclient(server_address=server_address, auth_token=token)
            client.auth.save_token(token, overwrite=overwrite)
            return client

    # --- the context every service gets -----------------------------------------------------

    def _make_context(self) -> ServiceContext:
        return ServiceContext(
            session=lambda: self.session,
            server_address=lambda: self.server_address,
            datastack_name=lambda: None if self._global_only else self.datastack_name,
            datastack_info=self._own_datastack_info,
            info_cache=lambda: self._info_cache,
            snapshot=lambda: self.snapshot,
            set_snapshot=self.set_snapshot,
            service=self._service,
            report_auth=self._report_auth,
            token_rejected=self._token_rejected,
            change_auth=self.change_auth,
            token_page_url=lambda: self._auth.token_page_url,
            desired_resolution=lambda: self.desired_resolution,
            pool_options=lambda: dict(self._pool),
        )

    # --- services (from the registry) --------------------------------------------------------

    def _service(self, name: str):
        spec = BY_NAME[name]
        if spec.needs_datastack:
            self._require_datastack(name)
        with self._services_lock:
            built = self._services.get(name)
            if built is None:
                built = self._services[name] = self._build(spec)
            return built

    def _build(self, spec: ServiceSpec):
        server = self.server_address if spec.server == "global" else self.local_server
        version_url = f"{server}{spec.version_path}" if spec.version_path else None
        return spec.load()(self._context, server, version_url)

    def _forget_services(self, datastack_only: bool = False) -> None:
        with self._services_lock:
            for spec in SERVICES:
                if not datastack_only or spec.needs_datastack:
                    self._services.pop(spec.name, None)

    def _require_datastack(self, service: str) -> None:
        if self._global_only:
            raise GlobalClientError(
                f"client.{service} needs a datastack, and this client has none: create it with "
                "CAVEclient(datastack_name=...) or set client.datastack_name.")

    @property
    def auth(self) -> AuthClient:
        return self._auth

    @property
    def local_server(self) -> str:
        self._require_datastack("local_server")
        return self.info.local_server().rstrip("/")

    def get_roots(self, supervoxel_ids, timestamp=None, stop_layer=None):
        """client.chunkedgraph.get_roots. Libraries that accept "a CAVEclient or a
        chunkedgraph client" tell the two apart by caveclient's own class (pcg_skel's
        annotation_to_level2_id does), so this client is taken for a chunkedgraph client there
        and must answer as one."""
        return self.chunkedgraph.get_roots(supervoxel_ids, timestamp=timestamp,
                                           stop_layer=stop_layer)

    # --- configuration shared by the services ---------------------------------------------

    def _setup_auth(self) -> None:
        args = self._auth_args
        token, path = tokens.resolve(http.netloc(self.server_address), args["token"],
                                     args["token_file"], args["token_key"])
        self._auth = AuthClient(self._context, self.server_address, token, path,
                                args["token_key"], explicit_file=args["token_file"])
        self._session = None
        self._forget_services()
        self._apply_auth_state("unverified" if token else "anonymous", None)

    @property
    def session(self) -> requests.Session:
        """The one HTTP session every service uses (pools, retries, the token)."""
        if self._session is None:
            hosts = {http.netloc(self.server_address)}
            if not self._global_only and self.datastack_name in self._info_cache:
                hosts.add(http.netloc(self.local_server))
            self._session = http.make_session(self._auth.token, hosts, **self._pool)
        return self._session

    @property
    def session_options(self) -> dict:
        """The connection options this client was made with (max_retries, pool_maxsize,
        pool_block), to make another client or session like it."""
        return dict(self._pool)

    def _own_datastack_info(self) -> dict:
        record = self._service("info").get_datastack_info()
        self._unchecked_datastack = None
        self._trust_host(record["local_server"])  # a set insert once the session exists
        return record

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
            self._recheck_datastack()

    def _recheck_datastack(self) -> None:
        """After a token change: trust the datastack's local server, and check a datastack
        that was taken on trust while signed out. A failure here (still no access, or no
        such datastack) is left to the next call, which raises it typed: signing in must
        not fail because of what the new user may or may not see."""
        try:
            self._own_datastack_info()
        except errors.CAVEError:
            pass

    def _report_auth(self, reporter, state: str, record: dict | None) -> None:
        # A whoami that was under way while the token changed (a widget's worker thread
        # checking while a cell calls change_auth) answered for a token the client no longer
        # holds: it must not overwrite the state of the current token.
        if reporter is self._auth:
            self._apply_auth_state(state, record)

    def _token_rejected(self, session) -> None:
        if session is self._session and self._auth.token and self.auth_state != "rejected":
            self._apply_auth_state("rejected", None)

    def _apply_auth_state(self, state: str, record: dict | None) -> None:
        with self.hold_trait_notifications():
            self.auth_state = state
            self.user_id = record.get("id") if record else None
            self.user_name = record.get("name") if record else None
            self.user_email = record.get("email") if record else None

    # --- server and datastack ------------------------------------------------------------------

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
            self._rules.reset()
            self._global_only = True
            self.datastack_name = None

    @traitlets.validate("datastack_name")
    def _valid_datastack(self, proposal):
        name = proposal["value"]
        if name:
            self._check_datastack(name)
        return name

    def _check_datastack(self, name: str) -> None:
        """Raise UnknownDatastackError if the server has no such datastack. Signed out (or
        with a token the server rejects), nobody may ask: the name is kept unchecked, the
        client is usable for signing in, and the first call that needs the datastack raises
        the typed AuthenticationError; it is checked at sign-in."""
        try:
            self.info.get_datastack_info(name)
            self._unchecked_datastack = None
        except errors.AuthenticationError:
            self._unchecked_datastack = name
            if self._auth.token:
                self._report_auth(self._auth, "rejected", None)

    @traitlets.observe("datastack_name")
    def _datastack_changed(self, change) -> None:
        self._forget_services(datastack_only=True)
        self._global_only = not change["new"]
        if change["new"] and self._unchecked_datastack != change["new"]:
            self._trust_host(self.local_server)
        if change["old"] is not None:
            self._rules.reset()

    # --- version and timestamp: one path ------------------------------------------------------

    @property
    def snapshot(self) -> Snapshot:
        """Version and timestamp as one consistent pair (read both at once)."""
        return self._rules.current()

    def holding_snapshot(self):
        """A context in which version and timestamp stay as they are: changes from other
        threads wait until it ends (a widget copying the state into its view uses it)."""
        return self._rules.held()

    def set_snapshot(self, version=_UNSET, timestamp=_UNSET, *,
                     allow_expired: bool = True) -> Snapshot:
        """Move the client to a materialization version (its timestamp follows), to live at
        a timestamp (the version becomes None), or, with None, to the newest version.

        The one way version and timestamp change: validated (UnknownVersionError, a typed
        error for a bad time, VersionExpiredError when `allow_expired` is False, else an
        ExpiredVersionWarning) and applied under a lock, so observers and other threads
        always see a version and a timestamp that belong together. Setting the traits
        (`client.version = 3`) comes here too."""
        return self._rules.set(version, timestamp, allow_expired=allow_expired)

    @traitlets.validate("version")
    def _valid_version(self, proposal):
        value = proposal["value"]
        if self._rules.being_applied("version", value):
            return value
        return self.set_snapshot(version=value).version

    @traitlets.validate("timestamp")
    def _valid_timestamp(self, proposal):
        value = proposal["value"]
        if self._rules.being_applied("timestamp", value):
            return value
        return self.set_snapshot(timestamp=value).timestamp


for _spec in SERVICES:
    setattr(CAVEclient, _spec.name, _ServiceProperty(_spec))
del _spec
