"""Value communities in the database (revision 0013): the typed queries.

Every community entry is written by :meth:`Communities.append` (or :meth:`Communities.create`
for the first) in one write transaction: the community's head is read, the caller's ``build``
signs the next entry from it (under its place ``n``, which is also its frame's seq) and judges it
with the reference rules, and the entry, the community's new head and totals, the member
balances and states it changes, its postings, the rules version it declares, the transfer it
spends and the pending-anchoring queue row are written together. Two database rules make
concurrent writers safe on SQLite and PostgreSQL alike: ``community_entries``'s primary key
``(community_id, eseq)`` with a compare-and-set on ``communities.eseq`` (the chain never
forks), and ``community_transfers``'s primary key ``(community_id, sender, prev)`` with a
compare-and-set on ``community_members.state`` (a member state is spent once). A writer that
loses the head race retries on the new head; one whose transfer's state was spent meanwhile gets
:class:`StateConflictError` naming the current state, and nothing of its write is kept.

This module knows nothing of the entry format: the caller hands over the signed bytes and what
they change (:class:`CommunityChange`). Every SQLAlchemy error leaves as
:class:`~farmtrace.store.errors.DatabaseError`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from farmtrace.store.campaigns import _anchors
from farmtrace.store.database import Database, database_errors
from farmtrace.store.errors import StateConflictError
from farmtrace.store.lots import Anchor
from farmtrace.store.models import Base
from farmtrace.store.pending import queue_entry
from farmtrace.store.records import PendingReading

__all__ = [
    "Communities",
    "CommunityAuditRows",
    "CommunityChange",
    "CommunityHead",
    "CommunityView",
    "MemberChange",
    "MemberRecord",
    "NewCommunity",
    "PostingRecord",
    "RulesRecord",
    "StoredCommunityEntry",
    "TransferSpend",
]

COMMUNITIES = Base.metadata.tables["communities"]
RULES = Base.metadata.tables["community_rules"]
ENTRIES = Base.metadata.tables["community_entries"]
MEMBERS = Base.metadata.tables["community_members"]
POSTINGS = Base.metadata.tables["community_postings"]
TRANSFERS = Base.metadata.tables["community_transfers"]
CHAIN_ENTRIES = Base.metadata.tables["entries"]

_ATTEMPTS = 8


@dataclass(frozen=True, slots=True)
class CommunityHead:
    """A community's row: its operator, the rules version in force and its chain's head."""

    id: int
    community: str
    name: str
    operator: str  # signer ID of the operator's entries
    operator_key: str  # 64 hex: the operator's Ed25519 public key
    rules_version: int
    eseq: int
    head: str
    supply: int
    members: int
    created_at: float


@dataclass(frozen=True, slots=True)
class NewCommunity:
    community: str
    name: str
    operator: str
    operator_key: str


@dataclass(frozen=True, slots=True)
class MemberRecord:
    """A member key's balance, the state its next transfer spends and how many entries moved it."""

    address: str
    balance: int
    state: str
    moves: int


@dataclass(frozen=True, slots=True)
class MemberChange:
    """A member's balance and state after an entry (as the replay computed them) and the
    change of balance the entry made (its posting; 0 for none)."""

    address: str
    balance: int
    state: str
    moves: int
    delta: int


@dataclass(frozen=True, slots=True)
class TransferSpend:
    """A holder-signed transfer: ``sender`` spends its state ``prev``."""

    sender: str
    prev: str
    recipient: str
    amount: int


@dataclass(frozen=True, slots=True)
class RulesRecord:
    """A signed rules version: its document's bytes and SHA-256, in force from entry
    ``from_eseq`` on."""

    version: int
    document: bytes
    sha256: str
    from_eseq: int


@dataclass(frozen=True, slots=True)
class CommunityChange:
    """One signed community entry and everything it changes, as the caller's ``build`` made
    it (after the reference rules accepted it)."""

    op: str
    payload: bytes
    state: str
    time_ms: int
    supply: int
    members: int
    rules_version: int
    changes: tuple[MemberChange, ...] = ()
    rules: RulesRecord | None = None
    transfer: TransferSpend | None = None


@dataclass(frozen=True, slots=True)
class StoredCommunityEntry:
    eseq: int
    op: str
    signer: str
    seq: int
    time_ms: int
    state: str
    payload: bytes
    anchor: Anchor | None = None


