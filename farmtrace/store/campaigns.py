"""Campaigns, pledges and coupons in the database (revision 0011): the typed queries.

Every campaign entry is written by :meth:`Campaigns.append` in one write transaction: the
campaign's head is read, the caller's ``build`` signs the next entry from it (under the farm
signer's next sequence number), and the entry, the campaign's new head and totals, the coupons
it issues, redeems or voids and the pending-anchoring queue row are written together. Two
database rules make concurrent writers safe on SQLite and PostgreSQL alike, whichever API
worker they run in: ``campaign_entries``'s primary key ``(campaign_id, cseq)`` (a campaign's
chain never forks) with a compare-and-set on ``campaigns.cseq``, and ``coupon_moves``'s unique
``(campaign_id, serial, prev)`` (a coupon state is spent once) with a compare-and-set on
``coupons.state``. A writer that loses either race gets :class:`StateConflictError` (for a
campaign entry, after retrying on the new head) and nothing of its write is kept.

Personal details of backers live only in ``backer_contacts`` (:meth:`Campaigns.erase_contacts`).
Every SQLAlchemy error leaves as :class:`~farmtrace.store.errors.DatabaseError`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from farmtrace.chain.entry import CAMPAIGN, COUPON_MOVE
from farmtrace.store.database import Database, database_errors
from farmtrace.store.errors import StateConflictError
from farmtrace.store.lots import Anchor
from farmtrace.store.models import Base
from farmtrace.store.pending import next_seq, queue_entry
from farmtrace.store.records import PendingReading

__all__ = [
    "CampaignChange",
    "CampaignHead",
    "CampaignView",
    "Campaigns",
    "CouponRecord",
    "IssuedCoupons",
    "MoveRecord",
    "NewCampaign",
    "PledgeRecord",
    "Spend",
    "StoredCampaignEntry",
    "campaign_head",
    "coupon_record",
]

CAMPAIGNS = Base.metadata.tables["campaigns"]
CAMPAIGN_ENTRIES = Base.metadata.tables["campaign_entries"]
PLEDGES = Base.metadata.tables["pledges"]
CONTACTS = Base.metadata.tables["backer_contacts"]
COUPONS = Base.metadata.tables["coupons"]
MOVES = Base.metadata.tables["coupon_moves"]
ENTRIES = Base.metadata.tables["entries"]
CHAINS = Base.metadata.tables["chains"]

_ATTEMPTS = 8
_ANCHOR_CHUNK = 200


@dataclass(frozen=True, slots=True)
class CampaignHead:
    """A campaign's row: its terms (canonical JSON text) and the head of its entry chain."""

    id: int
    gcn: str
    farm: str
    gtin: str
    lot: str
    terms: str
    cap: int
    target: int
    signer: str
    cseq: int
    head: str
    status: str
    issued: int
    redeemed: int
    voided: int
    harvested: int | None
    shortfall: str | None
    created_at: float


@dataclass(frozen=True, slots=True)
class NewCampaign:
    gcn: str
    farm: str
    gtin: str
    lot: str
    terms: str
    cap: int
    target: int
    signer: str


@dataclass(frozen=True, slots=True)
class IssuedCoupons:
    """Coupons ``first .. first+count-1`` issued to ``holder`` for a confirmed pledge."""

    pledge: str
    holder: str
    first: int
    count: int
    payment_sha256: str


@dataclass(frozen=True, slots=True)
class Spend:
    """A redemption or void of coupon ``serial`` from state ``prev`` (its move number ``move``);
    ``payload`` is the holder's redeem statement for a redemption."""

    serial: int
    move: int
    prev: str
    op: str
    payload: bytes | None = None


