"""Regenerate ``docs/vectors/commerce.json``:
``python tests/commerce/make_commerce_vectors.py docs/vectors/commerce.json``.

The vectors pin the commerce entry formats (campaign entries ``FC 01``, holder statements
``FH 01``, ``docs/commerce.md``) and the rules for other verifiers: a campaign's whole history
(open, issue, funded, transfers, harvested, redeem) with each entry's bytes and the campaign's
and every coupon's state after it; malformed entries a decoder must refuse; and histories the
rules refuse, each with the message naming the first violation. Fixed keys and times, and
Ed25519 signatures are deterministic, so the output is the same on every run. Change them only
with a new format version.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from farmtrace.commerce.canonical import canonical_json
from farmtrace.commerce.entries import (
    GENESIS,
    CampaignEntry,
    HolderStatement,
    Totals,
    decode_campaign_entry,
    decode_statement,
    farm_signer,
    fingerprint,
    sign_campaign_entry,
    sign_statement,
)
from farmtrace.commerce.errors import CommerceError
from farmtrace.commerce.gcn import check_digit, coupon_id
from farmtrace.commerce.replay import CampaignReplay
from farmtrace.commerce.terms import parse_terms

# RFC 8032 section 7.1, TEST 1 (the key of docs/vectors/readings.json) signs for the farm.
FARM_SEED = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
HOLDER_SEEDS = {"alice": "11" * 32, "bob": "22" * 32, "carol": "33" * 32}
GCN = "061414100001" + check_digit("061414100001")
GTIN = "0061414100003" + check_digit("0061414100003")
T0 = 1_800_000_000_000
DAY = 86_400_000
TERMS: dict[str, Any] = {
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
EVENT = {"signer": "farmtrace-api.0123456789abcdef", "seq": 7, "sha256": "cd" * 32}


def _key(seed_hex: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed_hex))


FARM = _key(FARM_SEED)
HOLDERS = {name: _key(seed) for name, seed in HOLDER_SEEDS.items()}


def _address(name: str) -> str:
    return HOLDERS[name].public_key().public_bytes_raw().hex()


Signed = CampaignEntry | HolderStatement


class _Farm:
    """Signs the campaign's entries in order: cseq, prev and totals as the API keeps them."""

    def __init__(self) -> None:
        self.cseq = 0
        self.head = GENESIS
        self.totals = Totals()

    def sign(
        self, op: str, time_ms: int, totals: Totals | None = None, **fields: Any
    ) -> CampaignEntry:
        totals = self.totals if totals is None else totals
        body = {
            "campaign": GCN,
            "cseq": self.cseq + 1,
            "prev": self.head,
            "op": op,
            "totals": totals.to_json(),
            **fields,
        }
        # The farm key signs only this campaign here, so its seq is the cseq.
        entry = sign_campaign_entry(self.cseq + 1, time_ms, body, FARM)
        self.cseq, self.head, self.totals = entry.cseq, entry.state, totals
        return entry

    def issue(self, holder: str, count: int, pledge: str, time_ms: int) -> CampaignEntry:
        t = self.totals
        return self.sign(
            "issue",
            time_ms,
            Totals(t.issued + count, t.redeemed, t.voided),
            pledge=pledge,
            holder=_address(holder),
            first=t.issued + 1,
            count=count,
            payment_sha256=canonical_sha256({"payment_reference": pledge}),
        )


def canonical_sha256(value: Any) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()


