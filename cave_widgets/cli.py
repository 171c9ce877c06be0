"""The `cave-widgets` command."""

from __future__ import annotations

import argparse
import logging
import sys


def _serve(args: argparse.Namespace) -> int:
    if not args.demo:
        print(
            "cave-widgets serve: only the synthetic demo datastack can be served so far; "
            "pass --demo",
            file=sys.stderr,
        )
        return 2
    try:
        from .server.runner import run_forever
    except ImportError as exc:
        print(
            f"cave-widgets serve needs the server extra ({exc.name} is missing): "
            "pip install 'cave_widgets[server]'",
            file=sys.stderr,
        )
        return 2
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"warning: serving on {args.host} makes the demo reachable from other machines",
            file=sys.stderr,
        )
    run_forever(args.scale, args.host, args.port, args.token, args.row_cap)
    return 0


def _build(args: argparse.Namespace) -> int:
    import time

    from .server.demo.build import ensure_demo_database

    started = time.perf_counter()
    path = ensure_demo_database(args.scale)
    print(f"demo data ({args.scale}) ready in {time.perf_counter() - started:.1f} s: {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cave-widgets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the embedded CAVE-compatible server")
    serve.add_argument("--demo", action="store_true", help="serve the synthetic demo datastack")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=0, help="port (default 0: a free one)")
    serve.add_argument(
        "--scale", choices=["small", "default", "large"], default="default",
        help="demo size: ~20 thousand, ~2 million or ~50 million synapses",
    )
    serve.add_argument("--token", help="demo user's token (default: a new random one)")
    serve.add_argument(
        "--row-cap", type=int, default=200_000, help="most rows one query returns (default 200000)"
    )
    serve.set_defaults(func=_serve)

    build = sub.add_parser("build-demo", help="build (or find cached) demo data and exit")
    build.add_argument("--scale", choices=["small", "default", "large"], default="default")
    build.set_defaults(func=_build)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
