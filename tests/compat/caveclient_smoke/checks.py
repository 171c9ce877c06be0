"""Shared machinery (no checks): CheckFailed, ensure, the check registry, State, need, helpers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from types import SimpleNamespace

import pandas as pd
from smoke_runner import CheckFailed, Checks, ensure  # noqa: F401  (for the sections)

# Tables and the view of the demo datastack this script expects (names only; all ids and
# values come from the server).
SYNAPSES = "synapses"
NUCLEI = "nuclei"
CELL_TYPES = "cell_types"
REFERENCE = "cell_type_ref"
VIEW = "nucleus_types"
EXPIRED_VERSION = 1


CHECKS = Checks()
check = CHECKS.check


class State(SimpleNamespace):
    """What checks hand to later checks. Reading something an earlier check never stored is a
    clear failure of the later check, not an AttributeError."""

    def __getattr__(self, name: str):
        raise CheckFailed(f"needs {name} from an earlier check that failed or did not run")


def need(s: State, *names: str):
    """Values an earlier check stored; a clear failure when that check did not get there."""
    missing = [n for n in names if vars(s).get(n) is None]
    if missing:
        raise CheckFailed(
            f"needs {', '.join(missing)} from an earlier check that failed or did not run"
        )
    values = tuple(getattr(s, n) for n in names)
    return values[0] if len(values) == 1 else values


def http_status(call: Callable) -> tuple[int, str]:
    """Run a call that must fail with an HTTP error; return its status and message."""
    try:
        call()
    except Exception as exc:
        response = getattr(exc, "response", None)
        status = getattr(response, "status_code", None)
        if type(exc).__name__ != "HTTPError" or status is None:
            raise CheckFailed(f"failed with {type(exc).__name__} instead of an HTTP error: "
                              f"{exc}") from None
        return status, str(exc)
    raise CheckFailed("the call succeeded")


def is_int_dtype(series: pd.Series) -> bool:
    return pd.api.types.is_integer_dtype(series.dtype)


def ids_of(df: pd.DataFrame, column: str = "id") -> list[int]:
    return [int(v) for v in df[column].tolist()]


def as_utc(when) -> dt.datetime:
    when = pd.Timestamp(when).to_pydatetime()
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)
