"""Build value-community histories for tests: an operator that signs entries as the API would.

The keys are the fixed test keys the shipped rule files (``docs/communities/``) name, so a test
can load a rule file and sign for its operator and members.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from farmtrace.commerce.community.entries import (
    CommunityEntry,
    TransferStatement,
    decode_community_entry,
    sign_community_entry,
    sign_transfer,
)
from farmtrace.commerce.community.replay import CommunityReplay

ROOT = Path(__file__).resolve().parents[2]
RULES_DIR = ROOT / "docs" / "communities"
T0 = 1_800_000_000_000
HOUR = 3_600_000

SEEDS = {
    "operator": "a0" * 32,  # the barbershop's operator
    "investor": "a1" * 32,
    "team": "a2" * 32,
    "customer": "a3" * 32,
    "barber": "a4" * 32,
    "coop-operator": "b0" * 32,
    "grower": "b1" * 32,
    "backer": "b2" * 32,
    "worker": "b3" * 32,
}
"""Seeds (hex) of the fixed test keys; the same as ``scripts/make_community_vectors.py``'s."""

KEYS = {name: Ed25519PrivateKey.from_private_bytes(bytes.fromhex(s)) for name, s in SEEDS.items()}


def address(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes_raw().hex()


ADDR = {name: address(key) for name, key in KEYS.items()}


def rules_doc(name: str) -> dict[str, Any]:
    """A shipped rule file (``barbershop`` or ``farm-coop``) as a JSON object."""
    value: dict[str, Any] = json.loads((RULES_DIR / f"{name}.json").read_text("utf-8"))
    return value


class Operator:
    """Signs a community's entries in order with the operator key, applying each to its own
    replay (the API's way: the body from the replay's builders, then apply)."""

    def __init__(self, key: Ed25519PrivateKey, t0: int = T0) -> None:
        self.key = key
        self.replay = CommunityReplay()
        self.time_ms = t0
        self.entries: list[CommunityEntry] = []

    def sign(
        self, body: dict[str, Any], n: int | None = None, at: int | None = None
    ) -> CommunityEntry:
        """Sign ``body`` as the next entry (or as entry ``n``) without applying it."""
        if at is None:
            self.time_ms += HOUR
        entry = sign_community_entry(
            n or self.replay.n + 1, self.time_ms if at is None else at, body, self.key
        )
        return decode_community_entry(entry.payload)

    def put(self, body: dict[str, Any]) -> CommunityEntry:
        entry = self.sign(body)
        self.replay.apply(entry)
        self.entries.append(entry)
        return entry

    def transfer(
        self, sender: Ed25519PrivateKey, to: str, amount: int, community: str | None = None
    ) -> TransferStatement:
        """The sender's next statement (their own count of moves and spend state)."""
        replay_member = self.replay.member(address(sender))
        return sign_transfer(
            replay_member.moves + 1,
            self.time_ms,
            community or self.replay.community or "",
            to,
            amount,
            replay_member.spend_state,
            sender,
        )