def history() -> list[Signed]:
    """Open; issue 2 coupons to alice, 2 to bob; funded; coupon 1 alice -> carol (price
    declared) -> bob; harvested 20 KGM (4 coupons); coupon 1 redeemed by bob; coupon 3
    bob -> carol."""
    farm = _Farm()
    terms = parse_terms(TERMS)
    c1, c3 = coupon_id(GCN, 1), coupon_id(GCN, 3)
    items: list[Signed] = []
    items.append(
        farm.sign(
            "open",
            T0,
            terms=terms.to_json(),
            terms_sha256=terms.sha256(),
            farm_key=FARM.public_key().public_bytes_raw().hex(),
        )
    )
    issue_a = farm.issue("alice", 2, "a1" * 16, T0 + DAY)
    issue_b = farm.issue("bob", 2, "b2" * 16, T0 + 2 * DAY)
    items += [issue_a, issue_b, farm.sign("funded", T0 + 3 * DAY)]
    t1 = sign_statement(
        1, T0 + 4 * DAY, "transfer", c1, issue_a.state, HOLDERS["alice"], to=_address("carol"),
        price=(5000, "CNY"),
    )  # fmt: skip
    t2 = sign_statement(
        2, T0 + 5 * DAY, "transfer", c1, t1.state, HOLDERS["carol"], to=_address("bob")
    )
    items += [t1, t2, farm.sign("harvested", T0 + 20 * DAY, quantity=20)]
    statement = sign_statement(3, T0 + 21 * DAY, "redeem", c1, t2.state, HOLDERS["bob"])
    t = farm.totals
    items.append(
        farm.sign(
            "redeem",
            T0 + 21 * DAY,
            Totals(t.issued, t.redeemed + 1, t.voided),
            serial=1,
            statement=base64.b64encode(statement.payload).decode(),
            event=EVENT,
        )
    )
    items.append(
        sign_statement(
            1, T0 + 22 * DAY, "transfer", c3, issue_b.state, HOLDERS["bob"], to=_address("carol")
        )
    )
    return items


def replay(items: list[Signed]) -> CampaignReplay:
    """The reference procedure: every transfer queued first, then the campaign entries in the
    order given, then :meth:`~CampaignReplay.finish`."""
    r = CampaignReplay(FARM.public_key().public_bytes_raw())
    for item in items:
        if isinstance(item, HolderStatement):
            r.add_transfer(item)
    for item in items:
        if isinstance(item, CampaignEntry):
            r.apply(item)
    r.finish()
    return r


def after(r: CampaignReplay) -> dict[str, Any]:
    t = r.totals
    return {
        "campaign": {
            "cseq": r.cseq,
            "head": r.head,
            "status": r.status,
            "totals": {**t.to_json(), "outstanding": t.outstanding},
            "harvested": r.harvested,
        },
        "coupons": {
            c.coupon: {
                "holder": c.holder,
                "holder_fingerprint": fingerprint(bytes.fromhex(c.holder)),
                "state": c.state,
                "moves": c.moves,
                "status": c.status,
            }
            for c in sorted(r.coupons.values(), key=lambda c: c.serial)
        },
    }


def _item(signed: Signed, state_after: dict[str, Any]) -> dict[str, Any]:
    common = {
        "time_ms": signed.time_ms,
        "signed_bytes_hex": signed.signed_bytes.hex(),
        "signature_hex": signed.signature.hex(),
        "payload_hex": signed.payload.hex(),
        "state": signed.state,
    }
    if isinstance(signed, CampaignEntry):
        item = {
            "kind": "campaign",
            "op": signed.op,
            "cseq": signed.cseq,
            "signer": signed.signer,
            "seq": signed.seq,
            "body": signed.body,
            **common,
        }
        if signed.op == "redeem":
            inner = decode_statement(base64.b64decode(signed.body["statement"]))
            item["statement_payload_hex"] = inner.payload.hex()
    else:
        body = _body_of(signed.signed_bytes)
        item = {
            "kind": "coupon-move",
            "op": signed.op,
            "coupon": signed.coupon,
            "signer": "coupon." + signed.coupon,
            "move": signed.move,
            "body": body,
            **common,
        }
    item["after"] = state_after
    return item


def _body_of(signed: bytes) -> Any:
    """The JSON body of an entry's signed bytes (``docs/commerce.md``, "Framing")."""
    start = 3 + 16 + 1 + signed[3 + 16] + 4
    (length,) = struct.unpack(">I", signed[start - 4 : start])
    assert start + length == len(signed)
    return json.loads(signed[start:])


def _reframed(payload: bytes, body: bytes, key: Ed25519PrivateKey = FARM) -> bytes:
    """``payload`` with its body bytes replaced and signed again (only the body is at fault)."""
    n = payload[3 + 16]
    head = payload[: 3 + 16 + 1 + n]
    signed = head + struct.pack(">I", len(body)) + body
    return signed + key.sign(signed)


