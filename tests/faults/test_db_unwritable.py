"""The database unwritable during commits: the disk full, or another session holding the lock.

Readings flow from a QoS 1 publisher the whole time. While the database cannot be written the
gateway must stop acknowledging (nothing new is stored, the device's commit watermark does not
pass what is stored, the unacknowledged messages show in ``queue_depth``), say why in its log
and count the failures, then recover by itself once the database can be written again.
Reconciliation: every published seq stored exactly once, the audit clean, every message
acknowledged once.

* Disk full for real: the SQLite database lives on a small tmpfs mounted for the test, and a
  filler file takes the rest of it while readings flow (needs root's ``mount``: skipped
  elsewhere, a failure under ``CI=true``). The existing immutable-file case is in
  tests/gateway/test_ingest_operations.py.
* Locked: another connection holds SQLite's write lock (``BEGIN EXCLUSIVE``), or a PostgreSQL
  session holds ``LOCK TABLE entries IN ACCESS EXCLUSIVE MODE``, for several seconds; the
  gateway runs with ``--db-lock-timeout 1s`` so that it says so instead of waiting silently.
"""

from __future__ import annotations

import errno
import os
import re
import sqlite3
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url
from support.ingest import (
    GatewayProcess,
    Publisher,
    StoredView,
    WatermarkWatcher,
    farmtrace,
    make_device,
    reading_topic,
    signed,
    wait_for,
    write_keys,
)
from support.mosquitto import Mosquitto, free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DEVICE = make_device("DBFAULT")
START_MS = int(time.time() * 1000) - 120_000
"""Readings are 10 ms apart from here: a few thousand stay inside the gateway's time window."""


class Flow:
    """Publishes the device's readings seq 1, 2, ... from a thread, one every ``pace`` s."""

    def __init__(self, broker: Mosquitto, pace: float = 0.01) -> None:
        self.publisher = Publisher(broker.host, broker.port, client_id="fault-flow")
        self.pace = pace
        self.published = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="flow", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                seq = self.published + 1
                payload = signed(DEVICE, seq, ts_ms=START_MS + 10 * seq)
                self.publisher.publish([(reading_topic(DEVICE), payload)])
                self.published = seq
                self._stop.wait(self.pace)
        except BaseException as exc:
            self.error = exc

    def stop(self) -> int:
        """Stop publishing (once; later calls only report); return how many readings the
        broker acknowledged."""
        if not self._stop.is_set():
            self._stop.set()
            self._thread.join(30)
            self.publisher.close()
        if self.error is not None:
            raise AssertionError(f"the publisher failed: {self.error!r}")
        return self.published


