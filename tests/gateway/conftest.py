"""Fixtures for the gateway's storage tests: a database URL on each backend."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.postgres import pg_url, postgres_server

__all__ = ["db_url", "pg_url", "postgres_server"]


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database: an SQLite file in ``tmp_path``, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'farmtrace.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url