def _invalid(items: list[Signed]) -> list[dict[str, str]]:
    issue = items[1]
    assert isinstance(issue, CampaignEntry)
    t1 = items[4]
    assert isinstance(t1, HolderStatement)
    body = issue.body
    text = canonical_json(body)

    def dumps(value: Any, **kw: Any) -> bytes:
        return json.dumps(value, ensure_ascii=False, **kw).encode()

    canonical = {"sort_keys": True, "separators": (",", ":")}
    p = issue.payload
    cases = [
        ("campaign", "does not start with FC 01", b"FE" + p[2:]),
        ("campaign", "does not start with FC 01", p[:2] + b"\x02" + p[3:]),
        ("campaign", "truncated", p[:40]),
        ("campaign", "body length does not match", p[:-65] + p[-64:]),
        ("campaign", "not in canonical form", _reframed(p, dumps(body, sort_keys=True))),
        ("campaign", "not in canonical form", _reframed(p, text.replace(b"{", b"{ ", 1))),
        ("campaign", "only strings, integers", _reframed(p, text.replace(b'"count":2', b'"count":2.5'))),
        ("campaign", "only strings, integers", _reframed(p, text.replace(b'"count":2', b'"count":true'))),
        ("campaign", "unknown op", _reframed(p, dumps(dict(body, op="mint"), **canonical))),
        ("campaign", "unknown field 'note'", _reframed(p, dumps(dict(body, note="x"), **canonical))),
        ("campaign", "totals must hold exactly", _reframed(p, dumps(dict(body, totals={"issued": 2}), **canonical))),
        ("campaign", "more coupons than were issued", _reframed(p, dumps(dict(body, totals={"issued": 0, "redeemed": 1, "voided": 0}), **canonical))),
        ("campaign", "check digit", _reframed(p, dumps(dict(body, campaign=GCN[:12] + "0"), **canonical))),
        ("campaign", "field 'holder' is not lowercase hex", _reframed(p, dumps(dict(body, holder=body["holder"].upper()), **canonical))),
        ("campaign", "out of range", _reframed(p, dumps(dict(body, cseq=0), **canonical))),
        ("statement", "does not start with FH 01", b"FC" + t1.payload[2:]),
        ("statement", "its stream ID does not name its coupon", _statement_signer_swapped(t1)),
        ("statement", "expected 64 lowercase hex digits", _reframed(t1.payload, canonical_json({"op": "transfer", "coupon": t1.coupon, "prev": t1.prev, "to": str(t1.to).upper()}), HOLDERS["alice"])),
        ("statement", "unknown field 'to'", _reframed(t1.payload, canonical_json({"op": "redeem", "coupon": t1.coupon, "prev": t1.prev, "to": t1.to}), HOLDERS["alice"])),
        ("statement", "not an active ISO 4217", _reframed(t1.payload, canonical_json({"op": "transfer", "coupon": t1.coupon, "prev": t1.prev, "to": t1.to, "price": {"amount": 1, "currency": "XYZ"}}), HOLDERS["alice"])),
    ]  # fmt: skip
    return [{"kind": k, "reason": reason, "payload_hex": raw.hex()} for k, reason, raw in cases]


def _statement_signer_swapped(t1: HolderStatement) -> bytes:
    """``t1`` framed under another coupon's stream ID (same length), signed again."""
    other = "coupon." + coupon_id(GCN, 2)
    signed = t1.signed_bytes.replace(("coupon." + t1.coupon).encode(), other.encode(), 1)
    return signed + HOLDERS["alice"].sign(signed)


