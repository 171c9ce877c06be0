"""Compatibility smoke test: drive the real, unmodified ``caveclient`` (8.x) against a
CAVE-compatible server and check that every call it makes returns sensible results.

Standalone on purpose: it imports only caveclient, numpy, pandas and the standard library, so
it runs in a throwaway virtualenv that has caveclient's own pins (pandas<3) and no
cave_widgets. The token is read from the environment variable CAVE_DEMO_TOKEN so it never
appears in process lists or logs.

    cd tests/compat  # or PYTHONPATH=tests/compat
    CAVE_DEMO_TOKEN=... python -m caveclient_smoke --url http://127.0.0.1:8000 \
        --datastack demo_local

Prints one line per check (``PASS name`` / ``FAIL name: reason``), then ``N passed, M failed``;
the exit status is 1 when any check failed (2 for bad usage).

Ids, timestamps and column values are never hard-coded: each check takes them from the
results of earlier checks (e.g. root ids from the synapse table), and filters are verified
against a full download of the same table filtered with pandas.
"""

from __future__ import annotations

import importlib
import os
import sys

import numpy as np
import pandas as pd
from smoke_runner import run_checks, server_arguments, token_from_env

from .checks import CHECKS, State

EDIT_TOKEN_ENV = "CAVE_DEMO_EDIT_TOKEN"

# The sections register their checks on import, so this order is the order they run in.
SECTIONS = ("info", "materialize", "views", "live", "auth", "chunkedgraph",
            "chunkedgraph_reads", "edits")
for _section in SECTIONS:
    importlib.import_module(f".{_section}", __package__)


def main(argv=None) -> int:
    parser = server_arguments(__doc__.split("\n\n")[0])
    parser.add_argument("--edit-url", default=None,
                        help="a second server the edit checks may change (its token in "
                             f"{EDIT_TOKEN_ENV}); without it they do not run")
    parser.add_argument("--only", action="append", default=[],
                        help="run only checks whose name contains this text (repeatable)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print tracebacks of failures")
    args = parser.parse_args(argv)
    token = token_from_env()
    if not token:
        return 2

    import caveclient

    print(f"caveclient {caveclient.__version__}, pandas {pd.__version__}, numpy {np.__version__}",
          flush=True)
    edit_token = os.environ.get(EDIT_TOKEN_ENV)
    if args.edit_url and not edit_token:
        print(f"--edit-url needs {EDIT_TOKEN_ENV}", file=sys.stderr)
        return 2
    s = State(url=args.url.rstrip("/"), datastack=args.datastack, token=token,
              edit_url=(args.edit_url or "").rstrip("/") or None, edit_token=edit_token)
    chosen = [(name, fn) for name, fn in CHECKS
              if (not args.only or name == "construct_client"
                  or any(o in name for o in args.only))
              and (s.edit_url or not name.startswith("edit:"))]
    return run_checks(chosen, s, [token, edit_token], verbose=args.verbose)


if __name__ == "__main__":
    sys.exit(main())
