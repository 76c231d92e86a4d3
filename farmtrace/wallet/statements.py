"""Holder statements the wallet signs, from the coupon's view as the API serves it.

The wallet reads the coupon's head (``state``) and move count (``moves``) from
``GET /v1/coupons/{coupon}``, checks that its own address holds the coupon and that the coupon
is still active, and signs the next move: ``prev`` = the head, ``move`` = moves + 1
(docs/commerce.md). Whether the statement is accepted is the server's replay's decision, made
again by every verifier; these checks only spare the holder a statement that cannot succeed.
"""

from __future__ import annotations

import base64
import re
import time
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from farmtrace.commerce.canonical import MAX_INT
from farmtrace.commerce.entries import HolderStatement, fingerprint, sign_statement
from farmtrace.commerce.errors import CommerceError
from farmtrace.commerce.gcn import coupon_id, parse_coupon_id
from farmtrace.wallet.keyfile import WalletError, address_of

__all__ = ["CouponHead", "encode", "parse_coupon_view", "sign_redeem", "sign_transfer"]

_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class CouponHead:
    """What a statement depends on: who holds the coupon, its state, moves and status."""

    coupon: str
    holder: str
    state: str
    moves: int
    status: str


def parse_coupon_view(coupon: str, view: Any) -> CouponHead:
    """The head of ``coupon`` from the API's coupon view; :class:`WalletError` if the answer
    lacks a field or names another coupon."""

    def bad(field: str) -> WalletError:
        return WalletError(f"the API's view of coupon {coupon} has no valid {field!r}")

    if not isinstance(view, dict):
        raise WalletError(f"the API's view of coupon {coupon} is not a JSON object")
    named = view.get("coupon")
    if named is None and isinstance(view.get("campaign"), str) and type(view.get("serial")) is int:
        try:
            named = coupon_id(view["campaign"], view["serial"])
        except CommerceError:
            raise bad("serial") from None
    if named is not None and named != coupon:
        raise WalletError(f"asked for coupon {coupon}, the API answered with {named}")
    holder, state, moves, status = (view.get(k) for k in ("holder", "state", "moves", "status"))
    if not isinstance(holder, str) or not _HEX64.fullmatch(holder):
        raise bad("holder")
    if not isinstance(state, str) or not _HEX64.fullmatch(state):
        raise bad("state")
    if type(moves) is not int or not 0 <= moves < MAX_INT:
        raise bad("moves")
    if not isinstance(status, str):
        raise bad("status")
    return CouponHead(coupon, holder, state, moves, status)


def _spendable(head: CouponHead, key: Ed25519PrivateKey, what: str) -> None:
    mine = address_of(key)
    if head.holder != mine:
        raise WalletError(
            f"cannot {what} coupon {head.coupon}: it is held by {head.holder} (fingerprint "
            f"{fingerprint(bytes.fromhex(head.holder))}), not by this wallet ({mine})",
            code=1,
        )
    if head.status != "active":
        raise WalletError(
            f"cannot {what} coupon {head.coupon}: it is {head.status} and never moves again",
            code=1,
        )


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def sign_transfer(
    head: CouponHead,
    key: Ed25519PrivateKey,
    to: str,
    price: tuple[int, str] | None = None,
    time_ms: int | None = None,
) -> HolderStatement:
    """A transfer of the coupon from its head to address ``to``, signed by ``key`` (which must
    hold it), with an optional declared price (minor units, ISO 4217 code)."""
    _spendable(head, key, "transfer")
    parse_coupon_id(head.coupon)
    when = _now_ms() if time_ms is None else time_ms
    try:
        return sign_statement(
            head.moves + 1, when, "transfer", head.coupon, head.state, key, to=to, price=price
        )
    except CommerceError as exc:
        raise WalletError(str(exc)) from None


def sign_redeem(
    head: CouponHead, key: Ed25519PrivateKey, time_ms: int | None = None
) -> HolderStatement:
    """The redeem statement the farm scans at pickup: the coupon's head, signed by ``key``."""
    _spendable(head, key, "redeem")
    when = _now_ms() if time_ms is None else time_ms
    try:
        return sign_statement(head.moves + 1, when, "redeem", head.coupon, head.state, key)
    except CommerceError as exc:
        raise WalletError(str(exc)) from None


def encode(statement: HolderStatement) -> str:
    """The statement's bytes in standard base64 with padding, as the API takes them."""
    return base64.b64encode(statement.payload).decode("ascii")
