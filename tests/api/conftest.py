"""Fixtures for the API tests; the helpers behind them are in ``support.api``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.api import GTIN, LOT, ORIGIN, Served, lot_body, serve
from support.commerce_api import shop
from support.postgres import pg_url, postgres_server

# Re-exported for test modules that import them from here.
__all__ = [
    "GTIN",
    "LOT",
    "ORIGIN",
    "Served",
    "lot_body",
    "pg_url",
    "postgres_server",
    "served",
    "served_on_both",
    "shop",
]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """The API over an SQLite chain (see :func:`serve`)."""
    with serve(f"sqlite:///{tmp_path / 'chain.db'}", tmp_path) as found:
        yield found


@pytest.fixture(params=["sqlite", "postgresql"])
def served_on_both(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    """The API over an SQLite chain and over a PostgreSQL one (a private cluster started by
    the test setup; skipped locally without PostgreSQL, failing under CI=true)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'chain.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    with serve(url, tmp_path) as found:
        yield found
