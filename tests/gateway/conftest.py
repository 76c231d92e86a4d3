"""Fixtures for the gateway tests: a database URL on each backend, and a view of what it stores."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.ingest import StoredView
from support.postgres import db_url, pg_url, postgres_server

__all__ = ["db_url", "pg_url", "postgres_server"]


@pytest.fixture
def stored(db_url: str) -> Iterator[StoredView]:
    """What the database behind ``db_url`` holds (a module may narrow ``db_url`` to SQLite)."""
    view = StoredView(db_url)
    yield view
    view.close()
