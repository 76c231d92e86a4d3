"""``farmtrace audit`` over campaigns and coupons, on SQLite and PostgreSQL: a campaign run
through the API's service (part anchored by a gateway's ledger, part still queued) passes with
its counts, and each kind of forgery someone with write access to the database (and, where it
needs one, the farm's key file) could make is named: a double spend stored after removing the
spend-once constraint, an issue past the cap signed with the farm key, a transfer not signed by
the holder, a redemption of a voided coupon, a stored transfer rewritten to another validly
signed one, and a coupon row that disagrees with its history. ``farmtrace privacy erase``
deletes backers' details and the audit still passes with nothing else changed."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text
from support.api import GTIN, LOT, lot_body
from support.commerce import DAY, NOW_MS, Clock, address
from support.tamper import triggers_disabled, update_row

from farmtrace.api.schemas.lots import EventCreate, LotCreate
from farmtrace.api.services.campaigns import CampaignService
from farmtrace.api.settings import Settings
from farmtrace.api.state import AppState
from farmtrace.cli import main
from farmtrace.commerce.entries import (
    Totals,
    sign_campaign_entry,
    sign_statement,
    statement_signer,
)
from farmtrace.commerce.gcn import check_digit, coupon_id
from farmtrace.store.engine import create_db_engine
from farmtrace.store.ledger import Ledger

pytestmark = pytest.mark.slow

GCN = "950600013435" + check_digit("950600013435")
FARM = "greenacre"
ORIGIN = "farmtrace.example/gw-commerce"


def terms() -> dict[str, object]:
    return {
        "campaign": GCN,
        "farm": FARM,
        "gtin": GTIN,
        "lot": LOT,
        "per_coupon": {"quantity": 5, "unit": "KGM"},
        "price": {"amount": 4500, "currency": "CNY"},
        "target": 3,
        "cap": 6,
        "opens_ms": NOW_MS - DAY,
        "deadline_ms": NOW_MS + 10 * DAY,
        "delivery": {"from_ms": NOW_MS + 20 * DAY, "until_ms": NOW_MS + 30 * DAY},
        "text": {"zh": "每张券兑换5公斤生菜。", "en": "Each coupon is 5 kg of lettuce."},
    }


@dataclass
class Shop:
    """A funded campaign: alice holds coupons 1-2, bob 3-4; coupon 1 went alice -> bob ->
    carol and coupon 3 bob -> carol, all anchored on a chain; then coupon 2 went alice -> bob,
    still queued. :meth:`harvest` records a harvest of 12 kg (2 coupons), decides a refund
    shortfall (voiding coupons 4 and 3) and redeems coupon 1 (carol's)."""

    db_url: str
    state_dir: Path
    svc: CampaignService
    clock: Clock
    keys: dict[str, Ed25519PrivateKey]
    event: tuple[str, int]
    vkey: str

    def transfer(self, serial: int, giver: str, taker: str) -> None:
        coupon = coupon_id(GCN, serial)
        _, record = self.svc.coupon(coupon)
        statement = sign_statement(
            record.moves + 1,
            self.clock.ms,
            "transfer",
            coupon,
            record.state,
            self.keys[giver],
            to=address(self.keys[taker]),
        )
        self.svc.transfer(coupon, base64.b64encode(statement.payload).decode())

    def harvest(self) -> None:
        self.clock.ms += 21 * DAY
        self.svc.harvest(GCN, 12)
        self.svc.shortfall(GCN, "refund")
        coupon = coupon_id(GCN, 1)
        _, record = self.svc.coupon(coupon)
        statement = sign_statement(
            record.moves + 1, self.clock.ms, "redeem", coupon, record.state, self.keys["carol"]
        )
        self.svc.redeem(coupon, base64.b64encode(statement.payload).decode(), *self.event)

    def audit(self) -> tuple[int, dict[str, Any]]:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            code = main(["audit", "--db", self.db_url, "--json", "--key", self.vkey])
        return code, json.loads(out.getvalue())

    def farm_key(self) -> Ed25519PrivateKey:
        """The farm's key as a forger with the API's state directory reads it."""
        seed = (self.state_dir / "api" / "farm-keys" / f"{FARM}.key").read_text().strip()
        return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed))

    def query(self, sql: str, **params: Any) -> list[Any]:
        engine = create_db_engine(self.db_url)
        try:
            with engine.connect() as conn:
                return list(conn.execute(text(sql), params))
        finally:
            engine.dispose()

    def execute(self, *statements: tuple[str, dict[str, Any]]) -> None:
        engine = create_db_engine(self.db_url)
        try:
            with engine.begin() as conn:
                for sql, params in statements:
                    conn.execute(text(sql), params)
        finally:
            engine.dispose()