@dataclass(frozen=True, slots=True)
class PostingRecord:
    """A change of a member's balance by entry ``eseq``."""

    eseq: int
    address: str
    delta: int
    op: str


@dataclass
class CommunityView:
    """Reads inside :meth:`Communities.append`'s transaction, for ``build`` to decide from."""

    conn: Connection
    community_id: int
    reads: list[str] = field(default_factory=list)

    def member(self, address: str) -> MemberRecord | None:
        row = self.conn.execute(
            select(MEMBERS).where(
                MEMBERS.c.community_id == self.community_id, MEMBERS.c.address == address
            )
        ).first()
        return None if row is None else _member(row)

    def members(self) -> list[MemberRecord]:
        """Every member with its balance, by address (a distribution's pro rata base)."""
        rows = self.conn.execute(
            select(MEMBERS)
            .where(MEMBERS.c.community_id == self.community_id)
            .order_by(MEMBERS.c.address)
        )
        return [_member(r) for r in rows]

    def rules(self) -> list[RulesRecord]:
        """Every rules version, oldest first."""
        return _rules(self.conn, self.community_id)

    def entry(self, eseq: int) -> StoredCommunityEntry | None:
        row = self.conn.execute(
            select(ENTRIES).where(
                ENTRIES.c.community_id == self.community_id, ENTRIES.c.eseq == eseq
            )
        ).first()
        return None if row is None else _entry(row, None)

    def entries(self) -> list[StoredCommunityEntry]:
        """Every entry, in ``eseq`` order (for a replay that needs the whole history)."""
        rows = self.conn.execute(
            select(ENTRIES)
            .where(ENTRIES.c.community_id == self.community_id)
            .order_by(ENTRIES.c.eseq)
        )
        return [_entry(r, None) for r in rows]


def _head(row: Any) -> CommunityHead:
    return CommunityHead(
        int(row.id),
        row.community,
        row.name,
        row.operator,
        row.operator_key,
        int(row.rules_version),
        int(row.eseq),
        row.head,
        int(row.supply),
        int(row.members),
        float(row.created_at),
    )


def _member(row: Any) -> MemberRecord:
    return MemberRecord(row.address, int(row.balance), row.state, int(row.moves))


def _entry(row: Any, anchor: Anchor | None) -> StoredCommunityEntry:
    return StoredCommunityEntry(
        int(row.eseq),
        row.op,
        row.signer,
        int(row.seq),
        int(row.time_ms),
        row.state,
        bytes(row.payload),
        anchor,
    )


def _rules(conn: Connection, community_id: int) -> list[RulesRecord]:
    rows = conn.execute(
        select(RULES).where(RULES.c.community_id == community_id).order_by(RULES.c.version)
    )
    return [
        RulesRecord(int(r.version), bytes(r.document), r.sha256, int(r.from_eseq)) for r in rows
    ]


