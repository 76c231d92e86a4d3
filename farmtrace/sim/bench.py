"""``python -m farmtrace.sim bench``: CPU and memory for a fleet of devices against a broker.

Runs ``--devices`` generic devices (default 1,000) at one reading every ``--interval`` seconds
(default 1) for ``--duration`` simulated seconds (default 60) at real-time speed, against
``--broker`` or, by default, a Mosquitto started for the purpose on a free local port. Reports
the simulator's CPU time in its event loop as a share of one core, its peak RSS, and the CPU
cost per reading, from which the README derives a Raspberry Pi 4 estimate.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
from pathlib import Path
from typing import Any

from farmtrace.sim import scenario as scenarios
from farmtrace.sim.errors import BrokerError
from farmtrace.sim.link import BrokerConfig, parse_broker_url
from farmtrace.sim.localbroker import LocalBroker, find_mosquitto
from farmtrace.sim.options import RunOptions
from farmtrace.sim.runner import Simulator
from farmtrace.sim.status import StatusLine

CPU_TARGET = 0.25  # of one core, on the development machine
RSS_TARGET_MB = 100.0
PI_SLOWDOWN = (4.0, 6.0)  # Raspberry Pi 4 per-core speed relative to the development machine


def _measure(url: str, args: argparse.Namespace, broker: LocalBroker | None) -> dict[str, Any]:
    host, port, tls, user, password = parse_broker_url(url)
    if tls:
        raise BrokerError("bench supports plain mqtt:// brokers only")
    with tempfile.TemporaryDirectory(prefix="firmware-sim-bench-") as state:
        options = RunOptions(
            state_dir=Path(state),
            broker=BrokerConfig(host, port, username=user, password=password),
            scenario=scenarios.fleet(args.devices, args.interval, farm="bench"),
            speed=1.0,
            duration=args.duration,
            drain_timeout=10.0,
        )
        broker_cpu0 = broker.cpu_seconds() if broker else None
        report = Simulator(options, StatusLine()).run()
        broker_cpu1 = broker.cpu_seconds() if broker else None
    share = report["loop_cpu_seconds"] / max(report["loop_wall_seconds"], 1e-9)
    per_reading = report["loop_cpu_seconds"] / max(report["readings"], 1)
    result: dict[str, Any] = {
        "broker": url if broker is None else f"{url} (local mosquitto started by bench)",
        "devices": args.devices,
        "interval_s": args.interval,
        "simulated_s": args.duration,
        "readings": report["readings"],
        "acked": report["acked"],
        "queued_at_end": report["queued"],
        "loop_wall_s": report["loop_wall_seconds"],
        "loop_cpu_s": report["loop_cpu_seconds"],
        "process_cpu_s": report["cpu_seconds"],
        "cpu_share_of_one_core": round(share, 4),
        "cpu_us_per_reading": round(per_reading * 1e6, 1),
        "peak_rss_mb": report["max_rss_mb"],
        "targets": {
            "cpu_share": CPU_TARGET,
            "cpu_ok": share <= CPU_TARGET,
            "rss_mb": RSS_TARGET_MB,
            "rss_ok": report["max_rss_mb"] <= RSS_TARGET_MB,
        },
    }
    if broker_cpu0 is not None and broker_cpu1 is not None:
        result["broker_cpu_s"] = round(broker_cpu1 - broker_cpu0, 3)
    # Devices at one reading a second that one Pi 4 core could carry, fully used.
    result["pi4_devices_per_core_at_1hz"] = [
        int(1 / (per_reading * slow)) for slow in reversed(PI_SLOWDOWN)
    ]
    return result


def run_bench(args: argparse.Namespace) -> int:
    """Run the benchmark and print its figures (text, or JSON with --json)."""
    if args.broker:
        result = _measure(args.broker, args, None)
    else:
        binary = find_mosquitto()
        if binary is None:
            raise BrokerError("no --broker given and mosquitto is not installed to start one")
        with contextlib.ExitStack() as stack:
            broker = stack.enter_context(LocalBroker(binary))
            result = _measure(broker.url, args, broker)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    targets = result["targets"]
    low, high = result["pi4_devices_per_core_at_1hz"]
    print(
        f"broker            {result['broker']}\n"
        f"devices           {result['devices']} at 1 reading / {result['interval_s']:g} s,"
        f" {result['simulated_s']:g} simulated s\n"
        f"readings          {result['readings']} taken, {result['acked']} acknowledged,"
        f" {result['queued_at_end']} still queued\n"
        f"CPU (event loop)  {result['loop_cpu_s']:.2f} s in {result['loop_wall_s']:.2f} s ="
        f" {100 * result['cpu_share_of_one_core']:.1f} % of one core"
        f" (target <= {100 * targets['cpu_share']:.0f} %: {'ok' if targets['cpu_ok'] else 'MISSED'})\n"
        f"CPU per reading   {result['cpu_us_per_reading']:.0f} us"
        f" (process total {result['process_cpu_s']:.2f} s incl. start-up)\n"
        f"peak RSS          {result['peak_rss_mb']:.1f} MB"
        f" (target <= {targets['rss_mb']:.0f} MB: {'ok' if targets['rss_ok'] else 'MISSED'})\n"
        + (
            f"broker CPU        {result['broker_cpu_s']:.2f} s\n"
            if "broker_cpu_s" in result
            else ""
        )
        + f"Raspberry Pi 4    ~{low}-{high} devices at 1 reading/s per fully used core"
        " (4-6x slower per core)"
    )
    return 0
