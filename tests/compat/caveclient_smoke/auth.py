"""The auth service: user information and tokens."""

from __future__ import annotations

from .checks import (
    check,
    ensure,
)

# --------------------------------------------------------------------------------------
# auth
# --------------------------------------------------------------------------------------


@check("auth.get_user_information")
def _(s):
    users = s.client.auth.get_user_information([1])
    ensure(isinstance(users, list) and len(users) == 1, f"expected one user, got {users!r}")
    ensure(users[0]["id"] == 1, f"id {users[0].get('id')!r}")
    ensure(isinstance(users[0].get("name"), str) and users[0]["name"],
           f"name {users[0].get('name')!r}")


@check("auth.get_tokens")
def _(s):
    tokens = s.client.auth.get_tokens()
    ensure(isinstance(tokens, list) and tokens,
           f"expected a non-empty list, got {type(tokens).__name__}")
    ensure(all("id" in t and "user_id" in t for t in tokens), "token records lack id/user_id")
    ensure(any(t.get("token") == s.token for t in tokens), "the client's own token is not listed")
