"""The HTTP layer every service client shares: session defaults, retries, token handling and
turning error responses into typed exceptions."""

from __future__ import annotations

import json
import logging
import os
import time
from urllib.parse import quote, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ReadTimeoutError
from urllib3.util.retry import Retry

from . import errors

log = logging.getLogger("cave_widgets.client")

_DEFAULTS = {
    "max_retries": 3,
    "pool_block": False,
    "pool_maxsize": 10,
    "backoff_factor": 0.1,
    "backoff_max": 30,
    "status_forcelist": (429, 502, 503, 504),
    "connect_timeout": 10.0,
    "read_timeout": 600.0,
}
SESSION_DEFAULTS: dict = dict(_DEFAULTS)


def set_session_defaults(max_retries=3, pool_block=False, pool_maxsize=10, backoff_factor=0.1,
                         backoff_max=30, status_forcelist=(429, 502, 503, 504),
                         connect_timeout: float = 10.0, read_timeout: float = 600.0) -> None:
    """Defaults for sessions created from now on; an argument left out is reset to its default
    (as in caveclient). Retries cover connection errors, the statuses in `status_forcelist`,
    and bodies that arrive incomplete, for reads; a `Retry-After` header is honoured but
    capped at `backoff_max` seconds, so the total wait stays below max_retries × backoff_max.
    A server that accepts no connection within `connect_timeout` seconds, or sends nothing
    for `read_timeout` seconds, ends in ServerTimeoutError."""
    for name, value in (("connect_timeout", connect_timeout), ("read_timeout", read_timeout)):
        if not (isinstance(value, (int, float)) and value > 0):
            raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    SESSION_DEFAULTS.update(
        max_retries=max_retries, pool_block=pool_block, pool_maxsize=pool_maxsize,
        backoff_factor=backoff_factor, backoff_max=backoff_max,
        status_forcelist=tuple(status_forcelist), connect_timeout=float(connect_timeout),
        read_timeout=float(read_timeout),
    )


def get_session_defaults() -> dict:
    return SESSION_DEFAULTS


class _BoundedRetry(Retry):
    """urllib3 Retry whose Retry-After waits never exceed backoff_max."""

    def get_retry_after(self, response):
        wait = super().get_retry_after(response)
        if wait is None:
            return None
        return min(wait, self.backoff_max)


class BearerAuth(requests.auth.AuthBase):
    """Adds the token only to requests for the CAVE servers this client talks to, never to
    other hosts (neuroglancer, storage buckets...). Its repr never shows the token."""

    def __init__(self, token: str, hosts: set[str]):
        self._token = token
        self.hosts = hosts

    def __call__(self, r):
        if urlsplit(r.url).netloc in self.hosts:
            r.headers["Authorization"] = f"Bearer {self._token}"
        return r

    def token_for(self, url: str) -> str | None:
        """The token, for a library that sends it itself (CloudVolume), only when `url`
        is one of this client's CAVE servers."""
        return self._token if netloc(url) in self.hosts else None

    def __repr__(self) -> str:
        return f"BearerAuth(hosts={sorted(self.hosts)})"


def make_session(token: str | None, hosts: set[str], *, max_retries=None, pool_maxsize=None,
                 pool_block=None, timeout: tuple[float, float] | None = None
                 ) -> requests.Session:
    d = SESSION_DEFAULTS
    retry = _BoundedRetry(
        total=d["max_retries"] if max_retries is None else max_retries,
        backoff_factor=d["backoff_factor"],
        backoff_max=d["backoff_max"],
        status_forcelist=d["status_forcelist"],
        allowed_methods=frozenset({"GET", "POST"}),
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    adapter = HTTPAdapter(
        pool_maxsize=d["pool_maxsize"] if pool_maxsize is None else pool_maxsize,
        pool_block=d["pool_block"] if pool_block is None else pool_block,
        max_retries=retry,
    )
    session = requests.Session()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    # what request() applies, read from the session so each client may have its own
    session.cave_timeout = timeout or (d["connect_timeout"], d["read_timeout"])
    session.cave_retries = adapter.max_retries.total or 0
    session.cave_backoff = (d["backoff_factor"], d["backoff_max"])
    if token:
        session.auth = BearerAuth(token, hosts)
    _settle_environment(session)
    return session


def _settle_environment(session: requests.Session, environ=None) -> None:
    """requests looks for proxies, a CA bundle and a netrc file in the environment on every
    request, which costs ~0.4 ms per request against a few ms for the whole round trip on a
    near server. When no proxy variable is set and the token is the session's auth (so
    netrc would not be read anyway), the session reads the CA bundle variables once, here,
    and stops asking. With a proxy variable, or no token, everything stays as requests does
    it."""
    environ = os.environ if environ is None else environ
    if session.auth is None or any(k.lower().endswith("_proxy") for k in environ):
        return
    session.trust_env = False
    bundle = environ.get("REQUESTS_CA_BUNDLE") or environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle


def path_segment(name, what: str = "a table name") -> str:
    """`name` as one URL path segment: "../synapses" must not climb the path, "a/b" must
    not add one."""
    if not isinstance(name, str) or not name:
        raise errors.QueryValidationError(f"{what} is a non-empty string, got {name!r}")
    if name in (".", ".."):  # URL normalisation would climb the path with these
        raise errors.QueryValidationError(f"{what} cannot be {name!r}")
    return quote(name, safe="")


def netloc(url: str) -> str:
    return urlsplit(url if "://" in url else f"https://{url}").netloc


# --- responses → typed errors ------------------------------------------------------------------


def _server_message(response: requests.Response) -> tuple[str, dict]:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:500], {}
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or body.get("Error") or body), body
    return str(body), {}


