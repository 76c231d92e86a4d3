"""Value-community histories anchored on a real chain, and members' statement bundles
(``tests/commerce/test_community_js.py``, the community page's browser test).

Signed community entries are queued in ``pending_entries`` (each under its frame's signer and
``n``) and a gateway's ledger seals them into blocks as it seals queued lot events; the API's
:class:`~farmtrace.api.state.AppState` over the same database proves them and
:func:`~farmtrace.api.services.community_bundle.assemble_statement` writes the bundle. Histories
are whatever the test signs, valid or not: the chain only orders.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from farmtrace.api.services.commerce_bundle import HeldEntry
from farmtrace.api.services.community_bundle import assemble_statement
from farmtrace.api.settings import Settings
from farmtrace.api.state import AppState
from farmtrace.commerce.community.entries import CommunityEntry, decode_community_entry
from farmtrace.store.ledger import Ledger
from farmtrace.store.pending import queue_entry
from farmtrace.store.records import PendingReading
from support.community import ADDR, KEYS, T0, Operator, rules_doc

__all__ = ["ORIGIN", "Anchored", "anchor", "coop_history", "vector_history"]

ORIGIN = "farmtrace.example/community-test"
ROOT = Path(__file__).resolve().parents[2]
PAY = "ab" * 32
REF = "cd" * 32


def vector_history() -> list[CommunityEntry]:
    """The barbershop history of ``docs/vectors/community.json`` (rules v1, deposits, services,
    a transfer, a dividend, rules v2 with work and reinvestment, a reinvested distribution)."""
    vectors = json.loads((ROOT / "docs/vectors/community.json").read_text("utf-8"))
    return [decode_community_entry(bytes.fromhex(v["payload_hex"])) for v in vectors["history"]]


def coop_history() -> list[CommunityEntry]:
    """The farm co-operative (``docs/communities/farm-coop.json``): a backer's pledge mints, the
    worker's hours mint, the worker sends shares to the backer, the season's dividend."""
    op = Operator(KEYS["coop-operator"])
    op.put(op.replay.body_rules(rules_doc("farm-coop")))
    op.put(op.replay.body_pledge(ADDR["backer"], "0614141000012", "11" * 16, "ee" * 32, 9_000))
    op.put(op.replay.body_work(ADDR["worker"], 90, REF))
    op.put(op.replay.body_transfer(op.transfer(KEYS["worker"], ADDR["backer"], 45)))
    op.put(op.replay.body_distribution(T0, op.time_ms, 123_457))
    return op.entries


@dataclass
class Anchored:
    """A community history on a chain: the gateway's verifier key and the API state proving it."""

    entries: list[CommunityEntry]
    vkey: str
    state: AppState
    anchors: dict[bytes, tuple[str, int]]

    def bundle(self, member: str, upto: int | None = None) -> dict[str, Any]:
        """The statement bundle of ``member`` over entries 1..``upto`` (all by default)."""
        entries = self.entries[:upto]
        first = entries[0]
        operator = bytes.fromhex(first.body["rules"]["operator"])
        held = [HeldEntry(e.payload, self.anchors.get(e.payload)) for e in entries]
        return assemble_statement(self.state, first.community, member, operator, held)


def anchor(
    entries: list[CommunityEntry], db_url: str, tmp: Path, blocks: int = 3, unanchored: int = 0
) -> Anchored:
    """Seal ``entries`` into ``blocks`` blocks of one chain (the last ``unanchored`` left out:
    they stay pending) and open an API state over the database. Close with
    ``anchored.state.database.close()``."""
    order = entries[: len(entries) - unanchored]
    size = -(-len(order) // blocks)
    now = time.time()
    with Ledger.open(db_url, tmp / "gw", ORIGIN) as ledger:
        for start in range(0, len(order), size):
            with ledger.engine.begin() as conn:
                for e in order[start : start + size]:
                    queue_entry(conn, PendingReading(e.signer, e.n, e.time_ms, e.payload, now))
            ledger.append_batch([])
        vkey = ledger.verifier_key
    state = AppState.open(Settings(db_url=db_url, state_dir=tmp / "api"))
    reader = state.chain(ORIGIN)
    anchors = {reader.entry(i).payload: (ORIGIN, i) for i in range(reader.entry_count())}
    return Anchored(entries, vkey, state, anchors)
