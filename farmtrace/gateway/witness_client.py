"""The gateway's witness client: each new checkpoint goes to the configured witnesses.

Witnesses are listed in a C2SP tlog-policy file (c2sp.org/tlog-policy): each
``witness <name> <vkey> <url>`` line names one, its ``cosignature/v1`` verifier key and its
submission prefix (``<url>/add-checkpoint``); other lines (``log``, ``group``, ``quorum``,
comments) are read past, so one file can configure the gateway and its verifiers alike.

One thread per witness, off the ingest path: it wakes every ``interval`` seconds (or on
:meth:`WitnessClient.notify`), reads the newest checkpoint, and if the witness has not cosigned
it, sends ``add-checkpoint`` with the RFC 9162 consistency proof from the size the witness is
believed to have. A ``409`` names the witness's size: the client retries once from it (a
witness ahead of the log is reported, never "fixed"). Each returned cosignature is checked
against the witness's key before it is stored (``witness_cosignatures``). Only the newest
checkpoint is ever pending (a queue of one per witness: a witness that was down gets the
current checkpoint, with one proof across everything it missed). Requests time out after
``timeout`` seconds and a failing witness is retried with a growing pause (up to
:data:`MAX_BACKOFF_S`), so a witness that is down costs the ingest nothing.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge

from farmtrace.store.errors import StoreError
from farmtrace.store.reader import ChainReader
from farmtrace.store.records import StoredCheckpoint
from farmtrace.store.witness_cosignatures import StoredCosignature, WitnessCosignatures
from farmtrace.tlog.cosignature import CosignatureVerifier, cosignatures_of
from farmtrace.tlog.errors import TlogError
from farmtrace.tlog.note import Note
from farmtrace.tlog.witness_protocol import AddCheckpoint, parse_size

__all__ = [
    "MAX_BACKOFF_S",
    "WitnessClient",
    "WitnessConfigError",
    "WitnessEndpoint",
    "WitnessStatus",
    "parse_witness_list",
    "read_witness_list",
]

log = logging.getLogger("farmtrace.gateway.witness")

MAX_BACKOFF_S = 60.0
_MAX_ANSWER = 64 * 1024


class WitnessConfigError(ValueError):
    """A witness list that cannot be used (the message names the line)."""


@dataclass(frozen=True, slots=True)
class WitnessEndpoint:
    """A witness to ask: its policy name, cosignature key and submission prefix URL."""

    name: str
    key: CosignatureVerifier
    url: str


def parse_witness_list(text: str, source: str = "witness list") -> list[WitnessEndpoint]:
    """The ``witness <name> <vkey> <url>`` lines of a tlog-policy text."""
    found: list[WitnessEndpoint] = []
    for number, line in enumerate(text.split("\n"), start=1):
        words = [w for w in line.replace("\t", " ").split(" ") if w]
        if not words or words[0] != "witness":
            continue
        if len(words) != 4:
            raise WitnessConfigError(
                f"{source}, line {number}: the gateway needs 'witness <name> <vkey> <url>'"
            )
        name, vkey, url = words[1:]
        try:
            key = CosignatureVerifier.from_vkey(vkey)
        except TlogError as exc:
            raise WitnessConfigError(f"{source}, line {number}: {exc}") from None
        if not url.startswith(("http://", "https://")):
            raise WitnessConfigError(f"{source}, line {number}: {url!r} is not an http(s) URL")
        if any(w.name == name or w.key.public_key == key.public_key for w in found):
            raise WitnessConfigError(f"{source}, line {number}: witness {name} listed twice")
        found.append(WitnessEndpoint(name, key, url.rstrip("/")))
    return found


def read_witness_list(path: Path) -> list[WitnessEndpoint]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise WitnessConfigError(f"cannot read the witness list {path}: {exc}") from None
    return parse_witness_list(text, str(path))


@dataclass
class WitnessStatus:
    """What the gateway knows of one witness (read across threads: a snapshot is a copy)."""

    name: str
    vkey: str
    url: str
    size: int = 0
    """The size the witness is believed to have (from its last 200 or 409)."""
    cosigned_size: int = 0
    cosigned_at: int | None = None
    """Timestamp (POSIX s) of its newest stored cosignature."""
    failures: int = 0
    last_error: str | None = None


class _Metrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        p = "farmtrace_gateway_witness_"
        r = registry if registry is not None else CollectorRegistry()
        self.size = Gauge(
            p + "cosigned_size",
            "Largest checkpoint size the witness cosigned",
            ["witness"],
            registry=r,
        )
        self.at = Gauge(
            p + "cosigned_timestamp_seconds",
            "Timestamp of the witness's newest cosignature",
            ["witness"],
            registry=r,
        )
        self.behind = Gauge(
            p + "blocks_behind",
            "Chain size minus the largest size the witness cosigned",
            ["witness"],
            registry=r,
        )
        self.failures = Counter(
            p + "failures", "Requests to the witness that failed", ["witness"], registry=r
        )


class WitnessClient:
    """Sends the chain's checkpoints to ``witnesses`` from background threads."""

    def __init__(
        self,
        reader: ChainReader,
        witnesses: list[WitnessEndpoint],
        *,
        registry: CollectorRegistry | None = None,
        timeout: float = 5.0,
        interval: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._reader = reader
        self._store = WitnessCosignatures(reader)
        self._witnesses = list(witnesses)
        self._timeout = timeout
        self._interval = interval
        self._clock = clock
        self._metrics = _Metrics(registry)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = [threading.Event() for _ in self._witnesses]
        self._threads: list[threading.Thread] = []
        stored = self._store.latest()
        self._status = []
        for w in self._witnesses:
            status = WitnessStatus(w.name, w.key.vkey, w.url)
            known = stored.get(w.key.vkey)
            if known is not None:
                status.size = status.cosigned_size = known.size
                status.cosigned_at = known.cosigned_at
                self._metrics.size.labels(w.name).set(known.size)
                self._metrics.at.labels(w.name).set(known.cosigned_at)
            self._status.append(status)

    def start(self) -> None:
        for i, witness in enumerate(self._witnesses):
            thread = threading.Thread(
                target=self._run, args=(i,), name=f"witness-{witness.name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stop the threads (a request under way ends within its timeout; not waited for)."""
        self._stop.set()
        for event in self._wake:
            event.set()
        for thread in self._threads:
            thread.join(0.2)

    def notify(self) -> None:
        """A new checkpoint may be there: look now rather than at the next interval."""
        for event in self._wake:
            event.set()

    def status(self) -> list[WitnessStatus]:
        with self._lock:
            return [WitnessStatus(**vars(s)) for s in self._status]

    # -- the threads -----------------------------------------------------------------------------

    def _run(self, i: int) -> None:
        backoff = 0.0
        next_try = 0.0  # monotonic; a failing witness is left alone until then, notify or not
        while not self._stop.is_set():
            self._wake[i].wait(self._interval)
            self._wake[i].clear()
            if self._stop.is_set():
                return
            if time.monotonic() < next_try:
                continue
            try:
                checkpoint = self._reader.latest_checkpoint(fresh=True)
            except StoreError as exc:
                log.warning("witness client: cannot read the newest checkpoint: %s", exc)
                continue
            if checkpoint is None:
                continue
            with self._lock:
                status = self._status[i]
                done = status.cosigned_size >= checkpoint.size
                self._metrics.behind.labels(status.name).set(checkpoint.size - status.cosigned_size)
            if done:
                continue
            if self._submit(i, checkpoint):
                backoff = 0.0
            else:
                backoff = min(MAX_BACKOFF_S, max(1.0, backoff * 2))
                next_try = time.monotonic() + backoff

    def _submit(self, i: int, checkpoint: StoredCheckpoint) -> bool:
        witness = self._witnesses[i]
        for _attempt in range(2):  # the second after a 409 named the witness's size
            with self._lock:
                old = self._status[i].size
            try:
                outcome = self._send(witness, checkpoint, old)
            except (OSError, urllib.error.URLError, TlogError, StoreError, ValueError) as exc:
                self._failed(i, f"{type(exc).__name__}: {exc}")
                return False
            if isinstance(outcome, int):  # 409
                if outcome > checkpoint.size:
                    self._failed(
                        i,
                        f"the witness has size {outcome}, beyond our log's {checkpoint.size}: "
                        "it saw another history of this origin",
                    )
                    log.error("witness %s: %s", witness.name, self._status[i].last_error)
                    return False
                with self._lock:
                    self._status[i].size = outcome
                continue
            try:
                return self._cosigned(i, checkpoint, outcome)
            except (TlogError, StoreError) as exc:
                self._failed(i, f"cannot use the answer: {exc}")
                return False
        self._failed(i, "the witness answered 409 twice")
        return False

    def _send(self, witness: WitnessEndpoint, checkpoint: StoredCheckpoint, old: int) -> int | str:
        """The answer's cosignature lines (200) or the witness's size (409); raises otherwise."""
        if old > checkpoint.size:
            old = 0  # a size we believed that the log never reached: ask the witness
        proof = self._reader.consistency_proof(old, checkpoint.size) if old else []
        body = AddCheckpoint.build(old, proof, checkpoint.note).encode()
        request = urllib.request.Request(
            witness.url + "/add-checkpoint",
            data=body,
            method="POST",
            headers={"Content-Type": "text/plain", "User-Agent": "farmtrace-gateway"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                return str(response.read(_MAX_ANSWER).decode("utf-8"))
        except urllib.error.HTTPError as exc:
            answer = exc.read(_MAX_ANSWER)
            if exc.code == 409:
                return parse_size(answer)
            why = answer[:200].decode("utf-8", "replace").strip()
            if exc.code == 422:
                # Our checkpoint contradicts what the witness cosigned for this origin: another
                # history was shown to it (a split view, or this chain was rewritten).
                log.error(
                    "witness %s refuses our checkpoint as inconsistent: %s", witness.name, why
                )
            raise ValueError(f"HTTP {exc.code}: {why}") from None

    def _cosigned(self, i: int, checkpoint: StoredCheckpoint, lines: str) -> bool:
        witness = self._witnesses[i]
        text = Note.parse(checkpoint.note).text
        found = cosignatures_of(text + "\n" + lines, [witness.key])
        if not found:
            self._failed(i, "the answer holds no cosignature by the configured key")
            return False
        cosignature = found[0]
        self._store.record(
            StoredCosignature(
                checkpoint.size,
                witness.key.vkey,
                cosignature.line,
                cosignature.timestamp,
                self._clock(),
            )
        )
        with self._lock:
            status = self._status[i]
            status.size = status.cosigned_size = checkpoint.size
            status.cosigned_at = cosignature.timestamp
            status.last_error = None
        self._metrics.size.labels(witness.name).set(checkpoint.size)
        self._metrics.at.labels(witness.name).set(cosignature.timestamp)
        self._metrics.behind.labels(witness.name).set(0)
        log.info("witness %s cosigned size %d", witness.name, checkpoint.size)
        return True

    def _failed(self, i: int, why: str) -> None:
        with self._lock:
            status = self._status[i]
            status.failures += 1
            status.last_error = why
        self._metrics.failures.labels(self._witnesses[i].name).inc()
        log.warning("witness %s: %s", self._witnesses[i].name, why)
