"""Shared fixtures. Services run for real on 127.0.0.1 free ports and stop with the test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from support.fast import FAST
from support.mosquitto import Mosquitto, MosquittoFactory, require_mosquitto

# make test-fast (FARMTRACE_TEST_TIER=fast): property tests without a stated count run 10
# examples instead of hypothesis's 100; stated counts shrink through support.fast.examples.
settings.register_profile("fast", max_examples=10)
if FAST:
    settings.load_profile("fast")

# Fixtures that start a real service: a test using one is an integration test, whatever its
# module says (docs/testing.md). PostgreSQL comes in through these or through the "postgresql"
# parameter of a fixture parametrised over both backends (``db_url``, ``served_on_both``).
SERVICE_FIXTURES = frozenset({"mosquitto", "mosquitto_factory", "pg_url", "postgres_server"})
POSTGRESQL_PARAM = "postgresql"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``integration`` every test that starts Mosquitto or PostgreSQL, so that
    ``-m "not integration"`` (and ``make test-fast``) never needs a service."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        params = getattr(getattr(item, "callspec", None), "params", {})
        on_postgresql = any(
            isinstance(value, str) and value == POSTGRESQL_PARAM for value in params.values()
        )
        if names & SERVICE_FIXTURES or on_postgresql:
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def mosquitto_factory(tmp_path: Path) -> Iterator[MosquittoFactory]:
    """Make started brokers: ``mosquitto_factory(users=..., acl=..., extra=[...])``.

    Every broker made is stopped at teardown, whatever state the test left it in.
    """
    binary = require_mosquitto()
    brokers: list[Mosquitto] = []

    def make(**options: object) -> Mosquitto:
        broker = Mosquitto(workdir=tmp_path / f"mosquitto-{len(brokers)}", binary=binary, **options)  # type: ignore[arg-type]
        brokers.append(broker)
        broker.start()
        return broker

    yield make
    for broker in brokers:
        broker.kill()


@pytest.fixture
def mosquitto(mosquitto_factory: MosquittoFactory) -> Mosquitto:
    """A started anonymous broker with persistence; ``.stop()``/``.start()``/``.restart()``."""
    return mosquitto_factory()
