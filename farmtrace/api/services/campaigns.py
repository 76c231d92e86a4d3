"""Campaigns and coupons as the API runs them: validate, sign with the farm's key, store.

Every change is judged by the reference rules before it is stored: the next campaign entry is
signed and then applied to a :class:`~farmtrace.commerce.replay.CampaignReplay` resumed from the
campaign's stored head, inside the store's write transaction (:meth:`Campaigns.append`), so the
API can only ever store a history that ``farmtrace verify`` and ``farmtrace audit`` accept. A
holder's transfer is checked the same way (:func:`~farmtrace.commerce.replay.check_statement`)
and stored under the database's spend-once constraint.

Errors are :class:`~farmtrace.commerce.errors.CommerceError` with a ``kind`` the routes map to
422 (malformed), 404 (unknown) or 409 (refused by the current state); nothing is written then.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import hashlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from farmtrace.api.services.lots.store import LotStore
from farmtrace.commerce.canonical import MAX_INT
from farmtrace.commerce.entries import (
    MAX_VOIDS_PER_ENTRY,
    HolderStatement,
    Totals,
    b64decode_strict,
    decode_statement,
    farm_signer,
    parse_address,
    sign_campaign_entry,
    statement_signer,
    verify_signature,
)
from farmtrace.commerce.errors import CommerceError
from farmtrace.commerce.gcn import coupon_id, parse_coupon_id, validate_gcn
from farmtrace.commerce.replay import (
    CampaignReplay,
    CouponState,
    Shortfall,
    Violation,
    check_statement,
)
from farmtrace.commerce.terms import CampaignTerms, parse_terms
from farmtrace.store.campaigns import (
    CampaignChange,
    CampaignHead,
    Campaigns,
    CampaignView,
    CouponRecord,
    IssuedCoupons,
    NewCampaign,
    PledgeRecord,
    Spend,
)
from farmtrace.store.errors import StateConflictError
from farmtrace.store.farm_keys import FarmKeys

__all__ = ["CampaignService", "Refund", "parse_terms_time"]

MAX_CONTACT = 500
MAX_REFERENCE = 200
FUTURE_SLACK_MS = 300_000
"""How far ahead of the server's clock a holder's statement may be dated (clock skew)."""
GOODS_LEFT = ("shipping", "retail_selling")
"""Lot event kinds where goods leave the farm: the events a redemption links to."""

# What a farm action produces: op, op fields, new totals, and the rows it changes.
_Made = tuple[
    str, dict[str, Any], Totals, IssuedCoupons | None, tuple[Spend, ...], tuple[str, int] | None
]


@dataclass(frozen=True, slots=True)
class Refund:
    """A refund the farm owes (farmtrace never moves money: the farm pays, then records it)."""

    pledge: str
    holder: str
    owed: int
    refunded: int
    currency: str
    contact: str | None
    delivery: str | None


def parse_terms_time(value: object) -> int:
    """Milliseconds since the epoch from an integer (kept as is) for terms fields."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise CommerceError("expected milliseconds since the epoch")
    return value


def _when(ms: int) -> str:
    """A campaign time as people read it beside the integer the terms hold: ``1796615842527 ms
    (2026-12-07T03:57:22Z)``; a message should not make a farmer convert epoch milliseconds."""
    iso = datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{ms} ms ({iso})"


def _shortfall_json(shortfall: Shortfall | None) -> str | None:
    return None if shortfall is None else json.dumps(dataclasses.asdict(shortfall))


def _shortfall(value: str | None) -> Shortfall | None:
    return None if value is None else Shortfall(**json.loads(value))


