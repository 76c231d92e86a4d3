"""What ``farmtrace audit`` reads: every row it checks, as records, in chain order.

:func:`open_for_audit` opens a database that must already be a farmtrace database at the newest
schema (the audit never creates or migrates one) and yields an :class:`AuditReads` over one
connection. Inside its ``with`` block any database failure, including one met while a stream
is being read, is raised as :class:`~farmtrace.store.errors.DatabaseError` naming the database.

Entries and the per-device seq rows are streamed in chunks (the chain may not fit in memory);
the caller closes each stream (they are context managers) before the next read.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import BigInteger, Connection, Integer, func, literal, null, select, union_all
from sqlalchemy.exc import SQLAlchemyError

from farmtrace.chain.entry import CAMPAIGN, COUPON_MOVE, READING
from farmtrace.store.campaigns import CampaignHead, CouponRecord, campaign_head, coupon_record
from farmtrace.store.communities import CommunityAuditRows
from farmtrace.store.dropfloors import stored_floors
from farmtrace.store.engine import create_db_engine, describe_url
from farmtrace.store.errors import DatabaseError, StoreError
from farmtrace.store.listings import ListingAuditRows
from farmtrace.store.migrate import current_revision, head_revision
from farmtrace.store.models import Base
from farmtrace.store.records import StoredCheckpoint, StoredEntry, StoredFloor
from farmtrace.store.refused import RefusedCount, refused_counts
from farmtrace.store.state import CHECKPOINT_FILE

__all__ = [
    "AuditReads",
    "MoveRowRead",
    "SeqRow",
    "StoredBlock",
    "open_for_audit",
    "recorded_checkpoint",
]

BLOCKS = Base.metadata.tables["blocks"]
CHAINS = Base.metadata.tables["chains"]
CHAIN_KEYS = Base.metadata.tables["chain_keys"]
CHECKPOINTS = Base.metadata.tables["checkpoints"]
ENTRIES = Base.metadata.tables["entries"]
DEVICES = Base.metadata.tables["devices"]
QUARANTINE = Base.metadata.tables["quarantine"]
LOT_EVENTS = Base.metadata.tables["lot_events"]
PENDING = Base.metadata.tables["pending_entries"]
SIGNING_KEYS = Base.metadata.tables["signing_keys"]
LOTS = Base.metadata.tables["lots"]
CAMPAIGNS = Base.metadata.tables["campaigns"]
CAMPAIGN_ENTRIES = Base.metadata.tables["campaign_entries"]
COUPONS = Base.metadata.tables["coupons"]
MOVES = Base.metadata.tables["coupon_moves"]

_ENTRY_ROWS = 5000
_SEQ_ROWS = 20_000

SeqRow = tuple[str, int, int | None, int]
"""``(device_id, seq, timestamp_ms, rejected)``: a stored reading (``rejected`` 0, its signed
timestamp) or a signed rejection (``rejected`` 1, no timestamp)."""


@dataclass(frozen=True, slots=True)
class StoredBlock:
    """A block row as stored: the header's bytes and the lookup columns kept beside them (the
    audit checks that the columns agree with the header)."""

    height: int
    header: bytes
    first_index: int
    size: int
    time_ms: int


@dataclass(frozen=True, slots=True)
class MoveRowRead:
    """A ``coupon_moves`` row as stored: a transfer carries the holder's statement, a
    redemption the redeem statement, a void nothing."""

    serial: int
    move: int
    op: str
    prev: str
    state: str
    holder: str | None
    price_amount: int | None
    price_currency: str | None
    time_ms: int
    payload: bytes | None


def recorded_checkpoint(state_dir: Path) -> str | None:
    """The last checkpoint a gateway recorded in its state directory (``None`` if it never
    signed one), read without taking the directory's lock: a running gateway replaces the file
    atomically, so a reader sees one whole note."""
    path = Path(state_dir) / CHECKPOINT_FILE
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreError(f"cannot read {path}: {exc}") from None


@contextmanager
def open_for_audit(db_url: str) -> Iterator[AuditReads]:
    """The audit's reads of the database at ``db_url``; raise :class:`DatabaseError` when it
    cannot be opened or read, or is not at the newest schema revision."""
    engine = create_db_engine(db_url)
    database = describe_url(db_url)
    try:
        revision = current_revision(engine)
        if revision != head_revision():
            raise DatabaseError(
                f"{database} is not a farmtrace database at schema {head_revision()} "
                f"(found revision {revision})"
            )
        with engine.connect() as conn:
            yield AuditReads(conn, database)
    except SQLAlchemyError as exc:
        raise DatabaseError(f"cannot read {database}: {exc}") from None
    finally:
        engine.dispose()


class AuditReads:
    """Read-only queries over one connection, for one audit (see the module docstring)."""

    def __init__(self, conn: Connection, database: str) -> None:
        self._conn = conn
        self.database = database
        """The database's URL with any password hidden, for the report."""

    def communities(self) -> CommunityAuditRows:
        """The value-community tables' reads over this audit's connection."""
        return CommunityAuditRows(self._conn)

    def market(self) -> ListingAuditRows:
        """The coupon market's tables' reads over this audit's connection."""
        return ListingAuditRows(self._conn)

    def chains(self) -> list[tuple[int, str]]:
        """Every chain as ``(chain_id, origin)``, by ID."""
        rows = self._conn.execute(select(CHAINS.c.id, CHAINS.c.origin).order_by(CHAINS.c.id))
        return [(int(chain_id), origin) for chain_id, origin in rows]

    def device_keys(self) -> dict[str, bytes]:
        """Every registered device's public key (revoked devices included)."""
        rows = self._conn.execute(select(DEVICES.c.device_id, DEVICES.c.public_key))
        return {device_id: bytes(key) for device_id, key in rows}

    def recorded_keys(self, chain_id: int) -> list[str]:
        """The verifier keys the chain recorded in its ``chain_keys`` table, as stored."""
        query = select(CHAIN_KEYS.c.vkey).where(CHAIN_KEYS.c.chain_id == chain_id)
        return list(self._conn.execute(query).scalars())

    def blocks(self, chain_id: int) -> Iterator[StoredBlock]:
        """The chain's blocks by height, as stored (gaps and all)."""
        rows = self._conn.execute(
            select(
                BLOCKS.c.height,
                BLOCKS.c.header,
                BLOCKS.c.first_index,
                BLOCKS.c.size,
                BLOCKS.c.time_ms,
            )
            .where(BLOCKS.c.chain_id == chain_id)
            .order_by(BLOCKS.c.height)
        )
        for row in rows:
            yield StoredBlock(row.height, bytes(row.header), row.first_index, row.size, row.time_ms)

    @contextmanager
    def entries(self, chain_id: int, origin: str) -> Iterator[Iterator[StoredEntry]]:
        """The chain's entries in index order, fetched ``_ENTRY_ROWS`` at a time; the columns
        are handed over as stored, unconverted, for the audit to compare with the bytes."""
        # Per-statement options: Connection.execution_options() would change the connection itself.
        query = (
            select(ENTRIES).where(ENTRIES.c.chain_id == chain_id).order_by(ENTRIES.c.global_index)
        )
        options = {"stream_results": True, "yield_per": _ENTRY_ROWS}
        with self._conn.execute(query, execution_options=options) as result:
            yield (
                StoredEntry(
                    origin=origin,
                    global_index=row.global_index,
                    block_height=row.block_height,
                    index_in_block=row.index_in_block,
                    kind=row.kind,
                    device_id=row.device_id,
                    seq=row.seq,
                    timestamp_ms=row.timestamp_ms,
                    received_at=row.received_at,
                    payload=bytes(row.payload),
                )
                for row in result
            )

    def checkpoints(self, chain_id: int, origin: str) -> list[StoredCheckpoint]:
        """The chain's stored checkpoints by size."""
        rows = self._conn.execute(
            select(CHECKPOINTS.c.size, CHECKPOINTS.c.note, CHECKPOINTS.c.signed_at)
            .where(CHECKPOINTS.c.chain_id == chain_id)
            .order_by(CHECKPOINTS.c.size)
        )
        return [StoredCheckpoint(origin, size, note, signed_at) for size, note, signed_at in rows]

    def floors(self) -> list[StoredFloor]:
        """Every stored drop floor with its signed statement, by device and floor."""
        return stored_floors(self._conn)

    @contextmanager
    def seq_rows(self) -> Iterator[Iterator[SeqRow]]:
        """Every stored reading and every signed rejection as a :data:`SeqRow`, by device,
        seq, and stored before rejected; fetched ``_SEQ_ROWS`` at a time."""
        stored = select(
            ENTRIES.c.device_id,
            ENTRIES.c.seq,
            ENTRIES.c.timestamp_ms,
            literal(0, Integer).label("rejected"),
        ).where(ENTRIES.c.kind == READING)
        rejected = (
            select(
                QUARANTINE.c.device_id,
                QUARANTINE.c.seq,
                null().cast(BigInteger).label("timestamp_ms"),
                literal(1, Integer).label("rejected"),
            )
            .where(QUARANTINE.c.signed_rejection.is_(True))
            .distinct()
        )
        both = union_all(stored, rejected).subquery()
        query = select(both).order_by(both.c.device_id, both.c.seq, both.c.rejected)
        options = {"stream_results": True, "yield_per": _SEQ_ROWS}
        with self._conn.execute(query, execution_options=options) as rows:
            yield (
                (device_id, seq, timestamp_ms, rejected)
                for device_id, seq, timestamp_ms, rejected in rows
            )

    def quarantine_counts(self) -> dict[str, int]:
        """How many messages are quarantined, per reason."""
        query = select(QUARANTINE.c.reason, func.count()).group_by(QUARANTINE.c.reason)
        return {reason: int(n) for reason, n in self._conn.execute(query)}

    def refused_counts(self) -> list[RefusedCount]:
        """The quarantine's refusal counters (``quarantine_refused``), by device and reason,
        summed over chains."""
        return refused_counts(self._conn)

    def signed_rejections(self) -> list[tuple[int, str, int, bytes]]:
        """Every signed rejection in the quarantine as ``(row id, device_id, seq, payload)``."""
        rows = self._conn.execute(
            select(QUARANTINE.c.id, QUARANTINE.c.device_id, QUARANTINE.c.seq, QUARANTINE.c.payload)
            .where(QUARANTINE.c.signed_rejection.is_(True))
            .order_by(QUARANTINE.c.id)
        )
        return [(int(i), str(d), int(s), bytes(p)) for i, d, s, p in rows]

    def lots(self) -> dict[int, tuple[str, str]]:
        """Every lot's ``(gtin, lot)`` by its row id."""
        rows = self._conn.execute(select(LOTS.c.id, LOTS.c.gtin, LOTS.c.lot))
        return {int(i): (str(g), str(n)) for i, g, n in rows}

    def lot_events(self) -> list[tuple[int, int, str, int, int, bytes]]:
        """Every signed lot record as ``(row id, lot id, signer, seq, time_ms, payload)``."""
        rows = self._conn.execute(
            select(
                LOT_EVENTS.c.id,
                LOT_EVENTS.c.lot_id,
                LOT_EVENTS.c.signer,
                LOT_EVENTS.c.seq,
                LOT_EVENTS.c.time_ms,
                LOT_EVENTS.c.payload,
            ).order_by(LOT_EVENTS.c.id)
        )
        return [(int(i), int(n), str(g), int(s), int(t), bytes(p)) for i, n, g, s, t, p in rows]

    def pending(self) -> list[tuple[str, int, int, bytes]]:
        """Every entry waiting for a block as ``(device_id, seq, timestamp_ms, payload)``."""
        rows = self._conn.execute(
            select(
                PENDING.c.device_id, PENDING.c.seq, PENDING.c.timestamp_ms, PENDING.c.payload
            ).order_by(PENDING.c.device_id, PENDING.c.seq)
        )
        return [(str(d), int(s), int(t), bytes(p)) for d, s, t, p in rows]

    def signed_entries(self) -> list[tuple[int, int, str, str | None, int | None, bytes]]:
        """Every entry that is not a reading, as ``(chain_id, global_index, kind, device_id,
        seq, payload)``: entries signed elsewhere (lot events, acknowledgements, declarations)."""
        rows = self._conn.execute(
            select(
                ENTRIES.c.chain_id,
                ENTRIES.c.global_index,
                ENTRIES.c.kind,
                ENTRIES.c.device_id,
                ENTRIES.c.seq,
                ENTRIES.c.payload,
            )
            .where(ENTRIES.c.kind != READING)
            .order_by(ENTRIES.c.chain_id, ENTRIES.c.global_index)
        )
        return [
            (int(c), int(i), str(k), d, None if s is None else int(s), bytes(p))
            for c, i, k, d, s, p in rows
        ]

    def signing_keys(self) -> list[tuple[int, str, str, str, str]]:
        """The key history as ``(row id, kind, scope, public_key, key_id)``."""
        rows = self._conn.execute(
            select(
                SIGNING_KEYS.c.id,
                SIGNING_KEYS.c.kind,
                SIGNING_KEYS.c.scope,
                SIGNING_KEYS.c.public_key,
                SIGNING_KEYS.c.key_id,
            ).order_by(SIGNING_KEYS.c.id)
        )
        return [(int(i), str(k), str(c), str(p), str(d)) for i, k, c, p, d in rows]

    # -- campaigns and coupons (farmtrace.audit.commerce) ---------------------------------------

    def campaigns(self) -> list[CampaignHead]:
        """Every campaign row, by ID."""
        rows = self._conn.execute(select(CAMPAIGNS).order_by(CAMPAIGNS.c.id))
        return [campaign_head(r) for r in rows]

    def campaign_entries(
        self, campaign_id: int
    ) -> list[tuple[int, str, str, int, int, str, bytes]]:
        """The campaign's stored entries by ``cseq``: ``(cseq, op, signer, seq, time_ms, state,
        payload)``."""
        rows = self._conn.execute(
            select(
                CAMPAIGN_ENTRIES.c.cseq,
                CAMPAIGN_ENTRIES.c.op,
                CAMPAIGN_ENTRIES.c.signer,
                CAMPAIGN_ENTRIES.c.seq,
                CAMPAIGN_ENTRIES.c.time_ms,
                CAMPAIGN_ENTRIES.c.state,
                CAMPAIGN_ENTRIES.c.payload,
            )
            .where(CAMPAIGN_ENTRIES.c.campaign_id == campaign_id)
            .order_by(CAMPAIGN_ENTRIES.c.cseq)
        )
        return [
            (int(c), str(o), str(g), int(s), int(t), str(h), bytes(p))
            for c, o, g, s, t, h, p in rows
        ]

    def coupons(self, campaign_id: int) -> list[CouponRecord]:
        """The campaign's coupon rows by serial (``gcn`` left empty: the caller knows it)."""
        rows = self._conn.execute(
            select(COUPONS).where(COUPONS.c.campaign_id == campaign_id).order_by(COUPONS.c.serial)
        )
        return [coupon_record(r, "") for r in rows]

    def coupon_moves(self, campaign_id: int) -> list[MoveRowRead]:
        """The campaign's coupon moves by serial and move number, as stored."""
        rows = self._conn.execute(
            select(
                MOVES.c.serial,
                MOVES.c.move,
                MOVES.c.op,
                MOVES.c.prev,
                MOVES.c.state,
                MOVES.c.holder,
                MOVES.c.price_amount,
                MOVES.c.price_currency,
                MOVES.c.time_ms,
                MOVES.c.payload,
            )
            .where(MOVES.c.campaign_id == campaign_id)
            .order_by(MOVES.c.serial, MOVES.c.move)
        )
        return [
            MoveRowRead(
                int(r.serial),
                int(r.move),
                str(r.op),
                str(r.prev),
                str(r.state),
                r.holder,
                None if r.price_amount is None else int(r.price_amount),
                r.price_currency,
                int(r.time_ms),
                None if r.payload is None else bytes(r.payload),
            )
            for r in rows
        ]

    def commerce_entries(self) -> dict[tuple[str, int], tuple[int, int, bytes]]:
        """Every anchored campaign entry and coupon transfer by ``(device_id, seq)`` (its
        signer and seq), as ``(chain_id, global_index, payload)``; the kind column is the one
        the chain audit checked against each entry's bytes."""
        rows = self._conn.execute(
            select(
                ENTRIES.c.device_id,
                ENTRIES.c.seq,
                ENTRIES.c.chain_id,
                ENTRIES.c.global_index,
                ENTRIES.c.payload,
            ).where(ENTRIES.c.kind.in_([CAMPAIGN, COUPON_MOVE]))
        )
        return {(str(d), int(s)): (int(c), int(i), bytes(p)) for d, s, c, i, p in rows}
