"""The idle sweep: entries signed elsewhere (lot events, lot declarations, later campaign and
coupon entries) are sealed into a block within about ``batch_age`` even when no reading flows.

Those entries wait in ``pending_entries`` and every append takes them into its block
(``LedgerInterface.append_batch``). A reading batch therefore sweeps them already; the
committer calls :meth:`PendingSweep.appended` after each such append, and
:meth:`PendingSweep.run_if_due` whenever it is idle or has finished a batch. The sweep runs
``append_batch([])`` only when no append happened for ``batch_age``: with readings flowing it
never runs, and when idle it costs one indexed read per ``batch_age`` (the ledger looks before
it takes a write lock). It never touches a reading, so the acknowledgement rule is untouched.

Several gateways sharing a database may sweep the same entries at once; the ``(device_id,
seq)`` key, unique in ``entries`` across the database, lets only one of them integrate each.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from farmtrace.store.errors import DatabaseError
from farmtrace.store.interface import LedgerInterface
from farmtrace.store.records import BatchResult

__all__ = ["PendingSweep"]

log = logging.getLogger("farmtrace.gateway")


class PendingSweep:
    """When to seal pending entries alone, and doing it. Used from the committer thread only."""

    def __init__(
        self,
        ledger: LedgerInterface,
        batch_age: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """The first sweep is due at once: entries queued while no gateway ran wait no longer."""
        self._ledger = ledger
        self._age = batch_age
        self._clock = clock
        self._next = clock()
        self._failing = False
        self.sweeps = 0
        self.blocks = 0

    def appended(self) -> None:
        """An append just committed (it took whatever was pending): the next sweep is due a
        batch age from now."""
        self._next = self._clock() + self._age

    def wait(self, limit: float) -> float:
        """Seconds until the next sweep is due, at most ``limit`` and at least 0."""
        return max(0.0, min(limit, self._next - self._clock()))

    def run_if_due(self) -> BatchResult | None:
        """Seal a block of the waiting entries if no append happened for a batch age.

        Returns the ledger's result of the sweep (``block`` is ``None`` when nothing waited),
        or ``None`` when no sweep was due or the database failed. A ``DatabaseError`` is logged
        and the sweep tried again a batch age later: it must not hold the committer, which
        retries reading batches itself. Any other error is the ledger's refusal (an
        inconsistent checkpoint, an invalid entry) and propagates, as it does for a batch.
        """
        now = self._clock()
        if now < self._next:
            return None
        self._next = now + self._age
        self.sweeps += 1
        try:
            result = self._ledger.append_batch([])
        except DatabaseError as exc:
            if not self._failing:
                log.warning("cannot seal the pending entries: %s; trying again", exc)
            self._failing = True
            return None
        if self._failing:
            log.info("sealing pending entries works again")
            self._failing = False
        # Measured from the sweep's end, like an append's: a slow sweep is not run back to back.
        self.appended()
        if result.block is not None:
            self.blocks += 1
            log.debug(
                "sealed block %d of %d pending entries", result.block.height, result.block.size
            )
        return result
