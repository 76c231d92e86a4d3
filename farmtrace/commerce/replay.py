"""The reference rules of campaigns and coupons: replay entries, name the first violation.

One plain-Python state machine decides what a valid campaign history is; the API refuses input
that would break it, ``farmtrace verify`` replays a bundle with it and ``farmtrace audit`` replays
the database with it. Rules (``docs/commerce.md``, "Rules"):

* Campaign entries come in ``cseq`` order 1, 2, 3... each naming the previous one's state, all
  signed by the farm key named in the ``open`` entry, with times that never go back, and running
  ``totals`` equal to the recount.
* ``open`` carries valid terms and their SHA-256. ``issue`` only while open (or funded) between
  the opening and the deadline and before a harvest, serials continuing the last, and never past
  the cap. ``funded`` once the target is issued; ``failed`` only after the deadline short of it.
  After ``failed`` every outstanding coupon must be voided before ``closed``.
* ``harvested`` records the quantity once, after funding. From then on redeemed + outstanding
  must not exceed ``quantity // per_coupon`` at a redemption or at closing, unless a
  ``shortfall`` decision (pro-rata or refund) states the difference exactly.
* A coupon's history is a hash chain: issue, then transfers each signed by the holder of the
  state it names (``prev``), then a redemption (the holder's redeem statement, inside the farm's
  entry) or a void naming its last state. Two statements spending one state are a double spend.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from farmtrace.commerce.entries import (
    GENESIS,
    CampaignEntry,
    HolderStatement,
    Totals,
    b64decode_strict,
    decode_statement,
    farm_signer,
    parse_address,
    verify_signature,
)
from farmtrace.commerce.errors import CommerceError
from farmtrace.commerce.gcn import coupon_id
from farmtrace.commerce.terms import CampaignTerms, parse_terms

__all__ = [
    "CampaignReplay",
    "CouponState",
    "Shortfall",
    "SignatureCheck",
    "Violation",
    "check_statement",
]

SignatureCheck = Callable[[bytes, bytes, bytes], bool]
"""``(public_key, signed_bytes, signature) -> valid``: how a replay checks a signature
(:func:`~farmtrace.commerce.entries.verify_signature` unless told otherwise; the audit gives one
that looks up signatures it checked in bulk, with the same verdicts)."""


class Violation(CommerceError):
    """A history that breaks a rule: ``item`` names the entry, the message what it broke."""

    def __init__(self, item: str, reason: str) -> None:
        super().__init__(f"{item}: {reason}", "conflict")
        self.item = item
        self.reason = reason


@dataclass
class CouponState:
    """One coupon as the replay sees it."""

    coupon: str
    serial: int
    holder: str  # address (hex public key)
    state: str  # hex SHA-256 of the entry that made this state
    status: str = "active"  # active, redeemed or void
    moves: int = 0  # holder statements applied (transfers and the redeem)
    history: list[tuple[str, bytes]] = field(default_factory=list)  # (kind, entry bytes)
    pledge: str = ""


@dataclass
class Shortfall:
    """A recorded shortfall decision and how many coupons it voided for refunds so far."""

    policy: str
    covered: int
    uncovered: int
    voided: int = 0


class CampaignReplay:
    """Feed campaign entries in ``cseq`` order (:meth:`apply`) and holder transfers in any order
    (:meth:`add_transfer`), then :meth:`finish`. Every method raises :class:`Violation` at the
    first broken rule. ``farm_key``: the farm's key as the verifier knows it (from a key history
    or a bundle's keys); ``None`` trusts the key the ``open`` entry names. ``verify`` checks
    each farm and holder signature (:data:`SignatureCheck`)."""

    def __init__(
        self,
        farm_key: bytes | None = None,
        coupon_loader: Callable[[int], CouponState | None] | None = None,
        pledge_loader: Callable[[str], tuple[int, int] | None] | None = None,
        verify: SignatureCheck = verify_signature,
    ) -> None:
        self.expected_key = farm_key
        self._verify = verify
        # A replay resumed from a stored head (:meth:`resume`) loads the coupons and pledges an
        # entry touches instead of holding every one.
        self._load_coupon = coupon_loader
        self._load_pledge = pledge_loader
        self.farm_key: bytes | None = None
        self.terms: CampaignTerms | None = None
        self.status = "none"
        self.totals = Totals()
        self.cseq = 0
        self.head = GENESIS
        self.time_ms = 0
        self.harvested: int | None = None
        self.shortfall: Shortfall | None = None
        self.coupons: dict[int, CouponState] = {}
        self.pledges: dict[str, int] = {}  # pledge id -> coupons issued
        self.refunded: dict[str, int] = defaultdict(int)  # pledge id -> minor units refunded
        self._transfers: dict[tuple[int, str], HolderStatement] = {}  # (serial, prev)
        self.transfers_applied = 0

    @classmethod
    def resume(
        cls,
        terms: CampaignTerms,
        farm_key: bytes,
        status: str,
        totals: Totals,
        cseq: int,
        head: str,
        time_ms: int,
        harvested: int | None,
        shortfall: Shortfall | None,
        coupon_loader: Callable[[int], CouponState | None],
        pledge_loader: Callable[[str], tuple[int, int] | None],
    ) -> CampaignReplay:
        """A replay positioned after entry ``cseq`` of a history already checked (the API's
        own, read from its database), to judge the next entry by the same rules."""
        replay = cls(farm_key, coupon_loader, pledge_loader)
        replay.farm_key = farm_key
        replay.terms = terms
        replay.status = status
        replay.totals = totals
        replay.cseq = cseq
        replay.head = head
        replay.time_ms = time_ms
        replay.harvested = harvested
        replay.shortfall = shortfall
        return replay

    # -- campaign entries ---------------------------------------------------------------------

    def apply(self, entry: CampaignEntry) -> None:
        name = f"campaign entry {entry.cseq} ({entry.op})"
        if entry.cseq != self.cseq + 1:
            raise Violation(name, f"expected campaign entry {self.cseq + 1} next")
        if entry.prev != self.head:
            raise Violation(name, "prev does not name the previous campaign entry")
        if self.terms is not None and entry.campaign != self.terms.campaign:
            raise Violation(name, f"names campaign {entry.campaign}, not {self.terms.campaign}")
        if entry.op == "open":
            self._open(name, entry)
        elif self.terms is None:
            raise Violation(name, "the first campaign entry must be open")
        assert self.farm_key is not None and self.terms is not None
        if entry.signer != farm_signer(self.farm_key) or not self._verify(
            self.farm_key, entry.signed_bytes, entry.signature
        ):
            raise Violation(name, "not signed by the farm key the campaign opened with")
        if entry.time_ms < self.time_ms:
            raise Violation(name, "its time is before the previous campaign entry's")
        totals = self._apply_op(name, entry, self.terms)
        if entry.totals != totals:
            raise Violation(
                name,
                f"states totals {entry.totals.to_json()} but the recount gives {totals.to_json()}",
            )
        self.totals = totals
        self.cseq = entry.cseq
        self.head = entry.state
        self.time_ms = entry.time_ms

    def _open(self, name: str, entry: CampaignEntry) -> None:
        if entry.cseq != 1:
            raise Violation(name, "a campaign opens only once, at entry 1")
        try:
            terms = parse_terms(entry.body["terms"])
        except CommerceError as exc:
            raise Violation(name, f"terms: {exc}") from None
        if terms.sha256() != entry.body["terms_sha256"]:
            raise Violation(name, "terms_sha256 is not the SHA-256 of the terms")
        if terms.campaign != entry.campaign:
            raise Violation(name, "the terms name another campaign")
        key = bytes.fromhex(entry.body["farm_key"])
        if self.expected_key is not None and key != self.expected_key:
            raise Violation(name, "opened with another key than the farm's")
        self.farm_key = key
        self.terms = terms

    def _apply_op(self, name: str, entry: CampaignEntry, terms: CampaignTerms) -> Totals:
        t = self.totals
        body = entry.body
        op = entry.op
        if op == "open":
            if t != Totals():
                raise Violation(name, "a campaign opens with zero totals")
            self.status = "open"
            return t
        if self.status == "closed":
            raise Violation(name, "the campaign is closed")
        if op == "issue":
            if self.status not in ("open", "funded"):
                raise Violation(name, f"coupons issued while the campaign is {self.status}")
            if self.harvested is not None:
                raise Violation(name, "coupons issued after the harvest")
            if not terms.opens_ms <= entry.time_ms <= terms.deadline_ms:
                raise Violation(name, "coupons issued outside the opening time and deadline")
            first, count = body["first"], body["count"]
            if first != t.issued + 1:
                raise Violation(name, f"serials must continue at {t.issued + 1}")
            if t.issued + count > terms.cap:
                raise Violation(
                    name, f"issues coupons past the cap: {t.issued + count} > {terms.cap}"
                )
            if body["pledge"] in self.pledges or (
                self._load_pledge is not None and self._load_pledge(body["pledge"]) is not None
            ):
                raise Violation(name, "pledge already issued")
            try:
                parse_address(body["holder"], "holder")
            except CommerceError as exc:
                raise Violation(name, str(exc)) from None
            self.pledges[body["pledge"]] = count
            for serial in range(first, first + count):
                coupon = CouponState(
                    coupon_id(terms.campaign, serial),
                    serial,
                    body["holder"],
                    entry.state,
                    pledge=body["pledge"],
                )
                coupon.history.append(("issue", entry.payload))
                self.coupons[serial] = coupon
            return Totals(t.issued + count, t.redeemed, t.voided)
        if op == "funded":
            if self.status != "open":
                raise Violation(name, f"funded while the campaign is {self.status}")
            if t.issued < terms.target:
                raise Violation(name, f"funded with {t.issued} coupons, short of {terms.target}")
            self.status = "funded"
            return t
        if op == "failed":
            if self.status != "open":
                raise Violation(name, f"failed while the campaign is {self.status}")
            if entry.time_ms <= terms.deadline_ms:
                raise Violation(name, "failed before the deadline")
            if t.issued >= terms.target:
                raise Violation(name, "failed although the target was issued")
            self.status = "failed"
            return t
        if op == "void":
            return self._void(name, entry, terms)
        if op == "refund":
            pledge = body["pledge"]
            if pledge not in self.pledges and self._load_pledge is not None:
                loaded = self._load_pledge(pledge)
                if loaded is not None:
                    self.pledges[pledge], self.refunded[pledge] = loaded
            if pledge not in self.pledges:
                raise Violation(name, "refund of a pledge that was never issued")
            if body["currency"] != terms.currency:
                raise Violation(name, f"refund in {body['currency']}, not {terms.currency}")
            if self.status != "failed" and not (
                self.shortfall is not None and self.shortfall.policy == "refund"
            ):
                raise Violation(name, "refunds follow a failed campaign or a refund shortfall")
            owed = self.pledges[pledge] * terms.price
            if self.refunded[pledge] + body["amount"] > owed:
                raise Violation(name, f"refunds more than the pledge paid ({owed})")
            self.refunded[pledge] += body["amount"]
            return t
        if op == "harvested":
            if self.status != "funded":
                raise Violation(name, f"harvest recorded while the campaign is {self.status}")
            if self.harvested is not None:
                raise Violation(name, "the harvest is recorded once")
            self.harvested = body["quantity"]
            return t
        if op == "shortfall":
            return self._decide_shortfall(name, entry, terms)
        if op == "redeem":
            return self._redeem(name, entry, terms)
        if op == "closed":
            if self.status not in ("funded", "failed"):
                raise Violation(name, f"closed while the campaign is {self.status}")
            if t.outstanding:
                raise Violation(name, f"closed with {t.outstanding} coupons outstanding")
            self._check_cover(name, t, terms)
            self.status = "closed"
            return t
        raise Violation(name, f"unknown op {op!r}")  # pragma: no cover - decode refuses it

    def covered(self, terms: CampaignTerms) -> int | None:
        """Coupons the recorded harvest covers (``None`` before the harvest)."""
        return None if self.harvested is None else self.harvested // terms.quantity

    def _check_cover(self, name: str, t: Totals, terms: CampaignTerms) -> None:
        covered = self.covered(terms)
        if covered is None or self.status == "failed":
            return
        claims = t.redeemed + t.outstanding
        if self.shortfall is None:
            if claims > covered:
                raise Violation(
                    name,
                    f"redeemed + outstanding ({claims}) exceed the harvest's {covered} coupons "
                    "and no shortfall decision covers the difference",
                )
        elif self.shortfall.policy == "refund" and t.redeemed > covered:
            raise Violation(
                name, f"redeems {t.redeemed} coupons, more than the harvest's {covered}"
            )

    def _decide_shortfall(self, name: str, entry: CampaignEntry, terms: CampaignTerms) -> Totals:
        t = self.totals
        covered = self.covered(terms)
        if covered is None:
            raise Violation(name, "a shortfall decision needs the harvest recorded first")
        if self.shortfall is not None:
            raise Violation(name, "the shortfall is decided once")
        body = entry.body
        uncovered = t.redeemed + t.outstanding - covered
        if uncovered <= 0:
            raise Violation(name, "there is no shortfall: the harvest covers every coupon")
        assert self.harvested is not None
        share = {"quantity": self.harvested - t.redeemed * terms.quantity, "coupons": t.outstanding}
        if (body["covered"], body["uncovered"], body["share"]) != (covered, uncovered, share):
            raise Violation(
                name,
                f"states covered={body['covered']} uncovered={body['uncovered']} "
                f"share={body['share']}, but the recount gives covered={covered} "
                f"uncovered={uncovered} share={share}",
            )
        self.shortfall = Shortfall(body["policy"], covered, uncovered)
        return t

    def _coupon(self, name: str, serial: int) -> CouponState:
        coupon = self.coupons.get(serial)
        if coupon is None and self._load_coupon is not None:
            coupon = self._load_coupon(serial)
            if coupon is not None:
                self.coupons[serial] = coupon
        if coupon is None:
            raise Violation(name, f"coupon serial {serial} was never issued")
        self._advance(coupon)
        return coupon

    def _void(self, name: str, entry: CampaignEntry, terms: CampaignTerms) -> Totals:
        t = self.totals
        reason = entry.body["reason"]
        items = entry.body["coupons"]
        if reason == "campaign-failed" and self.status != "failed":
            raise Violation(name, "voids for a failed campaign while it has not failed")
        if reason == "expired" and (
            self.status != "funded" or entry.time_ms <= terms.delivery_until_ms
        ):
            raise Violation(
                name, "coupons expire only after the delivery window of a funded campaign"
            )
        if reason == "shortfall-refund":
            if self.shortfall is None or self.shortfall.policy != "refund":
                raise Violation(name, "shortfall refunds need a refund shortfall decision")
            if self.shortfall.voided + len(items) > self.shortfall.uncovered:
                raise Violation(name, "voids more coupons than the shortfall left uncovered")
            self.shortfall.voided += len(items)
        seen = set()
        for serial, prev in items:
            if serial in seen:
                raise Violation(name, f"names coupon serial {serial} twice")
            seen.add(serial)
            coupon = self._coupon(name, serial)
            if coupon.status != "active":
                raise Violation(name, f"voids coupon {coupon.coupon}, which is {coupon.status}")
            if prev != coupon.state:
                raise Violation(
                    name,
                    f"voids coupon {coupon.coupon} from state {prev}, not its head {coupon.state}",
                )
            coupon.status = "void"
            coupon.state = entry.state
            coupon.history.append(("void", entry.payload))
        return Totals(t.issued, t.redeemed, t.voided + len(items))

    def _redeem(self, name: str, entry: CampaignEntry, terms: CampaignTerms) -> Totals:
        t = self.totals
        if self.status != "funded":
            raise Violation(name, f"redeemed while the campaign is {self.status}")
        if self.harvested is None:
            raise Violation(name, "redeemed before the harvest was recorded")
        body = entry.body
        coupon = self._coupon(name, body["serial"])
        try:
            statement = decode_statement(b64decode_strict(body["statement"], "statement"))
        except CommerceError as exc:
            raise Violation(name, f"redeem statement: {exc}") from None
        check_statement(name, coupon, statement, "redeem", self._verify)
        coupon.status = "redeemed"
        coupon.moves += 1
        coupon.state = entry.state
        coupon.history.append(("redeem", entry.payload))
        after = Totals(t.issued, t.redeemed + 1, t.voided)
        self._check_cover(name, after, terms)
        return after

    # -- holder transfers ---------------------------------------------------------------------

    def add_transfer(self, statement: HolderStatement) -> None:
        """Queue a transfer; it applies when the coupon's chain reaches the state it names."""
        name = f"transfer of coupon {statement.coupon} move {statement.move}"
        if statement.op != "transfer":
            raise Violation(name, "a redeem statement reaches the chain only inside a redeem entry")
        if self.terms is not None and not statement.coupon.startswith(self.terms.campaign):
            raise Violation(name, "the coupon belongs to another campaign")
        serial = int(statement.coupon[13:])
        key = (serial, statement.prev)
        if key in self._transfers:
            raise Violation(name, f"double spend: a second statement spends state {statement.prev}")
        self._transfers[key] = statement

    def _advance(self, coupon: CouponState) -> None:
        while True:
            statement = self._transfers.pop((coupon.serial, coupon.state), None)
            if statement is None:
                return
            name = f"transfer of coupon {coupon.coupon} move {statement.move}"
            check_statement(name, coupon, statement, "transfer", self._verify)
            assert statement.to is not None
            coupon.holder = statement.to
            coupon.state = statement.state
            coupon.moves += 1
            coupon.history.append(("transfer", statement.payload))
            self.transfers_applied += 1

    def finish(self) -> None:
        """Apply every queued transfer; one that never fits a coupon's chain is a violation."""
        for coupon in self.coupons.values():
            self._advance(coupon)
        if self._transfers:
            (serial, prev), statement = min(self._transfers.items(), key=lambda kv: kv[1].move)
            name = f"transfer of coupon {statement.coupon} move {statement.move}"
            known = self.coupons.get(serial)
            if known is None:
                raise Violation(name, "the coupon was never issued")
            if known.status != "active":
                raise Violation(name, f"the coupon is {known.status} and never moves again")
            raise Violation(name, f"spends state {prev}, which is not in the coupon's history")


def check_statement(
    name: str,
    coupon: CouponState,
    statement: HolderStatement,
    op: str,
    verify: SignatureCheck = verify_signature,
) -> None:
    """Whether ``statement`` may spend ``coupon``'s current state: the op and coupon it names,
    the coupon still active, ``prev`` its head, the next move number, the holder's signature
    (checked with ``verify``); :class:`Violation` naming ``name`` otherwise."""
    if statement.op != op or statement.coupon != coupon.coupon:
        raise Violation(name, f"the statement is not a {op} of coupon {coupon.coupon}")
    if coupon.status != "active":
        raise Violation(name, f"coupon {coupon.coupon} is {coupon.status} and never moves again")
    if statement.prev != coupon.state:
        raise Violation(
            name,
            f"spends state {statement.prev} of coupon {coupon.coupon}, not its head {coupon.state}",
        )
    if statement.move != coupon.moves + 1:
        raise Violation(name, f"is move {statement.move}, expected {coupon.moves + 1}")
    if not verify(bytes.fromhex(coupon.holder), statement.signed_bytes, statement.signature):
        raise Violation(name, f"not signed by the holder of coupon {coupon.coupon}")