@pytest.fixture
def shop(db_url: str, tmp_path: Path) -> Iterator[Shop]:
    state = AppState.open(Settings(db_url=db_url, state_dir=tmp_path / "api"))
    try:
        assert state.lots.create(LotCreate.model_validate(lot_body(["dev-1"])), GTIN)
        record = state.lots.get(GTIN, LOT)
        assert record is not None
        shipped = EventCreate(
            kind="shipping",
            time=datetime.fromtimestamp((NOW_MS + 20 * DAY) / 1000, UTC),
            read_point="urn:epc:id:sgln:9506000.13435.0",
            actor="Greenacre packhouse",
        )
        state.lots.add_event(record.id, GTIN, LOT, shipped)
        record = state.lots.get(GTIN, LOT)
        assert record is not None
        event = record.events[-1].entry
        clock = Clock()
        svc = CampaignService(
            state.campaigns.campaigns, state.campaigns.farm_keys, state.lots, clock
        )
        keys = {name: Ed25519PrivateKey.generate() for name in ("alice", "bob", "carol", "mal")}
        svc.create(terms())
        for name in ("alice", "bob"):
            pledge = svc.pledge(GCN, address(keys[name]), 2, f"{name}@example.org", "gate")
            svc.confirm(GCN, pledge.id, f"bank-{name}")
        assert [c.op for c in svc.settle(GCN)] == ["funded"]
        shop = Shop(db_url, tmp_path, svc, clock, keys, (event.signer, event.seq), "")
        shop.transfer(1, "alice", "bob")
        shop.transfer(1, "bob", "carol")
        shop.transfer(3, "bob", "carol")
        with Ledger.open(db_url, tmp_path / "gateway", ORIGIN) as ledger:
            ledger.append_batch([])  # seals every queued entry into a block
            shop.vkey = ledger.verifier_key
        shop.transfer(2, "alice", "bob")
        yield shop
    finally:
        state.close()


def assert_named(shop: Shop, item: str, reason: str) -> None:
    code, report = shop.audit()
    assert code == 1, report
    failure = report["failure"]
    assert re.fullmatch(item, failure["item"]), failure
    assert re.search(reason, failure["reason"]), failure


def test_clean_campaign_passes_with_counts(shop: Shop) -> None:
    shop.harvest()
    code, report = shop.audit()
    assert code == 0, report["failure"]
    commerce = report["commerce"]
    assert (commerce["campaigns"], commerce["coupons"]) == (1, 4)
    assert (commerce["transfers"], commerce["redemptions"]) == (4, 1)
    # open, 2 issues, funded anchored with 3 transfers; then a transfer, harvest, shortfall,
    # void and redeem still queued.
    assert commerce["campaign_entries"] == 8
    assert (commerce["anchored"], commerce["pending"]) == (7, 5)
    assert commerce["signatures"] == 8 + 4 + 1  # each entry, transfer and redeem statement once


def forge_without_spend_once(shop: Shop) -> None:
    """Remove coupon_moves' primary key and unique (campaign, serial, prev) constraint, as
    someone with write access to the database can (SQLite: copy the table without them)."""
    if shop.db_url.startswith("sqlite"):
        shop.execute(
            ("CREATE TABLE coupon_moves_copy AS SELECT * FROM coupon_moves", {}),
            ("DROP TABLE coupon_moves", {}),
            ("ALTER TABLE coupon_moves_copy RENAME TO coupon_moves", {}),
        )
    else:
        shop.execute(
            (
                "ALTER TABLE coupon_moves DROP CONSTRAINT uq_coupon_moves_campaign_id_serial_prev, "
                "DROP CONSTRAINT pk_coupon_moves",
                {},
            )
        )


def test_double_spend_is_named(shop: Shop) -> None:
    # Alice spends coupon 1's issue state a second time, to mal: the database refuses to store
    # it until the constraint is removed; then the audit names the second spend.
    (campaign_id, issue_state) = shop.query(
        "SELECT campaign_id, prev FROM coupon_moves WHERE serial = 1 AND move = 1"
    )[0]
    coupon = coupon_id(GCN, 1)
    again = sign_statement(
        1, shop.clock.ms, "transfer", coupon, issue_state, shop.keys["alice"],
        to=address(shop.keys["mal"]),
    )  # fmt: skip
    forge_without_spend_once(shop)
    shop.execute(
        (
            "INSERT INTO coupon_moves (campaign_id, serial, move, op, prev, state, holder, "
            "time_ms, payload, created_at) VALUES (:c, 1, 1, 'transfer', :p, :s, :h, :t, :b, 0)",
            {
                "c": campaign_id,
                "p": issue_state,
                "s": again.state,
                "h": again.to,
                "t": again.time_ms,
                "b": again.payload,
            },
        )
    )
    assert_named(
        shop, rf"campaign {GCN}: transfer of coupon {coupon} move 1", "double spend.*" + issue_state
    )