def _violations(items: list[Signed]) -> list[dict[str, Any]]:
    """Histories the rules refuse: indexes into ``history``, or extra signed items."""
    entries = [i for i, s in enumerate(items) if isinstance(s, CampaignEntry)]
    funded = items[3]
    assert isinstance(funded, CampaignEntry)
    issue_a = items[1]
    assert isinstance(issue_a, CampaignEntry)
    c1, c2 = coupon_id(GCN, 1), coupon_id(GCN, 2)

    def after_funded(op: str, totals: Totals, **fields: Any) -> bytes:
        body = {
            "campaign": GCN, "cseq": 5, "prev": funded.state, "op": op,
            "totals": totals.to_json(), **fields,
        }  # fmt: skip
        return sign_campaign_entry(5, T0 + 6 * DAY, body, FARM).payload

    over_cap = after_funded(
        "issue",
        Totals(11, 0, 0),
        pledge="c3" * 16,
        holder=_address("carol"),
        first=5,
        count=7,
        payment_sha256="00" * 32,
    )
    misstated = after_funded("harvested", Totals(5, 0, 0), quantity=20)
    other_key = _key("44" * 32)
    foreign = sign_campaign_entry(
        5, T0 + 6 * DAY, decode_campaign_entry(misstated).body | {"totals": funded.totals.to_json()},
        other_key,
    ).payload  # fmt: skip
    forged = sign_statement(
        1, T0 + 4 * DAY, "transfer", c2, issue_a.state, HOLDERS["carol"], to=_address("carol")
    ).payload
    double = sign_statement(
        1, T0 + 4 * DAY, "transfer", c1, issue_a.state, HOLDERS["alice"], to=_address("bob")
    ).payload
    first_four = [{"ref": i} for i in range(4)]
    cases: list[dict[str, Any]] = [
        {
            "name": "over-cap issue",
            "items": [*first_four, {"payload_hex": over_cap.hex()}],
            "want": "campaign entry 5 (issue): issues coupons past the cap: 11 > 10",
        },
        {
            "name": "totals misstated",
            "items": [*first_four, {"payload_hex": misstated.hex()}],
            "want": "campaign entry 5 (harvested): states totals {'issued': 5, 'redeemed': 0, "
            "'voided': 0} but the recount gives {'issued': 4, 'redeemed': 0, 'voided': 0}",
        },
        {
            "name": "entry signed by another key",
            "items": [*first_four, {"payload_hex": foreign.hex()}],
            "want": "campaign entry 5 (harvested): not signed by the farm key the campaign "
            "opened with",
        },
        {
            "name": "transfer not signed by the holder",
            "items": [*first_four, {"payload_hex": forged.hex()}],
            "want": f"transfer of coupon {c2} move 1: not signed by the holder of coupon {c2}",
        },
        {
            "name": "double spend",
            "items": [*[{"ref": i} for i in range(len(items))], {"payload_hex": double.hex()}],
            "want": f"transfer of coupon {c1} move 1: double spend: a second statement spends "
            f"state {issue_a.state}",
        },
        {
            "name": "entry dropped",
            "items": [{"ref": i} for i in range(len(items)) if i != 3],
            "want": "campaign entry 5 (harvested): expected campaign entry 4 next",
        },
        {
            "name": "entries reordered",
            "items": [{"ref": i} for i in (0, 2, 1, 3)],
            "want": "campaign entry 3 (issue): expected campaign entry 2 next",
        },
        {
            "name": "transfer left out",
            "items": [{"ref": i} for i in range(len(items)) if i != 4],
            "want": f"campaign entry 6 (redeem): spends state {items[5].state} of coupon {c1}, "
            f"not its head {issue_a.state}",
        },
        {
            "name": "first entry not open",
            "items": [{"ref": i} for i in entries[1:]],
            "want": "campaign entry 2 (issue): expected campaign entry 1 next",
        },
    ]
    return cases


def resolve(items: list[Signed], case: dict[str, Any]) -> list[Signed]:
    """A violation case's items, decoded."""
    found: list[Signed] = []
    for ref in case["items"]:
        if "ref" in ref:
            found.append(items[ref["ref"]])
            continue
        raw = bytes.fromhex(ref["payload_hex"])
        found.append(decode_campaign_entry(raw) if raw[:2] == b"FC" else decode_statement(raw))
    return found


def build() -> dict[str, Any]:
    items = history()
    terms = parse_terms(TERMS)
    farm_public = FARM.public_key().public_bytes_raw()
    violations = _violations(items)
    for case in violations:  # the generator checks its own claims
        try:
            replay(resolve(items, case))
        except CommerceError as exc:
            assert str(exc) == case["want"], (case["name"], str(exc))
        else:
            raise AssertionError(f"{case['name']}: the replay accepted it")
    return {
        "format": "farmtrace commerce entries, version 1 (docs/commerce.md)",
        "keys": {
            "farm": {
                "seed_hex": FARM_SEED,
                "public_key_hex": farm_public.hex(),
                "signer": farm_signer(farm_public),
            },
            "holders": {
                name: {
                    "seed_hex": seed,
                    "address": _address(name),
                    "fingerprint": fingerprint(bytes.fromhex(_address(name))),
                }
                for name, seed in HOLDER_SEEDS.items()
            },
        },
        "campaign": GCN,
        "terms": {
            "json": terms.to_json(),
            "canonical": terms.canonical().decode(),
            "sha256": terms.sha256(),
        },
        "history": [_item(s, after(replay(items[: i + 1]))) for i, s in enumerate(items)],
        "invalid": _invalid(items),
        "violations": violations,
    }


if __name__ == "__main__":
    out = Path(sys.argv[1])
    out.write_text(json.dumps(build(), indent=1, ensure_ascii=False) + "\n", "utf-8")
