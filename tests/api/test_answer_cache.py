"""Lot pages and bundles are kept until the next commit to the database (AnswerCache keyed by
DataVersion): the same answer while nothing is committed, a new one after any commit (another
connection's, or this process's own through the pool)."""

from __future__ import annotations

from pathlib import Path

from support.postgres import db_url
from support.readings import batch, devices

from farmtrace.api.services.answer_cache import AnswerCache
from farmtrace.store.data_version import DataVersion
from farmtrace.store.database import open_database
from farmtrace.store.ledger import Ledger

ORIGIN = "farmtrace.example/gw-answers"
__all__ = ["db_url"]  # the fixture (SQLite and PostgreSQL)


def test_the_token_moves_with_every_commit_and_only_then(db_url: str, tmp_path: Path) -> None:
    devs = devices(2)
    with Ledger.open(db_url, tmp_path / "state", ORIGIN) as ledger:
        ledger.append_batch(batch(devs, range(1)))
        database = open_database(db_url)
        version = DataVersion(database)
        try:
            first = version.token()
            assert first is not None
            assert version.token() == first  # nothing committed since
            ledger.append_batch(batch(devs, range(1, 2)))
            second = version.token()
            assert second is not None and second != first
        finally:
            version.close()
            database.close()


def test_answers_are_kept_until_a_commit(db_url: str, tmp_path: Path) -> None:
    devs = devices(2)
    with Ledger.open(db_url, tmp_path / "state", ORIGIN) as ledger:
        ledger.append_batch(batch(devs, range(1)))
        database = open_database(db_url)
        cache = AnswerCache(DataVersion(database))
        made: list[int] = []

        def make() -> str:
            made.append(ledger.entry_count)
            return f"{ledger.entry_count} entries"

        try:
            assert cache.get("k", make) == "2 entries"
            assert cache.get("k", make) == "2 entries"
            assert made == [2]  # kept
            assert cache.get("other", make) == "2 entries"  # keys are apart
            ledger.append_batch(batch(devs, range(1, 3)))
            assert cache.get("k", make) == "6 entries"  # computed again after the commit
            assert made == [2, 2, 6]
        finally:
            cache.version.close()
            database.close()