def check(response: requests.Response, *, kind: str = "", token_page: str | None = None,
          log_warning: bool = True) -> requests.Response:
    """Raise the typed error for an error response; log the server's Warning headers.

    `kind` names what was asked for (datastack, table, version) so a 404 becomes the matching
    Unknown...Error. A redirect on an API call means a login page: the token is missing.
    """
    if response.history and response.history[0].is_redirect:
        first = _strip_query(response.history[0].url)
        raise errors.AuthenticationError(
            f"{response.request.method} {first} was redirected, which CAVE "
            "services do when no valid token was sent.",
            status=response.history[0].status_code, url=first,
            action=_login_action(token_page, _sent_token(response.history[0])),
        )
    status = response.status_code
    if status < 400:
        if log_warning:
            for text in warning_texts(response):
                # Row-cap truncation is reported by the query methods (with the total).
                if text and not text.startswith('201 - "Limited query'):
                    log.warning("%s", text)
        return response
    server_message, body = _server_message(response)
    message = server_message.rstrip(".")  # our sentences add their own full stop
    where = f"{response.request.method} {_strip_query(response.url)}"
    common = dict(status=status, url=_strip_query(response.url), server_message=server_message,
                  response=response, data=body.get("data") if isinstance(body, dict) else None)
    error = body.get("error") if isinstance(body, dict) else None
    if status == 401:
        sent = _sent_token(response)
        said = (f"Not signed in: {where} needs a token" if not sent else
                f"{status} from {where}: the server did not accept the token ({message})")
        raise errors.AuthenticationError(
            f"{said}.", action=_login_action(token_page, sent), **common)
    if status == 403 and error == "missing_tos":
        link = (common["data"] or {}).get("tos_form_url")
        raise errors.TermsOfServiceError(
            f"403 from {where}: {message}",
            action=f"Accept the terms of service at {link}, then try again.", **common)
    if status == 403:
        raise errors.PermissionDeniedError(
            f"403 from {where}: {message}.",
            action="Ask the dataset's administrators for access, or sign in as another user.",
            **common)
    if status == 404:
        cls = {"datastack": errors.UnknownDatastackError, "table": errors.UnknownTableError,
               "version": errors.UnknownVersionError}.get(kind, errors.NotFoundError)
        raise cls(f"404 from {where}: {message}", **common)
    if status == 410:
        raise errors.VersionExpiredError(
            f"410 from {where}: {message}",
            action="Pick a valid version (client.materialize.get_versions()) or a timestamp.",
            **common)
    if status == 429:
        raise errors.ServerError(
            f"429 from {where}: {message}", action="The server is rate limiting; wait a "
            "minute and try again, or lower the request rate.", **common)
    if 400 <= status < 500:
        raise errors.InvalidRequestError(f"{status} from {where}: {message}", **common)
    raise errors.ServerError(f"{status} from {where}: {message}", **common)


def warning_texts(response: requests.Response) -> list[str]:
    """Each Warning header line on its own (requests joins repeated headers with ", ")."""
    raw = getattr(response.raw, "headers", None)
    if raw is not None and hasattr(raw, "getlist"):
        return raw.getlist("Warning")
    text = response.headers.get("Warning")
    return [text] if text else []


def _sent_token(response: requests.Response) -> bool:
    return bool(response.request.headers.get("Authorization"))


