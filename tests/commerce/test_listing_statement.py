"""Market statements (farmtrace/commerce/listing.py): their exact bytes, their refusals, and the
browser builder (static/market/listing.js) giving the same bytes, run by node from here."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from test_js_verifier import REPO_ROOT, require_node

from farmtrace.commerce.errors import CommerceError
from farmtrace.commerce.listing import (
    DOMAIN,
    list_statement,
    listing_id,
    listing_problem,
    offer_statement,
    withdraw_statement,
)

SELLER = "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"
BUYER = "8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394"
STATE = "581f3a580162c93df4afea40d5285c112ee0e9242c83ae3f72ec582cf39fa999"
COUPON = "06141410000127"
T = 1796615842527

LIST: dict[str, Any] = {
    "coupon": COUPON,
    "state": STATE,
    "seller": SELLER,
    "amount": 4800,
    "currency": "CNY",
    "timeMs": T,
}


def _py(op: str, fields: dict[str, Any]) -> bytes:
    if op == "list":
        return list_statement(
            fields["coupon"],
            fields["state"],
            fields["seller"],
            fields["amount"],
            fields["currency"],
            fields["timeMs"],
        )
    if op == "withdraw":
        return withdraw_statement(fields["listing"], fields["timeMs"])
    return offer_statement(fields["listing"], fields["buyer"], fields["timeMs"])


VALID: list[tuple[str, dict[str, Any]]] = [
    ("list", LIST),
    ("list", {**LIST, "amount": 0, "currency": "JPY"}),
    ("list", {**LIST, "coupon": "0614141000012999999999999", "amount": 2**53 - 1}),
    ("withdraw", {"listing": "3f0c842ad552e85597ad4393ee218889", "timeMs": T}),
    ("offer", {"listing": "3f0c842ad552e85597ad4393ee218889", "buyer": BUYER, "timeMs": 1}),
]
INVALID: list[tuple[str, dict[str, Any]]] = [
    ("list", {**LIST, "amount": -1}),
    ("list", {**LIST, "amount": 2**53}),
    ("list", {**LIST, "currency": "XYZ"}),
    ("list", {**LIST, "currency": "cny"}),
    ("list", {**LIST, "state": STATE.upper()}),
    ("list", {**LIST, "seller": SELLER[:-1]}),
    ("list", {**LIST, "coupon": "0614141000013"}),
    ("list", {**LIST, "timeMs": 0}),
    ("withdraw", {"listing": "3F0C842AD552E85597AD4393EE218889", "timeMs": T}),
    ("offer", {"listing": "3f0c842ad552e85597ad4393ee218889", "buyer": "00", "timeMs": T}),
]


SELLER_KEY = Ed25519PrivateKey.from_private_bytes(bytes([1]) * 32)


def served_listings() -> list[dict[str, Any]]:
    """A listing as the API serves it, signed by :data:`SELLER_KEY`, and altered copies."""
    signed = list_statement(COUPON, STATE, SELLER, 4800, "CNY", T)
    good = {
        "id": listing_id(signed),
        "coupon": COUPON,
        "state": STATE,
        "seller": SELLER,
        "amount": 4800,
        "currency": "CNY",
        "timeMs": T,
        "signature": base64.b64encode(SELLER_KEY.sign(signed)).decode(),
    }
    flipped = bytearray(base64.b64decode(good["signature"]))
    flipped[5] ^= 1
    other = Ed25519PrivateKey.from_private_bytes(bytes([2]) * 32)
    return [
        good,
        {**good, "amount": 4000},
        {**good, "id": "0" * 32},
        {**good, "signature": base64.b64encode(bytes(flipped)).decode()},
        {**good, "signature": base64.b64encode(other.sign(signed)).decode()},
        {**good, "signature": "AAAA"},
        {**good, "signature": "not base64!"},
        {**good, "currency": "XYZ"},
    ]


def python_listing_problem(v: dict[str, Any]) -> str | None:
    return listing_problem(
        v["id"], v["coupon"], v["state"], v["seller"], v["amount"], v["currency"], v["timeMs"],
        v["signature"],
    )  # fmt: skip


def test_listing_verdicts_name_the_first_problem() -> None:
    verdicts = [python_listing_problem(v) for v in served_listings()]
    assert verdicts[0] is None
    assert verdicts[1:5] == [
        "the listing's ID is not the hash of its statement",
        "the listing's ID is not the hash of its statement",
        "the seller's signature does not verify",
        "the seller's signature does not verify",
    ]
    assert verdicts[5] == "the signature is not 64 bytes"
    assert verdicts[6] == "the signature is not base64"
    assert verdicts[7] is not None and verdicts[7].startswith("malformed listing: price.currency")


def test_a_listing_statement_is_the_domain_line_and_canonical_json() -> None:
    signed = list_statement(COUPON, STATE, SELLER, 4800, "CNY", T)
    assert (
        signed
        == DOMAIN
        + (
            '{"coupon":"06141410000127","op":"list","price":{"amount":4800,"currency":"CNY"},'
            f'"seller":"{SELLER}","state":"{STATE}","time_ms":{T}}}'
        ).encode()
    )
    assert listing_id(signed) == "3f0c842ad552e85597ad4393ee218889"
    # Never mistakable for a chain entry or a holder statement (those start "F?" and a version).
    assert not signed.startswith(b"F")


@pytest.mark.parametrize(("op", "fields"), INVALID)
def test_malformed_fields_are_refused_naming_them(op: str, fields: dict[str, Any]) -> None:
    with pytest.raises(CommerceError):
        _py(op, fields)


@pytest.mark.slow  # runs node
def test_the_browser_builder_gives_the_same_bytes(tmp_path: Path) -> None:
    node = require_node()
    vectors = {
        "source": "farmtrace/commerce/listing.py",
        "valid": [
            {
                "op": op,
                "fields": fields,
                "hex": _py(op, fields).hex(),
                "listing_id": listing_id(_py(op, fields)) if op == "list" else None,
            }
            for op, fields in VALID
        ],
        "invalid": [{"op": op, "fields": fields} for op, fields in INVALID],
        "listings": [
            {"listing": v, "problem": python_listing_problem(v)} for v in served_listings()
        ],
    }
    path = tmp_path / "market-listing-vectors.json"
    path.write_text(json.dumps(vectors))
    done = subprocess.run(
        [node, "--test", "tests/js/market_listing.test.mjs"],
        cwd=REPO_ROOT,
        env={**os.environ, "MARKET_LISTING_VECTORS": str(path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "# pass 4" in done.stdout, done.stdout[-2000:]


def test_the_openapi_examples_are_signed_for_real() -> None:
    """The request examples in farmtrace/api/schemas/market.py verify as the server checks them."""
    from farmtrace.api.schemas import market  # the examples live with the schemas

    listing = market.ListingCreate.model_config["json_schema_extra"]["examples"][0]  # type: ignore[index]
    problem = listing_problem(
        market._LISTING, COUPON, listing["state"], listing["seller"],
        listing["price"]["amount"], listing["price"]["currency"], listing["time_ms"],
        listing["signature"],
    )  # fmt: skip
    assert problem is None
    seller = Ed25519PrivateKey.from_private_bytes(bytes([1]) * 32).public_key()
    buyer = Ed25519PrivateKey.from_private_bytes(bytes([2]) * 32).public_key()
    withdraw = market.WithdrawCreate.model_config["json_schema_extra"]["examples"][0]  # type: ignore[index]
    seller.verify(
        base64.b64decode(withdraw["signature"]),
        withdraw_statement(market._LISTING, withdraw["time_ms"]),
    )
    offer = market.OfferCreate.model_config["json_schema_extra"]["examples"][0]  # type: ignore[index]
    buyer.verify(
        base64.b64decode(offer["signature"]),
        offer_statement(market._LISTING, offer["buyer"], offer["time_ms"]),
    )
