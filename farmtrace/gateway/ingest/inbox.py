"""Deliveries from the broker and the bounded hand-off from paho's network thread.

``on_message`` runs on paho's network thread, where slow work would stall keep-alives, so it
only wraps the message in a :class:`Delivery` and appends it to the :class:`Inbox`. The inbox
never holds more than the MQTT Receive Maximum of unacknowledged readings, because the broker
sends no more than that until we acknowledge; its bound is a safety net that blocks the network
thread rather than dropping anything.

When the gateway stops, the batcher takes a last batch and nobody takes from the inbox again,
while the broker keeps sending up to the receive window: ``close`` then releases a network
thread blocked on the full inbox and turns away what still arrives. Nothing turned away was
acknowledged, so the broker delivers it again in the gateway's next session.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

__all__ = ["Delivery", "Inbox"]


@dataclass(slots=True, eq=False)
class Delivery:
    """One message as received: what to acknowledge (``generation``, ``mid``, ``qos``) and what
    arrived (``topic``, ``payload``), when (``received_at`` wall clock, ``received_mono``), and
    whether the broker marked it as a redelivery (``dup``)."""

    generation: int
    mid: int
    qos: int
    topic: str
    payload: bytes
    received_at: float
    received_mono: float
    dup: bool


class Inbox:
    """A bounded FIFO of deliveries between one producer and one consumer thread."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("inbox limit must be at least 1")
        self._limit = limit
        self._items: deque[Delivery] = deque()
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)
        self._not_full = threading.Condition(self._lock)
        self._waiting = False
        self._closed = False
        self.high_water = 0
        self.full_waits = 0
        self.turned_away = 0

    def put(self, delivery: Delivery) -> None:
        """Append; block while the inbox is full (the broker is ignoring our receive window).
        Once closed, return at once without keeping the delivery (it stays unacknowledged)."""
        self.put_many([delivery])

    def put_many(self, deliveries: list[Delivery]) -> None:
        """:meth:`put` each, in order, under one acquisition of the lock (blocking the same way
        while the inbox is full; once closed, the rest are turned away)."""
        with self._lock:
            items, limit = self._items, self._limit
            for index, delivery in enumerate(deliveries):
                while len(items) >= limit and not self._closed:
                    self.full_waits += 1
                    self._not_full.wait(0.5)
                if self._closed:
                    self.turned_away += len(deliveries) - index
                    return
                items.append(delivery)
                if len(items) > self.high_water:
                    self.high_water = len(items)
                if self._waiting:
                    self._not_empty.notify()

    def take(self, most: int, timeout: float) -> list[Delivery]:
        """Up to ``most`` deliveries, oldest first; wait up to ``timeout`` s for the first."""
        with self._lock:
            items = self._items
            if not items and timeout > 0:
                self._waiting = True
                try:
                    self._not_empty.wait(timeout)
                finally:
                    self._waiting = False
            count = min(most, len(items))
            taken = [items.popleft() for _ in range(count)]
            if count:
                self._not_full.notify_all()
            return taken

    def close(self) -> None:
        """Accept nothing more: a ``put`` blocked on the full inbox returns, later ones return at
        once, and neither keeps its delivery. Call it once no thread will ``take`` again, before
        the connection is closed (closing joins the network thread that ``put`` may block)."""
        with self._lock:
            self._closed = True
            self._not_full.notify_all()

    def __len__(self) -> int:
        return len(self._items)

    def oldest_age(self, now_mono: float | None = None) -> float:
        """Seconds since the oldest waiting delivery arrived (0 when empty)."""
        try:
            first = self._items[0]
        except IndexError:
            return 0.0
        return (time.monotonic() if now_mono is None else now_mono) - first.received_mono
