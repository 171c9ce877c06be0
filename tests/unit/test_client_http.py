"""The client's HTTP layer (cave_widgets.client.http) without the embedded server: error
responses become typed errors, the Bearer header only goes to CAVE hosts, the token shows up in
no message or repr, request bodies encode numpy/pandas values and 64-bit ids exactly, and the
session retries what it should, against a tiny deliberately failing HTTP server on loopback."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import defaultdict
from datetime import date, datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd
import pytest
import requests

from cave_widgets.client import errors, http
from cave_widgets.client.framework import CAVEclient

TOKEN = "0123456789abcdef0123456789abcdef"
CAVE = "https://cave.example.org"
TOKEN_PAGE = f"{CAVE}/sticky_auth/settings/tokens"


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    # Clients built here must neither read nor write the real ~/.cloudvolume.
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


# --- hand-built responses ------------------------------------------------------------------------


def response(status: int, body=None, *, text: str | None = None, method: str = "GET",
             url: str = f"{CAVE}/info/api/v2/datastack/full/ds?x=1",
             headers: dict | None = None, token: str | None = TOKEN) -> requests.Response:
    """A Response as requests would hand it back, for a request that carried `token`."""
    r = requests.Response()
    r.status_code = status
    r.url = url
    r.reason = "Reason"
    if text is not None:
        r._content = text.encode()
        r.headers["Content-Type"] = "text/plain"
    else:
        r._content = json.dumps(body).encode() if body is not None else b""
        r.headers["Content-Type"] = "application/json"
    r.headers.update(headers or {})
    req_headers = {"Authorization": f"Bearer {token}"} if token else {}
    r.request = requests.Request(method, url, headers=req_headers).prepare()
    return r


def raised(resp: requests.Response, **kwargs) -> Exception:
    with pytest.raises(errors.CAVEError) as info:
        http.check(resp, token_page=TOKEN_PAGE, **kwargs)
    return info.value


def test_success_passes_through():
    resp = response(200, {"ok": True})
    assert http.check(resp) is resp


def test_success_logs_the_warning_header(caplog):
    notice = "Table Owner Notice on cell_type_ref: provisional"
    resp = response(200, [], headers={"Warning": notice})
    with caplog.at_level("WARNING", logger="cave_widgets.client"):
        http.check(resp)
    assert [r.getMessage() for r in caplog.records] == [notice]
    caplog.clear()
    with caplog.at_level("WARNING", logger="cave_widgets.client"):
        http.check(resp, log_warning=False)
    assert not caplog.records


def test_row_cap_warning_is_left_to_the_query_methods(caplog):
    resp = response(200, [], headers={"Warning": '201 - "Limited query to 10 rows'})
    with caplog.at_level("WARNING", logger="cave_widgets.client"):
        http.check(resp)
    assert not caplog.records


def test_401_is_authentication_error_pointing_at_the_token_page():
    err = raised(response(401, {"error": "invalid_token",
                                "message": "Unauthorized - Token is Invalid or Expired"}))
    assert type(err) is errors.AuthenticationError
    assert isinstance(err, requests.HTTPError)
    assert err.status == 401
    assert err.server_message == "Unauthorized - Token is Invalid or Expired"
    assert TOKEN_PAGE in str(err)
    assert "save_token" in str(err)
    assert "Token is Invalid or Expired" in str(err)


def test_401_without_a_token_page_still_says_what_to_do():
    with pytest.raises(errors.AuthenticationError, match="save_token"):
        http.check(response(401, {"error": "no_token", "message": "No Token"}))


def test_403_missing_permission_is_permission_denied():
    body = {"error": "missing_permission", "message": "Missing permission: view for dataset demo",
            "data": {"required_permission": "view", "auth_dataset": "demo"}}
    err = raised(response(403, body))
    assert type(err) is errors.PermissionDeniedError
    assert err.status == 403
    assert err.data == {"required_permission": "view", "auth_dataset": "demo"}
    assert "Missing permission: view for dataset demo" in str(err)
    assert "administrators" in str(err)


def test_403_plain_text_is_permission_denied():
    err = raised(response(403, text="Requires admin privilege."))
    assert type(err) is errors.PermissionDeniedError
    assert err.server_message == "Requires admin privilege."
    assert err.data == {}


def test_403_missing_tos_is_terms_of_service_error_with_the_link():
    link = f"{CAVE}/sticky_auth/api/v1/tos/4/accept"
    body = {"error": "missing_tos",
            "message": "Need to accept Terms of Service to access resource.",
            "data": {"tos_id": 4, "tos_name": "Terms", "tos_form_url": link}}
    err = raised(response(403, body))
    assert type(err) is errors.TermsOfServiceError
    assert isinstance(err, errors.PermissionDeniedError)
    assert err.tos_form_url == link
    assert link in str(err)


@pytest.mark.parametrize("kind, cls", [
    ("datastack", errors.UnknownDatastackError),
    ("table", errors.UnknownTableError),
    ("version", errors.UnknownVersionError),
    ("", errors.NotFoundError),
    ("something else", errors.NotFoundError),
])
def test_404_maps_to_the_unknown_thing(kind, cls):
    err = raised(response(404, {"message": "not here"}), kind=kind)
    assert type(err) is cls
    assert isinstance(err, ValueError)  # as caveclient's lookups
    assert isinstance(err, requests.HTTPError)
    assert err.status == 404
    assert "not here" in str(err)


def test_410_is_version_expired():
    err = raised(response(410, {"message": "version 1 expired"}))
    assert type(err) is errors.VersionExpiredError
    assert isinstance(err, ValueError)
    assert "get_versions" in str(err)


@pytest.mark.parametrize("status", [400, 405, 422])
def test_other_4xx_are_invalid_request(status):
    err = raised(response(status, {"message": "bad filter"}))
    assert type(err) is errors.InvalidRequestError
    assert err.status == status
    assert "bad filter" in str(err)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_are_server_errors_with_the_server_message(status):
    err = raised(response(status, {"code": status, "message": "internal error: boom"}))
    assert type(err) is errors.ServerError
    assert err.status == status
    assert "internal error: boom" in str(err)


def test_error_message_falls_back_to_the_error_code_then_the_body():
    assert raised(response(400, {"error": "bad_auth_header"})).server_message == "bad_auth_header"
    assert "[1, 2]" in raised(response(400, [1, 2])).server_message


def test_error_names_method_and_path_but_not_the_query():
    err = raised(response(404, {"message": "x"}, method="POST",
                          url=f"{CAVE}/materialize/api/v3/q?middle_auth_token=SECRETVALUE"))
    assert f"POST {CAVE}/materialize/api/v3/q" in str(err)
    assert err.url == f"{CAVE}/materialize/api/v3/q"
    assert "SECRETVALUE" not in str(err)


def test_a_followed_redirect_means_no_valid_token():
    first = response(302, text="", url=f"{CAVE}/info/api/v2/datastacks?middle_auth_token=SECRET",
                     headers={"Location": f"{CAVE}/sticky_auth/api/v1/authorize"})
    final = response(200, text="<html>sign in</html>",
                     url=f"{CAVE}/sticky_auth/api/v1/authorize")
    final.history = [first]
    err = raised(final)
    assert type(err) is errors.AuthenticationError
    assert err.status == 302
    assert "redirected" in str(err)
    assert TOKEN_PAGE in str(err)
    assert "SECRET" not in str(err) and "SECRET" not in (err.url or "")


def test_json_of_a_non_json_body_is_a_server_error():
    with pytest.raises(errors.ServerError, match="not JSON"):
        http.json_of(response(200, text="<html>proxy page</html>"))
    assert http.json_of(response(200, {"a": 1})) == {"a": 1}


# --- the token never leaks -------------------------------------------------------------------


@pytest.mark.parametrize("status, body", [
    (401, {"error": "invalid_token", "message": "Unauthorized"}),
    (403, {"error": "missing_permission", "message": "Missing permission"}),
    (403, {"error": "missing_tos", "message": "ToS", "data": {"tos_form_url": "https://x/tos"}}),
    (404, {"message": "nope"}),
    (410, {"message": "expired"}),
    (400, {"message": "bad"}),
    (500, {"message": "boom"}),
])
def test_no_error_shows_the_token(status, body):
    err = raised(response(status, body))
    assert err.response.request.headers["Authorization"] == f"Bearer {TOKEN}"  # it was sent
    for text in (str(err), repr(err), err.args[0], err.action, str(err.url)):
        assert TOKEN not in text


def test_no_client_repr_shows_the_token():
    client = CAVEclient(server_address="http://127.0.0.1:9", auth_token=TOKEN)
    session = client.session
    texts = [repr(client), str(client), repr(client.auth), str(client.auth), repr(client.info),
             repr(client.schema), repr(session.auth), repr(client.trait_values()),
             repr(client.auth.token_file)]
    for text in texts:
        assert TOKEN not in text, text
    assert not any("token" in name for name in client.trait_names())
    assert client.auth.token == TOKEN  # present, just never shown
    assert client.auth.request_header == {"Authorization": f"Bearer {TOKEN}"}


def test_unreachable_error_does_not_show_the_token():
    session = http.make_session(TOKEN, {f"127.0.0.1:{free_port()}"}, max_retries=0)
    with pytest.raises(errors.ServerUnreachableError) as info:
        http.request(session, "GET", f"http://127.0.0.1:{free_port()}/x")
    assert TOKEN not in str(info.value) and TOKEN not in repr(info.value)


# --- where the Bearer header goes ----------------------------------------------------------------


def prepared_headers(session: requests.Session, url: str) -> dict:
    return dict(session.prepare_request(requests.Request("GET", url)).headers)


def test_bearer_goes_only_to_configured_hosts():
    session = http.make_session(TOKEN, {"cave.example.org", "local.example.org:8443"})
    assert prepared_headers(session, f"{CAVE}/info/api/v2/datastacks")["Authorization"] == (
        f"Bearer {TOKEN}")
    assert prepared_headers(session, "https://local.example.org:8443/materialize")[
        "Authorization"] == f"Bearer {TOKEN}"
    for url in ("https://storage.googleapis.com/bucket/info",
                "https://neuroglancer-demo.appspot.com/version.json",
                "https://cave.example.org.evil.com/x",
                "https://cave.example.org:8443/x",  # another port is another host
                "https://local.example.org/x"):
        assert "Authorization" not in prepared_headers(session, url), url


def test_no_token_no_header_and_no_cookie():
    session = http.make_session(None, {"cave.example.org"})
    assert "Authorization" not in prepared_headers(session, f"{CAVE}/x")
    assert session.auth is None
    assert not session.cookies


def test_token_never_travels_as_a_cookie_or_query():
    session = http.make_session(TOKEN, {"cave.example.org"})
    prepared = session.prepare_request(requests.Request("GET", f"{CAVE}/x"))
    assert not session.cookies
    assert TOKEN not in prepared.url
    assert "Cookie" not in prepared.headers


def test_a_client_trusts_its_server_and_its_datastacks_local_server():
    info = {"ds": {"local_server": "https://local.example.org", "aligned_volume": {"name": "v"}}}
    client = CAVEclient("ds", server_address=CAVE, auth_token=TOKEN, info_cache=info,
                        write_server_cache=False)
    assert client.session.auth.hosts == {"cave.example.org", "local.example.org"}
    assert "Authorization" in prepared_headers(client.session, "https://local.example.org/m")
    assert "Authorization" not in prepared_headers(client.session, "https://other.example.org/m")


# --- JSON request bodies ---------------------------------------------------------------------


def decoded(obj):
    return json.loads(http.encode_json(obj))


def test_64_bit_ids_stay_exact():
    big = 2**64 - 1
    root = 864691135000000123  # > 2**53: a double would round it
    assert decoded(np.uint64(big)) == big
    assert decoded(np.int64(root)) == root
    assert decoded(np.array([root, big], dtype=np.uint64)) == [root, big]
    assert decoded(pd.Series([root, root + 1], dtype="int64")) == [root, root + 1]
    assert decoded(pd.Index(np.array([big], dtype=np.uint64))) == [big]
    assert decoded({"ids": [np.uint64(root)]}) == {"ids": [root]}
    assert b"864691135000000123" in http.encode_json([np.uint64(root)])


def test_numpy_and_pandas_values():
    assert decoded(np.float32(1.5)) == 1.5
    assert decoded(np.float64(2.25)) == 2.25
    assert decoded(np.bool_(True)) is True
    assert decoded(np.array([[1, 2], [3, 4]])) == [[1, 2], [3, 4]]
    assert decoded(pd.array([1, 2], dtype="Int64")) == [1, 2]
    assert decoded(pd.Series(["a", "b"])) == ["a", "b"]


def test_sets_tuples_and_dates():
    assert sorted(decoded({3, 1, 2})) == [1, 2, 3]
    assert decoded(frozenset({"x"})) == ["x"]
    assert decoded((1, 2)) == [1, 2]
    assert decoded(date(2024, 6, 1)) == "2024-06-01"
    assert decoded(datetime(2024, 6, 1, 12, tzinfo=timezone.utc)) == "2024-06-01T12:00:00+00:00"
    assert decoded(pd.Timestamp("2024-06-01T12:00:00Z")) == "2024-06-01T12:00:00+00:00"


def test_numpy_datetimes_become_iso_strings_not_integers():
    assert decoded(np.datetime64("2024-06-01T12:00:00.123456789", "ns")) == (
        "2024-06-01T12:00:00.123456")
    assert decoded(np.array(["2024-06-01", "2024-06-02"], dtype="datetime64[ns]")) == [
        "2024-06-01T00:00:00", "2024-06-02T00:00:00"]
    assert decoded(np.datetime64("NaT")) is None


def test_unencodable_values_say_what_they_are():
    with pytest.raises(TypeError, match="cannot send object"):
        http.encode_json({"x": object()})


# --- retries, against a deliberately failing local server ------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Flaky:
    """A tiny HTTP server on 127.0.0.1: each path answers from a script of (status, headers)
    steps, the last step repeating; every request is recorded with its arrival time."""

    def __init__(self, scripts: dict[str, list[tuple[int, dict]]]):
        self.scripts = scripts
        self.seen: dict[str, list[tuple[str, float]]] = defaultdict(list)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                path = self.path.split("?", 1)[0]
                calls = owner.seen[path]
                calls.append((self.command, time.monotonic()))
                script = owner.scripts.get(path, [(404, {})])
                status, headers = script[min(len(calls), len(script)) - 1]
                body = json.dumps({"message": f"scripted {status}"} if status >= 400
                                  else {"ok": True, "attempt": len(calls)}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_DELETE = do_PUT = _answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)

    def count(self, path: str) -> int:
        return len(self.seen[path])


@pytest.fixture()
def restore_session_defaults():
    saved = dict(http.get_session_defaults())
    try:
        yield
    finally:
        http.set_session_defaults(**saved)
    assert http.get_session_defaults() == saved


def session_for(server: Flaky, **kwargs) -> requests.Session:
    return http.make_session(TOKEN, {server.url.split("://")[1]}, **kwargs)


OK = (200, {})


def test_503_twice_then_200_succeeds_after_three_requests():
    with Flaky({"/x": [(503, {}), (503, {}), OK]}) as server:
        r = http.request(session_for(server), "GET", f"{server.url}/x")
        assert r.status_code == 200
        assert r.json() == {"ok": True, "attempt": 3}
        assert server.count("/x") == 3


def test_429_honours_retry_after():
    with Flaky({"/x": [(429, {"Retry-After": "1"}), OK]}) as server:
        started = time.monotonic()
        r = http.request(session_for(server), "GET", f"{server.url}/x")
        assert r.status_code == 200
        assert server.count("/x") == 2
        (_, first), (_, second) = server.seen["/x"]
        assert second - first >= 1.0
        assert time.monotonic() - started >= 1.0


def test_retry_after_is_capped_at_backoff_max(restore_session_defaults):
    http.set_session_defaults(backoff_max=0.5)
    assert http.get_session_defaults()["backoff_max"] == 0.5
    with Flaky({"/x": [(503, {"Retry-After": "3600"}), OK]}) as server:
        result = {}
        session = session_for(server)
        # In a thread, so an uncapped wait fails this test in seconds rather than an hour.
        worker = threading.Thread(
            target=lambda: result.update(r=http.request(session, "GET", f"{server.url}/x")),
            daemon=True)
        worker.start()
        worker.join(30)
        assert not worker.is_alive(), "Retry-After: 3600 was not capped at backoff_max"
        assert result["r"].status_code == 200
        assert server.count("/x") == 2
        (_, first), (_, second) = server.seen["/x"]
        assert second - first >= 0.4  # it did wait, about backoff_max


def test_persistent_502_is_a_server_error_after_max_retries_plus_one_attempts():
    with Flaky({"/x": [(502, {})]}) as server:
        with pytest.raises(errors.ServerError) as info:
            http.request(session_for(server), "GET", f"{server.url}/x")
        assert server.count("/x") == http.get_session_defaults()["max_retries"] + 1 == 4
        assert info.value.status == 502
        assert "scripted 502" in str(info.value)


def test_per_session_max_retries():
    with Flaky({"/x": [(504, {})]}) as server:
        with pytest.raises(errors.ServerError):
            http.request(session_for(server, max_retries=1), "GET", f"{server.url}/x")
        assert server.count("/x") == 2


def test_set_session_defaults_changes_new_sessions(restore_session_defaults):
    http.set_session_defaults(max_retries=1, status_forcelist=(500,))
    assert http.get_session_defaults()["max_retries"] == 1
    with Flaky({"/a": [(500, {})], "/b": [(503, {}), OK]}) as server:
        session = session_for(server)
        with pytest.raises(errors.ServerError):
            http.request(session, "GET", f"{server.url}/a")
        assert server.count("/a") == 2
        with pytest.raises(errors.ServerError):  # 503 is no longer retried
            http.request(session, "GET", f"{server.url}/b")
        assert server.count("/b") == 1


def test_set_session_defaults_resets_what_is_left_out(restore_session_defaults):
    http.set_session_defaults(max_retries=9, pool_maxsize=3)
    http.set_session_defaults(pool_maxsize=4)
    d = http.get_session_defaults()
    assert (d["max_retries"], d["pool_maxsize"]) == (3, 4)


def test_connection_refused_is_server_unreachable():
    port = free_port()  # closed again: nothing listens there
    session = http.make_session(TOKEN, {f"127.0.0.1:{port}"}, max_retries=1)
    with pytest.raises(errors.ServerUnreachableError) as info:
        http.request(session, "GET", f"http://127.0.0.1:{port}/info/version")
    assert isinstance(info.value, requests.ConnectionError)
    assert f"127.0.0.1:{port}" in str(info.value)
    assert "Check the server address" in str(info.value)


def test_post_is_retried():
    with Flaky({"/q": [(503, {}), OK]}) as server:
        r = http.request(session_for(server), "POST", f"{server.url}/q",
                         data=http.encode_json({"a": 1}),
                         headers={"Content-Type": "application/json"})
        assert r.status_code == 200
        assert [m for m, _ in server.seen["/q"]] == ["POST", "POST"]


@pytest.mark.parametrize("method", ["DELETE", "PUT"])
def test_delete_and_put_are_not_retried_on_503(method):
    with Flaky({"/t": [(503, {}), OK]}) as server:
        with pytest.raises(errors.ServerError) as info:
            http.request(session_for(server), method, f"{server.url}/t")
        assert server.count("/t") == 1
        assert info.value.status == 503


def test_4xx_is_not_retried():
    with Flaky({"/t": [(404, {}), OK]}) as server:
        with pytest.raises(errors.NotFoundError):
            http.request(session_for(server), "GET", f"{server.url}/t")
        assert server.count("/t") == 1


def test_bearer_header_reaches_the_server_only_when_configured():
    seen_headers = []
    with Flaky({"/h": [OK]}) as server:
        original = server.server.RequestHandlerClass._answer

        def recording(handler):
            seen_headers.append(handler.headers.get("Authorization"))
            original(handler)

        server.server.RequestHandlerClass.do_GET = recording
        host = server.url.split("://")[1]
        http.request(http.make_session(TOKEN, {host}), "GET", f"{server.url}/h")
        http.request(http.make_session(TOKEN, {"elsewhere.org"}), "GET", f"{server.url}/h")
    assert seen_headers == [f"Bearer {TOKEN}", None]


def test_bearer_header_is_not_carried_across_a_redirect_to_another_host():
    seen_headers = {}
    with Flaky({"/h": [OK]}) as server:
        port = server.url.rsplit(":", 1)[1]
        # Same server, another host name: a different host as far as the token goes.
        server.scripts["/r"] = [(302, {"Location": f"http://localhost:{port}/h"})]
        original = server.server.RequestHandlerClass._answer

        def recording(handler):
            seen_headers[handler.path] = handler.headers.get("Authorization")
            original(handler)

        server.server.RequestHandlerClass.do_GET = recording
        session = session_for(server)
        r = session.get(f"{server.url}/r", timeout=10)
        assert r.status_code == 200 and r.history
        with pytest.raises(errors.AuthenticationError, match="redirected"):
            http.check(r)
    assert seen_headers == {"/r": f"Bearer {TOKEN}", "/h": None}


def test_session_reads_the_environment_once_when_no_proxy_is_set():
    session = requests.Session()
    session.auth = http.BearerAuth("f" * 32, {"h"})
    http._settle_environment(session, {"REQUESTS_CA_BUNDLE": "/etc/ca.pem", "HOME": "/root"})
    assert session.trust_env is False and session.verify == "/etc/ca.pem"


@pytest.mark.parametrize("environ", [{"HTTPS_PROXY": "http://p:3128"}, {"no_proxy": "x"},
                                     {"all_proxy": "socks5://p"}])
def test_session_leaves_proxies_to_requests(environ):
    session = requests.Session()
    session.auth = http.BearerAuth("f" * 32, {"h"})
    http._settle_environment(session, environ)
    assert session.trust_env is True and session.verify is True


def test_session_without_a_token_keeps_reading_netrc():
    session = requests.Session()
    http._settle_environment(session, {})
    assert session.trust_env is True