def _login_action(token_page: str | None, sent: bool = False) -> str:
    again = " again" if sent else ""
    where = f" from {token_page}" if token_page else ""
    return (f"Sign in{again} with cave_widgets.widgets.LoginWidget(client), or save a token"
            f"{where} with client.auth.save_token(token).")


def _strip_query(url: str) -> str:
    # Our URLs never carry a token, but a server may add query strings: show only the path.
    return url.split("?", 1)[0]


def request(session: requests.Session, method: str, url: str, *, kind: str = "",
            token_page: str | None = None, log_warning: bool = True, complete=None,
            idempotent: bool | None = None, **kwargs):
    """Send; return the response once it is an answer and, with `complete`, proven whole.

    Failures become typed errors: an error status (see check), no connection
    (ServerUnreachableError), no answer in time (ServerTimeoutError), a body cut short or
    unreadable (IncompleteResponseError). The session retries connection failures and the
    retryable statuses itself; a body that arrives incomplete is asked for again here, up to
    the session's max_retries, for reads only (`idempotent`: GET, or a POST that reads)."""
    kwargs.setdefault("timeout", getattr(session, "cave_timeout", (10.0, 600.0)))
    idempotent = method in ("GET", "HEAD") if idempotent is None else idempotent
    attempts = 1 + (getattr(session, "cave_retries", 0) if idempotent else 0)
    where = f"{method} {_strip_query(url)}"
    for attempt in range(attempts):
        try:
            response = session.request(method, url, **kwargs)
            check(response, kind=kind, token_page=token_page, log_warning=log_warning)
            if complete is not None:
                complete(response)
            return response
        except (requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError,
                errors.IncompleteResponseError) as exc:
            problem = exc
        except errors.CAVEError:
            raise  # typed already (an error status): the caller's to handle
        except requests.exceptions.RetryError as exc:
            raise errors.ServerError(f"{where} kept failing after retries: {exc.args[0]}",
                                     url=_strip_query(url)) from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            if _timed_out(exc):
                raise errors.ServerTimeoutError(
                    f"{where}: {netloc(url)} did not answer within "
                    f"{_seconds(kwargs['timeout'], exc)} s. It may be busy: try again, narrow "
                    "the query, or allow more time (set_session_defaults(read_timeout=...))."
                ) from None
            raise errors.ServerUnreachableError(
                f"no answer from {netloc(url)} for {where}: {type(exc).__name__}. Check the "
                "server address and your network.") from None
        except requests.RequestException as exc:
            raise errors.ServerError(f"{where} failed: {type(exc).__name__}",
                                     url=_strip_query(url)) from None
        if attempt + 1 < attempts:
            factor, cap = getattr(session, "cave_backoff", (0.1, 30))
            time.sleep(min(cap, factor * 2 ** attempt))
    raise errors.IncompleteResponseError(
        f"{where}: the answer arrived incomplete {attempts} time"
        f"{'s' if attempts > 1 else ''} ({problem}); nothing of it was used. Try again; if it "
        "persists, something between you and the server cuts answers short.",
        url=_strip_query(url)) from None


def _timed_out(exc: Exception) -> bool:
    if isinstance(exc, requests.Timeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, ReadTimeoutError) or "timed out" in str(exc).lower()


def _seconds(timeout, exc) -> str:
    connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    return f"{connect:g}" if isinstance(exc, requests.ConnectTimeout) else f"{read:g}"


def json_of(response: requests.Response):
    try:
        return response.json()
    except ValueError:
        raise errors.ServerError(
            f"{_strip_query(response.url)} answered {response.status_code} with a body that is "
            f"not JSON: {response.text[:200]!r}", url=_strip_query(response.url)) from None


def encode_json(obj) -> bytes:
    """JSON for request bodies: numpy/pandas arrays and scalars, sets and datetimes included;
    64-bit ids stay exact integers."""
    return json.dumps(obj, default=_default).encode()


def _default(o):
    import datetime as _dt

    if type(o).__module__ == "numpy" and getattr(o.dtype, "kind", None) == "M":
        # numpy datetime64: .tolist() of nanosecond values gives bare integers, so go through
        # microseconds, which become datetimes (ISO strings below). pandas' own tolist()
        # already gives Timestamps.
        o = o.astype("datetime64[us]")
    if hasattr(o, "tolist"):  # numpy arrays and scalars, pandas Series/Index/arrays
        return o.tolist()
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    if isinstance(o, (_dt.datetime, _dt.date)):
        return o.isoformat()
    raise TypeError(f"cannot send {type(o).__name__} as JSON: {o!r}")
