"""Crash failpoints: the spec parser's errors, the n-th hit, and the gateway refusing a bad spec."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support.ingest import ROOT, farmtrace

from farmtrace import failpoints


@pytest.mark.parametrize("point", list(failpoints.POINTS))
def test_every_point_parses(point: str) -> None:
    assert failpoints.parse(f" {point}:7 ") == failpoints.Failpoint(point, 7)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("ack.before", "expected <point>:<n>"),
        ("", "expected <point>:<n>"),
        ("ack.sometime:1", "unknown point 'ack.sometime'; known points: quarantine.stored"),
        (":1", "unknown point ''"),
        ("ack.before:two", "the count 'two' is not a whole number"),
        ("ack.before:", "the count '' is not a whole number"),
        ("ack.before:0", "the count must be at least 1, got 0"),
        ("ack.before:-3", "the count must be at least 1, got -3"),
    ],
)
def test_bad_spec_names_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(failpoints.FailpointError) as caught:
        failpoints.parse(spec)
    assert str(caught.value).startswith(f"FARMTRACE_FAILPOINT={spec!r}: ")
    assert message in str(caught.value)


def test_unset_or_empty_arms_nothing() -> None:
    try:
        assert failpoints.arm_from_environment({}) is None
        assert failpoints.arm_from_environment({failpoints.ENV: "  "}) is None
        assert not failpoints.armed(failpoints.ACK_BEFORE)
        failpoints.hit(failpoints.ACK_BEFORE)  # nothing armed: returns
        armed = failpoints.arm_from_environment({failpoints.ENV: "ack.after:2"})
        assert armed == failpoints.Failpoint(failpoints.ACK_AFTER, 2)
        assert failpoints.armed(failpoints.ACK_AFTER)
        assert not failpoints.armed(failpoints.ACK_BEFORE)
        failpoints.hit(failpoints.ACK_AFTER)  # the first of two hits: no kill yet
    finally:
        failpoints.disarm()


def test_the_process_dies_at_the_nth_hit_of_its_point() -> None:
    program = (
        "from farmtrace import failpoints\n"
        "failpoints.arm(failpoints.parse('ack.before:3'))\n"
        "for i in range(1, 6):\n"
        "    failpoints.hit('append.after-commit')\n"
        "    failpoints.hit('ack.before', lambda: print('settled', flush=True))\n"
        "    print(i, flush=True)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=30, cwd=ROOT
    )
    assert done.returncode == -9, done.stderr
    assert done.stdout.split() == ["1", "2", "settled"]
    assert "failpoint ack.before:3 reached: SIGKILL" in done.stderr


@pytest.mark.slow
def test_the_gateway_refuses_to_start_with_a_bad_spec(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(failpoints.ENV, "append.before_commit:1")
    done = farmtrace(
        "gateway", "--broker", "mqtt://127.0.0.1:1", "--state", str(tmp_path / "state"),
        check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "unknown point 'append.before_commit'" in done.stderr
