"""The batcher thread: drains the inbox into batches that close at a size or an age.

Signatures are checked on this thread as the batch fills (in chunks, one ``rust_core`` call
each, with the GIL released), so the committer receives batches whose signatures are known.
A batch closes when it holds ``batch_size`` messages or ``batch_age`` seconds after it took its
first message, whichever comes first (when traffic keeps up, that message arrived a moment
before; under overload it may have waited in the inbox, and closing on its arrival time would
only make batches small and the overload worse); the size is kept below the MQTT receive window
so a batch can always fill. A closed batch is handed to the committer once it has finished the previous one: while the
committer works on a batch, the batcher fills the next and then waits; the inbox fills to its
bound and the broker holds the rest (backpressure, bounded memory).
"""

from __future__ import annotations

import logging
import queue
import threading
import time

from farmtrace.gateway.ingest.batch import Batch, TopicCache
from farmtrace.gateway.ingest.decoding import ReadingDecoder
from farmtrace.gateway.ingest.inbox import Inbox
from farmtrace.gateway.ingest.registry_view import RegistryView

__all__ = ["Batcher"]

log = logging.getLogger("farmtrace.gateway")

_IDLE_POLL_S = 0.25
VERIFY_CHUNK = 512
"""Signatures are checked as the batch fills, this many at a time, so that checking overlaps
the committer's work on the previous batch instead of adding to the latency at the close."""


class Batcher:
    """Run :meth:`run` on its own thread; set ``stop`` to close the last batch and end."""

    def __init__(
        self,
        inbox: Inbox,
        registry: RegistryView,
        out: queue.Queue[Batch | None],
        batch_size: int,
        batch_age: float,
        stop: threading.Event,
        verify_threads: int | None = None,
        verify_chunk: int = VERIFY_CHUNK,
    ) -> None:
        self._inbox = inbox
        self._registry = registry
        self._out = out
        self._size = batch_size
        self._age = batch_age
        self._stop = stop
        self._verify_threads = verify_threads
        self._verify_chunk = verify_chunk
        self._topics = TopicCache()
        self._decoder = ReadingDecoder()
        self._number = 0
        self._open: Batch | None = None
        self.failure: BaseException | None = None
        self.thread_cpu = 0.0

    @property
    def open_size(self) -> int:
        """Messages in the batch being filled (read from other threads for the lag gauges)."""
        batch = self._open
        return len(batch) if batch is not None else 0

    @property
    def open_first_mono(self) -> float | None:
        batch = self._open
        return batch.first_mono if batch is not None and batch.items else None

    def run(self) -> None:
        """Batch until stopped; then hand over what has arrived so far and a final ``None``.

        An unexpected error (a bug: every input problem becomes a rejected item) stops the
        gateway; the batch in hand is then never acknowledged and will be delivered again.
        """
        try:
            self._batch_until_stopped()
        except BaseException as exc:
            self.failure = exc
            self._stop.set()
        finally:
            self.thread_cpu = time.thread_time()
            self._out.put(None)

    def _batch_until_stopped(self) -> None:
        while not self._stop.is_set():
            batch = self._fill()
            if batch.items:
                self._hand_over(batch)
            self._open = None
        final = self._new_batch()
        self._admit_all(final, 0.0)
        if final.items:
            self._hand_over(final)
        self._open = None

    def _new_batch(self) -> Batch:
        self._number += 1
        self._open = Batch(self._number)
        return self._open

    def _fill(self) -> Batch:
        batch = self._new_batch()
        while len(batch) < self._size and not self._stop.is_set():
            self._registry.maybe_refresh()
            if batch.items:
                wait = batch.opened_mono + self._age - time.monotonic()
                if wait <= 0:
                    break
            else:
                wait = _IDLE_POLL_S
            self._admit_all(batch, wait)
        return batch

    def _admit_all(self, batch: Batch, wait: float) -> None:
        for delivery in self._inbox.take(self._size - len(batch), wait):
            batch.admit(delivery, self._topics, self._registry, self._decoder)
            if batch.unverified >= self._verify_chunk:
                batch.verify_pending(self._verify_threads)

    def _hand_over(self, batch: Batch) -> None:
        """Finish the batch's signature checks, wait until the committer has finished the
        previous batch, then hand this one over: at most two batches are ever in the gateway
        (one being committed, one filling), which bounds the latency under load."""
        batch.verify_pending(self._verify_threads)
        self._out.join()
        self._out.put(batch)
