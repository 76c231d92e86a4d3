"""Fixtures of the witness tests: the database URL over SQLite and PostgreSQL (``db_url``)."""

from support.postgres import db_url, pg_url, postgres_server

__all__ = ["db_url", "pg_url", "postgres_server"]
