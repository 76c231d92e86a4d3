"""Fixtures for the value-community tests: databases on both backends, and the API with the
barbershop's operator seed in its state directory and an operator key (``community:write``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.community_api import Community, community_at
from support.postgres import db_url, pg_url, postgres_server

__all__ = ["community", "community_on_both", "db_url", "pg_url", "postgres_server"]


@pytest.fixture
def community(tmp_path: Path) -> Iterator[Community]:
    """The API over SQLite."""
    yield from community_at(f"sqlite:///{tmp_path / 'chain.db'}", tmp_path)


@pytest.fixture(params=["sqlite", "postgresql"])
def community_on_both(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Community]:
    """The API over SQLite and over PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'chain.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    yield from community_at(url, tmp_path)
