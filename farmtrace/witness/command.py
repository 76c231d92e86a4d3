"""``farmtrace witness serve`` (run a C2SP tlog-witness) and ``farmtrace witness key``.

Exit codes: 0 after a clean stop (SIGINT/SIGTERM); 2 when it cannot start (a bad log list, an
unusable key or database, a port in use).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

__all__ = ["register"]

log = logging.getLogger("farmtrace.witness")

EXIT_OK, EXIT_ERROR = 0, 2


def register(sub: Any) -> None:
    """Add ``witness`` to the ``farmtrace`` command."""
    p: argparse.ArgumentParser = sub.add_parser(
        "witness",
        help="run a C2SP tlog-witness that cosigns other logs' checkpoints",
        description="A witness cosigns a log's checkpoint only when it is consistent with the "
        "last one it cosigned for that log. See docs/witness.md.",
    )
    wsub = p.add_subparsers(dest="witness_command", metavar="ACTION", required=True)
    serve = wsub.add_parser("serve", help="answer add-checkpoint and monitoring requests")
    serve.add_argument("--state", required=True, type=Path, metavar="DIR", help="state directory")
    serve.add_argument(
        "--logs",
        required=True,
        type=Path,
        metavar="FILE",
        help="the logs to witness: 'log <verifier key>' lines (farmtrace keys show prints one)",
    )
    serve.add_argument("--name", help="the witness's key name (first start only), e.g. a URL")
    serve.add_argument("--db", metavar="URL", help="state database (sqlite:///STATE/witness.db)")
    serve.add_argument("--host", default="127.0.0.1", help="listen address (127.0.0.1)")
    serve.add_argument("--port", type=int, default=7380, help="listen port (7380; 0: any)")
    serve.add_argument("--prefix", default="", help="URL prefix of both APIs (none)")
    serve.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING"))
    serve.set_defaults(func=run_serve)
    key = wsub.add_parser("key", help="print the witness's verifier key (for tlog-policy files)")
    key.add_argument("--state", required=True, type=Path, metavar="DIR", help="state directory")
    key.add_argument("--name", help="create the key with this name if there is none yet")
    key.set_defaults(func=run_key)


def run_key(args: argparse.Namespace) -> int:
    from farmtrace.store.errors import KeyFileError
    from farmtrace.store.witness_state import load_or_create_cosigner

    try:
        cosigner = load_or_create_cosigner(args.state, args.name)
    except KeyFileError as exc:
        print(f"farmtrace witness key: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(cosigner.verifier.vkey)
    return EXIT_OK


def run_serve(args: argparse.Namespace) -> int:
    from farmtrace.store.errors import StoreError
    from farmtrace.store.witness_state import WitnessState, load_or_create_cosigner
    from farmtrace.witness.core import Witness
    from farmtrace.witness.logs import LogListError, read_log_list
    from farmtrace.witness.server import WitnessServer

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger("farmtrace")
    root.handlers[:] = [handler]
    root.setLevel(args.log_level)
    db_url = args.db or f"sqlite:///{args.state.resolve() / 'witness.db'}"
    try:
        logs = read_log_list(args.logs)
        cosigner = load_or_create_cosigner(args.state, args.name)
        state = WitnessState(db_url)
    except (LogListError, StoreError) as exc:
        print(f"farmtrace witness: {exc}", file=sys.stderr)
        return EXIT_ERROR
    try:
        server = WitnessServer(Witness(cosigner, logs, state), args.host, args.port, args.prefix)
    except OSError as exc:
        state.close()
        print(
            f"farmtrace witness: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr
        )
        return EXIT_ERROR
    log.info("witness %s", cosigner.verifier.vkey)
    log.info("witnessing %s", ", ".join(sorted(logs)))
    log.info("listening on http://%s:%d%s/add-checkpoint", args.host, server.port, args.prefix)
    stop = threading.Event()

    def handle(signum: int, _frame: object) -> None:
        threading.Thread(target=stop.set, daemon=True).start()

    previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    server.start()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
        server.close()
        state.close()
    log.info("stopped")
    return EXIT_OK
