"""``farmtrace demo``: broker, gateway, API and the small-farm simulator, supervised together.

See docs/demo.md. Exit codes: 0 after a clean stop (Ctrl-C, SIGTERM or ``--duration``), 1 when
a part failed or a process outlived the stop, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from farmtrace.api.services.digital_link import DigitalLinkError, public_base_url
from farmtrace.demo.broker import (
    EMBEDDED,
    EXTERNAL,
    BrokerPlan,
    choose_broker,
    gateway_login,
    start_broker,
)
from farmtrace.demo.campaign import run_campaign
from farmtrace.demo.errors import DemoError
from farmtrace.demo.lots import create_sample_lots
from farmtrace.demo.state import DemoState, default_state_dir
from farmtrace.demo.summary import SummaryLine, read_counts
from farmtrace.demo.supervisor import Supervisor, wait_until
from farmtrace.demo.terminal import print_links, print_start
from farmtrace.gateway.broker.files import DEVICE_PASSWORDS_FILE, GATEWAY_ENV_FILE
from farmtrace.gateway.ingest.command import parse_seconds

__all__ = ["register"]

SCENARIO = "small-farm"
FIRST_BLOCK_TIMEOUT_S = 90.0
API_START_TIMEOUT_S = 60.0
GATEWAY_START_TIMEOUT_S = 60.0
# Simulated time runs --speed times faster than the wall clock, so its timestamps soon lead
# the wall clock by hours or days; the demo's gateway accepts that (docs/demo.md).
TIME_WINDOW = "3650d"
# Stop order: devices first (they flush), then the gateway commits and acknowledges, then the
# API; the broker last, so nothing in flight loses its peer.
STOP_ORDER = ("simulator", "gateway", "api", "broker")
LOT_SCOPES = ("lots:write", "events:write")
"""The demo's key for its lots and their events."""
FARM_SCOPES = ("campaigns:write", "coupons:redeem")
"""The farm's key for its harvest campaign: open it, confirm payments, settle, record the
harvest, confirm redemptions (the API signs the entries with the farm's key)."""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="run broker, gateway, API and simulated farm together (docs/demo.md)",
        description="Start an MQTT broker (or use --broker), the gateway on SQLite, the API and "
        "the small-farm simulator at accelerated time; create sample lots; print the provenance "
        "page and its QR code; show a live summary until Ctrl-C or --duration.",
    )
    p.add_argument(
        "--state",
        type=Path,
        default=default_state_dir(),
        metavar="DIR",
        help="state directory, resumed on the next run (default ./farmtrace-demo)",
    )
    p.add_argument(
        "--broker",
        default="auto",
        metavar="URL|mosquitto|embedded",
        help="mqtt://HOST:PORT of a running broker; default: mosquitto if on PATH, else embedded",
    )
    p.add_argument(
        "--insecure-broker",
        action="store_true",
        help="start our broker anonymous and without an ACL (default: a login per device and "
        "for the gateway, and Mosquitto enforces the ACL of farmtrace broker files)",
    )
    p.add_argument("--duration", type=parse_seconds, help="stop after this long (wall clock)")
    p.add_argument("--speed", type=float, default=60.0, help="simulated seconds per second (60)")
    p.add_argument(
        "--port", type=int, default=8000, help="the API's port (8000); pick another if taken"
    )
    p.add_argument(
        "--public-url",
        metavar="URL",
        help="http(s)://HOST[:PORT] the QR codes and printed pages name, e.g. "
        "http://192.168.1.20:8000 so a phone on this network opens them "
        "(default http://127.0.0.1:PORT, this machine only)",
    )
    p.add_argument(
        "--host",
        metavar="ADDR",
        help="address the API listens on (default 127.0.0.1; 0.0.0.0, every interface, when "
        "--public-url names another host)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.speed <= 0:
        print("farmtrace demo: --speed must be positive", file=sys.stderr)
        return 2
    try:
        args.public_url, args.host = _public_address(args.public_url, args.host, args.port)
        _check_port_free(args.host, args.port)
    except DemoError as exc:
        print(f"farmtrace demo: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        # From another thread: the main thread may be inside stop.wait(), holding the Event's
        # non-reentrant lock, and a set() from the handler on that thread would deadlock.
        threading.Thread(target=stop.set, name="stop-signal", daemon=True).start()

    # SIGHUP too: closing the terminal must stop the children, which are in their own sessions.
    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.signal(s, on_signal) for s in handled}
    try:
        return _Demo(args, stop).run()
    except DemoError as exc:
        print(f"\nfarmtrace demo: {exc}", file=sys.stderr)
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _Demo:
    def __init__(self, args: argparse.Namespace, stop: threading.Event) -> None:
        self.args = args
        self.stop = stop
        self.dir: Path = args.state.resolve()
        self.db_url = f"sqlite:///{self.dir / 'farmtrace.db'}"
        self.supervisor = Supervisor(self.dir / "logs")
        self.sim_report = self.dir / "logs" / "simulator-report.json"
        self.access: Path | None = None  # farmtrace broker files' directory, when we use it

    def run(self) -> int:
        self.dir.mkdir(parents=True, exist_ok=True)
        state, resumed = DemoState.load_or_new(self.dir)
        base_elapsed = state.sim_elapsed_s
        print(
            f"{'resuming' if resumed else 'new demo in'} {self.dir}; simulated time "
            f"{state.resume_at:%Y-%m-%d %H:%M} UTC at {self.args.speed:g}x",
            flush=True,
        )
        print_start(self.dir, sys.stdout)
        plan = choose_broker(self.args.broker)
        summary: SummaryLine | None = None
        self.sim_report.unlink(missing_ok=True)
        started = time.monotonic()
        try:
            print(f"broker: {plan.describe()}", flush=True)
            self._register_devices()
            self.access = self._broker_access(plan)
            url = start_broker(plan, self.dir, self.supervisor, self.access)
            self._start_gateway(url)
            self._start_simulator(url, state)
            started = time.monotonic()
            wait_until(self._has_block, FIRST_BLOCK_TIMEOUT_S, "the first block", self.supervisor)
            if state.api_key is None:
                state.api_key = self._create_api_key("farmtrace-demo", LOT_SCOPES)
                state.save(self.dir)
            if state.farm_api_key is None:
                state.farm_api_key = self._create_api_key("farmtrace-demo-farm", FARM_SCOPES)
                state.save(self.dir)
            base = self._start_api()
            lots = create_sample_lots(base, state.api_key, state.start)
            campaign = run_campaign(base, state.api_key, state.farm_api_key, self.dir, state.start)
            print_links(self.args.public_url, base, self.dir, lots, sys.stdout, campaign)
            summary = SummaryLine(self.db_url, sys.stdout)
            self._watch(summary, state, base_elapsed, started)
        finally:
            if summary is not None:
                summary.end()
            code = self._shut_down(state, base_elapsed, started)
        return code

    def _watch(
        self, summary: SummaryLine, state: DemoState, base_elapsed: float, started: float
    ) -> None:
        deadline = None if self.args.duration is None else time.monotonic() + self.args.duration
        while not self.stop.is_set():
            self.supervisor.check()
            summary.tick()
            state.sim_elapsed_s = base_elapsed + (time.monotonic() - started) * self.args.speed
            state.save(self.dir)
            if deadline is not None and time.monotonic() >= deadline:
                break
            self.stop.wait(1.0)

    def _shut_down(self, state: DemoState, base_elapsed: float, started: float) -> int:
        print("stopping ...", flush=True)
        codes = self.supervisor.stop_all(STOP_ORDER)
        state.sim_elapsed_s = base_elapsed + self._simulated_seconds(started)
        state.save(self.dir)
        survivors = self.supervisor.survivors()
        print("stopped: " + ", ".join(f"{n} {_exit_text(c)}" for n, c in codes.items()), flush=True)
        if survivors:
            print(f"farmtrace demo: still running: {', '.join(survivors)}", file=sys.stderr)
            return 1
        if codes.get("gateway") not in (None, 0):
            print(f"farmtrace demo: the gateway exited with {codes['gateway']}", file=sys.stderr)
            return 1
        return 0

    def _simulated_seconds(self, started: float) -> float:
        """From the simulator's report when it wrote one, else estimated from the wall clock."""
        try:
            report: dict[str, Any] = json.loads(self.sim_report.read_text("utf-8"))
            return float(report["simulated_seconds"])
        except (OSError, ValueError, KeyError, TypeError):
            speed: float = self.args.speed
            return (time.monotonic() - started) * speed

    def _command(self, name: str, argv: list[str]) -> str:
        """Run a set-up command to completion; its stdout, or DemoError with its stderr."""
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise DemoError(f"{name} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
        return done.stdout

    def _register_devices(self) -> None:
        sim = str(self.dir / "sim")
        sim_cmd = [sys.executable, "-m", "farmtrace.sim"]
        self._command(
            "farmtrace.sim init", [*sim_cmd, "init", "--state", sim, "--scenario", SCENARIO]
        )
        keys = self._command("farmtrace.sim export-keys", [*sim_cmd, "export-keys", "--state", sim])
        keys_file = self.dir / "device-keys.json"
        keys_file.write_text(keys, "utf-8")
        # The devices pin the demo gateway's watermark key (sim/gateway-keys, where the
        # simulator looks by default): they forget readings only on watermarks it signed.
        out = self._command(
            "farmtrace devices import",
            [
                *_farmtrace(), "devices", "import", "--db", self.db_url, str(keys_file),
                "--gateway-state", str(self.dir / "gateway"),
                "--pin-file", str(self.dir / "sim" / "gateway-keys"),
            ],
        )  # fmt: skip
        print(f"devices: {out.strip().splitlines()[0]}", flush=True)

    def _broker_access(self, plan: BrokerPlan) -> Path | None:
        """Write the broker's logins and ACL with ``farmtrace broker files`` (our broker
        only); ``None`` with ``--insecure-broker`` or a broker of the user's own."""
        if plan.kind == EXTERNAL:
            return None
        if self.args.insecure_broker:
            print(
                "warning: --insecure-broker: the broker takes anonymous clients and has no ACL; "
                "anyone who can reach it may publish as any device or as the gateway (the "
                "signatures of readings, drop floors and watermarks are all that is left)",
                file=sys.stderr,
                flush=True,
            )
            return None
        access = self.dir / "broker" / "access"
        access.parent.mkdir(exist_ok=True)
        self._command(
            "farmtrace broker files",
            [*_farmtrace(), "broker", "files", "--db", self.db_url, "--out", str(access)],
        )
        what = "logins" if plan.kind == EMBEDDED else "logins and ACL"
        print(f"broker access: a login per device and for the gateway ({what} in {access})")
        if plan.kind == EMBEDDED:
            print(
                "note: the embedded broker has no ACL: a device with a valid login could "
                "publish on another device's topics (signatures still protect what is stored); "
                "install mosquitto for the ACL",
                file=sys.stderr,
                flush=True,
            )
        return access

    def _start_gateway(self, url: str) -> None:
        url, env = gateway_login(url, os.environ)  # the password off the command line
        login = []
        if self.access is not None:
            login = ["--broker-credentials", str(self.access / GATEWAY_ENV_FILE)]
        argv = [
            *_farmtrace(),
            "gateway",
            "--broker",
            url,
            "--state",
            str(self.dir / "gateway"),
            "--db",
            self.db_url,
            "--max-future",
            TIME_WINDOW,
            "--max-age",
            TIME_WINDOW,
            "--report",
            str(self.dir / "logs" / "gateway-report.json"),
            *login,
        ]
        log = self.supervisor.log_dir / "gateway.log"
        before = log.stat().st_size if log.exists() else 0
        self.supervisor.start("gateway", argv, grace=30.0, env=env)
        # Devices start only once the gateway is subscribed: a reading the broker took before
        # that had no subscriber and is gone, and an --until-committed device waits
        # --resend-after (300 s) for the watermark to stall before it sends the gap again.
        wait_until(
            lambda: _log_says(log, before, b"subscribed to"),
            GATEWAY_START_TIMEOUT_S,
            "the gateway to subscribe",
            self.supervisor,
        )

    def _start_simulator(self, url: str, state: DemoState) -> None:
        argv = [
            sys.executable,
            "-m",
            "farmtrace.sim",
            "run",
            "--broker",
            url,
            "--state",
            str(self.dir / "sim"),
            "--scenario",
            SCENARIO,
            "--speed",
            f"{self.args.speed:g}",
            "--start",
            state.resume_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "--until-committed",
            "--report",
            str(self.sim_report),
        ]
        if self.access is not None:
            # Each device logs in as its asset with its own password (docs/broker.md).
            argv += ["--username", "{asset}"]
            argv += ["--password-file", str(self.access / DEVICE_PASSWORDS_FILE)]
        self.supervisor.start("simulator", argv, grace=30.0)

    def _has_block(self) -> bool:
        counts = read_counts(self.db_url)
        return counts is not None and counts.blocks > 0

    def _create_api_key(self, name: str, scopes: tuple[str, ...]) -> str:
        argv = [*_farmtrace(), "api-keys", "create", "--db", self.db_url, "--name", name]
        for scope in scopes:
            argv += ["--scope", scope]
        out = self._command("farmtrace api-keys create", argv)
        return out.strip().splitlines()[0]

    def _start_api(self) -> str:
        """Start the API; the address this machine reaches it at, once it answers."""
        port = self.args.port
        argv = [
            *_farmtrace(),
            "api",
            "--db",
            self.db_url,
            "--host",
            self.args.host,
            "--port",
            str(port),
            "--state",
            str(self.dir / "api"),
            "--public-url",
            self.args.public_url,
        ]
        print(
            f"API: listening on {_url_host(self.args.host)}:{port}"
            + (" (every interface)" if _local(self.args.host) != self.args.host else ""),
            flush=True,
        )
        self.supervisor.start("api", argv, grace=10.0)
        base = f"http://{_url_host(_local(self.args.host))}:{port}"
        wait_until(
            lambda: _answers(base + "/checkpoint"), API_START_TIMEOUT_S, "the API", self.supervisor
        )
        return base


def _public_address(public_url: str | None, host: str | None, port: int) -> tuple[str, str]:
    """The validated public URL (default ``http://127.0.0.1:PORT``) and the address the API
    listens on: ``host`` if given, else 127.0.0.1 for a loopback public URL and 0.0.0.0 (every
    interface) for any other, so that the address the QR code names reaches the API.

    Prints a note when the URL names another port than the API's (a proxy must forward it)."""
    if not 0 < port < 65536:
        raise DemoError(f"--port {port} is not a TCP port (1-65535)")
    if public_url is None:
        host = host or "127.0.0.1"
        return f"http://{_url_host(_local(host))}:{port}", host
    try:
        base = public_base_url(public_url)
    except DigitalLinkError as exc:
        raise DemoError(f"--public-url: {exc}") from None
    parts = urlsplit(base)
    named_port = parts.port or (443 if parts.scheme == "https" else 80)
    if named_port != port:
        print(
            f"note: --public-url names port {named_port} but the API listens on --port {port}; "
            "something there must forward to it",
            file=sys.stderr,
        )
    loopback = _is_loopback(parts.hostname or "")
    if parts.scheme == "http" and not loopback:
        print(
            "note: over plain http another device shows the page, but its in-browser proof "
            "check needs https (WebCrypto); docs/demo.md, 'Phones and --public-url'",
            file=sys.stderr,
        )
    if host is None:
        host = "127.0.0.1" if loopback else "0.0.0.0"
    return base, host


def _is_loopback(name: str) -> bool:
    import ipaddress

    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _local(host: str) -> str:
    """Where this machine reaches a server listening on ``host`` (a wildcard: the loopback)."""
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)


def _url_host(host: str) -> str:
    """``host`` as it goes in a URL (an IPv6 address in brackets)."""
    return f"[{host}]" if ":" in host else host


def _check_port_free(host: str, port: int) -> None:
    """Raise :class:`DemoError` naming ``--port`` (and a free one to use) when the API could
    not listen on ``host:port``."""
    import socket

    def free(number: int) -> OSError | None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family) as probe:
            # As uvicorn binds: a port left in TIME_WAIT by the previous run is free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, number))
            except OSError as exc:
                return exc
        return None

    problem = free(port)
    if problem is None:
        return
    spare = next((n for n in range(port + 1, min(port + 100, 65536)) if free(n) is None), None)
    hint = (
        f"; choose another with --port, e.g. farmtrace demo --port {spare} "
        f'(make demo DEMO_ARGS="--port {spare}")'
        if spare is not None
        else "; choose another with --port"
    )
    raise DemoError(
        f"the API cannot listen on {host} port {port} ({problem.strerror}): another program, "
        f"or another demo, may be using it{hint}"
    )


def _log_says(log: Path, offset: int, text: bytes) -> bool:
    """Whether ``log`` holds ``text`` after its first ``offset`` bytes (this run's part)."""
    try:
        with log.open("rb") as file:
            file.seek(offset)
            return text in file.read()
    except OSError:
        return False


def _farmtrace() -> list[str]:
    return [sys.executable, "-m", "farmtrace"]


def _answers(url: str) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _exit_text(code: int | None) -> str:
    """An exit status as a person reads it: uvicorn ends by re-raising SIGTERM after a clean
    shutdown, which a bare ``-15`` makes look like a failure."""
    if code is None:
        return "not started"
    if code < 0:
        try:
            return f"ended by {signal.Signals(-code).name}"
        except ValueError:
            return f"ended by signal {-code}"
    return "ok" if code == 0 else f"exit {code}"
