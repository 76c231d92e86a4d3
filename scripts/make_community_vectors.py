"""Write the value-community test vectors (``docs/community.md``, section 6).

    python scripts/make_community_vectors.py docs/vectors/community.json

Fixed seeds and times and deterministic Ed25519 make the file the same on every run;
``tests/commerce/test_community_vectors.py`` regenerates it and compares. The figures come from
the shipped rule files (``docs/communities/``) through ``CommunityReplay``, the one rules engine;
the generator checks its own claims (each violation is refused with exactly its message, each
malformed item for its reason) before writing.
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from farmtrace.chain.entry import COMMUNITY_PREFIX
from farmtrace.chain.signed_entry import frame
from farmtrace.commerce.canonical import canonical_json
from farmtrace.commerce.community.entries import (
    CommunityEntry,
    decode_community_entry,
    decode_transfer,
    sign_community_entry,
    sign_transfer,
    statement_of,
)
from farmtrace.commerce.community.mint import (
    deposit_mint,
    pledge_mint,
    pro_rata,
    reinvest_tokens,
    service_mint,
    work_mint,
)
from farmtrace.commerce.community.replay import CommunityReplay
from farmtrace.commerce.community.rules import parse_rules
from farmtrace.commerce.entries import fingerprint
from farmtrace.commerce.errors import CommerceError

ROOT = Path(__file__).resolve().parents[1]
RULES_DIR = ROOT / "docs" / "communities"
T0 = 1_800_000_000_000
HOUR = 3_600_000
SEEDS = {
    "operator": "a0" * 32,
    "investor": "a1" * 32,
    "team": "a2" * 32,
    "customer": "a3" * 32,
    "barber": "a4" * 32,
    "coop-operator": "b0" * 32,
    "grower": "b1" * 32,
    "backer": "b2" * 32,
    "worker": "b3" * 32,
}
"""The fixed test keys (the same as ``tests/support/community.py``); the rule files name them."""
KEYS = {n: Ed25519PrivateKey.from_private_bytes(bytes.fromhex(s)) for n, s in SEEDS.items()}
ADDR = {n: k.public_key().public_bytes_raw().hex() for n, k in KEYS.items()}
PAY = "ab" * 32
REF = "cd" * 32


def rules_file(name: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads((RULES_DIR / f"{name}.json").read_text("utf-8"))
    return value


def version_2() -> dict[str, Any]:
    """The barbershop's second version: deposits mint a quarter, work hours mint, surplus is
    reinvested."""
    doc = copy.deepcopy(rules_file("barbershop"))
    del doc["initial"]
    doc["version"] = 2
    doc["mint"]["deposit"] = {"share": {"num": 1, "den": 4}}
    doc["mint"]["work"] = {"tokens_per_hour": 100}
    doc["surplus"] = "reinvest"
    doc["text"] = {
        "zh": "第2版：充值按充值额的四分之一挖矿；每工作一小时获得100枚；经营利润按持币比例再投资为新通证。",  # noqa: RUF001
        "en": "Version 2: deposits mint a quarter of the deposit; each work hour mints 100 tokens; "
        "operating profit is reinvested as new tokens pro rata.",
    }
    return doc


class _Operator:
    def __init__(self, key: Ed25519PrivateKey) -> None:
        self.key = key
        self.replay = CommunityReplay()
        self.time_ms = T0
        self.entries: list[CommunityEntry] = []

    def put(self, make: Callable[[CommunityReplay], dict[str, Any]]) -> CommunityEntry:
        self.time_ms += HOUR
        entry = sign_community_entry(self.replay.n + 1, self.time_ms, make(self.replay), self.key)
        self.replay.apply(entry)
        self.entries.append(entry)
        return entry

    def send(self, sender: str, to: str, amount: int) -> CommunityEntry:
        m = self.replay.member(ADDR[sender])
        statement = sign_transfer(
            m.moves + 1, self.time_ms, "barbershop", ADDR[to], amount, m.spend_state, KEYS[sender]
        )
        return self.put(lambda r: r.body_transfer(statement))


def history() -> list[CommunityEntry]:
    """The barbershop: the issue, the worked deposit and service, a transfer, a dividend, rules
    version 2, work hours, a transfer back, a reinvested surplus."""
    op = _Operator(KEYS["operator"])
    op.put(lambda r: r.body_rules(rules_file("barbershop")))
    op.put(lambda r: r.body_deposit(ADDR["customer"], 100_000, PAY))
    op.put(lambda r: r.body_service(ADDR["barber"], 10_000, 5_000, REF))
    op.put(lambda r: r.body_service(ADDR["barber"], 3_333, None, REF))
    op.send("customer", "barber", 1_000)
    op.put(lambda r: r.body_distribution(T0, op.time_ms, 1_000_003))
    op.put(lambda r: r.body_rules(version_2()))
    op.put(lambda r: r.body_work(ADDR["barber"], 95, REF))
    op.send("barber", "customer", 7)
    op.put(lambda r: r.body_deposit(ADDR["customer"], 99_999, PAY))
    op.put(lambda r: r.body_distribution(r.last_until_ms, op.time_ms, 777_777))
    return op.entries


def replay_all(entries: list[CommunityEntry]) -> CommunityReplay:
    replay = CommunityReplay(operator_key=KEYS["operator"].public_key().public_bytes_raw())
    for entry in entries:
        replay.apply(entry)
    return replay


def after(replay: CommunityReplay) -> dict[str, Any]:
    assert replay.rules is not None
    return {
        "n": replay.n,
        "head": replay.head,
        "supply": replay.supply,
        "version": replay.rules.version,
        "holders": replay.holders,
        "members": {
            a: {
                "balance": m.balance,
                "spend_state": m.spend_state,
                "moves": m.moves,
                "fingerprint": fingerprint(bytes.fromhex(a)),
            }
            for a, m in sorted(replay.members.items())
        },
        "distributions": [
            {"n": d.n, "kind": d.kind, "surplus": d.surplus, "total": d.total, "parts": d.parts}
            for d in replay.distributions
        ],
    }


def _item(entry: CommunityEntry, state: dict[str, Any]) -> dict[str, Any]:
    item: dict[str, Any] = {
        "op": entry.op,
        "n": entry.n,
        "time_ms": entry.time_ms,
        "signer": entry.signer,
        "body": entry.body,
        "signed_bytes_hex": entry.signed_bytes.hex(),
        "signature_hex": entry.signature.hex(),
        "payload_hex": entry.payload.hex(),
        "hash": entry.hash,
    }
    if entry.op == "transfer":
        statement = statement_of(entry)
        item["statement_payload_hex"] = statement.payload.hex()
        item["statement_hash"] = statement.hash
    item["after"] = state
    return item


def _mints() -> list[dict[str, Any]]:
    barbershop = parse_rules(rules_file("barbershop"))
    coop = parse_rules(rules_file("farm-coop"))
    v2 = parse_rules(version_2())
    cases: list[tuple[str, Any, str, dict[str, Any]]] = [
        ("barbershop", barbershop, "deposit", {"amount": 100_000}),  # the worked 1,000 deposit
        ("barbershop", barbershop, "service", {"revenue": 10_000, "cost": 5_000}),  # worked
        ("barbershop", barbershop, "service", {"revenue": 10_000}),  # cost from the margin
        ("barbershop", barbershop, "deposit", {"amount": 3}),
        ("barbershop", barbershop, "service", {"revenue": 3_333}),
        ("barbershop-v2", v2, "deposit", {"amount": 99_999}),
        ("barbershop-v2", v2, "work", {"minutes": 95}),
        ("farm-coop", coop, "pledge", {"amount": 9_000}),
        ("farm-coop", coop, "pledge", {"amount": 9_099}),
        ("farm-coop", coop, "work", {"minutes": 90}),
        ("farm-coop", coop, "work", {"minutes": 1}),
        ("barbershop-v2", v2, "reinvest", {"surplus": 777_777}),
    ]
    out = []
    for name, rules, kind, inputs in cases:
        if kind == "deposit":
            tokens = deposit_mint(rules, inputs["amount"])
        elif kind == "service":
            tokens = service_mint(rules, inputs["revenue"], inputs.get("cost"))
        elif kind == "work":
            tokens = work_mint(rules, inputs["minutes"])
        elif kind == "pledge":
            tokens = pledge_mint(rules, inputs["amount"])
        else:
            tokens = reinvest_tokens(rules, inputs["surplus"])
        out.append({"rules": name, "kind": kind, "inputs": inputs, "tokens": tokens})
    assert out[0]["tokens"] == 25_000 and out[1]["tokens"] == 250
    return out


def _rounding() -> list[dict[str, Any]]:
    a, b, c, d = sorted(ADDR[n] for n in ("investor", "team", "customer", "barber"))
    cases = [
        (10, {a: 1, b: 1, c: 1}),
        (7, {a: 2, b: 3, c: 5}),
        (1, {a: 5, b: 5}),
        (0, {a: 3, b: 0}),
        (1_000_003, {a: 333, b: 333, c: 334, d: 1}),
        (99, {d: 10, c: 10, b: 10, a: 70}),
    ]
    return [
        {"total": total, "balances": dict(sorted(bal.items())), "parts": pro_rata(total, bal)}
        for total, bal in cases
    ]


def _sign(n: int, body: dict[str, Any], key: str = "operator", at: int | None = None) -> str:
    time_ms = T0 + n * HOUR if at is None else at
    return sign_community_entry(n, time_ms, body, KEYS[key]).payload.hex()


def _violations(items: list[CommunityEntry]) -> list[dict[str, Any]]:
    """Histories the rules refuse: the refs of a valid prefix, then one bad entry."""
    replay = replay_all(items[:3])  # rules, deposit, service
    nxt = replay.n + 1
    deposit = replay.body_deposit(ADDR["customer"], 100_000, PAY)
    transfer_history = replay_all(items[:5])
    spent = statement_of(items[4])  # the customer's first transfer
    dist = transfer_history.body_distribution(T0, T0 + 6 * HOUR, 1_000)
    more = copy.deepcopy(dist["parts"])
    more[0][1] += 1
    swapped = copy.deepcopy(dist["parts"])
    swapped[0][1] += 1
    swapped[1][1] -= 1
    overdraft = sign_transfer(
        2, T0, "barbershop", ADDR["barber"], 24_001, spent.hash, KEYS["customer"]
    )
    no_work = {**deposit, "op": "work", "minutes": 60, "ref_sha256": REF}
    del no_work["amount"], no_work["payment_sha256"]
    v3 = {**version_2(), "version": 3}
    bad_alloc = copy.deepcopy(rules_file("barbershop"))
    bad_alloc["initial"]["allocation"][ADDR["team"]] = 4_000_000
    cases: list[tuple[str, int, dict[str, Any] | str, str]] = [
        ("mint above the rules", 3, {**deposit, "minted": 25_001, "supply": deposit["supply"] + 1},
         f"community entry {nxt} (deposit): mints 25001 tokens but the rules give 25000"),
        ("negative deposit", 3, {**deposit, "amount": -100_000},
         f"community entry {nxt} (deposit): deposit amount: -100000 is negative"),
        ("no rule of that kind", 3, no_work,
         f"community entry {nxt} (work): no work rule in force (version 1)"),
        ("supply not the recount", 3, {**deposit, "supply": deposit["supply"] + 7},
         f"community entry {nxt} (deposit): states supply 10050257 but the recount gives 10050250"),
        ("skipped version", 3, {**replay.body_rules(v3)},
         f"community entry {nxt} (rules): publishes version 3, not version 2"),
        ("double spend", 5, {**transfer_history.body_transfer(spent)},
         f"community entry 6 (transfer): double spend: a second statement spends state {spent.prev}"),
        ("overdraft", 5, {**transfer_history.body_transfer(overdraft)},
         "community entry 6 (transfer): spends 24001 tokens but the balance is 24000"),
        ("parts do not sum", 5, {**dist, "parts": more},
         "community entry 6 (distribution): parts sum to 1001, not the surplus 1000"),
        ("parts not the rule", 5, {**dist, "parts": swapped},
         f"community entry 6 (distribution): part of {fingerprint(bytes.fromhex(swapped[0][0]))} "
         f"is {swapped[0][1]}, the rule gives {swapped[0][1] - 1}"),
        ("allocation not the supply", 0,
         {"community": "barbershop", "prev": "0" * 64, "op": "rules", "supply": 10_000_000,
          "rules": bad_alloc, "rules_sha256": parse_rules(rules_file("barbershop")).sha256},
         "community entry 1 (rules): rules: initial allocation sums to 9000000, not the declared "
         "supply 10000000"),
        ("wrong operator key", 3, "team",
         f"community entry {nxt} (deposit): signature does not verify with the operator key of "
         "version 1"),
    ]  # fmt: skip
    out: list[dict[str, Any]] = []
    for name, prefix, body, want in cases:
        refs: list[dict[str, Any]] = [{"ref": i} for i in range(prefix)]
        if isinstance(body, str):  # signed by another key
            payload = _sign(prefix + 1, deposit, key=body)
        else:
            payload = _sign(prefix + 1, body)
        refs.append({"payload_hex": payload})
        out.append({"name": name, "items": refs, "want": want})
    for case in out:  # the generator checks its own claims
        entries = [
            items[ref["ref"]]
            if "ref" in ref
            else decode_community_entry(bytes.fromhex(ref["payload_hex"]))
            for ref in case["items"]
        ]
        try:
            replay_all(entries)
        except CommerceError as exc:
            assert str(exc) == case["want"], (case["name"], str(exc))
        else:
            raise AssertionError(f"{case['name']}: the replay accepted it")
    return out


def _invalid(items: list[CommunityEntry]) -> list[dict[str, Any]]:
    deposit = items[1]
    transfer = statement_of(items[4])
    spaced = frame(COMMUNITY_PREFIX, 2, T0, "community.barbershop", b'{"op": "work"}')
    wrong_signer = frame(COMMUNITY_PREFIX, 2, T0, "community.other", canonical_json(deposit.body))
    cases: list[tuple[str, bytes | dict[str, Any], str]] = [
        ("community", b"FX\x01" + deposit.payload[3:], "does not start with FV 01"),
        ("community", deposit.payload[:20], "truncated"),
        ("community", deposit.payload.replace(b'"op":"deposit"', b'"op":"deposi7"'),
         "unknown op 'deposi7'"),
        ("community", deposit.payload.replace(b'"amount":100000', b'"amount":1.0e05'),
         "only strings, integers"),
        ("community", spaced + bytes(64), "not in canonical form"),
        ("community", wrong_signer + bytes(64), "its signer does not name its community"),
        ("transfer", b"FV" + transfer.payload[2:], "does not start with FW 01"),
        ("transfer", transfer.payload.replace(b'"op":"transfer"', b'"op":"transfe7"'),
         "op must be transfer"),
        ("rules", {**rules_file("barbershop"), "mint": {"airdrop": {}}},
         "unknown mint rule kind 'airdrop'"),
        ("rules", {**rules_file("barbershop"), "currency": "XYZ"},
         "'XYZ' is not an active ISO 4217 currency code"),
        ("rules", {**rules_file("barbershop"), "price": {"amount": -1, "tokens": 5}},
         "price.amount: -1 is negative"),
    ]  # fmt: skip
    out = []
    for kind, value, reason in cases:
        try:
            if kind == "community":
                assert isinstance(value, bytes)
                decode_community_entry(value)
            elif kind == "transfer":
                assert isinstance(value, bytes)
                decode_transfer(value)
            else:
                parse_rules(value)
        except CommerceError as exc:
            assert reason in str(exc), (reason, str(exc))
        else:
            raise AssertionError(f"{reason}: accepted")
        item: dict[str, Any] = {"kind": kind, "reason": reason}
        if isinstance(value, bytes):
            item["payload_hex"] = value.hex()
        else:
            item["rules"] = value
        out.append(item)
    return out


def build() -> dict[str, Any]:
    items = history()
    return {
        "format": "farmtrace value-community entries, version 1 (docs/community.md)",
        "keys": {
            name: {
                "seed_hex": seed,
                "address": ADDR[name],
                "fingerprint": fingerprint(bytes.fromhex(ADDR[name])),
            }
            for name, seed in SEEDS.items()
        },
        "rules": {
            name: {
                "file": f"docs/communities/{name}.json" if name != "barbershop-v2" else "",
                "json": doc,
                "canonical": canonical_json(doc).decode(),
                "sha256": parse_rules(doc).sha256,
            }
            for name, doc in (
                ("barbershop", rules_file("barbershop")),
                ("farm-coop", rules_file("farm-coop")),
                ("barbershop-v2", version_2()),
            )
        },
        "mints": _mints(),
        "rounding": _rounding(),
        "history": [_item(e, after(replay_all(items[: i + 1]))) for i, e in enumerate(items)],
        "member_views": {
            name: replay_all(items).member_view(ADDR[name])
            for name in ("investor", "customer", "barber")
        },
        "invalid": _invalid(items),
        "violations": _violations(items),
    }


def render() -> str:
    return json.dumps(build(), indent=1, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    Path(sys.argv[1]).write_text(render(), "utf-8")
