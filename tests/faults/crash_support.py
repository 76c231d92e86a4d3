"""Helpers for the crash tests: the simulator as a device fleet, an intruder, reconciliation.

The simulator runs in ``--until-committed`` mode: each reading stays in the device's outbox
until the gateway's commit watermark covers it. A test stops the fleet with SIGTERM once its
faults are done, then runs it again with ``--duration 0`` to drain what is still uncommitted:
the second run's report says each device's last seq and how many readings are still queued.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from support.ingest import (
    ROOT,
    Publisher,
    StoredView,
    farmtrace,
    make_device,
    reading_topic,
    register_sim_devices,
    signed,
    sim_command,
)

__all__ = ["Fleet", "Intruder", "Reconciled", "audit_clean", "reconcile"]

SPEED = 240.0  # simulated seconds per wall second: with a 60 s interval, 4 readings/s a device


class Fleet:
    """``count`` simulated devices, registered in ``db_url``, their state in ``workdir/sim``."""

    def __init__(self, workdir: Path, count: int, db_url: str) -> None:
        self.workdir = workdir
        self.state = workdir / "sim"
        self.count = count
        self.process: subprocess.Popen[bytes] | None = None
        register_sim_devices(self.state, count, db_url)

    @property
    def log_path(self) -> Path:
        return self.workdir / "sim.log"

    def log(self) -> str:
        return self.log_path.read_text("utf-8", "replace") if self.log_path.exists() else ""

    def _args(self, broker_url: str, report: str, *extra: str) -> list[str]:
        return [
            "run", "--broker", broker_url, "--state", str(self.state),
            "--devices", str(self.count), "--interval", "60", "--speed", str(SPEED),
            "--until-committed", "--resend-after", "2",
            "--report", str(self.workdir / report), *extra,
        ]  # fmt: skip

    def start(self, broker_url: str, wall_seconds: float) -> None:
        """Start sending in the background for at most ``wall_seconds`` (stop it sooner)."""
        simulated = wall_seconds * SPEED
        # Started in the past so that no reading is ever stamped in the gateway's future.
        start = datetime.now(UTC) - timedelta(seconds=simulated + 600)
        args = self._args(
            broker_url, "sim-report.json", "--duration", f"{simulated:.0f}",
            "--start", start.strftime("%Y-%m-%dT%H:%M:%SZ"), "--drain-timeout", "0",
        )  # fmt: skip
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(sim_command(*args), cwd=ROOT, stdout=log, stderr=log)

    def stop(self) -> None:
        """SIGTERM: the devices stop taking readings; uncommitted ones stay in their outboxes."""
        process = self.process
        if process is None:
            return
        process.terminate()
        try:
            code = process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
            raise AssertionError(f"the simulator did not stop:\n{self.log()[-3000:]}") from None
        self.process = None
        assert code == 0, f"the simulator exited {code}:\n{self.log()[-3000:]}"

    def report(self) -> dict[str, Any]:
        """The report of the run :meth:`stop` ended."""
        data: dict[str, Any] = json.loads((self.workdir / "sim-report.json").read_text())
        return data

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def drain(self, broker_url: str, timeout: float = 90.0) -> dict[str, Any]:
        """Run the devices again, taking no new reading, until every queued one is committed;
        return that run's report (``last_seq`` per device, ``queued`` still uncommitted)."""
        args = self._args(
            broker_url, "drain-report.json", "--duration", "0",
            "--drain-timeout", str(int(timeout)),
        )  # fmt: skip
        with open(self.log_path, "ab") as log:
            code = subprocess.run(
                sim_command(*args), cwd=ROOT, stdout=log, stderr=log, timeout=timeout + 60
            ).returncode
        assert code == 0, f"the draining simulator exited {code}:\n{self.log()[-3000:]}"
        report: dict[str, Any] = json.loads((self.workdir / "drain-report.json").read_text())
        assert report["queued"] == 0, f"readings never committed: {report['queued']}"
        return report


class Intruder:
    """Publishes readings of an unregistered device (QoS 1, each acknowledged by the broker)
    every ``period`` seconds, so that batches have messages to quarantine."""

    def __init__(self, host: str, port: int, period: float = 0.15) -> None:
        self.device = make_device("INTRUDER")
        self.sent: list[bytes] = []
        self._publisher = Publisher(host, port, client_id="test-intruder")
        self._period = period
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="intruder", daemon=True)
        self.failure: BaseException | None = None

    @property
    def topic(self) -> str:
        return reading_topic(self.device)

    def start(self) -> Intruder:
        self._thread.start()
        return self

    def _run(self) -> None:
        seq = 0
        try:
            while not self._stop.wait(self._period):
                seq += 1
                payload = signed(self.device, seq, ts_ms=int(time.time() * 1000))
                self._publisher.publish([(self.topic, payload)])
                self.sent.append(payload)
        except BaseException as exc:
            self.failure = exc

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        self._publisher.close()
        assert self.failure is None, f"the intruder failed: {self.failure!r}"


class Reconciled:
    """What reconciliation found (for the test's report)."""

    def __init__(self, published: int, stored: int, duplicates: int, quarantined: int) -> None:
        self.published = published
        self.stored = stored
        self.duplicates = duplicates
        self.quarantined = quarantined

    def __str__(self) -> str:
        return (
            f"published {self.published} = stored {self.stored}; duplicates stored "
            f"{self.duplicates}; quarantine rows {self.quarantined}"
        )


def reconcile(stored: StoredView, last_seq: dict[str, int]) -> Reconciled:
    """Every device's seqs 1..last stored, each exactly once, nothing else stored."""
    published = sum(last_seq.values())
    assert published > 0
    seqs = stored.seqs()
    duplicates = sum(n - 1 for runs in seqs.values() for n in Counter(runs).values())
    assert duplicates == 0, f"{duplicates} readings stored twice"
    missing = {
        d: sorted(set(range(1, last + 1)) - set(seqs.get(d, []))) for d, last in last_seq.items()
    }
    assert not any(missing.values()), f"published, never stored: {missing}"
    extra = {d: sorted(set(s) - set(range(1, last_seq.get(d, 0) + 1))) for d, s in seqs.items()}
    assert not any(extra.values()), f"stored, never published: {extra}"
    total = sum(len(s) for s in seqs.values())
    return Reconciled(published, total, duplicates, stored.quarantine_count())


def audit_clean(db_url: str, state: Path) -> str:
    """``farmtrace audit`` on the database, trusting the gateway's keys; its output."""
    done = farmtrace("audit", "--db", db_url, "--state", str(state))
    assert "OK" in done.stdout, done.stdout
    return done.stdout
