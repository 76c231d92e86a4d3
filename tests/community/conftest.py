"""Fixtures for the value-community tests: databases on both backends."""

from __future__ import annotations

from support.postgres import db_url, pg_url, postgres_server

__all__ = ["db_url", "pg_url", "postgres_server"]
