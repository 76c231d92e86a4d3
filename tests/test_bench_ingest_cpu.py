"""``farmtrace bench ingest``'s CPU figures: a process's CPU read from /proc, and the line that
puts the gateway's CPU per reading (whole, and after start-up) beside the broker's."""

from __future__ import annotations

import os
import sys
import time

import pytest

from farmtrace.bench.ingest import Round
from farmtrace.bench.ingest_report import _cpu_text
from farmtrace.gateway.ingest.cpu import (
    parse_stat,
    process_cpu_seconds,
    threads_cpu_seconds,
    tree_cpu_seconds,
)

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
    threads = {"network": 0.7, "batcher": 1.0, "committer": 3.0, "rust_core_workers": 4.5}
    split = Round(
        gateway={
            "cpu_seconds": 10.0,
            "startup_cpu_seconds": 0.5,
            "accepted": 100_000,
            "thread_cpu_seconds": threads,
            "ed25519_arithmetic": "avx2",
        },
    )
    assert _cpu_text(split) == (
        "; 100 us CPU a reading, 95 after start-up (threads: network 7, batcher 10, "
        "committer 30, rust_core workers 45; Ed25519 arithmetic avx2); "
        "database server: not measured"
    )
    # A report from before the workers were counted (or off Linux, None) names what it has.
    threads.update(rust_core_workers=None)
    assert "(threads: network 7, batcher 10, committer 30; Ed25519" in _cpu_text(split)
    older = Round(gateway={"cpu_seconds": 8.0, "accepted": 100_000})  # a report without them
    assert _cpu_text(older) == "; 80 us CPU a reading; database server: not measured"
    assert _cpu_text(Round(gateway={"accepted": 0})) == ""


def test_stat_lines_whose_names_hold_spaces_and_parentheses_parse() -> None:
    ticks = os.sysconf("SC_CLK_TCK")
    line = "4242 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 " + f"{3 * ticks} {ticks} 0 0 20 0 1 0"
    assert parse_stat(line) == ("a (b) c", 4.0)


def test_threads_cpu_seconds_counts_only_the_named_threads() -> None:
    from farmtrace import rust_core
    from farmtrace.bench.core import signature_workload
    from farmtrace.gateway.ingest.cpu import RUST_CORE_THREADS

    keys, signatures, messages, offsets = signature_workload(400, 90)
    before = threads_cpu_seconds(RUST_CORE_THREADS)
    main_before = time.thread_time()
    deadline = time.monotonic() + 10
    spent = 0.0
    # rust_core's workers check the signatures (threads=2 hands them to the pool) while this
    # thread waits; they, not this thread, must account for the work. Clock ticks are 10 ms.
    while spent < 0.05 and time.monotonic() < deadline:
        assert rust_core.verify_ed25519_batch(keys, signatures, messages, offsets, threads=2) == []
        after = threads_cpu_seconds(RUST_CORE_THREADS)
        assert before is not None and after is not None
        spent = after - before
    assert spent >= 0.05
    assert threads_cpu_seconds("no thread is called this") == 0.0
    total = threads_cpu_seconds("")
    assert total is not None and total >= spent + (time.thread_time() - main_before) * 0.5


def test_tree_cpu_seconds_of_a_gone_process_is_zero() -> None:
    assert tree_cpu_seconds(2**22 + 12345) == 0.0
    assert tree_cpu_seconds(os.getpid()) >= time.process_time() * 0.5
