"""The API's tables: API keys, lots, the places a lot passed through, and its signed events.

They live beside the gateway's tables in the same database and are created by the gateway's
Alembic revision 0002 (``farmtrace/store/migrations/versions/v0002_lots_and_events.py``); these
definitions are for queries (a test holds them to the migration).

* ``api_keys``: SHA-256 of each key's secret, its scopes and name; never the secret.
* ``lots``: one row per ``(gtin, lot)``; the GTIN is 14 digits with a valid check digit;
  ``details`` is JSON (grower, method, certifications, farm location, time zone; revision 0003).
* ``lot_stages``: the fields, rooms and trucks a lot passed through, each with its time
  window (ms since the epoch, end open while ``NULL``) and the device IDs that watched it.
* ``lot_events``: each event's signed entry (``FE`` prefix, ``farmtrace/api/lots/event_entry.py``) and the
  ``(signer, seq)`` under which the gateway integrates it into its chain. An event is
  *pending anchoring* until an ``entries`` row with that ``(device_id, seq)`` exists. The same
  entry is queued in the gateway's ``pending_entries`` for its next block.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = ["API_KEYS", "LOTS", "LOT_EVENTS", "LOT_STAGES", "METADATA"]

METADATA = MetaData()

API_KEYS = Table(
    "api_keys",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("scopes", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float),
)

LOTS = Table(
    "lots",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("gtin", String(14), nullable=False),
    Column("lot", String(20), nullable=False),
    Column("product_name", String(128), nullable=False),
    Column("product_class", String(64), nullable=False),
    Column("farm", String(128), nullable=False),
    Column("origin_region", String(128), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("details", Text),
    UniqueConstraint("gtin", "lot", name="uq_lots_gtin_lot"),
)

LOT_STAGES = Table(
    "lot_stages",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("lot_id", Integer, ForeignKey("lots.id"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("name", String(128), nullable=False),
    Column("start_ms", BigInteger, nullable=False),
    Column("end_ms", BigInteger),
    Column("device_ids", Text, nullable=False),
)

LOT_EVENTS = Table(
    "lot_events",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("lot_id", Integer, ForeignKey("lots.id"), nullable=False, index=True),
    Column("signer", String(128), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("time_ms", BigInteger, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("signer", "seq", name="uq_lot_events_signer_seq"),
)
