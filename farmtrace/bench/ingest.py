"""``farmtrace bench ingest``: signed readings through a real broker into the gateway.

1. Pre-sign the stream before any timed window (the load generator shares our cores): N devices
   with their own Ed25519 keys, ``rate x seconds`` readings in all, interleaved by seq like a
   fleet, written to a pool file.
2. **Bare drain, at capacity**: a paho subscriber that acknowledges each message on receipt
   drains the stream while the publisher sends it as fast as its window allows (QoS 1, bounded
   in-flight window, unpaced): the stream queues in the broker, so the drain rate is what a bare
   subscriber can take, not what was offered.
3. **Gateway**: ``farmtrace gateway`` (a subprocess, as deployed) ingests the same stream from the
   same broker into a fresh chain, offered at ``rate`` (or unpaced with ``--unpaced``).
   Latency counts from **publish**: the publisher records each message's publish time, and a
   reader polling the database every ``COMMIT_POLL_S`` the time each block became visible
   (committed; late by at most the poll period), so a backlog waiting in the broker is counted.
   The gateway's own receive-to-commit figures (from its ``on_message``) are reported beside.
4. Reconcile by device and seq: every reading stored once, nothing missing.
5. With ``--hostile-share S``, the gateway again, on a fresh chain, with the hostile corpus
   making ``S`` of the stream (``ingest_hostile.py``), the honest readings offered at the same
   rate: their rate is compared with the clean run's, and they are reconciled the same way.

Both consumers are timed from their first message received to their last one handled
(acknowledged, or committed for the gateway). A Mosquitto is started with the settings the
gateway needs unless ``--broker`` names one.
"""

from __future__ import annotations

import json
import math
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from farmtrace.bench.ingest_broker import free_port, parse_broker, start_broker
from farmtrace.bench.ingest_hostile import HostileMix, write_hostile_pool
from farmtrace.bench.ingest_pool import FARM, device_id, sign_pool
from farmtrace.gateway.ingest.cpu import process_cpu_seconds

__all__ = ["IngestBenchConfig", "IngestBenchResult", "Round", "run"]

ROOT = Path(__file__).resolve().parents[2]
COMMIT_POLL_S = 0.02


class CommitWatcher:
    """Polls a database every ``COMMIT_POLL_S`` and notes when each checkpoint size (block
    count) was first seen: block ``h`` was committed by the first time the size reached
    ``h + 1``."""

    def __init__(self, db_url: str) -> None:
        from farmtrace.store.counts import ChainCounter

        self._counter = ChainCounter(db_url)
        self.seen: list[tuple[float, int]] = []  # (Unix time, checkpoint size), size rising
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="commit-watcher", daemon=True)
        self._thread.start()

    def _look(self) -> None:
        counts = self._counter.read()
        if counts is not None and (not self.seen or counts.checkpoint_size > self.seen[-1][1]):
            self.seen.append((time.time(), counts.checkpoint_size))

    def _watch(self) -> None:
        while not self._stop.wait(COMMIT_POLL_S):
            self._look()

    def stop(self) -> list[tuple[float, int]]:
        """Stop polling after one last look; what was seen."""
        self._stop.set()
        self._thread.join()
        self._look()
        self._counter.close()
        return self.seen


@dataclass(frozen=True)
class IngestBenchConfig:
    devices: int = 1000
    seconds: float = 20.0
    rate: float = 15_000.0
    batch_size: int = 5000
    batch_age: float = 1.0
    inflight: int = 1000
    db_url: str | None = None
    broker_url: str | None = None
    gateway_args: tuple[str, ...] = ()
    skip_bare: bool = False
    keep: Path | None = None
    repeat: int = 1
    hostile_share: float = 0.0
    hostile_fill: int = 0
    unpaced: bool = False  # publish the gateway's stream as fast as possible too

    def __post_init__(self) -> None:
        if self.hostile_fill and not self.hostile_share:
            raise ValueError("--hostile-fill needs --hostile-share (the attack's share)")
        if not 0 <= self.hostile_share < 1:
            raise ValueError(f"hostile share {self.hostile_share}: must be in [0, 1)")
        if self.repeat < 1:
            raise ValueError("repeat must be at least 1")
        if self.hostile_share and self.db_url is not None:
            raise ValueError("--hostile-share needs the default SQLite database (a fresh chain)")
        if self.repeat > 1 and self.db_url is not None:
            raise ValueError("--repeat needs the default SQLite database (one fresh file a round)")

    @property
    def per_device(self) -> int:
        return max(1, math.ceil(self.rate * self.seconds / self.devices))

    @property
    def messages(self) -> int:
        return self.per_device * self.devices


