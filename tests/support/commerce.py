"""Build valid campaign histories for tests: a farm that signs entries as the API would."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from farmtrace.commerce.entries import (
    GENESIS,
    CampaignEntry,
    HolderStatement,
    Totals,
    sign_campaign_entry,
    sign_statement,
)
from farmtrace.commerce.gcn import check_digit, coupon_id
from farmtrace.commerce.terms import CampaignTerms, parse_terms

GCN = "061414100001" + check_digit("061414100001")
GTIN = "0061414100003" + check_digit("0061414100003")
T0 = 1_800_000_000_000
DAY = 86_400_000
NOW_MS = 1_900_000_000_000
"""The service tests' "now" (tests/commerce/conftest.py)."""


class Clock:
    """A settable clock for the campaign service (ms since the epoch)."""

    def __init__(self) -> None:
        self.ms = NOW_MS

    def __call__(self) -> float:
        return self.ms / 1000


def terms_json(**overrides: Any) -> dict[str, Any]:
    terms: dict[str, Any] = {
        "campaign": GCN,
        "farm": "green-valley",
        "gtin": GTIN,
        "lot": "L2027-01",
        "per_coupon": {"quantity": 5, "unit": "KGM"},
        "price": {"amount": 4500, "currency": "CNY"},
        "target": 3,
        "cap": 10,
        "opens_ms": T0,
        "deadline_ms": T0 + 10 * DAY,
        "delivery": {"from_ms": T0 + 20 * DAY, "until_ms": T0 + 30 * DAY},
        "text": {"zh": "每张券兑换5公斤生菜。", "en": "Each coupon is 5 kg of lettuce."},
    }
    terms.update(overrides)
    return terms


def address(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes_raw().hex()


class Farm:
    """Signs a campaign's entries in order, keeping cseq, prev and totals as the API does."""

    def __init__(self, terms: dict[str, Any] | None = None, key: Ed25519PrivateKey | None = None):
        self.key = key or Ed25519PrivateKey.generate()
        self.terms: CampaignTerms = parse_terms(terms or terms_json())
        self.entries: list[CampaignEntry] = []
        self.seq = 0
        self.totals = Totals()
        self.head = GENESIS
        self.time_ms = self.terms.opens_ms

    @property
    def public_key(self) -> bytes:
        return self.key.public_key().public_bytes_raw()

    def sign(
        self, op: str, totals: Totals | None = None, at: int | None = None, **fields: Any
    ) -> CampaignEntry:
        self.seq += 1
        self.time_ms = self.time_ms if at is None else at
        self.totals = totals if totals is not None else self.totals
        body = {
            "campaign": self.terms.campaign,
            "cseq": len(self.entries) + 1,
            "prev": self.head,
            "op": op,
            "totals": self.totals.to_json(),
            **fields,
        }
        entry = sign_campaign_entry(self.seq, self.time_ms, body, self.key)
        self.entries.append(entry)
        self.head = entry.state
        return entry

    def open(self) -> CampaignEntry:
        return self.sign(
            "open",
            terms=self.terms.to_json(),
            terms_sha256=self.terms.sha256(),
            farm_key=self.public_key.hex(),
        )

    def issue(
        self, holder: Ed25519PrivateKey, count: int, pledge: str | None = None
    ) -> CampaignEntry:
        t = self.totals
        pledge = pledge or f"{len(self.entries):032x}"
        return self.sign(
            "issue",
            Totals(t.issued + count, t.redeemed, t.voided),
            first=t.issued + 1,
            count=count,
            holder=address(holder),
            pledge=pledge,
            payment_sha256="ab" * 32,
        )

    def redeem(self, serial: int, statement: HolderStatement, event_seq: int = 1) -> CampaignEntry:
        t = self.totals
        import base64

        return self.sign(
            "redeem",
            Totals(t.issued, t.redeemed + 1, t.voided),
            serial=serial,
            statement=base64.b64encode(statement.payload).decode(),
            event={
                "signer": "farmtrace-api.0123456789abcdef",
                "seq": event_seq,
                "sha256": "cd" * 32,
            },
        )

    def void(
        self, items: list[tuple[int, str]], reason: str = "campaign-failed", at: int | None = None
    ) -> CampaignEntry:
        t = self.totals
        return self.sign(
            "void",
            Totals(t.issued, t.redeemed, t.voided + len(items)),
            at=at,
            reason=reason,
            coupons=[[s, p] for s, p in items],
        )

    def coupon(self, serial: int) -> str:
        return coupon_id(self.terms.campaign, serial)


def transfer(
    holder: Ed25519PrivateKey,
    coupon: str,
    prev: str,
    move: int,
    to: Ed25519PrivateKey,
    price: tuple[int, str] | None = None,
    time_ms: int = T0 + DAY,
) -> HolderStatement:
    return sign_statement(
        move, time_ms, "transfer", coupon, prev, holder, to=address(to), price=price
    )


def redeem_statement(
    holder: Ed25519PrivateKey, coupon: str, prev: str, move: int
) -> HolderStatement:
    return sign_statement(move, T0 + 21 * DAY, "redeem", coupon, prev, holder)
