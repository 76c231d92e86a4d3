"""The coupon market in the database (revision 0012): listings and offers, the typed queries.

A listing is off the chain: a holder's signed offer to sell one coupon *state*. It is open
while that state is the coupon's head and nobody withdrew it. When the coupon moves (a
transfer, a redemption or a void spends the listed state), the listing ends; the store notices
that lazily, in :meth:`Listings.settle` (called before every read and inside every market
write), by comparing open listings with ``coupons.state`` and reading the move that spent the
listed state from ``coupon_moves``:

* ``sold``: a transfer to an address that offered on the listing, declaring exactly the listed
  price and currency;
* ``moved``: any other transfer;
* ``redeemed`` / ``void``: the coupon was redeemed or voided;
* ``withdrawn``: the seller's signed withdrawal (:meth:`Listings.withdraw`).

An ended listing keeps its row (with ``ended_state``, the state the move made, and
``ended_time_ms``) for the market's history. The partial unique index
``uq_coupon_listings_open`` keeps at most one open listing per coupon on SQLite and PostgreSQL
alike; a second concurrent listing gets :class:`StateConflictError`. Every SQLAlchemy error
leaves as :class:`~farmtrace.store.errors.DatabaseError`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from farmtrace.store.database import Database, database_errors
from farmtrace.store.errors import StateConflictError
from farmtrace.store.models import Base

__all__ = [
    "ENDED_REASONS",
    "ListingAuditRows",
    "ListingRecord",
    "Listings",
    "NewListing",
    "OfferRecord",
]

LISTINGS = Base.metadata.tables["coupon_listings"]
OFFERS = Base.metadata.tables["listing_offers"]
COUPONS = Base.metadata.tables["coupons"]
MOVES = Base.metadata.tables["coupon_moves"]
CAMPAIGNS = Base.metadata.tables["campaigns"]

ENDED_REASONS = ("sold", "moved", "withdrawn", "redeemed", "void")
MAX_OFFERS = 50
"""Offers kept per listing: enough for people arranging a sale, bounded against flooding."""


@dataclass(frozen=True, slots=True)
class OfferRecord:
    listing: str
    buyer: str
    time_ms: int
    signature: str
    created_at: float


@dataclass(frozen=True, slots=True)
class NewListing:
    """A verified listing statement, ready to store (the service checked the signature)."""

    id: str
    campaign_id: int
    serial: int
    state: str
    seller: str
    amount: int
    currency: str
    time_ms: int
    signature: str


@dataclass(frozen=True, slots=True)
class ListingRecord:
    id: str
    campaign_id: int
    gcn: str
    serial: int
    state: str
    seller: str
    amount: int
    currency: str
    time_ms: int
    signature: str
    ended: str | None
    ended_state: str | None
    ended_time_ms: int | None
    withdraw_signature: str | None
    created_at: float
    offers: tuple[OfferRecord, ...] = ()


def _listing(row: Any, offers: tuple[OfferRecord, ...] = ()) -> ListingRecord:
    return ListingRecord(
        row.id,
        int(row.campaign_id),
        row.gcn,
        int(row.serial),
        row.state,
        row.seller,
        int(row.price_amount),
        row.price_currency,
        int(row.time_ms),
        row.signature,
        row.ended,
        row.ended_state,
        None if row.ended_time_ms is None else int(row.ended_time_ms),
        row.withdraw_signature,
        float(row.created_at),
        offers,
    )


def _offer(row: Any) -> OfferRecord:
    return OfferRecord(
        row.listing_id, row.buyer, int(row.time_ms), row.signature, float(row.created_at)
    )


_SELECT = select(LISTINGS, CAMPAIGNS.c.gcn).join(
    CAMPAIGNS, CAMPAIGNS.c.id == LISTINGS.c.campaign_id
)


class Listings:
    """The coupon listings and offers of one database."""

    def __init__(self, database: Database) -> None:
        self.database = database

    @contextmanager
    def _writer(self) -> Iterator[Connection]:
        engine = self.database.engine
        with engine.connect().execution_options(sqlite_immediate=True) as c, c.begin():
            yield c

    # -- ending listings whose coupon moved ----------------------------------------------------

    def _stale(self, c: Connection, campaign_id: int, serial: int | None) -> list[Any]:
        query = (
            select(LISTINGS, COUPONS.c.state.label("head"))
            .join(
                COUPONS,
                and_(
                    COUPONS.c.campaign_id == LISTINGS.c.campaign_id,
                    COUPONS.c.serial == LISTINGS.c.serial,
                ),
            )
            .where(
                LISTINGS.c.campaign_id == campaign_id,
                LISTINGS.c.ended.is_(None),
                COUPONS.c.state != LISTINGS.c.state,
            )
        )
        if serial is not None:
            query = query.where(LISTINGS.c.serial == serial)
        return list(c.execute(query))

    def _end_stale(self, c: Connection, rows: list[Any]) -> int:
        ended = 0
        for row in rows:
            move = c.execute(
                select(MOVES).where(
                    MOVES.c.campaign_id == row.campaign_id,
                    MOVES.c.serial == row.serial,
                    MOVES.c.prev == row.state,
                )
            ).first()
            if move is None:  # the coupon's head moved past a state it never held: still end it
                reason, state, when = "moved", row.head, None
            else:
                reason, state, when = _reason(c, row, move), move.state, int(move.time_ms)
            ended += c.execute(
                update(LISTINGS)
                .where(LISTINGS.c.id == row.id, LISTINGS.c.ended.is_(None))
                .values(ended=reason, ended_state=state, ended_time_ms=when)
            ).rowcount
        return ended

    def settle(self, campaign_id: int, serial: int | None = None) -> int:
        """End the open listings of a campaign (or of one coupon) whose listed state is no
        longer the coupon's head; returns how many ended. Reads first, so a campaign with
        nothing to end costs one query and no write lock."""
        with database_errors("reading listings"), self.database.engine.connect() as c:
            if not self._stale(c, campaign_id, serial):
                return 0
        with database_errors("ending listings"), self._writer() as c:
            return self._end_stale(c, self._stale(c, campaign_id, serial))

    # -- writes -------------------------------------------------------------------------------

    def add(self, new: NewListing) -> ListingRecord:
        """Store a listing if its state is the coupon's head, its seller the holder and the
        coupon active, and no other listing of the coupon is open. :class:`StateConflictError`
        otherwise (``current``: the coupon's head), and nothing is written."""
        with database_errors("storing a listing"):
            try:
                with self._writer() as c:
                    self._end_stale(c, self._stale(c, new.campaign_id, new.serial))
                    coupon = c.execute(
                        select(COUPONS).where(
                            COUPONS.c.campaign_id == new.campaign_id,
                            COUPONS.c.serial == new.serial,
                        )
                    ).first()
                    if coupon is None:
                        raise StateConflictError("no such coupon")
                    if coupon.state != new.state or coupon.status != "active":
                        raise StateConflictError(
                            f"the coupon is {coupon.status} in state {coupon.state}, "
                            f"not active in state {new.state}",
                            coupon.state,
                        )
                    if coupon.holder != new.seller:
                        raise StateConflictError(
                            "the seller does not hold the coupon", coupon.state
                        )
                    if c.execute(select(LISTINGS.c.id).where(LISTINGS.c.id == new.id)).first():
                        raise StateConflictError(
                            f"listing {new.id} was made already (a statement lists once)",
                            coupon.state,
                        )
                    c.execute(
                        insert(LISTINGS).values(
                            id=new.id,
                            campaign_id=new.campaign_id,
                            serial=new.serial,
                            state=new.state,
                            seller=new.seller,
                            price_amount=new.amount,
                            price_currency=new.currency,
                            time_ms=new.time_ms,
                            signature=new.signature,
                            ended=None,
                            ended_state=None,
                            ended_time_ms=None,
                            withdraw_signature=None,
                            created_at=time.time(),
                        )
                    )
                    return self._read(c, new.id)
            except IntegrityError:
                pass
            raise StateConflictError("the coupon has an open listing already")

    def withdraw(self, listing: str, time_ms: int, signature: str) -> ListingRecord | None:
        """End an open listing as ``withdrawn`` (the service checked the seller's signature);
        ``None`` if there is no such listing, :class:`StateConflictError` if it has ended."""
        with database_errors("withdrawing a listing"), self._writer() as c:
            found = c.execute(select(LISTINGS).where(LISTINGS.c.id == listing)).first()
            if found is None:
                return None
            self._end_stale(c, self._stale(c, int(found.campaign_id), int(found.serial)))
            done = c.execute(
                update(LISTINGS)
                .where(LISTINGS.c.id == listing, LISTINGS.c.ended.is_(None))
                .values(
                    ended="withdrawn",
                    ended_state=None,
                    ended_time_ms=time_ms,
                    withdraw_signature=signature,
                )
            ).rowcount
            record = self._read(c, listing)
            if done != 1:
                raise StateConflictError(f"listing {listing} has ended ({record.ended})")
            return record

    def add_offer(
        self, listing: str, buyer: str, time_ms: int, signature: str
    ) -> ListingRecord | None:
        """Record a buyer's signed request to buy an open listing (a repeated offer by the same
        address keeps the first); ``None`` if there is no such listing,
        :class:`StateConflictError` if it has ended or holds :data:`MAX_OFFERS` offers."""
        with database_errors("storing an offer"), self._writer() as c:
            found = c.execute(select(LISTINGS).where(LISTINGS.c.id == listing)).first()
            if found is None:
                return None
            self._end_stale(c, self._stale(c, int(found.campaign_id), int(found.serial)))
            record = self._read(c, listing)
            if record.ended is not None:
                raise StateConflictError(f"listing {listing} has ended ({record.ended})")
            if any(o.buyer == buyer for o in record.offers):
                return record
            if len(record.offers) >= MAX_OFFERS:
                raise StateConflictError(f"listing {listing} holds {MAX_OFFERS} offers already")
            c.execute(
                insert(OFFERS).values(
                    listing_id=listing,
                    buyer=buyer,
                    time_ms=time_ms,
                    signature=signature,
                    created_at=time.time(),
                )
            )
            return self._read(c, listing)

    # -- reads --------------------------------------------------------------------------------

    def _read(self, c: Connection, listing: str) -> ListingRecord:
        row = c.execute(_SELECT.where(LISTINGS.c.id == listing)).one()
        return _listing(row, self._offers(c, [listing]).get(listing, ()))

    def _offers(self, c: Connection, ids: list[str]) -> dict[str, tuple[OfferRecord, ...]]:
        found: dict[str, list[OfferRecord]] = {}
        for start in range(0, len(ids), 200):
            rows = c.execute(
                select(OFFERS)
                .where(OFFERS.c.listing_id.in_(ids[start : start + 200]))
                .order_by(OFFERS.c.created_at, OFFERS.c.buyer)
            )
            for r in rows:
                found.setdefault(r.listing_id, []).append(_offer(r))
        return {k: tuple(v) for k, v in found.items()}

    def _many(self, query: Any, with_offers: bool) -> list[ListingRecord]:
        with database_errors("reading listings"), self.database.engine.connect() as c:
            rows = list(c.execute(query))
            offers = self._offers(c, [r.id for r in rows]) if with_offers else {}
        return [_listing(r, offers.get(r.id, ())) for r in rows]

    def get(self, listing: str) -> ListingRecord | None:
        """One listing with its offers (as stored: call :meth:`settle` first for a fresh end)."""
        with database_errors("reading a listing"), self.database.engine.connect() as c:
            if c.execute(select(LISTINGS.c.id).where(LISTINGS.c.id == listing)).first() is None:
                return None
            return self._read(c, listing)

    def campaign_id_of(self, listing: str) -> tuple[int, int] | None:
        """``(campaign_id, serial)`` of a listing, or ``None``."""
        with database_errors("reading a listing"), self.database.engine.connect() as c:
            row = c.execute(
                select(LISTINGS.c.campaign_id, LISTINGS.c.serial).where(LISTINGS.c.id == listing)
            ).first()
        return None if row is None else (int(row.campaign_id), int(row.serial))

    def open_listings(self, campaign_id: int, limit: int = 200) -> list[ListingRecord]:
        """The campaign's open listings, cheapest first (then oldest)."""
        return self._many(
            _SELECT.where(LISTINGS.c.campaign_id == campaign_id, LISTINGS.c.ended.is_(None))
            .order_by(LISTINGS.c.price_amount, LISTINGS.c.time_ms, LISTINGS.c.id)
            .limit(limit),
            with_offers=False,
        )

    def ended_listings(self, campaign_id: int, limit: int = 100) -> list[ListingRecord]:
        """The campaign's ended listings, most recently listed first."""
        return self._many(
            _SELECT.where(LISTINGS.c.campaign_id == campaign_id, LISTINGS.c.ended.is_not(None))
            .order_by(LISTINGS.c.time_ms.desc(), LISTINGS.c.id)
            .limit(limit),
            with_offers=False,
        )

    def by_seller(self, seller: str, limit: int = 200) -> list[ListingRecord]:
        """A seller's listings (open first, then newest), each with the offers it received."""
        return self._many(
            _SELECT.where(LISTINGS.c.seller == seller)
            .order_by(LISTINGS.c.ended.is_not(None), LISTINGS.c.time_ms.desc(), LISTINGS.c.id)
            .limit(limit),
            with_offers=True,
        )

    def offered_by(self, buyer: str, limit: int = 200) -> list[ListingRecord]:
        """The listings ``buyer`` offered on, newest first, each with its offers."""
        return self._many(
            _SELECT.join(OFFERS, OFFERS.c.listing_id == LISTINGS.c.id)
            .where(OFFERS.c.buyer == buyer)
            .order_by(LISTINGS.c.time_ms.desc(), LISTINGS.c.id)
            .limit(limit),
            with_offers=True,
        )

    def campaigns_of(self, holder: str) -> list[int]:
        """The campaigns where ``holder`` sold or offered (to settle before a wallet's reads)."""
        with database_errors("reading listings"), self.database.engine.connect() as c:
            sold = select(LISTINGS.c.campaign_id).where(LISTINGS.c.seller == holder)
            offered = (
                select(LISTINGS.c.campaign_id)
                .join(OFFERS, OFFERS.c.listing_id == LISTINGS.c.id)
                .where(OFFERS.c.buyer == holder)
            )
            return sorted({int(v) for v in c.execute(sold.union(offered)).scalars()})

    def counts(self) -> dict[str, int]:
        with database_errors("counting listings"), self.database.engine.connect() as c:
            return {
                "listings": int(c.execute(select(func.count()).select_from(LISTINGS)).scalar_one()),
                "offers": int(c.execute(select(func.count()).select_from(OFFERS)).scalar_one()),
            }


class ListingAuditRows:
    """The market's rows as stored, for ``farmtrace audit`` (one read-only connection)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def listings(self) -> list[ListingRecord]:
        """Every listing with its offers, by campaign, coupon and time."""
        rows = list(
            self._conn.execute(
                _SELECT.order_by(
                    LISTINGS.c.campaign_id, LISTINGS.c.serial, LISTINGS.c.time_ms, LISTINGS.c.id
                )
            )
        )
        found: dict[str, list[OfferRecord]] = {}
        for r in self._conn.execute(select(OFFERS).order_by(OFFERS.c.listing_id, OFFERS.c.buyer)):
            found.setdefault(r.listing_id, []).append(_offer(r))
        return [_listing(r, tuple(found.get(r.id, ()))) for r in rows]

    def spend_of(
        self, campaign_id: int, serial: int, state: str
    ) -> tuple[str, str, str | None, tuple[int, str] | None] | None:
        """``(op, new state, holder, declared price)`` of the move that spent ``state``."""
        row = self._conn.execute(
            select(MOVES).where(
                MOVES.c.campaign_id == campaign_id,
                MOVES.c.serial == serial,
                MOVES.c.prev == state,
            )
        ).first()
        if row is None:
            return None
        price = None if row.price_amount is None else (int(row.price_amount), row.price_currency)
        return row.op, row.state, row.holder, price


def _reason(c: Connection, listing: Any, move: Any) -> str:
    if move.op == "redeem":
        return "redeemed"
    if move.op == "void":
        return "void"
    if (
        move.price_amount is not None
        and int(move.price_amount) == int(listing.price_amount)
        and move.price_currency == listing.price_currency
        and c.execute(
            select(OFFERS.c.buyer).where(
                OFFERS.c.listing_id == listing.id, OFFERS.c.buyer == move.holder
            )
        ).first()
        is not None
    ):
        return "sold"
    return "moved"