class Communities:
    """The value communities of one database."""

    def __init__(self, database: Database) -> None:
        self.database = database

    @contextmanager
    def _writer(self) -> Iterator[Connection]:
        engine = self.database.engine
        with engine.connect().execution_options(sqlite_immediate=True) as c, c.begin():
            yield c

    # -- writes -------------------------------------------------------------------------------

    def create(
        self, new: NewCommunity, build_genesis: Callable[[int], CommunityChange]
    ) -> CommunityHead | None:
        """Store a new community and its first entry (``build_genesis(1)`` signs it), queued
        for the chain under ``(operator, 1)``, in one transaction; ``None`` if the community's
        ID is taken."""
        for attempt in range(_ATTEMPTS):
            with database_errors("creating a community"):
                try:
                    with self._writer() as c:
                        if c.execute(
                            select(COMMUNITIES.c.id).where(COMMUNITIES.c.community == new.community)
                        ).first():
                            return None
                        change = build_genesis(1)
                        now = time.time()
                        community_id = c.execute(
                            insert(COMMUNITIES)
                            .values(
                                community=new.community,
                                name=new.name,
                                operator=new.operator,
                                operator_key=new.operator_key,
                                rules_version=change.rules_version,
                                eseq=1,
                                head=change.state,
                                supply=change.supply,
                                members=change.members,
                                created_at=now,
                            )
                            .returning(COMMUNITIES.c.id)
                        ).scalar_one()
                        self._write(c, community_id, 1, new.operator, 1, change, now)
                        row = c.execute(
                            select(COMMUNITIES).where(COMMUNITIES.c.id == community_id)
                        ).one()
                        return _head(row)
                except IntegrityError:
                    if attempt == _ATTEMPTS - 1:
                        raise
        raise AssertionError("unreachable")

    def append(
        self,
        community: str,
        build: Callable[[CommunityHead, int, CommunityView], CommunityChange],
    ) -> tuple[CommunityHead, CommunityChange] | None:
        """Sign and store the community's next entry; ``None`` if there is no such community.

        ``build(head, n, view)`` gets the community's head, the entry's place ``n`` (its frame's
        seq: a community entry is queued for the chain under ``(operator, n)``) and reads
        inside the transaction, and returns the signed, judged entry
        and its effects (or raises, and nothing is written). A lost race on the head or the
        signer's sequence number is retried with the new head; a transfer whose state was spent
        meanwhile is :class:`StateConflictError` with the member's current state."""
        change: CommunityChange | None = None
        for attempt in range(_ATTEMPTS):
            with database_errors("appending a community entry"):
                try:
                    with self._writer() as c:
                        row = c.execute(
                            select(COMMUNITIES).where(COMMUNITIES.c.community == community)
                        ).first()
                        if row is None:
                            return None
                        head = _head(row)
                        seq = head.eseq + 1
                        change = build(head, seq, CommunityView(c, head.id))
                        now = time.time()
                        moved = c.execute(
                            update(COMMUNITIES)
                            .where(COMMUNITIES.c.id == head.id, COMMUNITIES.c.eseq == head.eseq)
                            .values(
                                eseq=head.eseq + 1,
                                head=change.state,
                                supply=change.supply,
                                members=change.members,
                                rules_version=change.rules_version,
                            )
                        ).rowcount
                        if moved != 1:
                            raise _Retry
                        self._write(c, head.id, head.eseq + 1, head.operator, seq, change, now)
                        after = c.execute(
                            select(COMMUNITIES).where(COMMUNITIES.c.id == head.id)
                        ).one()
                        return _head(after), change
                except (IntegrityError, _Retry) as exc:
                    spend = isinstance(exc, IntegrityError) and _is_spend_conflict(exc)
                    if change is not None and (spend or isinstance(exc, _SpentMeanwhile)):
                        raise self._spent(community, change) from None
                    if attempt == _ATTEMPTS - 1:
                        raise StateConflictError(
                            f"community {community}: another writer kept appending; try again"
                        ) from None
        raise AssertionError("unreachable")

    def _spent(self, community: str, change: CommunityChange) -> StateConflictError:
        transfer = change.transfer
        if transfer is None:
            return StateConflictError(f"community {community}: a member state moved meanwhile")
        current = self.member(community, transfer.sender)
        return StateConflictError(
            f"member {transfer.sender}: state {transfer.prev} was already spent",
            None if current is None else current.state,
        )

    def _write(
        self,
        c: Connection,
        community_id: int,
        eseq: int,
        signer: str,
        seq: int,
        change: CommunityChange,
        now: float,
    ) -> None:
        c.execute(
            insert(ENTRIES).values(
                community_id=community_id,
                eseq=eseq,
                op=change.op,
                signer=signer,
                seq=seq,
                time_ms=change.time_ms,
                state=change.state,
                payload=change.payload,
                created_at=now,
            )
        )
        if change.rules is not None:
            rules = change.rules
            c.execute(
                insert(RULES).values(
                    community_id=community_id,
                    version=rules.version,
                    document=rules.document,
                    sha256=rules.sha256,
                    from_eseq=rules.from_eseq,
                    created_at=now,
                )
            )
        transfer = change.transfer
        if transfer is not None:
            c.execute(
                insert(TRANSFERS).values(
                    community_id=community_id,
                    sender=transfer.sender,
                    prev=transfer.prev,
                    eseq=eseq,
                    recipient=transfer.recipient,
                    amount=transfer.amount,
                    created_at=now,
                )
            )
            # The compare-and-set beside the primary key: the sender's state must still be
            # the one its statement spends.
            moved = c.execute(
                update(MEMBERS)
                .where(
                    MEMBERS.c.community_id == community_id,
                    MEMBERS.c.address == transfer.sender,
                    MEMBERS.c.state == transfer.prev,
                )
                .values(state=MEMBERS.c.state)
            ).rowcount
            if moved != 1:
                raise _SpentMeanwhile
        for member in change.changes:
            self._set_member(c, community_id, member)
            if member.delta:
                c.execute(
                    insert(POSTINGS).values(
                        community_id=community_id,
                        eseq=eseq,
                        address=member.address,
                        delta=member.delta,
                        op=change.op,
                    )
                )
        queue_entry(c, PendingReading(signer, seq, change.time_ms, change.payload, now))

    def _set_member(self, c: Connection, community_id: int, member: MemberChange) -> None:
        moved = c.execute(
            update(MEMBERS)
            .where(MEMBERS.c.community_id == community_id, MEMBERS.c.address == member.address)
            .values(balance=member.balance, state=member.state, moves=member.moves)
        ).rowcount
        if moved == 0:
            c.execute(
                insert(MEMBERS).values(
                    community_id=community_id,
                    address=member.address,
                    balance=member.balance,
                    state=member.state,
                    moves=member.moves,
                )
            )

    # -- reads --------------------------------------------------------------------------------

    def get(self, community: str) -> CommunityHead | None:
        with database_errors("reading a community"), self.database.engine.connect() as c:
            row = c.execute(select(COMMUNITIES).where(COMMUNITIES.c.community == community)).first()
            return None if row is None else _head(row)

    def listed(self, limit: int = 100, offset: int = 0) -> list[CommunityHead]:
        with database_errors("listing communities"), self.database.engine.connect() as c:
            rows = c.execute(
                select(COMMUNITIES).order_by(COMMUNITIES.c.id).limit(limit).offset(offset)
            )
            return [_head(r) for r in rows]

    def all(self) -> list[CommunityHead]:
        """Every community, oldest first (for the audit)."""
        with database_errors("listing communities"), self.database.engine.connect() as c:
            return [_head(r) for r in c.execute(select(COMMUNITIES).order_by(COMMUNITIES.c.id))]

    def rules(self, community_id: int) -> list[RulesRecord]:
        with database_errors("reading community rules"), self.database.engine.connect() as c:
            return _rules(c, community_id)

    def entries(
        self, community_id: int, with_anchors: bool = True, kind: str | None = None
    ) -> list[StoredCommunityEntry]:
        """The community's entries in ``eseq`` order; with ``kind`` (the chain entry kind of
        its entries), each with where it sits once anchored."""
        with database_errors("reading community entries"), self.database.engine.connect() as c:
            rows = list(
                c.execute(
                    select(ENTRIES)
                    .where(ENTRIES.c.community_id == community_id)
                    .order_by(ENTRIES.c.eseq)
                )
            )
            anchors = (
                _anchors(c, [(r.signer, int(r.seq)) for r in rows], kind)
                if with_anchors and kind is not None
                else {}
            )
        return [_entry(r, anchors.get((r.signer, int(r.seq)))) for r in rows]

    def member(self, community: str, address: str) -> MemberRecord | None:
        with database_errors("reading a member"), self.database.engine.connect() as c:
            row = c.execute(
                select(MEMBERS)
                .join(COMMUNITIES, COMMUNITIES.c.id == MEMBERS.c.community_id)
                .where(COMMUNITIES.c.community == community, MEMBERS.c.address == address)
            ).first()
            return None if row is None else _member(row)

    def members(self, community_id: int) -> list[MemberRecord]:
        with database_errors("reading members"), self.database.engine.connect() as c:
            rows = c.execute(
                select(MEMBERS)
                .where(MEMBERS.c.community_id == community_id)
                .order_by(MEMBERS.c.address)
            )
            return [_member(r) for r in rows]

    def postings(self, community_id: int, address: str | None = None) -> list[PostingRecord]:
        """The balance changes of one member (or of all), in entry order."""
        with database_errors("reading postings"), self.database.engine.connect() as c:
            query = select(POSTINGS).where(POSTINGS.c.community_id == community_id)
            if address is not None:
                query = query.where(POSTINGS.c.address == address)
            rows = c.execute(query.order_by(POSTINGS.c.eseq, POSTINGS.c.address))
            return [PostingRecord(int(r.eseq), r.address, int(r.delta), r.op) for r in rows]

    def transfers(self, community_id: int) -> list[TransferSpend]:
        """Every stored transfer, in entry order."""
        with database_errors("reading transfers"), self.database.engine.connect() as c:
            rows = c.execute(
                select(TRANSFERS)
                .where(TRANSFERS.c.community_id == community_id)
                .order_by(TRANSFERS.c.eseq)
            )
            return [TransferSpend(r.sender, r.prev, r.recipient, int(r.amount)) for r in rows]

    def transfer_eseqs(self, community_id: int) -> list[int]:
        with database_errors("reading transfers"), self.database.engine.connect() as c:
            return [
                int(v)
                for v in c.execute(
                    select(TRANSFERS.c.eseq)
                    .where(TRANSFERS.c.community_id == community_id)
                    .order_by(TRANSFERS.c.eseq)
                ).scalars()
            ]

    def counts(self) -> dict[str, int]:
        with database_errors("counting communities"), self.database.engine.connect() as c:
            return {
                "communities": int(
                    c.execute(select(func.count()).select_from(COMMUNITIES)).scalar_one()
                ),
                "entries": int(c.execute(select(func.count()).select_from(ENTRIES)).scalar_one()),
                "members": int(c.execute(select(func.count()).select_from(MEMBERS)).scalar_one()),
            }