def forge_entry(shop: Shop, op: str, totals: Totals, **fields: Any) -> tuple[int, int, Any]:
    """Sign the campaign's next entry with the farm key from the state directory and store it
    as the API would (entry row, pending row, campaigns head); returns (campaign id, cseq,
    the entry)."""
    campaign_id, cseq, head, signer = shop.query(
        "SELECT id, cseq, head, signer FROM campaigns WHERE gcn = :g", g=GCN
    )[0]
    (seq,) = shop.query("SELECT MAX(seq) + 1 FROM pending_entries WHERE device_id = :d", d=signer)[
        0
    ]
    body = {
        "campaign": GCN,
        "cseq": cseq + 1,
        "prev": head,
        "op": op,
        "totals": totals.to_json(),
        **fields,
    }
    entry = sign_campaign_entry(seq, shop.clock.ms, body, shop.farm_key())
    shop.execute(
        (
            "INSERT INTO campaign_entries (campaign_id, cseq, op, signer, seq, time_ms, state, "
            "payload, created_at) VALUES (:c, :n, :o, :g, :s, :t, :h, :b, 0)",
            {
                "c": campaign_id,
                "n": cseq + 1,
                "o": op,
                "g": signer,
                "s": seq,
                "t": entry.time_ms,
                "h": entry.state,
                "b": entry.payload,
            },
        ),
        (
            "INSERT INTO pending_entries (device_id, seq, timestamp_ms, payload, created_at) "
            "VALUES (:g, :s, :t, :b, 0)",
            {"g": signer, "s": seq, "t": entry.time_ms, "b": entry.payload},
        ),
        (
            "UPDATE campaigns SET cseq = :n, head = :h WHERE id = :c",
            {"n": cseq + 1, "h": entry.state, "c": campaign_id},
        ),
    )
    return int(campaign_id), int(cseq) + 1, entry


def test_issue_past_the_cap_is_named(shop: Shop) -> None:
    # 4 of 6 issued; a forged pledge of 3 more, validly signed with the farm's key.
    _, cseq, _ = forge_entry(
        shop,
        "issue",
        Totals(7, 0, 0),
        pledge="f" * 32,
        holder=address(shop.keys["mal"]),
        first=5,
        count=3,
        payment_sha256="ab" * 32,
    )
    assert_named(shop, rf"campaign {GCN}: campaign entry {cseq} \(issue\)", r"past the cap: 7 > 6")


def test_transfer_not_signed_by_the_holder_is_named(shop: Shop) -> None:
    # Coupon 4 is bob's; mal signs its transfer to herself. Nothing in the database refuses
    # this row: it spends the coupon's current state, once.
    coupon = coupon_id(GCN, 4)
    _, record = shop.svc.coupon(coupon)
    stolen = sign_statement(
        1, shop.clock.ms, "transfer", coupon, record.state, shop.keys["mal"],
        to=address(shop.keys["mal"]),
    )  # fmt: skip
    shop.svc.campaigns.transfer(
        record.campaign_id, 4, 1, record.state, stolen.state, address(shop.keys["mal"]), None,
        stolen.time_ms, stolen.payload, statement_signer(coupon),
    )  # fmt: skip
    assert_named(
        shop,
        rf"campaign {GCN}: transfer of coupon {coupon} move 1",
        f"not signed by the holder of coupon {coupon}",
    )


def test_redeem_after_void_is_named(shop: Shop) -> None:
    shop.harvest()  # the refund shortfall voided coupons 4 and 3
    coupon = coupon_id(GCN, 4)
    _, record = shop.svc.coupon(coupon)
    assert record.status == "void"
    # Bob, refunded, still shows his redeem statement; the farm's key records the redemption.
    statement = sign_statement(
        record.moves + 1, shop.clock.ms, "redeem", coupon, record.state, shop.keys["bob"]
    )
    (event_payload,) = shop.query(
        "SELECT payload FROM lot_events WHERE signer = :s AND seq = :q",
        s=shop.event[0],
        q=shop.event[1],
    )[0]
    issued, redeemed, voided = shop.query(
        "SELECT issued, redeemed, voided FROM campaigns WHERE gcn = :g", g=GCN
    )[0]
    campaign_id, cseq, entry = forge_entry(
        shop,
        "redeem",
        Totals(issued, redeemed + 1, voided),
        serial=4,
        statement=base64.b64encode(statement.payload).decode(),
        event={
            "signer": shop.event[0],
            "seq": shop.event[1],
            "sha256": hashlib.sha256(bytes(event_payload)).hexdigest(),
        },
    )
    shop.execute(
        (
            "INSERT INTO coupon_moves (campaign_id, serial, move, op, prev, state, time_ms, "
            "payload, created_at) VALUES (:c, 4, :m, 'redeem', :p, :s, :t, :b, 0)",
            {
                "c": campaign_id,
                "m": record.moves + 1,
                "p": record.state,
                "s": entry.state,
                "t": entry.time_ms,
                "b": statement.payload,
            },
        ),
        (
            "UPDATE coupons SET status = 'redeemed', state = :s, moves = :m "
            "WHERE campaign_id = :c AND serial = 4",
            {"s": entry.state, "m": record.moves + 1, "c": campaign_id},
        ),
    )
    assert_named(
        shop,
        rf"campaign {GCN}: campaign entry {cseq} \(redeem\)",
        f"coupon {coupon} is void and never moves again",
    )


