"""``python -m farmtrace.sim``: run devices, export their keys, list scenarios, benchmark.

Exit codes: 0 done, 2 bad arguments or scenario, 3 broker unreachable or refusing, 4 state
directory unusable, 1 anything unexpected (a bug: the traceback is printed).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import select
import ssl
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from farmtrace.sim import scenario as scenarios
from farmtrace.sim.errors import ConfigError, SimulatorError
from farmtrace.sim.identity import Keystore
from farmtrace.sim.link import BrokerConfig, parse_broker_url
from farmtrace.sim.options import RunOptions
from farmtrace.sim.runner import Simulator
from farmtrace.sim.specs import parse_attacks, parse_duration, parse_faults
from farmtrace.sim.status import StatusLine
from farmtrace.wire import watermark

PROG = "python -m farmtrace.sim"
PIN_FILE = "gateway-keys"
"""The pinned gateway watermark keys, in the state directory when not given elsewhere."""


def _positive(kind: type) -> Any:
    def convert(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be positive")
        return value

    return convert


def _duration(text: str) -> float:
    try:
        return parse_duration(text, "duration")
    except ConfigError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``run`` (shared with ``farmtrace sim run``)."""
    what = parser.add_argument_group("what to simulate")
    what.add_argument("--broker", required=True, help="mqtt://HOST:PORT or mqtts://HOST:PORT")
    what.add_argument("--state", required=True, type=Path, help="state directory (keys, outbox)")
    which = what.add_mutually_exclusive_group()
    which.add_argument("--scenario", help="built-in scenario name (small-farm) or a JSON file")
    which.add_argument("--devices", type=_positive(int), help="N generic devices instead")
    what.add_argument(
        "--interval",
        type=_positive(float),
        default=60.0,
        help="seconds between readings with --devices (default 60)",
    )
    what.add_argument("--farm", default="fleet", help="farm tag with --devices (default fleet)")
    what.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SPEC",
        help="inject a fault, e.g. spike:rate=0.01 (repeatable; docs/simulator.md)",
    )
    what.add_argument(
        "--attack",
        action="append",
        default=[],
        metavar="SPEC",
        help="send attack messages, e.g. replay:every=20 (repeatable)",
    )
    when = parser.add_argument_group("time")
    when.add_argument(
        "--speed",
        type=_positive(float),
        default=1.0,
        help="simulated seconds per wall second (60: an hour a minute)",
    )
    when.add_argument(
        "--duration",
        type=_duration,
        help="stop after this much simulated time (90, 15m, 2h, 1d); default: run until stopped",
    )
    when.add_argument("--start", help="simulated start time, ISO 8601 UTC (default: now)")
    when.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    delivery = parser.add_argument_group("delivery")
    delivery.add_argument(
        "--queue-limit",
        type=_positive(int),
        default=10000,
        help="readings kept per device while unacknowledged (default 10000)",
    )
    delivery.add_argument(
        "--until-committed",
        action="store_true",
        help="keep readings until the gateway's commit watermark covers them",
    )
    delivery.add_argument(
        "--gateway-key",
        type=Path,
        metavar="FILE",
        help="with --until-committed: the pinned gateway watermark keys, one base64 key a line "
        f"(default STATE/{PIN_FILE}; printed by farmtrace devices import --gateway-state)",
    )
    delivery.add_argument(
        "--resend-after",
        type=_positive(float),
        default=300.0,
        help="with --until-committed: resend if the watermark stalls this many wall seconds",
    )
    delivery.add_argument(
        "--max-inflight",
        type=_positive(int),
        default=10,
        help="unacknowledged readings per device connection (default 10)",
    )
    delivery.add_argument(
        "--drain-timeout",
        type=float,
        default=10.0,
        help="wall seconds to keep sending queued readings at the end (default 10)",
    )
    delivery.add_argument(
        "--offline-start",
        action="store_true",
        help="start measuring even if the broker is unreachable",
    )
    net = parser.add_argument_group("MQTT connection")
    net.add_argument(
        "--username",
        help="user name; {device} becomes the device ID, {asset} the ID after its last ':'",
    )
    net.add_argument("--password", help="password for every device")
    net.add_argument("--password-file", type=Path, help='JSON {"device id": "password"}')
    net.add_argument("--ca-file", type=Path, help="CA certificate(s) to verify the broker (TLS)")
    net.add_argument("--cert-file", type=Path, help="client certificate (TLS)")
    net.add_argument("--key-file", type=Path, help="client certificate's private key (TLS)")
    net.add_argument(
        "--tls-insecure",
        action="store_true",
        help="TLS without checking the broker's certificate (testing only)",
    )
    net.add_argument(
        "--mqtt",
        choices=("5", "3.1.1"),
        default="5",
        help="MQTT version (default 5; 3.1.1 uses clean_session=False)",
    )
    net.add_argument("--keepalive", type=_positive(int), default=30)
    net.add_argument(
        "--session-expiry",
        type=int,
        default=3600,
        help="seconds the broker keeps a device's session (default 3600)",
    )
    net.add_argument("--connect-timeout", type=_positive(float), default=5.0)
    out = parser.add_argument_group("output")
    out.add_argument("--report", type=Path, help="write a JSON report of the run here")
    loud = out.add_mutually_exclusive_group()
    loud.add_argument("-v", "--verbose", action="store_true", help="log connections and more")  # fmt: skip
    loud.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress lines and no closing summary (warnings and errors still show)",
    )
    out.add_argument(
        "--progress-interval",
        type=_positive(float),
        default=10.0,
        metavar="SECONDS",
        help="wall seconds between progress lines on stderr when it is not a terminal "
        "(default 10; a terminal gets one line rewritten every second)",
    )


