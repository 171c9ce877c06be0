"""What every compatibility smoke script shares: a failed check, the ordered list of checks,
the token from the environment and the loop that runs the checks and prints one line each.
The scripts run in throwaway environments, so this module needs the standard library only.

Output, which the integration tests read: ``PASS name (s)`` or ``FAIL name: reason`` per
check, then ``N passed, M failed``. Tokens never reach the output.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterable

TOKEN_ENV = "CAVE_DEMO_TOKEN"


class CheckFailed(AssertionError):
    pass


def ensure(condition, message: str) -> None:
    """Like assert, but survives python -O and always carries a message."""
    if not condition:
        raise CheckFailed(message)


class Checks(list):
    """(name, function) pairs, in the order they run."""

    def check(self, name: str):
        def register(fn: Callable) -> Callable:
            self.append((name, fn))
            return fn

        return register


def server_arguments(description: str | None = None, *,
                     repo: bool = False) -> argparse.ArgumentParser:
    """A parser with the server to test (--url, --datastack) and, for scripts that drive
    cave_widgets' client too, --repo (the checkout to import it from)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--url", required=True, help="server address, e.g. http://127.0.0.1:8000")
    parser.add_argument("--datastack", required=True, help="datastack name, e.g. demo_local")
    if repo:
        parser.add_argument("--repo", required=True, help="the cave_widgets repository to import")
    return parser


def token_from_env(name: str = TOKEN_ENV) -> str | None:
    """The token, which is never accepted on the command line; None (and a line on stderr)
    when it is missing."""
    token = os.environ.get(name)
    if not token:
        print(f"set {name} to the token to use (it is not accepted on the command line)",
              file=sys.stderr)
    return token


def run_checks(checks: Iterable[tuple[str, Callable]], state, secrets: Iterable[str | None],
               *, verbose: bool = False, stop_at_first_failure: bool = False,
               traceback_limit: int | None = None) -> int:
    """Run each check on `state`; the exit status (1 when one failed). A traceback is printed
    for unexpected errors, or for every failure when `verbose`."""
    secrets = [s for s in secrets if s]

    def hidden(text: str) -> str:
        for secret in secrets:
            text = text.replace(secret, "<token>")
        return text

    passed = failed = 0
    for name, fn in checks:
        started = time.perf_counter()
        try:
            fn(state)
        except Exception as exc:  # each check reports
            failed += 1
            reason = hidden(" ".join(f"{type(exc).__name__}: {exc}".split()))
            print(f"FAIL {name}: {reason[:2000]}", flush=True)
            if verbose or not isinstance(exc, CheckFailed):
                print(hidden(traceback.format_exc(limit=traceback_limit)), flush=True)
            if stop_at_first_failure:
                break
        else:
            passed += 1
            print(f"PASS {name} ({time.perf_counter() - started:.2f} s)", flush=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0
