"""``farmtrace bench ingest``'s CPU figures: a process's CPU read from /proc, and the line that
puts the gateway's CPU per reading (whole, and after start-up) beside the broker's."""

from __future__ import annotations

import os
import sys
import time

import pytest

from farmtrace.bench.ingest import Round, process_cpu_seconds
from farmtrace.bench.ingest_report import _cpu_text

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def test_process_cpu_seconds_reads_our_own_cpu() -> None:
    before = process_cpu_seconds(os.getpid())
    deadline = time.process_time() + 0.05
    while time.process_time() < deadline:
        pass
    after = process_cpu_seconds(os.getpid())
    assert before is not None and after is not None
    assert after >= before + 0.02  # clock ticks are 10 ms; 50 ms were spent
    usage = os.times()
    assert abs(after - (usage.user + usage.system)) < 0.05


def test_process_cpu_seconds_of_a_gone_process_is_none() -> None:
    assert process_cpu_seconds(2**22 + 12345) is None  # above Linux's pid_max


def test_cpu_line_puts_the_broker_and_database_beside_the_gateway() -> None:
    round_ = Round(
        gateway={"cpu_seconds": 8.0, "startup_cpu_seconds": 0.5, "accepted": 100_000},
        broker_cpu_seconds=2.0,
        database_bytes=1,
    )
    assert _cpu_text(round_) == (
        "; 80 us CPU a reading, 75 after start-up; broker 20 us; "
        "database server: SQLite, in the gateway's process"
    )
    older = Round(gateway={"cpu_seconds": 8.0, "accepted": 100_000})  # a report without them
    assert _cpu_text(older) == "; 80 us CPU a reading; database server: not measured"
    assert _cpu_text(Round(gateway={"accepted": 0})) == ""