def _tls(args: argparse.Namespace, wanted: bool) -> ssl.SSLContext | None:
    if not wanted and not args.ca_file and not args.cert_file:
        return None
    try:
        context = ssl.create_default_context(cafile=str(args.ca_file) if args.ca_file else None)
        if args.cert_file:
            context.load_cert_chain(
                str(args.cert_file), str(args.key_file) if args.key_file else None
            )
    except (OSError, ssl.SSLError) as err:
        raise ConfigError(f"TLS files: {err}") from err
    if args.tls_insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _passwords(path: Path | None) -> dict[str, str] | None:
    if path is None:
        return None
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as err:
        raise ConfigError(f"--password-file {path}: {err}") from err
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise ConfigError(f"--password-file {path}: expected a JSON object of strings")
    return data


def _gateway_keys(args: argparse.Namespace) -> tuple[Ed25519PublicKey, ...]:
    """The pinned gateway keys: ``--gateway-key FILE``, else ``STATE/gateway-keys`` if there.
    Required with ``--until-committed``: an unsigned watermark would let anyone who can publish
    to the broker make the devices throw readings away."""
    path: Path | None = args.gateway_key
    if path is None and (args.state / PIN_FILE).exists():
        path = args.state / PIN_FILE
    if path is None:
        if args.until_committed:
            raise ConfigError(
                "--until-committed needs the gateway's watermark key: --gateway-key FILE or "
                f"{args.state / PIN_FILE} (farmtrace devices import --gateway-state DIR prints it)"
            )
        return ()
    try:
        return tuple(watermark.parse_pins(path.read_text("ascii"), str(path)))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ConfigError(f"--gateway-key {path}: {err}") from None


def run_options(args: argparse.Namespace) -> RunOptions:
    """Turn parsed ``run`` arguments into RunOptions; ConfigError names what is wrong."""
    host, port, tls, user, password = parse_broker_url(args.broker)
    broker = BrokerConfig(
        host=host,
        port=port,
        tls=_tls(args, tls),
        username=args.username or user,
        password=args.password or password,
        passwords=_passwords(args.password_file),
        keepalive=args.keepalive,
        session_expiry=args.session_expiry,
        connect_timeout=args.connect_timeout,
        max_inflight=args.max_inflight,
        protocol=args.mqtt,
    )
    if args.devices is not None:
        scenario = scenarios.fleet(args.devices, args.interval, farm=args.farm)
    else:
        scenario = scenarios.load(args.scenario or "small-farm")
    start = None
    if args.start:
        try:
            parsed = datetime.fromisoformat(args.start)
        except ValueError:
            raise ConfigError(f"--start {args.start!r} is not an ISO 8601 time") from None
        if parsed.tzinfo is None:
            raise ConfigError("--start needs a time zone, e.g. 2026-06-29T06:00:00Z")
        start = parsed.timestamp()
    return RunOptions(
        state_dir=args.state,
        broker=broker,
        scenario=scenario,
        speed=args.speed,
        duration=args.duration,
        start=start,
        seed=args.seed,
        queue_limit=args.queue_limit,
        until_committed=args.until_committed,
        resend_after=args.resend_after,
        gateway_keys=_gateway_keys(args),
        drain_timeout=args.drain_timeout,
        offline_start=args.offline_start,
        faults=parse_faults(scenario.faults + args.fault),
        attacks=parse_attacks(scenario.attacks + args.attack),
    )