@dataclass
class Round:
    """One bare drain and one gateway run over the same stream."""

    bare_publish: dict[str, Any] | None = None
    bare: dict[str, Any] | None = None
    gateway_publish: dict[str, Any] = field(default_factory=dict)
    gateway: dict[str, Any] = field(default_factory=dict)
    stored: int = 0
    distinct: int = 0
    devices_complete: int = 0
    hostile: Round | None = None  # the gateway run with the hostile mix (no bare drain)
    database_bytes: int = 0  # the SQLite database's size after the run (with its WAL)
    publish_to_commit: dict[str, float] | None = None  # seconds, honest readings, p50..max
    publish_to_receive: dict[str, float] | None = None  # the broker's share of it
    broker_cpu_seconds: float | None = None  # the broker's CPU over the gateway run (ours only)

    @property
    def gateway_rate(self) -> float:
        """Honest readings committed per second, first message received to last commit."""
        first = float(self.gateway.get("first_received_at") or 0.0)
        last = float(self.gateway.get("last_commit_at") or 0.0)
        if not first or last <= first:
            return 0.0
        return self.distinct / (last - first)

    @property
    def bare_rate(self) -> float | None:
        return None if self.bare is None else float(self.bare["rate"])


@dataclass
class IngestBenchResult:
    """Every round; the figures judged are those of the median round (by gateway rate)."""

    config: IngestBenchConfig
    run_tag: str
    sign_seconds: float
    rounds: list[Round] = field(default_factory=list)
    mix: HostileMix | None = None

    @property
    def gateway_runs(self) -> list[Round]:
        """Every gateway run: each round's clean run and, with a hostile mix, its hostile run."""
        return [r for round_ in self.rounds for r in (round_, round_.hostile) if r is not None]

    @property
    def median(self) -> Round:
        ordered = sorted(self.rounds, key=lambda r: r.gateway_rate)
        return ordered[(len(ordered) - 1) // 2]

    @property
    def lost(self) -> int:
        """Honest readings missing from the database, worst gateway run."""
        return max(self.config.messages - r.distinct for r in self.gateway_runs)

    @property
    def duplicated(self) -> int:
        """Honest rows beyond one per reading, worst gateway run."""
        return max(r.stored - r.distinct for r in self.gateway_runs)


Progress = Callable[[str], None]


def _quiet(_message: str) -> None:
    pass


def run(config: IngestBenchConfig, progress: Progress | None = None) -> IngestBenchResult:
    """Run the benchmark (see the module docstring)."""
    say = progress or _quiet
    workdir = Path(tempfile.mkdtemp(prefix="farmtrace-bench-ingest-"))
    broker: subprocess.Popen[bytes] | None = None
    try:
        if config.broker_url is None:
            host, port, broker = start_broker(workdir)
        else:
            host, port = parse_broker(config.broker_url)
        tag = secrets.token_hex(3)
        say(f"signing {config.messages:,} readings of {config.devices:,} devices")
        started = time.perf_counter()
        keys = sign_pool(workdir / "pool.bin", tag, config.devices, config.per_device)
        result = IngestBenchResult(config, tag, time.perf_counter() - started)
        if config.hostile_share:
            say(f"mixing the hostile corpus in: {config.hostile_share:.0%} of the stream")
            pool = workdir / "pool-hostile.bin"
            result.mix = write_hostile_pool(
                workdir / "pool.bin", pool, tag, config.hostile_share, config.hostile_fill
            )
        for number in range(1, config.repeat + 1):
            suffix = f"-{number}" if config.repeat > 1 else ""
            round_ = Round()
            if not config.skip_bare:
                say(f"bare paho subscriber draining the stream{suffix}")
                round_.bare, round_.bare_publish = _bare_phase(workdir, host, port, config, suffix)
            say(f"gateway ingesting the stream{suffix}")
            db_url = config.db_url or f"sqlite:///{workdir / f'bench{suffix}.db'}"
            _gateway_round(round_, workdir, host, port, db_url, keys, tag, config, suffix,
                           broker=broker)  # fmt: skip
            if result.mix is not None:
                say(f"gateway ingesting the stream with the hostile mix{suffix}")
                round_.hostile = Round()
                hostile_db = f"sqlite:///{workdir / f'bench-hostile{suffix}.db'}"
                _gateway_round(round_.hostile, workdir, host, port, hostile_db, keys, tag,
                               config, f"-hostile{suffix}", result.mix, broker)  # fmt: skip
            result.rounds.append(round_)
        return result
    finally:
        if broker is not None:
            broker.send_signal(signal.SIGTERM)
            try:
                broker.wait(10)
            except subprocess.TimeoutExpired:
                broker.kill()
        if config.keep is not None:
            shutil.copytree(workdir, config.keep, dirs_exist_ok=True)
        shutil.rmtree(workdir, ignore_errors=True)


# -- phases --------------------------------------------------------------------------------------


def _load(role: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "farmtrace.bench.ingest_load", role, *args]


def _publisher(
    workdir: Path,
    host: str,
    port: int,
    config: IngestBenchConfig,
    name: str,
    mix: HostileMix | None = None,
    unpaced: bool = False,
) -> subprocess.Popen[bytes]:
    """The publisher of the pool (or the hostile pool) at ``config.rate``, or as fast as its
    window allows when ``unpaced`` (rate 0); it writes ``<name>.times`` (publish times)."""
    pool, rate = "pool.bin", config.rate
    if mix is not None:  # the honest readings at the clean rate, the junk on top
        pool, rate = "pool-hostile.bin", config.rate * mix.messages / mix.honest
    if unpaced:
        rate = 0.0
    with open(workdir / f"{name}.log", "wb") as log:
        return subprocess.Popen(
            _load("publish", "--host", host, "--port", str(port), "--pool",
                  str(workdir / pool), "--rate", str(rate), "--inflight",
                  str(config.inflight), "--out", str(workdir / f"{name}.json"),
                  "--times", str(workdir / f"{name}.times")),
            stdout=log, stderr=log, cwd=ROOT,
        )  # fmt: skip


def _finish(
    process: subprocess.Popen[bytes], out: Path, what: str, timeout: float
) -> dict[str, Any]:
    try:
        code = process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        raise RuntimeError(f"{what} did not finish within {timeout:.0f} s") from None
    if code != 0 or not out.exists():
        log = out.with_suffix(".log")
        text = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise RuntimeError(f"{what} failed (exit {code}): {text}")
    data: dict[str, Any] = json.loads(out.read_text())
    return data


def _window(config: IngestBenchConfig) -> int:
    from farmtrace.gateway.ingest.config import BrokerAddress, IngestConfig

    return IngestConfig(BrokerAddress("x", 1), "x", batch_size=config.batch_size).window


def _timeout(config: IngestBenchConfig) -> float:
    return 120.0 + config.messages / 2000.0


def _bare_phase(
    workdir: Path, host: str, port: int, config: IngestBenchConfig, suffix: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    ready, out = workdir / f"drain{suffix}.ready", workdir / f"drain{suffix}.json"
    with open(workdir / f"drain{suffix}.log", "wb") as log:
        drain = subprocess.Popen(
            _load("drain", "--host", host, "--port", str(port), "--expect",
                  str(config.messages), "--window", str(_window(config)), "--ready", str(ready),
                  "--out", str(out)),
            stdout=log, stderr=log, cwd=ROOT,
        )  # fmt: skip
    _wait(lambda: ready.exists() or drain.poll() is not None, 30, "the bare subscriber")
    name = f"publish-bare{suffix}"
    # Unpaced: the bare subscriber's capacity, the baseline the gateway is judged against.
    publisher = _publisher(workdir, host, port, config, name, unpaced=True)
    published = _finish(publisher, workdir / f"{name}.json", "the publisher", _timeout(config))
    return _finish(drain, out, "the bare subscriber", _timeout(config)), published


def _gateway_round(
    round_: Round,
    workdir: Path,
    host: str,
    port: int,
    db_url: str,
    keys: dict[str, bytes],
    tag: str,
    config: IngestBenchConfig,
    suffix: str,
    mix: HostileMix | None = None,
    broker: subprocess.Popen[bytes] | None = None,
) -> None:
    """One gateway run; with ``broker`` (the Mosquitto we started) its CPU over the run too:
    the broker's whole work for the stream, from the publisher in to the gateway out."""
    broker_cpu = None if broker is None else process_cpu_seconds(broker.pid)
    round_.gateway, round_.gateway_publish, commits = _gateway_phase(
        workdir, host, port, db_url, keys, tag, config, suffix, mix
    )
    if broker_cpu is not None:
        after = process_cpu_seconds(broker.pid) if broker is not None else None
        round_.broker_cpu_seconds = None if after is None else after - broker_cpu
    round_.stored, round_.distinct, round_.devices_complete = _reconcile(db_url, tag, config)
    pool = workdir / ("pool.bin" if mix is None else "pool-hostile.bin")
    times = workdir / f"publish-gateway{suffix}.times"
    round_.publish_to_commit, round_.publish_to_receive = _publish_latencies(
        pool, times, db_url, tag, commits
    )
    if db_url.startswith("sqlite:///"):
        path = Path(db_url.removeprefix("sqlite:///"))
        round_.database_bytes = sum(
            p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists()
        )


def _gateway_phase(
    workdir: Path,
    host: str,
    port: int,
    db_url: str,
    keys: dict[str, bytes],
    tag: str,
    config: IngestBenchConfig,
    suffix: str,
    mix: HostileMix | None,
) -> tuple[dict[str, Any], dict[str, Any], list[tuple[float, int]]]:
    """The gateway's run report, the publisher's, and when each block was seen committed."""
    from farmtrace.store.device_registry import DeviceRegistry

    with DeviceRegistry.open(db_url) as registry:
        registry.register(keys if mix is None else {**keys, **mix.registered})
        for revoked in [] if mix is None else mix.revoked:
            registry.revoke(revoked)
    metrics_port = free_port()
    log_path = workdir / f"gateway{suffix}.log"
    report = workdir / f"gateway-report{suffix}.json"
    command = [
        sys.executable, "-m", "farmtrace", "gateway", "--broker", f"mqtt://{host}:{port}",
        "--db", db_url, "--state", str(workdir / f"gateway{suffix}"),
        "--gateway-id", f"bench-{tag}{suffix}",
        "--batch-size", str(config.batch_size), "--batch-age", str(config.batch_age),
        "--metrics-port", str(metrics_port), "--report", str(report), *config.gateway_args,
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        gateway = subprocess.Popen(command, stdout=log, stderr=log, cwd=ROOT)
    watcher: CommitWatcher | None = None
    commits: list[tuple[float, int]] = []
    try:
        _wait(
            lambda: (
                "subscribed to" in log_path.read_text(errors="replace")
                or gateway.poll() is not None
            ),
            60,
            "the gateway to subscribe",
        )
        if gateway.poll() is not None:
            raise RuntimeError(
                f"the gateway exited: {log_path.read_text(errors='replace')[-2000:]}"
            )
        watcher = CommitWatcher(db_url)
        name = f"publish-gateway{suffix}"
        publisher = _publisher(workdir, host, port, config, name, mix, unpaced=config.unpaced)
        published = _finish(publisher, workdir / f"{name}.json", "the publisher", _timeout(config))
        expect = config.messages if mix is None else mix.messages
        _wait(
            lambda: _metric(metrics_port, "farmtrace_gateway_messages_received_total") >= expect,
            _timeout(config),
            "the gateway to take every reading",
        )
        _wait(lambda: _metric(metrics_port, "farmtrace_gateway_queue_depth") == 0, 60, "commits")
    finally:
        if watcher is not None:
            commits = watcher.stop()
        gateway.send_signal(signal.SIGTERM)
        try:
            gateway.wait(120)
        except subprocess.TimeoutExpired:
            gateway.kill()
    if not report.exists():
        raise RuntimeError(f"the gateway wrote no report: {log_path.read_text()[-2000:]}")
    data: dict[str, Any] = json.loads(report.read_text())
    return data, published, commits


def _metric(port: int, name: str) -> float:
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
    except OSError:
        return -1.0
    for line in text.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return -1.0


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def _reconcile(db_url: str, tag: str, config: IngestBenchConfig) -> tuple[int, int, int]:
    """Stored rows, distinct (device, seq) among them, and devices holding exactly 1..k."""
    from farmtrace.store.counts import device_seq_counts

    rows = device_seq_counts(db_url, device_id(tag, 0)[:-6])
    k = config.per_device
    stored = sum(r.rows for r in rows)
    distinct = sum(r.distinct_seqs for r in rows)
    complete = sum(
        1 for r in rows if r.distinct_seqs == k and r.lowest_seq == 1 and r.highest_seq == k
    )
    return stored, distinct, complete


def quantiles(values: list[float]) -> dict[str, float]:
    """p50, p90, p99 and max of ``values`` (nearest rank), in their unit; empty if none."""
    if not values:
        return {}
    ordered = sorted(values)
    last = len(ordered) - 1

    def rank(q: float) -> float:
        return ordered[min(last, max(0, math.ceil(q * len(ordered)) - 1))]

    return {"p50": rank(0.5), "p90": rank(0.9), "p99": rank(0.99), "max": ordered[last]}


def _publish_latencies(
    pool: Path, times: Path, db_url: str, tag: str, commits: list[tuple[float, int]]
) -> tuple[dict[str, float] | None, dict[str, float] | None]:
    """Publish-to-commit and publish-to-receive of every stored honest reading, from the
    publisher's times (pool order), the blocks' commit times seen by the :class:`CommitWatcher`
    and the store's received times. The watcher stops only once the gateway's queue is empty;
    a reading whose block it never saw counts as committed at its last look (a lower bound)."""
    import bisect
    from array import array

    from farmtrace.bench.ingest_load import read_pool
    from farmtrace.store.counts import reading_times
    from farmtrace.wire import topics as wire_topics

    if not times.exists():
        return None, None
    stamps = array("d")
    stamps.frombytes(times.read_bytes())
    names, messages = read_pool(pool)
    published: dict[tuple[str, int], float] = {}
    for (index, payload), stamp in zip(messages, stamps, strict=False):
        if payload[:2] == b"FT" and len(payload) >= 11:
            # The first copy's time: a replayed copy published later is not the reading's start.
            published.setdefault((names[index], int.from_bytes(payload[3:11], "big")), stamp)
    sizes = [size for _, size in commits]
    to_commit, to_receive = [], []
    for row in reading_times(db_url, device_id(tag, 0)[:-6]):
        start = published.get((wire_topics.reading_topic(FARM, row.device_id), row.seq))
        if start is None:
            continue
        to_receive.append(row.received_at - start)
        seen = bisect.bisect_left(sizes, row.block_height + 1)
        if commits:
            to_commit.append(commits[min(seen, len(commits) - 1)][0] - start)
    return quantiles(to_commit) or None, quantiles(to_receive) or None
