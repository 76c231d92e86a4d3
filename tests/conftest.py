"""Shared fixtures. Services run for real on 127.0.0.1 free ports and stop with the test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.mosquitto import Mosquitto, MosquittoFactory, require_mosquitto


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