def cmd_run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    options = run_options(args)
    status = StatusLine(interval=args.progress_interval, quiet=args.quiet)
    report = Simulator(options, status).run()
    if args.report is not None:
        args.report.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if not args.quiet:
        refused = sum(report["watermarks_refused"].values())
        print(
            f"{report['devices']} devices, {report['readings']} readings, {report['acked']} sent,"
            f" {report['queued']} queued, {report['failed']} failed, {report['dropped']} dropped"
            + (f", {refused} watermarks refused" if refused else ""),
            file=sys.stderr,
        )
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    """Make the scenario's device keys without connecting, so they can be exported first."""
    if args.devices is not None:
        scenario = scenarios.fleet(args.devices, 60.0, farm=args.farm)
    else:
        scenario = scenarios.load(args.scenario or "small-farm")
    store = Keystore(args.state)
    for device in scenario.devices:
        store.load_or_create(device.device_id)
    print(f"{len(scenario.devices)} device keys in {store.directory}", file=sys.stderr)
    return 0


def cmd_export_keys(args: argparse.Namespace) -> int:
    print(json.dumps(Keystore(args.state).public_keys(), indent=2, sort_keys=True))
    return 0


def cmd_scenarios(args: argparse.Namespace) -> int:
    if args.show:
        if args.show not in scenarios.BUILT_IN:
            raise ConfigError(f"no built-in scenario {args.show!r}")
        print(json.dumps(scenarios.BUILT_IN[args.show], indent=2))
    else:
        for name in scenarios.BUILT_IN:
            print(name)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from farmtrace.sim.bench import run_bench  # keeps `run` free of the benchmark's imports

    return run_bench(args)


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(
        prog=PROG, description="Simulated farm sensors publishing signed readings over MQTT."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    run = sub.add_parser("run", help="simulate devices and publish their readings")
    add_run_arguments(run)
    run.set_defaults(func=cmd_run)
    init = sub.add_parser("init", help="make the devices' keys without connecting")
    init.add_argument("--state", required=True, type=Path)
    which = init.add_mutually_exclusive_group()
    which.add_argument(
        "--scenario", help="built-in scenario name or JSON file (default small-farm)"
    )
    which.add_argument("--devices", type=_positive(int), help="N generic devices instead")
    init.add_argument("--farm", default="fleet", help="farm tag with --devices")
    init.set_defaults(func=cmd_init)
    keys = sub.add_parser("export-keys", help="print {device_id: base64 Ed25519 public key}")
    keys.add_argument("--state", required=True, type=Path)
    keys.set_defaults(func=cmd_export_keys)
    listing = sub.add_parser("scenarios", help="list built-in scenarios or print one as JSON")
    listing.add_argument("--show", metavar="NAME")
    listing.set_defaults(func=cmd_scenarios)
    bench = sub.add_parser("bench", help="CPU and memory for many devices against a broker")
    bench.add_argument("--devices", type=_positive(int), default=1000)
    bench.add_argument("--interval", type=_positive(float), default=1.0)
    bench.add_argument("--duration", type=_duration, default=60.0, help="simulated seconds")
    bench.add_argument("--broker", help="broker URL (default: start a local mosquitto)")
    bench.add_argument("--json", action="store_true", help="print the result as JSON")
    bench.set_defaults(func=cmd_bench)
    return parser


def dispatch(args: argparse.Namespace) -> int:
    """Run a parsed command; map the simulator's errors to a message and an exit code."""
    try:
        code: int = args.func(args)
    except SimulatorError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return err.exit_code
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Parse and run; a reader that closed stdout early (``... | head``) ends it quietly, 0."""
    try:
        code = dispatch(build_parser().parse_args(argv))
        sys.stdout.flush()  # so a closed pipe shows here rather than at interpreter exit
    except BrokenPipeError:
        if not stdout_closed():
            raise  # a socket's broken pipe is a real error
        return 0
    return code


def stdout_closed() -> bool:
    """Whether stdout is a pipe whose reader has gone; if so, point it at /dev/null.

    As the Python documentation's "Note on SIGPIPE" advises (instead of restoring SIGPIPE's
    default, which would also kill the process on a broken socket): the interpreter's own
    final flush of what is still buffered then does not fail a second time.
    """
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    # Linux and the BSDs report POLLERR on a pipe's write end once no reader is left.
    if not any(events & select.POLLERR for _, events in poller.poll(0)):
        return False
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)
    return True
