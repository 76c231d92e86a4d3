"""Crash failpoints: the gateway kills itself (SIGKILL) at a named moment of a batch commit.

Fault tests use them to crash the gateway *inside* a commit rather than at a random wall-clock
moment, the way etcd's gofail and FoundationDB's simulation place crashes in code::

    FARMTRACE_FAILPOINT=append.before-commit:3 farmtrace gateway ...

makes the gateway ``SIGKILL`` itself the 3rd time it reaches ``append.before-commit``. The
variable is read once, when ``farmtrace gateway`` starts (:func:`arm_from_environment`); a
malformed value stops the start with a :class:`FailpointError` naming what is wrong, never
silently ignored. Unset or empty, nothing is armed and :func:`hit` returns after one ``is
None`` test (the points are reached once or a few times per batch, never per reading).

Contract of the points (:data:`POINTS`, in the order a batch reaches them): a kill at a point
leaves exactly what its description says durable, and nothing acknowledged that is not
durable. The broker redelivers whatever was not acknowledged and the sequence rule recognises
what was already stored; ``tests/faults/test_gateway_crash_points.py`` checks it end to end.

The kill is ``os.kill(os.getpid(), SIGKILL)``: no ``finally`` blocks, no ``atexit``, no clean
MQTT DISCONNECT, no flush of SQLite or PostgreSQL beyond what they committed; the same as a
power cut for everything outside the kernel (the kernel still delivers bytes already written
to sockets, as it would for a crash but not a power cut).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NoReturn

__all__ = [
    "ACK_AFTER",
    "ACK_BEFORE",
    "ACK_BETWEEN",
    "APPEND_AFTER_COMMIT",
    "APPEND_BEFORE_COMMIT",
    "APPEND_BLOCK_WRITTEN",
    "APPEND_CHECKPOINT_SIGNED",
    "APPEND_ENTRIES_INSERTED",
    "APPEND_TREE_BUILT",
    "ENV",
    "POINTS",
    "QUARANTINE_STORED",
    "WATERMARK_AFTER",
    "Failpoint",
    "FailpointError",
    "arm",
    "arm_from_environment",
    "armed",
    "disarm",
    "hit",
    "parse",
]

log = logging.getLogger("farmtrace.gateway")

ENV = "FARMTRACE_FAILPOINT"

QUARANTINE_STORED = "quarantine.stored"
APPEND_TREE_BUILT = "append.tree-built"
APPEND_CHECKPOINT_SIGNED = "append.checkpoint-signed"
APPEND_ENTRIES_INSERTED = "append.entries-inserted"
APPEND_BLOCK_WRITTEN = "append.block-written"
APPEND_BEFORE_COMMIT = "append.before-commit"
APPEND_AFTER_COMMIT = "append.after-commit"
ACK_BEFORE = "ack.before"
ACK_BETWEEN = "ack.between"
ACK_AFTER = "ack.after"
WATERMARK_AFTER = "watermark.after"

POINTS: Mapping[str, str] = {
    QUARANTINE_STORED: "a batch with no accepted reading: its rejected messages committed to "
    "the quarantine (a batch with accepted readings stores them in its block's transaction and "
    "does not reach this point)",
    APPEND_TREE_BUILT: "block transaction open, the batch's keys looked up and its Merkle tree "
    "built; nothing inserted",
    APPEND_CHECKPOINT_SIGNED: "block sealed and the next checkpoint signed (in memory only); "
    "nothing inserted",
    APPEND_ENTRIES_INSERTED: "the entry rows inserted, not the block; not committed",
    APPEND_BLOCK_WRITTEN: "entries and block row inserted, not the checkpoint; not committed",
    APPEND_BEFORE_COMMIT: "entries, block, checkpoint (and chain key) inserted, with the "
    "batch's drop floors and quarantine rows; COMMIT not sent",
    APPEND_AFTER_COMMIT: "the block committed; the checkpoint not yet recorded in the state "
    "directory, the head not advanced in memory",
    ACK_BEFORE: "the batch durable (block, quarantine, state checkpoint); no PUBACK sent",
    ACK_BETWEEN: "the first half of the batch's PUBACKs written to the socket, the rest not "
    "(reached only for batches of two or more QoS 1 messages)",
    ACK_AFTER: "every PUBACK of the batch written to the socket; no watermark published",
    WATERMARK_AFTER: "the batch's watermarks published (those not deferred by the 0.5 s "
    "per-device limit) and written to the socket",
}
"""Every point, in the order a batch reaches them, with what is durable when it fires."""


class FailpointError(ValueError):
    """A malformed ``FARMTRACE_FAILPOINT`` value; the message names what is wrong."""


@dataclass(frozen=True, slots=True)
class Failpoint:
    """Kill the process the ``count``-th time ``point`` is reached (``count`` >= 1)."""

    point: str
    count: int

    @property
    def spec(self) -> str:
        return f"{self.point}:{self.count}"


_lock = threading.Lock()
_armed: Failpoint | None = None
_hits = 0


def parse(spec: str) -> Failpoint:
    """Parse ``<point>:<n>``; raise :class:`FailpointError` naming what is wrong."""
    text = spec.strip()
    point, colon, count_text = text.rpartition(":")
    if not colon:
        raise FailpointError(f"{ENV}={spec!r}: expected <point>:<n>, e.g. {APPEND_BEFORE_COMMIT}:3")
    if point not in POINTS:
        raise FailpointError(
            f"{ENV}={spec!r}: unknown point {point!r}; known points: {', '.join(POINTS)}"
        )
    try:
        count = int(count_text)
    except ValueError:
        raise FailpointError(
            f"{ENV}={spec!r}: the count {count_text!r} is not a whole number"
        ) from None
    if count < 1:
        raise FailpointError(f"{ENV}={spec!r}: the count must be at least 1, got {count}")
    return Failpoint(point, count)


def arm(failpoint: Failpoint | None) -> None:
    """Arm ``failpoint`` (``None`` disarms) and reset its hit count."""
    global _armed, _hits
    with _lock:
        _armed, _hits = failpoint, 0


def disarm() -> None:
    arm(None)


def arm_from_environment(environ: Mapping[str, str] = os.environ) -> Failpoint | None:
    """Arm what ``FARMTRACE_FAILPOINT`` says (nothing when unset or empty); return it."""
    spec = environ.get(ENV, "")
    failpoint = parse(spec) if spec.strip() else None
    arm(failpoint)
    if failpoint is not None:
        log.warning(
            "failpoint armed: SIGKILL at hit %d of %s (%s)",
            failpoint.count,
            failpoint.point,
            POINTS[failpoint.point],
        )
    return failpoint


def armed(point: str) -> bool:
    """Whether ``point`` is the armed one (a call site may then take a path that makes the
    point reachable, e.g. acknowledging a batch in two halves)."""
    current = _armed
    return current is not None and current.point == point


def hit(point: str, settle: Callable[[], object] | None = None) -> None:
    """Count a pass through ``point``; at the armed count, run ``settle`` (e.g. wait until
    queued packets are written) and kill the process with SIGKILL. Free when nothing is armed."""
    global _hits
    current = _armed
    if current is None or current.point != point:
        return
    with _lock:
        _hits += 1
        fire = _hits == current.count
    if fire:
        if settle is not None:
            settle()
        _kill(current)


def _kill(failpoint: Failpoint) -> NoReturn:
    log.warning("failpoint %s reached: SIGKILL", failpoint.spec)
    for handler in logging.getLogger("farmtrace").handlers:
        handler.flush()
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("SIGKILL did not end the process")  # pragma: no cover
