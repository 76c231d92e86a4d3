"""The device registry as the ingest sees it: a snapshot refreshed from the database.

Devices are registered and revoked with ``farmtrace devices`` (another process), so the gateway
re-reads the registry every ``registry_refresh`` seconds, and sooner (at most once a second)
when a reading names a device it does not know. A failed refresh keeps the previous snapshot
and says so; it never stops ingest.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from farmtrace.store.errors import DatabaseError
from farmtrace.store.records import Device

__all__ = ["RegistryView"]

log = logging.getLogger("farmtrace.gateway")

_UNKNOWN_REFRESH_S = 1.0


class RegistryView:
    """``get(device_id)`` from a snapshot; ``maybe_refresh()`` keeps it fresh.

    The snapshot is replaced whole, so readers on other threads always see a consistent one.
    """

    def __init__(self, load: Callable[[], list[Device]], refresh_every: float) -> None:
        self._load = load
        self._refresh_every = refresh_every
        self._devices: dict[str, Device] = {}
        self._loaded_mono = float("-inf")
        self.refresh()

    @property
    def devices(self) -> dict[str, Device]:
        return self._devices

    def get(self, device_id: str) -> Device | None:
        """The device from the current snapshot (``None`` if unknown)."""
        return self._devices.get(device_id)

    def lookup(self, device_id: str) -> Device | None:
        """Like :meth:`get`, but an unknown device triggers a (rate-limited) refresh first."""
        found = self._devices.get(device_id)
        if found is None:
            self.maybe_refresh(unknown_seen=True)
            found = self._devices.get(device_id)
        return found

    def refresh(self) -> bool:
        """Reload the registry; on a database error keep the old snapshot and return False."""
        self._loaded_mono = time.monotonic()
        try:
            devices = self._load()
        except DatabaseError as exc:
            log.warning("cannot refresh the device registry (keeping the last one): %s", exc)
            return False
        self._devices = {d.device_id: d for d in devices}
        return True

    def maybe_refresh(self, unknown_seen: bool = False) -> None:
        """Refresh when the snapshot is old, or (rate-limited) when an unknown device appeared."""
        age = time.monotonic() - self._loaded_mono
        if age >= self._refresh_every or (unknown_seen and age >= _UNKNOWN_REFRESH_S):
            self.refresh()