def test_rewritten_anchored_transfer_is_named(shop: Shop) -> None:
    # Coupon 3's anchored transfer (bob -> carol) replaced by another that bob signed for the
    # same state (to mal), with its coupon row and queued copy to match: every rule holds, but
    # the chain holds other bytes under the coupon's stream and move.
    coupon = coupon_id(GCN, 3)
    ((campaign_id, prev),) = shop.query(
        "SELECT campaign_id, prev FROM coupon_moves WHERE serial = 3 AND move = 1"
    )
    other = sign_statement(
        1, shop.clock.ms, "transfer", coupon, prev, shop.keys["bob"], to=address(shop.keys["mal"])
    )
    where = {"campaign_id": campaign_id, "serial": 3, "move": 1}
    values = {"payload": other.payload, "state": other.state, "holder": other.to}
    assert update_row(shop.db_url, "coupon_moves", where, values | {"time_ms": other.time_ms}) == 1
    shop.execute(
        (
            "UPDATE coupons SET state = :s, holder = :h WHERE campaign_id = :c AND serial = 3",
            {"s": other.state, "h": other.to, "c": campaign_id},
        )
    )
    queued = {"device_id": statement_signer(coupon), "seq": 1}
    assert update_row(shop.db_url, "pending_entries", queued, {"payload": other.payload}) == 1
    assert_named(
        shop,
        rf"campaign {GCN}: transfer of coupon {coupon} move 1",
        r"differs from entry \d+ of chain \d+, anchored under its signer",
    )


def test_coupon_row_against_its_history(shop: Shop) -> None:
    coupon = coupon_id(GCN, 2)
    shop.execute(
        ("UPDATE coupons SET holder = :h WHERE serial = 2", {"h": address(shop.keys["mal"])})
    )
    assert_named(shop, rf"campaign {GCN}: coupon {coupon}", "coupons row says holder=")


def test_removed_transfer_row_is_named(shop: Shop) -> None:
    # Coupon 2's queued transfer removed with its coupon row put back: the queue still has it.
    coupon = coupon_id(GCN, 2)
    ((prev,),) = shop.query("SELECT prev FROM coupon_moves WHERE serial = 2 AND move = 1")
    with triggers_disabled(shop.db_url, "coupon_moves") as conn:
        conn.execute(text("DELETE FROM coupon_moves WHERE serial = 2"))
    shop.execute(
        (
            "UPDATE coupons SET state = :s, holder = :h, moves = 0 WHERE serial = 2",
            {"s": prev, "h": address(shop.keys["alice"])},
        )
    )
    assert_named(
        shop,
        rf"pending entry \(signer {statement_signer(coupon)} seq 1\)",
        "no campaign stores",
    )


def test_privacy_erase_keeps_the_audit_and_the_ledger(shop: Shop) -> None:
    shop.harvest()
    tables = ("campaigns", "campaign_entries", "pledges", "coupons", "coupon_moves")

    def snapshot() -> dict[str, list[Any]]:
        return {t: sorted(map(tuple, shop.query(f"SELECT * FROM {t}"))) for t in tables}

    before = snapshot()
    assert len(shop.query("SELECT * FROM backer_contacts")) == 2
    alice = next(p for p in shop.svc.campaigns.pledges(before["campaigns"][0][0]) if p.contact)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["privacy", "erase", "--pledge", alice.id, "--db", shop.db_url])
    assert code == 0 and "erased 1 " in out.getvalue()
    with contextlib.redirect_stdout(out):
        code = main(["privacy", "erase", "--all", "--db", shop.db_url])
    assert code == 0 and "erased 1 " in out.getvalue().splitlines()[-1]
    assert shop.query("SELECT * FROM backer_contacts") == []
    assert snapshot() == before
    code, report = shop.audit()
    assert code == 0, report["failure"]
    assert report["commerce"]["coupons"] == 4
