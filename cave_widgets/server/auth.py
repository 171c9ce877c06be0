"""Users, tokens and permission checks, behaving like middle_auth and middle_auth_client.

A token is taken from the Authorization header (``Bearer``), then the ``middle_auth_token``
query parameter, then the cookie of that name. API calls never redirect: a missing or unknown
token is a 401 with the real JSON body, a missing permission a 403.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime

from starlette.requests import Request

from .errors import BadRequest, Forbidden, Unauthorized

DATASET = "demo"  # the auth dataset the demo datastack, volume and PCG table belong to
LOGIN_TOKEN_TTL = 7 * 24 * 3600.0


@dataclass
class User:
    id: int
    name: str
    email: str
    admin: bool = False
    permissions: tuple[str, ...] = ("view",)  # on DATASET
    missing_tos: bool = False  # has the permissions, but has not signed the terms of service
    pi: str = ""
    affiliation: str = "Demo Institute"
    created: datetime = field(default_factory=lambda: datetime(2024, 1, 15, tzinfo=timezone.utc))


@dataclass
class Token:
    value: str
    user_id: int
    kind: str  # "api" (long-lived key) or "login" (7-day browser login)
    id: int
    description: str = ""
    created: float = field(default_factory=time.time)
    expires: float | None = None
    last_used: float | None = None


def new_token_value() -> str:
    return secrets.token_hex(16)  # 32 lowercase hex characters, like the real auth server


def default_users() -> list[User]:
    # The demo user holds exactly what caveclient's calls need: view (reads), edit (merge, split,
    # undo/redo, remesh) and admin_view (PCG's /user_operations); no other dataset permission.
    return [
        User(1, "Demo User", "demo@example.org", admin=True,
             permissions=("view", "edit", "admin_view")),
        User(2, "Guest User", "guest@example.org", permissions=()),
        User(3, "New User", "new@example.org", missing_tos=True),
    ]


class AuthRegistry:
    def __init__(self, users: list[User], tokens: dict[int, str]):
        """`tokens` gives each user id one initial API key."""
        self.users = {u.id: u for u in users}
        self._tokens: dict[str, Token] = {}
        self._lock = threading.Lock()
        self._next_id = 1
        for user_id, value in tokens.items():
            self.add_token(user_id, "api", value=value, description="initial demo key")

    def add_token(self, user_id: int, kind: str, value: str | None = None, description=""):
        with self._lock:
            token = Token(
                value or new_token_value(), user_id, kind, self._next_id, description
            )
            if kind == "login":
                token.expires = token.created + LOGIN_TOKEN_TTL
            self._next_id += 1
            self._tokens[token.value] = token
        return token

    def tokens_of(self, user_id: int) -> list[Token]:
        return [t for t in self._tokens.values() if t.user_id == user_id and t.kind == "api"]

    def revoke(self, value: str) -> None:
        with self._lock:
            self._tokens.pop(value, None)

    def lookup(self, value: str) -> tuple[User, Token] | None:
        token = self._tokens.get(value)
        if token is None or (token.expires is not None and token.expires < time.time()):
            return None
        token.last_used = time.time()
        return self.users[token.user_id], token

    # --- per request --------------------------------------------------------------------

    def authenticate(self, request: Request, realm: str) -> tuple[User, Token]:
        header = request.headers.get("authorization")
        if header is not None:
            if not header.startswith("Bearer "):
                raise BadRequest(
                    "Authorization header must begin with 'Bearer'",
                    headers={"WWW-Authenticate":
                             f'Bearer realm="{realm}", error="invalid_request"'},
                ).with_error("bad_auth_header")
            value = header[len("Bearer "):].strip()
        else:
            value = request.query_params.get("middle_auth_token") or request.cookies.get(
                "middle_auth_token"
            )
        if not value:
            raise Unauthorized(
                "Unauthorized - No Token Provided",
                headers={"WWW-Authenticate": f'Bearer realm="{realm}"'},
            ).with_error("no_token")
        found = self.lookup(value)
        if found is None:
            raise Unauthorized(
                "Unauthorized - Token is Invalid or Expired",
                headers={
                    "WWW-Authenticate": f'Bearer realm="{realm}", error="invalid_token", '
                    'error_description="Invalid/Expired Token"'
                },
            ).with_error("invalid_token")
        return found

    def require(self, user: User, permission: str, tos_form_url: str) -> None:
        if permission in user.permissions and not user.missing_tos:
            return
        if user.missing_tos:
            raise Forbidden(
                "Need to accept Terms of Service to access resource.",
                data={"tos_id": 1, "tos_name": "Demo terms of service",
                      "tos_form_url": tos_form_url},
            ).with_error("missing_tos")
        raise Forbidden(
            f"Missing permission: {permission} for dataset {DATASET}",
            data={"required_permission": permission, "auth_dataset": DATASET},
        ).with_error("missing_permission")


def user_cache_record(user: User) -> dict:
    """The body of /auth/api/v1/user/cache: who the token belongs to and what they may do."""
    granted = [] if user.missing_tos else list(user.permissions)
    return {
        "id": user.id,
        "parent_id": None,
        "service_account": False,
        "name": user.name,
        "email": user.email,
        "admin": user.admin,
        "pi": user.pi,
        "affiliations": [{"id": 1, "name": user.affiliation}],
        "groups": ["default"] + (["demo_admins"] if user.admin else []),
        "permissions": {DATASET: 2 if "edit" in granted else 1 if granted else 0},
        "permissions_v2": {DATASET: granted},
        "permissions_v2_ignore_tos": {DATASET: list(user.permissions)},
        "missing_tos": (
            [{"dataset_id": 1, "dataset_name": DATASET, "tos_id": 1,
              "tos_name": "Demo terms of service"}]
            if user.missing_tos
            else []
        ),
        "datasets_admin": [DATASET] if user.admin else [],
        "groups_admin": ["demo_admins"] if user.admin else [],
    }


def user_record(user: User, full: bool) -> dict:
    record = {
        "id": user.id,
        "service_account": False,
        "name": user.name,
        "created": format_datetime(user.created, usegmt=True),
        "pi": user.pi,
        "affiliations": [[{"id": 1, "name": user.affiliation}]],  # the real nesting quirk
    }
    if full:
        record.update(
            email=user.email,
            admin=user.admin,
            gdpr_consent=True,
            admin_datasets=[{"id": 1, "name": DATASET}] if user.admin else [],
        )
    return record


def token_record(token: Token) -> dict:
    def iso(t):
        return None if t is None else datetime.fromtimestamp(t, timezone.utc).isoformat()

    return {
        "id": token.id,
        "user_id": token.user_id,
        "token": token.value,
        "description": token.description,
        "created": iso(token.created),
        "updated": iso(token.created),
        "last_used": iso(token.last_used),
    }