def metric(port: int, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert found is not None, f"{name} not in /metrics"
    return float(found.group(1))


def start_gateway(
    broker: Mosquitto, url: str, tmp_path: Path, *extra: str
) -> tuple[GatewayProcess, int]:
    keys = write_keys(tmp_path / "keys.json", {DEVICE.device_id: DEVICE.public_key})
    farmtrace("devices", "import", str(keys), "--db", url)
    port = free_port()
    gateway = GatewayProcess(
        broker.url, url, tmp_path / "state", extra=["--batch-age", "0.1", *extra]
    )
    gateway.start("--metrics-port", str(port)).wait_connected()
    return gateway, port


def hold_and_check(
    gateway: GatewayProcess,
    port: int,
    watcher: WatermarkWatcher,
    count: Callable[[], int],
    flow: Flow,
    cause: str,
) -> int:
    """While the database is unwritable: the gateway says ``cause`` and counts the failure, it
    stores and acknowledges nothing more while readings keep arriving. Returns the count held."""

    # The committer's line: the idle sweep of pending entries may report the same cause first.
    def refused() -> list[str]:
        return [ln for ln in gateway.log().splitlines() if cause in ln and "(commit)" in ln]

    wait_for(lambda: bool(refused()), 60, f"the gateway to report {cause!r} on commit")
    line = refused()[0]
    assert "not acknowledging, retrying" in line, line
    held = count()
    published = flow.published
    wait_for(lambda: flow.published >= published + 100, 60, "more readings to arrive meanwhile")
    time.sleep(1.0)
    assert count() == held, "a reading was stored while the database was unwritable"
    assert metric(port, "farmtrace_gateway_commit_failures_total") >= 1
    assert metric(port, "farmtrace_gateway_queue_depth") > 0  # received, held unacknowledged
    watermark = watcher.get(DEVICE.device_id)
    assert watermark is None or watermark <= held, (watermark, held)
    return held


def reconcile(
    gateway: GatewayProcess, stored: StoredView, url: str, state: Path, published: int
) -> None:
    wait_for(lambda: stored.reading_count() >= published, 120, f"all {published} readings")
    assert gateway.stop() == 0, gateway.log()[-3000:]
    assert stored.seqs() == {DEVICE.device_id: list(range(1, published + 1))}
    assert stored.quarantine_count() == 0
    report = gateway.report()
    assert report["acked"] == published and report["accepted"] == published, report
    assert "OK" in farmtrace("audit", "--db", url, "--state", str(state)).stdout


# -- disk full ----------------------------------------------------------------------------------


@contextmanager
def small_disk(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on ``path`` for the block; always unmounted after."""
    path.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        message = f"cannot mount a tmpfs (needs root): {done.stderr.strip()}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], check=True, capture_output=True)


def fill(directory: Path) -> Path:
    """Write a file into ``directory`` until the file system says it is full."""
    filler = directory / "filler"
    chunk = b"\0" * 65536
    with open(filler, "wb", buffering=0) as out:
        try:
            while True:
                out.write(chunk)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
    return filler


def test_disk_full_stops_acknowledging_then_recovers(broker: Mosquitto, tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", "16m") as disk:
        url = f"sqlite:///{disk / 'farmtrace.db'}"
        # A silence floor far shorter than the outage: the device is not silent meanwhile.
        gateway, port = start_gateway(broker, url, tmp_path, "--silence-min", "1")
        stored = StoredView(url)
        watcher = WatermarkWatcher(broker.host, broker.port)
        flow = Flow(broker)
        try:
            wait_for(lambda: stored.reading_count() >= 200, 60, "readings before the disk fills")
            filler = fill(disk)
            held = hold_and_check(
                gateway, port, watcher, stored.reading_count, flow, "database or disk is full"
            )
            filler.unlink()
            wait_for(lambda: stored.reading_count() > held, 60, "the recovery")
            live = flow.published
            wait_for(lambda: stored.reading_count() > live, 60, "the backlog to drain")
            time.sleep(1.5)  # a silence check or two after it, while the device keeps sending
            assert " silent for " not in gateway.log(), "the outage was taken for silence"
            published = flow.stop()
            reconcile(gateway, stored, url, tmp_path / "state", published)
        finally:
            flow.stop()
            watcher.close()
            gateway.stop()
            stored.close()
    assert held >= 200 and published > held + 100


# -- locked ---------------------------------------------------------------------------------------


class LockHolder:
    """Another session holding the database's write lock (SQLite) or an ACCESS EXCLUSIVE lock
    on ``entries`` (PostgreSQL) until :meth:`release`; :meth:`count` reads through it."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self.sqlite = parsed.get_backend_name() == "sqlite"
        if self.sqlite:
            assert parsed.database is not None
            self.conn: Any = sqlite3.connect(parsed.database, isolation_level=None)
            self.conn.execute("BEGIN EXCLUSIVE")
        else:
            libpq = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
            self.conn = psycopg.connect(libpq)
            self.conn.execute("LOCK TABLE entries IN ACCESS EXCLUSIVE MODE")

    def count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM entries").fetchone()[0])

    def release(self) -> None:
        self.conn.rollback() if not self.sqlite else self.conn.execute("ROLLBACK")
        self.conn.close()


def test_locked_database_stops_acknowledging_then_recovers(
    broker: Mosquitto, db_url: str, tmp_path: Path
) -> None:
    gateway, port = start_gateway(broker, db_url, tmp_path, "--db-lock-timeout", "1s")
    stored = StoredView(db_url)
    watcher = WatermarkWatcher(broker.host, broker.port)
    flow = Flow(broker)
    cause = "database is locked" if db_url.startswith("sqlite") else "lock timeout"
    try:
        wait_for(lambda: stored.reading_count() >= 100, 60, "readings before the lock")
        holder = LockHolder(db_url)
        try:
            held = hold_and_check(gateway, port, watcher, holder.count, flow, cause)
            time.sleep(2.0)  # held for several seconds
            assert holder.count() == held
        finally:
            holder.release()
        wait_for(lambda: stored.reading_count() > held, 60, "the recovery")
        published = flow.stop()
        reconcile(gateway, stored, db_url, tmp_path / "state", published)
    finally:
        flow.stop()
        watcher.close()
        gateway.stop()
        stored.close()
    assert held >= 100 and published > held + 100
