"""The device registry read for the broker's files, without changing the database.

Unlike ``farmtrace devices``, nothing here creates or migrates a database: a mistyped SQLite
path must be an error, not a new empty registry that would lock every device out.
"""

from __future__ import annotations

from farmtrace.gateway.broker.errors import BrokerFilesError
from farmtrace.store.device_registry import DeviceRegistry
from farmtrace.store.errors import NotFoundError, StoreError
from farmtrace.store.records import Device

__all__ = ["read_registry"]


def read_registry(db_url: str) -> list[Device]:
    """Every registered device (revoked ones included), by ID; raise naming the database."""
    try:
        registry = DeviceRegistry.open_existing(db_url)
    except NotFoundError as exc:
        raise BrokerFilesError(str(exc)) from None
    except StoreError as exc:
        raise BrokerFilesError(f"cannot open the device registry: {exc}") from None
    try:
        if not registry.has_schema():
            raise BrokerFilesError(
                f"{registry.where} holds no farmtrace schema; register devices first "
                "(farmtrace devices import --db URL KEYS.json)"
            )
        return registry.devices()
    except StoreError as exc:
        raise BrokerFilesError(str(exc)) from None
    finally:
        registry.close()
