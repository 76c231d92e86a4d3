"""Fixtures shared by the fault tests."""

from __future__ import annotations

from typing import Any

import pytest
from support.ingest import GATEWAY_BROKER_SETTINGS
from support.mosquitto import Mosquitto
from support.postgres import db_url, pg_url, postgres_server

__all__ = ["db_url", "pg_url", "postgres_server"]


@pytest.fixture
def broker(mosquitto_factory: Any) -> Mosquitto:
    """A Mosquitto with the queue settings docs/gateway.md asks for (the default drops what
    queues beyond 1,000 messages for a gateway that is away)."""
    broker: Mosquitto = mosquitto_factory(extra=GATEWAY_BROKER_SETTINGS)
    return broker