@dataclass(frozen=True, slots=True)
class CampaignChange:
    """One signed campaign entry and everything it changes, as the caller's ``build`` made it."""

    op: str
    payload: bytes
    state: str
    time_ms: int
    status: str
    issued: int
    redeemed: int
    voided: int
    harvested: int | None = None
    shortfall: str | None = None
    issue: IssuedCoupons | None = None
    spends: tuple[Spend, ...] = ()
    refund: tuple[str, int] | None = None  # (pledge, amount)


@dataclass(frozen=True, slots=True)
class CouponRecord:
    campaign_id: int
    gcn: str
    serial: int
    holder: str
    state: str
    moves: int
    status: str
    pledge: str


@dataclass(frozen=True, slots=True)
class PledgeRecord:
    id: str
    campaign_id: int
    holder: str
    count: int
    amount: int
    status: str
    payment_sha256: str | None
    first_serial: int | None
    refunded: int
    created_at: float
    contact: str | None = None
    delivery: str | None = None


@dataclass(frozen=True, slots=True)
class MoveRecord:
    """A spend of a coupon state as stored: transfers carry the holder's statement."""

    serial: int
    move: int
    op: str
    prev: str
    state: str
    holder: str | None
    price: tuple[int, str] | None
    time_ms: int
    payload: bytes | None
    anchor: Anchor | None = None


@dataclass(frozen=True, slots=True)
class StoredCampaignEntry:
    cseq: int
    op: str
    signer: str
    seq: int
    time_ms: int
    state: str
    payload: bytes
    anchor: Anchor | None = None


@dataclass
class CampaignView:
    """Reads inside :meth:`Campaigns.append`'s transaction, for ``build`` to decide from."""

    conn: Connection
    campaign_id: int
    reads: list[str] = field(default_factory=list)

    def coupon(self, serial: int) -> CouponRecord | None:
        row = self.conn.execute(
            select(COUPONS).where(
                COUPONS.c.campaign_id == self.campaign_id, COUPONS.c.serial == serial
            )
        ).first()
        return None if row is None else coupon_record(row, "")

    def last_time_ms(self, cseq: int) -> int:
        """The time of the campaign's entry ``cseq`` (0 if there is none)."""
        value = self.conn.execute(
            select(CAMPAIGN_ENTRIES.c.time_ms).where(
                CAMPAIGN_ENTRIES.c.campaign_id == self.campaign_id,
                CAMPAIGN_ENTRIES.c.cseq == cseq,
            )
        ).scalar_one_or_none()
        return 0 if value is None else int(value)

    def active_coupons(self, limit: int, newest_first: bool = False) -> list[CouponRecord]:
        order = COUPONS.c.serial.desc() if newest_first else COUPONS.c.serial
        rows = self.conn.execute(
            select(COUPONS)
            .where(COUPONS.c.campaign_id == self.campaign_id, COUPONS.c.status == "active")
            .order_by(order)
            .limit(limit)
        )
        return [coupon_record(r, "") for r in rows]

    def pledge(self, pledge_id: str) -> PledgeRecord | None:
        row = self.conn.execute(
            select(PLEDGES).where(
                PLEDGES.c.id == pledge_id, PLEDGES.c.campaign_id == self.campaign_id
            )
        ).first()
        return None if row is None else _pledge(row)


def campaign_head(row: Any) -> CampaignHead:
    """A ``campaigns`` row as a :class:`CampaignHead`."""
    return CampaignHead(
        int(row.id),
        row.gcn,
        row.farm,
        row.gtin,
        row.lot,
        row.terms,
        int(row.cap),
        int(row.target),
        row.signer,
        int(row.cseq),
        row.head,
        row.status,
        int(row.issued),
        int(row.redeemed),
        int(row.voided),
        None if row.harvested is None else int(row.harvested),
        row.shortfall,
        float(row.created_at),
    )


def coupon_record(row: Any, gcn: str) -> CouponRecord:
    """A ``coupons`` row as a :class:`CouponRecord` of campaign ``gcn``."""
    return CouponRecord(
        int(row.campaign_id),
        gcn,
        int(row.serial),
        row.holder,
        row.state,
        int(row.moves),
        row.status,
        row.pledge_id,
    )


