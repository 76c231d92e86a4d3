"""``farmtrace gateway`` (run the ingest) and ``farmtrace devices`` (the device registry).

Exit codes: 0 after a clean stop; 1 when ingest stopped on an error after starting; 2 when it
could not start (bad arguments, a database it cannot open, a broker refusing us).
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from farmtrace import failpoints
from farmtrace.gateway.ingest import devices_command
from farmtrace.gateway.ingest.broker_login import BrokerLogin, resolve_broker_login
from farmtrace.gateway.ingest.config import IngestConfig, parse_broker_url
from farmtrace.gateway.ingest.errors import IngestError
from farmtrace.gateway.ingest.identity import resolve_identity
from farmtrace.gateway.ingest.quarantine_bounds import (
    DEFAULT_BYTES_PER_HOUR,
    DEFAULT_DEVICE_ROWS_PER_MINUTE,
    DEFAULT_KEEP_BYTES,
    QuarantineLimits,
)
from farmtrace.gateway.ingest.status import StatusLine, TerminalLogHandler

__all__ = ["GC_THRESHOLDS", "parse_seconds", "register", "tune_garbage_collector"]

log = logging.getLogger("farmtrace.gateway")

EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2
GC_THRESHOLDS = (50_000, 50, 100)
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_seconds(text: str) -> float:
    """``1.5``, ``500ms``, ``30s``, ``10m``, ``2h`` or ``7d`` as seconds (not negative)."""
    raw = text.strip()
    unit = next((u for u in ("ms", "s", "m", "h", "d") if raw.endswith(u)), "")
    try:
        value = float(raw[: len(raw) - len(unit)]) * _UNITS.get(unit, 1.0)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration such as 1.5, 30s or 7d"
        ) from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: must be a finite, non-negative duration")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def register(sub: Any) -> None:
    """Add ``gateway`` and ``devices`` to the ``farmtrace`` command."""
    p: argparse.ArgumentParser = sub.add_parser(
        "gateway",
        help="verify signed readings from MQTT and append them to the chain",
        description="Subscribe (QoS 1, persistent MQTT 5 session) to farm/+/+/reading, verify "
        "each reading, commit batches as blocks, acknowledge only after the commit, publish "
        "each device's commit watermark. See docs/gateway.md.",
    )
    p.add_argument(
        "--broker",
        required=True,
        metavar="URL",
        help="mqtt://HOST:PORT or mqtts://HOST:PORT; the login from --broker-credentials or "
        "GATEWAY_MQTT_USER/GATEWAY_MQTT_PASSWORD (a USER:PW@ here is visible to `ps`)",
    )
    p.add_argument(
        "--broker-credentials",
        type=Path,
        metavar="FILE",
        help="the broker login as in the gateway.env of `farmtrace broker files` "
        "(GATEWAY_MQTT_USER=, GATEWAY_MQTT_PASSWORD=; mode 0600)",
    )
    p.add_argument("--state", required=True, type=Path, metavar="DIR", help="state directory")
    p.add_argument("--db", metavar="URL", help="database (default: sqlite:///STATE/farmtrace.db)")
    p.add_argument("--gateway-id", metavar="ID", help="stable ID (first run only; default random)")
    p.add_argument("--origin", help="chain origin (first run only; farmtrace.example/<ID>)")
    p.add_argument(
        "--share-group", metavar="NAME", help="subscribe as $share/NAME/... (N gateways)"
    )
    p.add_argument("--ca-file", type=Path, metavar="PEM", help="CA certificates for mqtts://")
    p.add_argument(
        "--db-lock-timeout",
        type=parse_seconds,
        default=30.0,
        help="how long a database statement waits for a lock another session holds before the "
        "commit is reported as failed and retried (30s)",
    )
    p.add_argument("--batch-size", type=_positive_int, default=5000, help="readings (5000)")
    p.add_argument("--batch-age", type=parse_seconds, default=1.0, help="seconds (1.0)")
    p.add_argument(
        "--receive-maximum",
        type=_positive_int,
        help="MQTT receive window (default: 2 x batch size, at least batch size + 1000)",
    )
    p.add_argument("--session-expiry", type=parse_seconds, default=7 * 86400.0, help="(7d)")
    p.add_argument("--max-future", type=parse_seconds, default=600.0, help="clock skew (10m)")
    p.add_argument("--max-age", type=parse_seconds, default=7 * 86400.0, help="oldest (7d)")
    p.add_argument(
        "--replay-grace",
        type=parse_seconds,
        default=30.0,
        help="how long after a watermark's publication a copy still counts as a resend (30s)",
    )
    p.add_argument(
        "--silence-factor",
        type=float,
        default=3.0,
        help="a device is silent after this many of its usual intervals unheard (3)",
    )
    p.add_argument(
        "--silence-min",
        type=parse_seconds,
        default=5.0,
        help="but never sooner than this; time the gateway could not listen does not count (5s)",
    )
    p.add_argument("--registry-refresh", type=parse_seconds, default=2.0, help="(2s)")
    p.add_argument(
        "--verify-threads",
        type=_positive_int,
        help="signature-check threads (default: every core)",
    )
    p.add_argument(
        "--quarantine-keep-bytes",
        type=_count,
        default=DEFAULT_KEEP_BYTES,
        metavar="N",
        help="payload bytes kept of a rejected message; the rest summarised by size and SHA-256 "
        f"({DEFAULT_KEEP_BYTES})",
    )
    p.add_argument(
        "--quarantine-device-rate",
        type=_count,
        default=DEFAULT_DEVICE_ROWS_PER_MINUTE,
        metavar="ROWS",
        help="rejected messages stored per minute for the device a topic names; past it they are "
        f"only counted ({DEFAULT_DEVICE_ROWS_PER_MINUTE})",
    )
    p.add_argument(
        "--quarantine-hourly-bytes",
        type=_count,
        default=DEFAULT_BYTES_PER_HOUR,
        metavar="BYTES",
        help="bytes the quarantine may grow per hour, all devices together; past it rejected "
        f"messages are only counted ({DEFAULT_BYTES_PER_HOUR}, 16 MiB)",
    )
    p.add_argument(
        "--witnesses",
        type=Path,
        metavar="FILE",
        help="send each checkpoint to the witnesses of this tlog-policy file's "
        "'witness <name> <vkey> <url>' lines (docs/witness.md)",
    )
    p.add_argument("--metrics-port", type=int, metavar="PORT", help="serve /metrics (0: any)")
    p.add_argument("--metrics-host", default="127.0.0.1", help="metrics address (127.0.0.1)")
    p.add_argument("--report", type=Path, metavar="FILE", help="write a JSON run report at exit")
    p.add_argument("--duration", type=parse_seconds, help="stop after this long")
    p.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    p.set_defaults(func=run_gateway)
    devices_command.register(sub)


def run_gateway(args: argparse.Namespace) -> int:
    # Imported here so that `farmtrace --help` stays light.
    from farmtrace.gateway.ingest.service import Gateway
    from farmtrace.gateway.witness_client import (
        WitnessClient,
        WitnessConfigError,
        read_witness_list,
    )
    from farmtrace.store.errors import StoreError
    from farmtrace.store.ledger import Ledger

    status = StatusLine()
    _configure_logging(args.log_level, status)
    try:
        failpoints.arm_from_environment()
    except failpoints.FailpointError as exc:
        print(f"farmtrace gateway: {exc}", file=sys.stderr)
        return EXIT_ERROR
    state_dir: Path = args.state
    db_url = args.db or f"sqlite:///{state_dir.resolve() / 'farmtrace.db'}"
    try:
        broker, login = resolve_broker_login(
            parse_broker_url(args.broker), args.broker_credentials, os.environ, args.broker
        )
        identity = resolve_identity(state_dir, args.gateway_id, args.origin)
        config = IngestConfig(
            broker=broker,
            client_id=identity.client_id,
            share_group=args.share_group,
            ca_file=args.ca_file,
            batch_size=args.batch_size,
            batch_age=args.batch_age,
            receive_maximum=args.receive_maximum,
            session_expiry=max(1, int(args.session_expiry)),
            max_future=args.max_future,
            max_age=args.max_age,
            replay_grace=args.replay_grace,
            silence_factor=args.silence_factor,
            silence_min=args.silence_min,
            registry_refresh=args.registry_refresh,
            verify_threads=args.verify_threads,
            quarantine=QuarantineLimits(
                args.quarantine_keep_bytes,
                args.quarantine_device_rate,
                args.quarantine_hourly_bytes,
            ),
        )
    except IngestError as exc:
        print(f"farmtrace gateway: {exc}", file=sys.stderr)
        return EXIT_ERROR
    _log_login(login)
    try:
        witnesses = read_witness_list(args.witnesses) if args.witnesses else []
    except WitnessConfigError as exc:
        print(f"farmtrace gateway: {exc}", file=sys.stderr)
        return EXIT_ERROR
    try:
        ledger = Ledger.open(db_url, state_dir, identity.origin, args.db_lock_timeout)
    except StoreError as exc:
        print(f"farmtrace gateway: cannot open the chain: {exc}", file=sys.stderr)
        return EXIT_ERROR
    stop = threading.Event()
    witness_client: WitnessClient | None = None
    previous = _install_signals(stop)
    try:
        identity.save(state_dir)
        gateway = Gateway(
            ledger,
            config,
            state_dir,
            metrics_port=args.metrics_port,
            metrics_host=args.metrics_host,
            report_path=args.report,
            status=status,
        )
        tune_garbage_collector()
        if witnesses:
            # Off the ingest path: its own threads, timeouts, the newest checkpoint only.
            witness_client = WitnessClient(
                ledger.reader, witnesses, registry=gateway.metrics.registry
            )
            witness_client.start()
        return gateway.run(stop, args.duration)
    except (IngestError, StoreError, OSError) as exc:
        print(f"farmtrace gateway: {exc}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        if witness_client is not None:
            witness_client.stop()
        _restore_signals(previous)
        ledger.close()


def _log_login(login: BrokerLogin | None) -> None:
    if login is None:
        log.info("broker login: none (anonymous)")
        return
    log.info("broker login: user %r from %s", login.user, login.source)
    if login.on_command_line:
        log.warning(
            "the broker password is in the --broker URL, where every local user can read it "
            "(ps); give it with --broker-credentials FILE or GATEWAY_MQTT_PASSWORD instead"
        )


def tune_garbage_collector() -> None:
    """Make the cyclic garbage collector rare, and never scan what exists at start.

    Every reading allocates a dozen short-lived objects (message, delivery, decoded reading,
    records); with the default thresholds the collector ran about twenty times a second and
    cost ~16 µs a reading, over a tenth of the gateway's CPU. The pipeline's objects are freed
    by reference counting; the collector only has rare cycles to find.
    """
    gc.freeze()
    gc.set_threshold(GC_THRESHOLDS[0], GC_THRESHOLDS[1], GC_THRESHOLDS[2])


def _configure_logging(level: str, status: StatusLine) -> None:
    handler: logging.Handler = (
        TerminalLogHandler(status) if status.enabled else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger("farmtrace")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def _install_signals(stop: threading.Event) -> dict[int, Any]:
    def handle(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            log.warning("second signal: quitting now; unacknowledged readings will be redelivered")
            raise SystemExit(EXIT_FAILED)
        log.info("%s received: finishing the current batch", signal.Signals(signum).name)
        # Not stop.set() here: the handler runs on the main thread, which may be inside
        # stop.wait() holding the Event's (non-reentrant) lock; setting it from the handler
        # would then wait for itself for ever. Another thread takes the lock once it is free.
        threading.Thread(target=stop.set, name="stop-signal", daemon=True).start()

    return {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}


def _restore_signals(previous: dict[int, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)