class _Retry(Exception):
    """The community's head moved between reading and writing: read it again."""


class _SpentMeanwhile(_Retry):
    """The sender's state is no longer the one its transfer spends."""


def _is_spend_conflict(exc: IntegrityError) -> bool:
    return "community_transfers" in str(exc.orig).lower()


class CommunityAuditRows:
    """Read-only queries of every community table over one connection, for ``farmtrace audit``
    (:mod:`farmtrace.audit.community`)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def communities(self) -> list[CommunityHead]:
        return [
            _head(r) for r in self._conn.execute(select(COMMUNITIES).order_by(COMMUNITIES.c.id))
        ]

    def entries(self, community_id: int) -> list[StoredCommunityEntry]:
        rows = self._conn.execute(
            select(ENTRIES).where(ENTRIES.c.community_id == community_id).order_by(ENTRIES.c.eseq)
        )
        return [_entry(r, None) for r in rows]

    def rules(self, community_id: int) -> list[RulesRecord]:
        return _rules(self._conn, community_id)

    def members(self, community_id: int) -> list[MemberRecord]:
        rows = self._conn.execute(
            select(MEMBERS)
            .where(MEMBERS.c.community_id == community_id)
            .order_by(MEMBERS.c.address)
        )
        return [_member(r) for r in rows]

    def postings(self, community_id: int) -> list[PostingRecord]:
        rows = self._conn.execute(
            select(POSTINGS)
            .where(POSTINGS.c.community_id == community_id)
            .order_by(POSTINGS.c.eseq, POSTINGS.c.address)
        )
        return [PostingRecord(int(r.eseq), r.address, int(r.delta), r.op) for r in rows]

    def transfers(self, community_id: int) -> list[tuple[int, TransferSpend]]:
        """Every stored transfer as ``(eseq, spend)``, in entry order."""
        rows = self._conn.execute(
            select(TRANSFERS)
            .where(TRANSFERS.c.community_id == community_id)
            .order_by(TRANSFERS.c.eseq)
        )
        return [
            (int(r.eseq), TransferSpend(r.sender, r.prev, r.recipient, int(r.amount))) for r in rows
        ]

    def anchored(self, kind: str) -> dict[tuple[str, int], tuple[int, int, bytes]]:
        """Every anchored entry of ``kind`` by ``(signer, seq)``, as ``(chain_id,
        global_index, payload)``."""
        rows = self._conn.execute(
            select(
                CHAIN_ENTRIES.c.device_id,
                CHAIN_ENTRIES.c.seq,
                CHAIN_ENTRIES.c.chain_id,
                CHAIN_ENTRIES.c.global_index,
                CHAIN_ENTRIES.c.payload,
            ).where(CHAIN_ENTRIES.c.kind == kind)
        )
        return {(str(d), int(s)): (int(c), int(i), bytes(p)) for d, s, c, i, p in rows}