class CampaignService:
    """The campaign and coupon operations of one API process."""

    def __init__(
        self,
        campaigns: Campaigns,
        farm_keys: FarmKeys,
        lots: LotStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.campaigns = campaigns
        self.farm_keys = farm_keys
        self.lots = lots
        self._clock = clock

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    # -- reads --------------------------------------------------------------------------------

    def head(self, gcn: str) -> CampaignHead:
        validate_gcn(gcn)
        head = self.campaigns.get(gcn)
        if head is None:
            raise CommerceError(f"campaign {gcn} not found", "not-found")
        return head

    def terms(self, head: CampaignHead) -> CampaignTerms:
        return parse_terms(json.loads(head.terms))

    def coupon(self, coupon: str) -> tuple[CampaignHead, CouponRecord]:
        gcn, serial = parse_coupon_id(coupon)
        head = self.head(gcn)
        record = self.campaigns.coupon(gcn, serial)
        if record is None:
            raise CommerceError(f"coupon {coupon} not found", "not-found")
        return head, record

    def refunds(self, gcn: str) -> list[Refund]:
        """What the farm owes each backer: a failed campaign's pledges in full, a refund
        shortfall's voided coupons at the coupon price; less what was recorded as refunded."""
        head = self.head(gcn)
        terms = self.terms(head)
        voided: dict[str, int] = {}
        if head.status == "failed" or (
            head.shortfall is not None and json.loads(head.shortfall)["policy"] == "refund"
        ):
            for move in self.campaigns.moves(head.id):
                if move.op == "void":
                    owner = self.campaigns_coupon_pledge(head, move.serial)
                    voided[owner] = voided.get(owner, 0) + 1
        owed = []
        for pledge in self.campaigns.pledges(head.id):
            if pledge.status == "awaiting-payment":
                continue
            coupons = pledge.count if head.status == "failed" else voided.get(pledge.id, 0)
            if coupons == 0:
                continue
            owed.append(
                Refund(
                    pledge.id,
                    pledge.holder,
                    coupons * terms.price,
                    pledge.refunded,
                    terms.currency,
                    pledge.contact,
                    pledge.delivery,
                )
            )
        return owed

    def campaigns_coupon_pledge(self, head: CampaignHead, serial: int) -> str:
        record = self.campaigns.coupon(head.gcn, serial)
        return "" if record is None else record.pledge

    # -- farm actions -------------------------------------------------------------------------

    def create(self, raw_terms: object) -> CampaignHead:
        """Open a campaign: its terms signed in the ``open`` entry by the farm's key."""
        terms = parse_terms(raw_terms)
        if terms.deadline_ms <= self.now_ms():
            raise CommerceError("deadline_ms: the deadline has passed already")
        if self.lots.get(terms.gtin, terms.lot) is None:
            raise CommerceError(
                f"lot ({terms.gtin}, {terms.lot}) is not declared: declare it first "
                "(POST /v1/lots), with the fields and devices it grows under",
                "not-found",
            )
        key = self.farm_keys.key(terms.farm)
        public = key.public_key().public_bytes_raw()
        signer = farm_signer(public)
        now = max(self.now_ms(), 0)

        def build_open(seq: int) -> CampaignChange:
            body = {
                "campaign": terms.campaign,
                "cseq": 1,
                "prev": "0" * 64,
                "op": "open",
                "totals": Totals().to_json(),
                "terms": terms.to_json(),
                "terms_sha256": terms.sha256(),
                "farm_key": public.hex(),
            }
            entry = sign_campaign_entry(seq, now, body, key)
            replay = CampaignReplay(public)
            replay.apply(entry)
            return CampaignChange("open", entry.payload, entry.state, now, replay.status, 0, 0, 0)

        created = self.campaigns.create(
            NewCampaign(
                terms.campaign,
                terms.farm,
                terms.gtin,
                terms.lot,
                terms.canonical().decode("utf-8"),
                terms.cap,
                terms.target,
                signer,
            ),
            build_open,
        )
        if created is None:
            raise CommerceError(f"campaign {terms.campaign} exists already", "conflict")
        return created

    def _append(
        self, gcn: str, make: Callable[[CampaignReplay, CampaignView, CampaignHead], _Made]
    ) -> tuple[CampaignHead, CampaignChange]:
        validate_gcn(gcn)
        head0 = self.head(gcn)
        key = self.farm_keys.key(head0.farm)
        public = key.public_key().public_bytes_raw()

        def build(head: CampaignHead, seq: int, view: CampaignView) -> CampaignChange:
            terms = self.terms(head)
            replay = CampaignReplay.resume(
                terms,
                public,
                head.status,
                Totals(head.issued, head.redeemed, head.voided),
                head.cseq,
                head.head,
                view.last_time_ms(head.cseq),
                head.harvested,
                _shortfall(head.shortfall),
                _coupon_loader(view, head.gcn),
                _pledge_loader(view),
            )
            op, fields, totals, issue, spends, refund = make(replay, view, head)
            now = max(self.now_ms(), replay.time_ms)
            body = {
                "campaign": head.gcn,
                "cseq": head.cseq + 1,
                "prev": head.head,
                "op": op,
                "totals": totals.to_json(),
                **fields,
            }
            entry = sign_campaign_entry(seq, now, body, key)
            replay.apply(entry)
            return CampaignChange(
                op,
                entry.payload,
                entry.state,
                now,
                replay.status,
                totals.issued,
                totals.redeemed,
                totals.voided,
                replay.harvested,
                _shortfall_json(replay.shortfall),
                issue,
                spends,
                refund,
            )

        try:
            result = self.campaigns.append(gcn, build)
        except StateConflictError as exc:
            raise CommerceError(str(exc), "conflict") from None
        if result is None:
            raise CommerceError(f"campaign {gcn} not found", "not-found")
        return result

    def pledge(
        self, gcn: str, holder: str, count: int, contact: str | None, delivery: str | None
    ) -> PledgeRecord:
        """Record a pledge awaiting the farm's confirmation of payment; refused for a campaign
        not open for pledges or a count the cap cannot take."""
        parse_address(holder, "holder")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise CommerceError("count: expected a positive number of coupons")
        for name, text in (("contact", contact), ("delivery", delivery)):
            if text is not None and len(text) > MAX_CONTACT:
                raise CommerceError(f"{name}: at most {MAX_CONTACT} characters")
        head = self.head(gcn)
        terms = self.terms(head)
        self._check_pledgeable(head, terms, count)
        amount = count * terms.price
        if amount > MAX_INT:
            raise CommerceError("count: the amount overflows the largest exact amount")
        return self.campaigns.add_pledge(
            head.id, secrets.token_hex(16), holder, count, amount, contact, delivery
        )

    def _check_pledgeable(self, head: CampaignHead, terms: CampaignTerms, count: int) -> None:
        now = self.now_ms()
        if head.status not in ("open", "funded"):
            raise CommerceError(
                f"campaign {head.gcn} is {head.status}: no more pledges", "conflict"
            )
        if head.harvested is not None:
            raise CommerceError(
                f"campaign {head.gcn} is harvested already: no more pledges", "conflict"
            )
        if now < terms.opens_ms:
            raise CommerceError(f"campaign {head.gcn} opens at {_when(terms.opens_ms)}", "conflict")
        if now > terms.deadline_ms:
            raise CommerceError(
                f"campaign {head.gcn} passed its deadline, {_when(terms.deadline_ms)}",
                "conflict",
            )
        if head.issued + count > terms.cap:
            raise CommerceError(
                f"count: {count} coupons would pass the cap ({head.issued} of {terms.cap} issued)",
                "conflict",
            )

    def confirm(
        self, gcn: str, pledge_id: str, payment_reference: str
    ) -> tuple[CampaignHead, CampaignChange]:
        """Issue a pledge's coupons once the farm confirms its payment (the reference is kept
        only as its SHA-256)."""
        if (
            not isinstance(payment_reference, str)
            or not 1 <= len(payment_reference) <= MAX_REFERENCE
        ):
            raise CommerceError(f"payment_reference: 1-{MAX_REFERENCE} characters")
        reference_sha256 = hashlib.sha256(payment_reference.encode("utf-8")).hexdigest()

        def make(replay: CampaignReplay, view: CampaignView, head: CampaignHead) -> _Made:
            pledge = view.pledge(pledge_id)
            if pledge is None:
                raise CommerceError(f"pledge {pledge_id} not found", "not-found")
            if pledge.status != "awaiting-payment":
                raise CommerceError(f"pledge {pledge_id} is {pledge.status} already", "conflict")
            terms = self.terms(head)
            self._check_pledgeable(head, terms, pledge.count)
            t = replay.totals
            first = t.issued + 1
            fields = {
                "pledge": pledge_id,
                "holder": pledge.holder,
                "first": first,
                "count": pledge.count,
                "payment_sha256": reference_sha256,
            }
            issue = IssuedCoupons(pledge_id, pledge.holder, first, pledge.count, reference_sha256)
            return (
                "issue",
                fields,
                Totals(t.issued + pledge.count, t.redeemed, t.voided),
                issue,
                (),
                None,
            )

        return self._judged(gcn, make)

    def _judged(
        self, gcn: str, make: Callable[[CampaignReplay, CampaignView, CampaignHead], _Made]
    ) -> tuple[CampaignHead, CampaignChange]:
        try:
            return self._append(gcn, make)
        except Violation as exc:
            # The reason is the reference rules' (the same words verify prints); the farm
            # calling the API also needs to know which campaign and what to do next.
            message = f"campaign {gcn}: {exc.reason}"
            if exc.reason.endswith("while the campaign is open"):
                message += (
                    f"; settle it first (POST /v1/campaigns/{gcn}/settle) once its target is "
                    "reached or its deadline has passed"
                )
            raise CommerceError(message, "conflict") from None

    def _simple(self, op: str, fields: dict[str, Any] | None = None) -> Callable[..., _Made]:
        def make(replay: CampaignReplay, view: CampaignView, head: CampaignHead) -> _Made:
            return op, dict(fields or {}), replay.totals, None, (), None

        return make

    def settle(self, gcn: str) -> list[CampaignChange]:
        """Funded once the target is issued; failed after the deadline short of it, and then
        every coupon voided (in entries of at most 64)."""
        head = self.head(gcn)
        terms = self.terms(head)
        if head.status != "open":
            raise CommerceError(f"campaign {gcn} is {head.status}: nothing to settle", "conflict")
        if head.issued >= terms.target:
            return [self._judged(gcn, self._simple("funded"))[1]]
        if self.now_ms() <= terms.deadline_ms:
            raise CommerceError(
                f"campaign {gcn} has {head.issued} of {terms.target} coupons and is open until "
                f"its deadline, {_when(terms.deadline_ms)}",
                "conflict",
            )
        done = [self._judged(gcn, self._simple("failed"))[1]]
        return done + self._void_all(gcn, "campaign-failed", None)

    def _void_all(self, gcn: str, reason: str, limit: int | None) -> list[CampaignChange]:
        done: list[CampaignChange] = []
        remaining = limit
        while remaining is None or remaining > 0:
            chunk = (
                MAX_VOIDS_PER_ENTRY if remaining is None else min(remaining, MAX_VOIDS_PER_ENTRY)
            )

            def make(
                replay: CampaignReplay, view: CampaignView, head: CampaignHead, chunk: int = chunk
            ) -> _Made:
                # Newest serials first: a refund shortfall gives back the last coupons sold.
                active = view.active_coupons(chunk, newest_first=reason == "shortfall-refund")
                if not active:
                    raise _NothingLeft
                t = replay.totals
                items = [[c.serial, c.state] for c in active]
                spends = tuple(Spend(c.serial, c.moves + 1, c.state, "void") for c in active)
                return (
                    "void",
                    {"reason": reason, "coupons": items},
                    Totals(t.issued, t.redeemed, t.voided + len(items)),
                    None,
                    spends,
                    None,
                )

            try:
                done.append(self._judged(gcn, make)[1])
            except _NothingLeft:
                break
            if remaining is not None:
                remaining -= chunk
        return done

    def refund(self, gcn: str, pledge_id: str, amount: int) -> CampaignChange:
        """Record that the farm refunded ``amount`` minor units of a pledge."""
        if isinstance(amount, bool) or not isinstance(amount, int) or not 1 <= amount <= MAX_INT:
            raise CommerceError("amount: expected a positive integer of minor units")

        def make(replay: CampaignReplay, view: CampaignView, head: CampaignHead) -> _Made:
            owed = {r.pledge: r for r in self.refunds(gcn)}.get(pledge_id)
            if owed is None:
                raise CommerceError(f"pledge {pledge_id} is owed no refund", "conflict")
            if owed.refunded + amount > owed.owed:
                raise CommerceError(
                    f"amount: {amount} would refund more than the {owed.owed - owed.refunded} "
                    "still owed",
                    "conflict",
                )
            terms = self.terms(head)
            fields = {"pledge": pledge_id, "amount": amount, "currency": terms.currency}
            return "refund", fields, replay.totals, None, (), (pledge_id, amount)

        return self._judged(gcn, make)[1]

    def harvest(self, gcn: str, quantity: int) -> CampaignChange:
        if (
            isinstance(quantity, bool)
            or not isinstance(quantity, int)
            or not 0 <= quantity <= MAX_INT
        ):
            raise CommerceError("quantity: expected a non-negative integer in the coupon's unit")
        return self._judged(gcn, self._simple("harvested", {"quantity": quantity}))[1]

    def shortfall(self, gcn: str, policy: str) -> list[CampaignChange]:
        """Record the farm's decision when the harvest cannot cover the coupons: ``pro-rata``
        (every outstanding coupon gets an equal share of what is left) or ``refund`` (the
        uncovered coupons, newest first, are voided and their price is owed back)."""
        if policy not in ("pro-rata", "refund"):
            raise CommerceError("policy: expected pro-rata or refund")

        def make(replay: CampaignReplay, view: CampaignView, head: CampaignHead) -> _Made:
            terms = self.terms(head)
            t = replay.totals
            if replay.harvested is None:
                raise CommerceError("record the harvest first", "conflict")
            covered = replay.harvested // terms.quantity
            if t.redeemed + t.outstanding <= covered:
                raise CommerceError(
                    f"there is no shortfall: the harvest covers {covered} coupons, "
                    f"{t.redeemed + t.outstanding} are redeemed or outstanding",
                    "conflict",
                )
            fields = {
                "policy": policy,
                "covered": covered,
                "uncovered": t.redeemed + t.outstanding - covered,
                "share": {
                    "quantity": replay.harvested - t.redeemed * terms.quantity,
                    "coupons": t.outstanding,
                },
            }
            return "shortfall", fields, t, None, (), None

        head, change = self._judged(gcn, make)
        done = [change]
        if policy == "refund":
            uncovered = json.loads(head.shortfall or "{}").get("uncovered", 0)
            done += self._void_all(gcn, "shortfall-refund", int(uncovered))
        return done

    def close(self, gcn: str) -> list[CampaignChange]:
        """Close a campaign: after its delivery window, coupons never redeemed expire (voided)."""
        head = self.head(gcn)
        terms = self.terms(head)
        done: list[CampaignChange] = []
        if head.status == "funded" and head.issued - head.redeemed - head.voided:
            if self.now_ms() <= terms.delivery_until_ms:
                raise CommerceError(
                    f"campaign {gcn} has coupons outstanding until its delivery window ends "
                    f"at {_when(terms.delivery_until_ms)}",
                    "conflict",
                )
            done += self._void_all(gcn, "expired", None)
        return [*done, self._judged(gcn, self._simple("closed"))[1]]

    # -- holder actions -----------------------------------------------------------------------

    def _statement(
        self, coupon: str, encoded: object, op: str
    ) -> tuple[CampaignHead, CouponRecord, HolderStatement]:
        if not isinstance(encoded, str):
            raise CommerceError("statement: expected base64 text")
        try:
            statement = decode_statement(b64decode_strict(encoded, "statement"))
        except CommerceError as exc:
            message = str(exc)
            # The decoder names the part of the statement; the client knows the field.
            if not message.startswith("statement"):
                message = f"statement: {message}"
            raise CommerceError(message, exc.kind) from None
        if statement.coupon != coupon:
            raise CommerceError(f"statement: names coupon {statement.coupon}, not {coupon}")
        if statement.op != op:
            raise CommerceError(f"statement: is a {statement.op} statement, not a {op}")
        if statement.time_ms > self.now_ms() + FUTURE_SLACK_MS:
            raise CommerceError("statement: dated in the future")
        head, record = self.coupon(coupon)
        # Checked first so a forged statement is told apart from a stale one (422, not 409).
        if (
            record.status == "active"
            and statement.prev == record.state
            and not verify_signature(
                bytes.fromhex(record.holder), statement.signed_bytes, statement.signature
            )
        ):
            raise CommerceError(f"statement: not signed by the holder of coupon {coupon}")
        try:
            check_statement(
                f"{op} of coupon {coupon}", _coupon_state(record, head.gcn), statement, op
            )
        except Violation as exc:
            raise CommerceError(
                f"{exc.reason}; the coupon is {record.status}, its current state is "
                f"{record.state} after {record.moves} moves",
                "conflict",
            ) from None
        return head, record, statement

    def transfer(self, coupon: str, encoded: object) -> CouponRecord:
        """Accept a holder-signed transfer if it spends the coupon's current state; a second
        spend of one state is refused (409, naming the current state), by the database."""
        head, record, statement = self._statement(coupon, encoded, "transfer")
        assert statement.to is not None
        try:
            self.campaigns.transfer(
                head.id,
                record.serial,
                statement.move,
                statement.prev,
                statement.state,
                statement.to,
                statement.price,
                statement.time_ms,
                statement.payload,
                statement_signer(coupon),
            )
        except StateConflictError as exc:
            raise CommerceError(
                f"coupon {coupon}: state {statement.prev} was already spent; its current "
                f"state is {exc.current}",
                "conflict",
            ) from None
        # The store moved the coupon only from exactly ``record`` (state, moves, active), so
        # what this transfer made is known without reading the coupon again (two queries
        # less per transfer; a later transfer landing meanwhile does not change this answer).
        return dataclasses.replace(
            record, holder=statement.to, state=statement.state, moves=statement.move
        )

    def redeem(
        self, coupon: str, encoded: object, event_signer: str, event_seq: int
    ) -> tuple[CampaignHead, CampaignChange]:
        """Confirm a redemption: the holder's signed redeem statement, linked to the lot event
        where the goods left (shipping or retail selling)."""
        head, record, statement = self._statement(coupon, encoded, "redeem")
        lot = self.lots.get(head.gtin, head.lot)
        event = None
        if lot is not None:
            for stored in lot.events:
                if stored.entry.signer == event_signer and stored.entry.seq == event_seq:
                    event = stored.entry
        if event is None:
            raise CommerceError(
                f"event: lot ({head.gtin}, {head.lot}) has no event {event_signer} #{event_seq}",
                "not-found",
            )
        if event.body.get("kind") not in GOODS_LEFT:
            raise CommerceError(
                f"event: a redemption links to the event where the goods left "
                f"({' or '.join(GOODS_LEFT)}), not {event.body.get('kind')}"
            )
        event_ref = {
            "signer": event_signer,
            "seq": event_seq,
            "sha256": hashlib.sha256(event.payload).hexdigest(),
        }

        def make(replay: CampaignReplay, view: CampaignView, h: CampaignHead) -> _Made:
            t = replay.totals
            fields = {
                "serial": record.serial,
                "statement": base64.b64encode(statement.payload).decode("ascii"),
                "event": event_ref,
            }
            spend = Spend(
                record.serial, statement.move, statement.prev, "redeem", statement.payload
            )
            return (
                "redeem",
                fields,
                Totals(t.issued, t.redeemed + 1, t.voided),
                None,
                (spend,),
                None,
            )

        return self._judged(head.gcn, make)


class _NothingLeft(Exception):
    """No active coupon is left to void."""


def _coupon_state(record: CouponRecord, gcn: str) -> CouponState:
    return CouponState(
        coupon_id(gcn, record.serial),
        record.serial,
        record.holder,
        record.state,
        record.status,
        record.moves,
        pledge=record.pledge,
    )


def _coupon_loader(view: CampaignView, gcn: str) -> Callable[[int], CouponState | None]:
    def load(serial: int) -> CouponState | None:
        record = view.coupon(serial)
        return None if record is None else _coupon_state(record, gcn)

    return load


def _pledge_loader(view: CampaignView) -> Callable[[str], tuple[int, int] | None]:
    def load(pledge_id: str) -> tuple[int, int] | None:
        pledge = view.pledge(pledge_id)
        if pledge is None or pledge.status == "awaiting-payment":
            return None
        return pledge.count, pledge.refunded

    return load