def _pledge(row: Any, contact: Any = None) -> PledgeRecord:
    return PledgeRecord(
        row.id,
        int(row.campaign_id),
        row.holder,
        int(row.count),
        int(row.amount),
        row.status,
        row.payment_sha256,
        None if row.first_serial is None else int(row.first_serial),
        int(row.refunded),
        float(row.created_at),
        None if contact is None else contact.contact,
        None if contact is None else contact.delivery,
    )


class Campaigns:
    """The campaigns, pledges and coupons of one database."""

    def __init__(self, database: Database) -> None:
        self.database = database

    @contextmanager
    def _writer(self) -> Iterator[Connection]:
        engine = self.database.engine
        with engine.connect().execution_options(sqlite_immediate=True) as c, c.begin():
            yield c

    # -- campaigns ----------------------------------------------------------------------------

    def create(
        self, new: NewCampaign, build_open: Callable[[int], CampaignChange]
    ) -> CampaignHead | None:
        """Store a new campaign and its ``open`` entry (``build_open(seq)`` signs it), queued for
        the chain, in one transaction; ``None`` if the GCN is taken."""
        for attempt in range(_ATTEMPTS):
            with database_errors("creating a campaign"):
                try:
                    with self._writer() as c:
                        if c.execute(
                            select(CAMPAIGNS.c.id).where(CAMPAIGNS.c.gcn == new.gcn)
                        ).first():
                            return None
                        seq = next_seq(c, new.signer)
                        change = build_open(seq)
                        now = time.time()
                        campaign_id = c.execute(
                            insert(CAMPAIGNS)
                            .values(
                                gcn=new.gcn,
                                farm=new.farm,
                                gtin=new.gtin,
                                lot=new.lot,
                                terms=new.terms,
                                cap=new.cap,
                                target=new.target,
                                signer=new.signer,
                                cseq=1,
                                head=change.state,
                                status=change.status,
                                issued=0,
                                redeemed=0,
                                voided=0,
                                harvested=None,
                                shortfall=None,
                                created_at=now,
                            )
                            .returning(CAMPAIGNS.c.id)
                        ).scalar_one()
                        self._write_entry(c, campaign_id, 1, new.signer, seq, change, now)
                        row = c.execute(
                            select(CAMPAIGNS).where(CAMPAIGNS.c.id == campaign_id)
                        ).one()
                        return campaign_head(row)
                except IntegrityError:
                    if attempt == _ATTEMPTS - 1:
                        raise
        raise AssertionError("unreachable")

    def append(
        self, gcn: str, build: Callable[[CampaignHead, int, CampaignView], CampaignChange]
    ) -> tuple[CampaignHead, CampaignChange] | None:
        """Sign and store the campaign's next entry; ``None`` if there is no such campaign.

        ``build(head, seq, view)`` gets the campaign's head, the farm signer's next sequence
        number and reads inside the transaction, and returns the signed entry and its effects
        (or raises, and nothing is written). A lost race on the campaign's head or the signer's
        sequence number is retried with the new head; a lost race on a coupon state or a pledge
        is :class:`StateConflictError`."""
        for attempt in range(_ATTEMPTS):
            with database_errors("appending a campaign entry"):
                try:
                    with self._writer() as c:
                        row = c.execute(select(CAMPAIGNS).where(CAMPAIGNS.c.gcn == gcn)).first()
                        if row is None:
                            return None
                        head = campaign_head(row)
                        seq = next_seq(c, head.signer)
                        change = build(head, seq, CampaignView(c, head.id))
                        now = time.time()
                        moved = c.execute(
                            update(CAMPAIGNS)
                            .where(CAMPAIGNS.c.id == head.id, CAMPAIGNS.c.cseq == head.cseq)
                            .values(
                                cseq=head.cseq + 1,
                                head=change.state,
                                status=change.status,
                                issued=change.issued,
                                redeemed=change.redeemed,
                                voided=change.voided,
                                harvested=change.harvested,
                                shortfall=change.shortfall,
                            )
                        ).rowcount
                        if moved != 1:
                            raise _Retry
                        self._write_entry(c, head.id, head.cseq + 1, head.signer, seq, change, now)
                        self._apply(c, head, change)
                        after = c.execute(select(CAMPAIGNS).where(CAMPAIGNS.c.id == head.id)).one()
                        return campaign_head(after), change
                except (IntegrityError, _Retry) as exc:
                    if isinstance(exc, IntegrityError) and _is_spend_conflict(exc):
                        raise StateConflictError(
                            "a coupon state named by this entry was spent meanwhile"
                        ) from None
                    if attempt == _ATTEMPTS - 1:
                        raise StateConflictError(
                            f"campaign {gcn}: another writer kept appending; try again"
                        ) from None
        raise AssertionError("unreachable")

    def _write_entry(
        self,
        c: Connection,
        campaign_id: int,
        cseq: int,
        signer: str,
        seq: int,
        change: CampaignChange,
        now: float,
    ) -> None:
        c.execute(
            insert(CAMPAIGN_ENTRIES).values(
                campaign_id=campaign_id,
                cseq=cseq,
                op=change.op,
                signer=signer,
                seq=seq,
                time_ms=change.time_ms,
                state=change.state,
                payload=change.payload,
                created_at=now,
            )
        )
        queue_entry(c, PendingReading(signer, seq, change.time_ms, change.payload, now))

    def _apply(self, c: Connection, head: CampaignHead, change: CampaignChange) -> None:
        issue = change.issue
        if issue is not None:
            confirmed = c.execute(
                update(PLEDGES)
                .where(
                    PLEDGES.c.id == issue.pledge,
                    PLEDGES.c.campaign_id == head.id,
                    PLEDGES.c.status == "awaiting-payment",
                )
                .values(
                    status="issued", payment_sha256=issue.payment_sha256, first_serial=issue.first
                )
            ).rowcount
            if confirmed != 1:
                raise StateConflictError(f"pledge {issue.pledge} is not awaiting payment")
            c.execute(
                insert(COUPONS),
                [
                    {
                        "campaign_id": head.id,
                        "serial": serial,
                        "holder": issue.holder,
                        "state": change.state,
                        "moves": 0,
                        "status": "active",
                        "pledge_id": issue.pledge,
                    }
                    for serial in range(issue.first, issue.first + issue.count)
                ],
            )
        for spend in change.spends:
            self._spend(
                c,
                head.id,
                spend.serial,
                spend.move,
                spend.prev,
                change.state,
                "redeemed" if spend.op == "redeem" else "void",
                spend.op,
                None,
                None,
                change.time_ms,
                spend.payload,
            )
        if change.refund is not None:
            pledge, amount = change.refund
            c.execute(
                update(PLEDGES)
                .where(PLEDGES.c.id == pledge, PLEDGES.c.campaign_id == head.id)
                .values(refunded=PLEDGES.c.refunded + amount, status="refunded")
            )

    def _spend(
        self,
        c: Connection,
        campaign_id: int,
        serial: int,
        move: int,
        prev: str,
        state: str,
        status: str,
        op: str,
        holder: str | None,
        price: tuple[int, str] | None,
        time_ms: int,
        payload: bytes | None,
    ) -> None:
        c.execute(
            insert(MOVES).values(
                campaign_id=campaign_id,
                serial=serial,
                move=move,
                op=op,
                prev=prev,
                state=state,
                holder=holder,
                price_amount=None if price is None else price[0],
                price_currency=None if price is None else price[1],
                time_ms=time_ms,
                payload=payload,
                created_at=time.time(),
            )
        )
        values: dict[str, Any] = {"state": state, "moves": move, "status": status}
        if holder is not None:
            values["holder"] = holder
        moved = c.execute(
            update(COUPONS)
            .where(
                COUPONS.c.campaign_id == campaign_id,
                COUPONS.c.serial == serial,
                COUPONS.c.state == prev,
                COUPONS.c.status == "active",
                COUPONS.c.moves == move - 1,
            )
            .values(**values)
        ).rowcount
        if moved != 1:
            current = c.execute(
                select(COUPONS.c.state).where(
                    COUPONS.c.campaign_id == campaign_id, COUPONS.c.serial == serial
                )
            ).scalar_one_or_none()
            raise StateConflictError(f"coupon state {prev} is not the current one", current)

    def transfer(
        self,
        campaign_id: int,
        serial: int,
        move: int,
        prev: str,
        state: str,
        to: str,
        price: tuple[int, str] | None,
        time_ms: int,
        payload: bytes,
        stream: str,
    ) -> None:
        """Store a holder-signed transfer of coupon ``serial`` from state ``prev`` (its move
        number ``move``) to holder ``to``, and queue it for the chain as ``(stream, move)``, in
        one transaction. :class:`StateConflictError` (with the current state) when ``prev`` is
        not the coupon's current state: already spent, by this writer or any other."""
        with database_errors("storing a transfer"):
            try:
                with self._writer() as c:
                    self._spend(
                        c,
                        campaign_id,
                        serial,
                        move,
                        prev,
                        state,
                        "active",
                        "transfer",
                        to,
                        price,
                        time_ms,
                        payload,
                    )
                    queue_entry(c, PendingReading(stream, move, time_ms, payload, time.time()))
                    return
            except IntegrityError:
                pass
            current = self.coupon_state(campaign_id, serial)
            raise StateConflictError(f"coupon state {prev} was already spent", current)

    def coupon_state(self, campaign_id: int, serial: int) -> str | None:
        with database_errors("reading a coupon"), self.database.engine.connect() as c:
            value = c.execute(
                select(COUPONS.c.state).where(
                    COUPONS.c.campaign_id == campaign_id, COUPONS.c.serial == serial
                )
            ).scalar_one_or_none()
        return None if value is None else str(value)

    # -- pledges ------------------------------------------------------------------------------

    def add_pledge(
        self,
        campaign_id: int,
        pledge_id: str,
        holder: str,
        count: int,
        amount: int,
        contact: str | None,
        delivery: str | None,
    ) -> PledgeRecord:
        """Store a pledge awaiting payment (and the backer's details, off the chain)."""
        now = time.time()
        with database_errors("storing a pledge"), self._writer() as c:
            c.execute(
                insert(PLEDGES).values(
                    id=pledge_id,
                    campaign_id=campaign_id,
                    holder=holder,
                    count=count,
                    amount=amount,
                    status="awaiting-payment",
                    payment_sha256=None,
                    first_serial=None,
                    refunded=0,
                    created_at=now,
                )
            )
            if contact is not None or delivery is not None:
                c.execute(
                    insert(CONTACTS).values(
                        pledge_id=pledge_id, contact=contact, delivery=delivery, created_at=now
                    )
                )
            row = c.execute(select(PLEDGES).where(PLEDGES.c.id == pledge_id)).one()
            return _pledge(row)

    def pledges(self, campaign_id: int) -> list[PledgeRecord]:
        """Every pledge of a campaign with its backer's details where still kept, oldest first."""
        with database_errors("reading pledges"), self.database.engine.connect() as c:
            rows = c.execute(
                select(PLEDGES, CONTACTS.c.contact, CONTACTS.c.delivery)
                .outerjoin(CONTACTS, CONTACTS.c.pledge_id == PLEDGES.c.id)
                .where(PLEDGES.c.campaign_id == campaign_id)
                .order_by(PLEDGES.c.created_at, PLEDGES.c.id)
            )
            return [_pledge(r, r) for r in rows]

    def pledge(self, campaign_id: int, pledge_id: str) -> PledgeRecord | None:
        with database_errors("reading a pledge"), self.database.engine.connect() as c:
            row = c.execute(
                select(PLEDGES).where(
                    PLEDGES.c.id == pledge_id, PLEDGES.c.campaign_id == campaign_id
                )
            ).first()
            return None if row is None else _pledge(row)

    def erase_contacts(self, pledge_ids: Sequence[str] | None = None) -> int:
        """Delete backers' contact and delivery details (all, or those of ``pledge_ids``);
        the chain and every other table are untouched. Returns how many rows went."""
        with database_errors("erasing backer details"), self._writer() as c:
            query = delete(CONTACTS)
            if pledge_ids is not None:
                query = query.where(CONTACTS.c.pledge_id.in_(list(pledge_ids)))
            return int(c.execute(query).rowcount)

    # -- reads --------------------------------------------------------------------------------

    def get(self, gcn: str) -> CampaignHead | None:
        with database_errors("reading a campaign"), self.database.engine.connect() as c:
            row = c.execute(select(CAMPAIGNS).where(CAMPAIGNS.c.gcn == gcn)).first()
            return None if row is None else campaign_head(row)

    def listed(self, limit: int = 100, offset: int = 0) -> list[CampaignHead]:
        with database_errors("listing campaigns"), self.database.engine.connect() as c:
            rows = c.execute(select(CAMPAIGNS).order_by(CAMPAIGNS.c.id).limit(limit).offset(offset))
            return [campaign_head(r) for r in rows]

    def for_lot(self, gtin: str, lot: str, limit: int = 20) -> list[CampaignHead]:
        """Campaigns for the lot ``(gtin, lot)``, oldest first (for the lot's page)."""
        with database_errors("listing a lot's campaigns"), self.database.engine.connect() as c:
            rows = c.execute(
                select(CAMPAIGNS)
                .where(CAMPAIGNS.c.gtin == gtin, CAMPAIGNS.c.lot == lot)
                .order_by(CAMPAIGNS.c.id)
                .limit(limit)
            )
            return [campaign_head(r) for r in rows]

    def all_ids(self) -> list[tuple[int, str]]:
        """Every campaign's ``(id, gcn)``, oldest first (for the audit)."""
        with database_errors("listing campaigns"), self.database.engine.connect() as c:
            return [
                (int(i), g)
                for i, g in c.execute(
                    select(CAMPAIGNS.c.id, CAMPAIGNS.c.gcn).order_by(CAMPAIGNS.c.id)
                )
            ]

    def entries(self, campaign_id: int, with_anchors: bool = True) -> list[StoredCampaignEntry]:
        """The campaign's entries in ``cseq`` order, each with where it sits once anchored."""
        with database_errors("reading campaign entries"), self.database.engine.connect() as c:
            rows = list(
                c.execute(
                    select(CAMPAIGN_ENTRIES)
                    .where(CAMPAIGN_ENTRIES.c.campaign_id == campaign_id)
                    .order_by(CAMPAIGN_ENTRIES.c.cseq)
                )
            )
            anchors = (
                _anchors(c, [(r.signer, int(r.seq)) for r in rows], CAMPAIGN)
                if with_anchors
                else {}
            )
        return [
            StoredCampaignEntry(
                int(r.cseq),
                r.op,
                r.signer,
                int(r.seq),
                int(r.time_ms),
                r.state,
                bytes(r.payload),
                anchors.get((r.signer, int(r.seq))),
            )
            for r in rows
        ]

    def coupon(self, gcn: str, serial: int) -> CouponRecord | None:
        with database_errors("reading a coupon"), self.database.engine.connect() as c:
            row = c.execute(
                select(COUPONS)
                .join(CAMPAIGNS, CAMPAIGNS.c.id == COUPONS.c.campaign_id)
                .where(CAMPAIGNS.c.gcn == gcn, COUPONS.c.serial == serial)
            ).first()
            return None if row is None else coupon_record(row, gcn)

    def coupons_held(self, holder: str, limit: int = 500) -> list[CouponRecord]:
        """Coupons whose current holder is ``holder`` (any status), by campaign and serial."""
        with database_errors("reading coupons"), self.database.engine.connect() as c:
            rows = c.execute(
                select(COUPONS, CAMPAIGNS.c.gcn)
                .join(CAMPAIGNS, CAMPAIGNS.c.id == COUPONS.c.campaign_id)
                .where(COUPONS.c.holder == holder)
                .order_by(COUPONS.c.campaign_id, COUPONS.c.serial)
                .limit(limit)
            )
            return [coupon_record(r, r.gcn) for r in rows]

    def moves(
        self,
        campaign_id: int,
        serial: int | None = None,
        stream: Callable[[int], str] | None = None,
    ) -> list[MoveRecord]:
        """The spends of one coupon (or of every coupon of the campaign), in move order; with
        ``stream`` (serial -> stream ID), transfers carry where they sit once anchored."""
        with database_errors("reading coupon moves"), self.database.engine.connect() as c:
            query = select(MOVES).where(MOVES.c.campaign_id == campaign_id)
            if serial is not None:
                query = query.where(MOVES.c.serial == serial)
            rows = list(c.execute(query.order_by(MOVES.c.serial, MOVES.c.move)))
            anchors: dict[tuple[str, int], Anchor] = {}
            if stream is not None:
                keys = [(stream(int(r.serial)), int(r.move)) for r in rows if r.op == "transfer"]
                anchors = _anchors(c, keys, COUPON_MOVE)
        return [
            MoveRecord(
                int(r.serial),
                int(r.move),
                r.op,
                r.prev,
                r.state,
                r.holder,
                None if r.price_amount is None else (int(r.price_amount), r.price_currency),
                int(r.time_ms),
                None if r.payload is None else bytes(r.payload),
                anchors.get((stream(int(r.serial)), int(r.move))) if stream else None,
            )
            for r in rows
        ]

    def counts(self) -> dict[str, int]:
        """How many campaigns, coupons and moves are stored (for benchmarks and status)."""
        with database_errors("counting coupons"), self.database.engine.connect() as c:
            return {
                "campaigns": int(
                    c.execute(select(func.count()).select_from(CAMPAIGNS)).scalar_one()
                ),
                "coupons": int(c.execute(select(func.count()).select_from(COUPONS)).scalar_one()),
                "moves": int(c.execute(select(func.count()).select_from(MOVES)).scalar_one()),
            }


class _Retry(Exception):
    """The campaign's head moved between reading and writing: read it again."""


def _is_spend_conflict(exc: IntegrityError) -> bool:
    text = str(exc.orig).lower()
    return "coupon_moves" in text or "pk_coupons" in text or "coupons." in text


def _anchors(
    c: Connection, keys: list[tuple[str, int]], kind: str
) -> dict[tuple[str, int], Anchor]:
    """Where each ``(device_id, seq)`` of ``kind`` sits on a chain, for those integrated."""
    found: dict[tuple[str, int], Anchor] = {}
    for start in range(0, len(keys), _ANCHOR_CHUNK):
        chunk = keys[start : start + _ANCHOR_CHUNK]
        match = or_(*(and_(ENTRIES.c.device_id == d, ENTRIES.c.seq == q) for d, q in chunk))
        rows = c.execute(
            select(CHAINS.c.origin, ENTRIES.c.global_index, ENTRIES.c.device_id, ENTRIES.c.seq)
            .join(CHAINS, CHAINS.c.id == ENTRIES.c.chain_id)
            .where(ENTRIES.c.kind == kind, match)
        )
        for r in rows:
            found[(r.device_id, int(r.seq))] = Anchor(r.origin, int(r.global_index))
    return found
