"""The auth service: the API under /auth and /sticky_auth, and the demo sign-in flow.

Sign-in follows middle_auth: the sticky authorize route shows a page (here: pick a demo user);
finishing it mints a 7-day login token and either redirects to `redirect` with
`middle_auth_token=` merged into its query, or posts the token to `window.opener`.
"""

from __future__ import annotations

import hmac
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from . import login_pages
from .auth import Token, User, token_record, user_cache_record, user_record
from .context import Call, parse_int, route_options
from .errors import BadRequest, Forbidden, NotFound

AUTH_VERSION = "2.30.3"
COOKIE = "middle_auth_token"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def allowed_redirect(redirect: str, base_url: str) -> bool:
    """Sign-in hands the token to `redirect`: only to this server itself or to a program on
    the person's own machine (a Jupyter server's callback), never to another host."""
    parts = urlsplit(redirect)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    return parts.hostname in LOOPBACK or parts.netloc == urlsplit(base_url).netloc


def _with_query(url: str, extra: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = parse_qs(parts.query, keep_blank_values=True)
    query.update({k: [v] for k, v in extra.items()})
    return urlunsplit(parts._replace(query=urlencode(query, doseq=True)))


def _set_cookie(response: Response, token: str) -> None:
    response.set_cookie(COOKIE, token, httponly=True, samesite="lax", path="/")


def _form(raw: bytes) -> dict[str, str]:
    # A tiny urlencoded parser keeps python-multipart out of the server's dependencies.
    return {k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}


def admin_only(user: User) -> Response | None:
    if not user.admin:
        return PlainTextResponse("Requires admin privilege.", status_code=403)
    return None


def ids_param(call: Call) -> list[int]:
    text = call.query("id", "")
    return [parse_int(p, "id") for p in text.split(",") if p.strip()]


# --- the API ------------------------------------------------------------------------------


@route_options(auth=False)
def version(call: Call):
    return PlainTextResponse(AUTH_VERSION)


@route_options(permission=None)
def me(call: Call):
    return user_record(call.user, full=True)


@route_options(permission=None)
def cache(call: Call):
    return user_cache_record(call.user)


@route_options(permission=None)
def users(call: Call):
    denied = admin_only(call.user)
    if denied:
        return denied
    chosen = list(call.ctx.auth.users.values())
    if call.query("id") is not None:
        wanted = set(ids_param(call))
        chosen = [u for u in chosen if u.id in wanted]
    for key in ("name", "email"):
        if call.query(key):
            chosen = [u for u in chosen if getattr(u, key) == call.query(key)]
    return [user_record(u, full=True) for u in chosen]


@route_options(permission=None)
def usernames(call: Call):
    wanted = set(ids_param(call))
    return [{"id": u.id, "name": u.name} for u in call.ctx.auth.users.values() if u.id in wanted]


@route_options(permission=None)
def group_users(call: Call):
    denied = admin_only(call.user)
    if denied:
        return denied
    group = call.int_path("group_id")
    if group != 1:
        raise NotFound(f"group {group} not found; the demo has group 1 (default)")
    return [{"id": u.id, "name": u.name, "admin": u.admin} for u in call.ctx.auth.users.values()]


@route_options(permission=None)
def list_tokens(call: Call):
    return [token_record(t) for t in call.ctx.auth.tokens_of(call.user.id)]


@route_options(permission=None)
def create_token(call: Call):
    body = call.body if isinstance(call.body, dict) else {}
    description = body.get("description", "")
    if not isinstance(description, str):
        raise BadRequest("description must be text")
    return call.ctx.auth.add_token(call.user.id, "api", description=description).value


@route_options(permission=None)
def delete_token(call: Call):
    token_id = call.int_path("token_id")
    mine = [t for t in call.ctx.auth.tokens_of(call.user.id) if t.id == token_id]
    if not mine:
        raise NotFound(f"you have no token with id {token_id}")
    call.ctx.auth.revoke(mine[0].value)
    return "success"


@route_options(permission=None)
def logout(call: Call):
    _, token = call.ctx.auth.authenticate(call.request, "")
    if token.kind == "login":
        call.ctx.auth.revoke(token.value)
    response = PlainTextResponse("success")
    response.delete_cookie(COOKIE, path="/")
    return response


# --- browser pages --------------------------------------------------------------------------
# Open routes: the visitor may not be signed in yet; who they are comes from the cookie (or a
# token in the URL). Their bodies are HTML forms, not JSON.


def browser_user(call: Call) -> tuple[User, Token] | None:
    request = call.request
    value = request.query_params.get(COOKIE) or request.cookies.get(COOKIE)
    return call.ctx.auth.lookup(value) if value else None


@route_options(auth=False, json_body=False)
def authorize(call: Call):
    request = call.request
    action = f"{call.base_url}/sticky_auth/api/v1/authorize"
    if request.method == "GET":
        redirect = request.query_params.get("redirect")
        if request.headers.get("x-requested-with"):
            # middle_auth answers XHR with the URL to open rather than a redirect.
            return PlainTextResponse(
                action + ("?" + urlencode({"redirect": redirect}) if redirect else "")
            )
        if redirect and not allowed_redirect(redirect, call.base_url):
            raise BadRequest("redirect must go to this server or to this machine (loopback)")
        secret_needed = call.ctx.settings.signin_secret is not None
        return login_pages.sign_in_page(list(call.ctx.auth.users.values()), redirect, action,
                                        secret_needed=secret_needed)
    form = _form(call.raw_body)
    secret = call.ctx.settings.signin_secret
    if secret is not None and not hmac.compare_digest(form.get("secret", ""), secret):
        raise Forbidden("Sign-in needs the secret the server printed when it started "
                        "(it serves beyond this machine).").with_error("bad_secret")
    user_id = parse_int(form.get("user_id", ""), "user_id")
    if user_id not in call.ctx.auth.users:
        raise BadRequest(f"no demo user with id {user_id}")
    redirect = form.get("redirect")
    if redirect and not allowed_redirect(redirect, call.base_url):
        raise BadRequest("redirect must go to this server or to this machine (loopback)")
    token = call.ctx.auth.add_token(user_id, "login", description="browser sign-in").value
    if redirect:
        auth_url = urlsplit(call.base_url).netloc + "/sticky_auth"
        target = _with_query(
            redirect, {"middle_auth_token": token, "middle_auth_url": auth_url, "token": token}
        )
        response: Response = RedirectResponse(target, status_code=302)
    else:
        response = login_pages.token_to_opener_page(token, [call.base_url])
    _set_cookie(response, token)
    return response


def _strip_token(request: Request) -> Response | None:
    """A token arriving in the URL is moved into the cookie and out of the history."""
    value = request.query_params.get(COOKIE)
    if not value:
        return None
    query = {k: v for k, v in request.query_params.items() if k not in (COOKIE, "token")}
    clean = str(request.url.replace(query=urlencode(query)))
    response = RedirectResponse(clean, status_code=302)
    _set_cookie(response, value)
    return response


@route_options(auth=False, json_body=False)
def token_settings(call: Call):
    stripped = _strip_token(call.request)
    if stripped:
        return stripped
    found = browser_user(call)
    here = f"{call.base_url}/sticky_auth/settings/tokens"
    sign_in = f"{call.base_url}/sticky_auth/api/v1/authorize?" + urlencode({"redirect": here})
    if found is None:
        return login_pages.token_settings_page(None, [], None, sign_in, here)
    user = found[0]
    reg = call.ctx.auth
    new = None
    if call.request.method == "POST":
        new = reg.add_token(user.id, "api", description="created on the token page").value
    return login_pages.token_settings_page(user, reg.tokens_of(user.id), new, sign_in, here)


@route_options(auth=False, json_body=False)
def terms(call: Call):
    found = browser_user(call)
    action = str(call.request.url.replace(query=""))
    user = found[0] if found else None
    accepted = False
    if user is not None and call.request.method == "POST":
        user.missing_tos = False
        accepted = True
    return login_pages.terms_page(user, accepted, action)


def _under_auth_and_sticky_auth(*rows):
    # A deployment serves the API twice: under /auth and its session-affine copy /sticky_auth.
    return tuple((methods, prefix + path, handler)
                 for prefix in ("/auth", "/sticky_auth") for methods, path, handler in rows)


ROUTES = (
    ("GET POST", "/sticky_auth/api/v1/authorize", authorize),
    ("GET POST", "/sticky_auth/settings/tokens", token_settings),
    ("GET POST", "/sticky_auth/api/v1/tos/{tos_id}/accept", terms),
    *_under_auth_and_sticky_auth(
        ("GET", "/version", version),
        ("GET", "/api/v1/user/me", me),
        ("GET", "/api/v1/user/cache", cache),
        ("GET", "/api/v1/user", users),
        ("GET", "/api/v1/username", usernames),
        ("GET", "/api/v1/group/{group_id}/user", group_users),
        ("GET", "/api/v1/user/token", list_tokens),
        ("POST", "/api/v1/user/token", create_token),
        ("DELETE", "/api/v1/user/token/{token_id}", delete_token),
        ("GET", "/api/v1/create_token", create_token),
        ("GET", "/api/v1/logout", logout),
    ),
)
