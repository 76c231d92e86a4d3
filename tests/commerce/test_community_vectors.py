"""The value-community vectors (``docs/vectors/community.json``) are what the generator writes,
and say what the rules engine says: each entry's bytes follow the documented layout and verify
with the operator key, the replay reaches every recorded state, the mints and roundings are the
rules' figures, malformed items are refused for their reason and refused histories name their
first violation word for word (docs/community.md, section 6). The JS verifier checks the same
file."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from farmtrace.chain.entry import COMMUNITY, kind_of
from farmtrace.commerce.canonical import canonical_json
from farmtrace.commerce.community.entries import (
    CommunityEntry,
    decode_community_entry,
    decode_transfer,
    member_signer,
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
from farmtrace.commerce.community.rules import load_rules_file, parse_rules
from farmtrace.commerce.entries import fingerprint, verify_signature
from farmtrace.commerce.errors import CommerceError

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "make_community_vectors.py"
VECTORS: dict[str, Any] = json.loads((ROOT / "docs/vectors/community.json").read_text("utf-8"))
HISTORY = VECTORS["history"]
ITEMS = [decode_community_entry(bytes.fromhex(v["payload_hex"])) for v in HISTORY]


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("make_community_vectors", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_vectors_are_what_the_generator_writes() -> None:
    assert _generator().render() == (ROOT / "docs/vectors/community.json").read_text("utf-8")


@pytest.mark.slow
def test_the_script_writes_the_same_file(tmp_path: Path) -> None:
    out = tmp_path / "community.json"
    subprocess.run([sys.executable, str(SCRIPT), str(out)], check=True, cwd=ROOT)
    assert out.read_bytes() == (ROOT / "docs/vectors/community.json").read_bytes()


def test_keys_and_rule_files() -> None:
    for key in VECTORS["keys"].values():
        address = bytes.fromhex(key["address"])
        assert key["fingerprint"] == hashlib.sha256(address).hexdigest()[:16]
    for name in ("barbershop", "farm-coop"):
        entry = VECTORS["rules"][name]
        rules = load_rules_file(ROOT / entry["file"])
        assert entry["json"] == rules.document
        assert entry["canonical"].encode() == canonical_json(rules.document)
        assert entry["sha256"] == hashlib.sha256(entry["canonical"].encode()).hexdigest()
    operator = VECTORS["keys"]["operator"]["address"]
    assert VECTORS["rules"]["barbershop"]["json"]["operator"] == operator


def test_the_worked_figures_are_in_the_mints() -> None:
    mints = VECTORS["mints"]
    assert mints[0] == {
        "rules": "barbershop",
        "kind": "deposit",
        "inputs": {"amount": 100000},
        "tokens": 25000,
    }
    assert mints[1]["inputs"] == {"revenue": 10000, "cost": 5000} and mints[1]["tokens"] == 250
    compute = {
        "deposit": lambda r, i: deposit_mint(r, i["amount"]),
        "service": lambda r, i: service_mint(r, i["revenue"], i.get("cost")),
        "work": lambda r, i: work_mint(r, i["minutes"]),
        "pledge": lambda r, i: pledge_mint(r, i["amount"]),
        "reinvest": lambda r, i: reinvest_tokens(r, i["surplus"]),
    }
    for case in mints:
        rules = parse_rules(VECTORS["rules"][case["rules"]]["json"])
        assert compute[case["kind"]](rules, case["inputs"]) == case["tokens"], case


def test_rounding_cases() -> None:
    for case in VECTORS["rounding"]:
        parts = pro_rata(case["total"], case["balances"])
        assert parts == case["parts"]
        assert sum(parts.values()) == case["total"]


def test_entries_follow_the_documented_layout() -> None:
    operator = bytes.fromhex(VECTORS["keys"]["operator"]["address"])
    for v, entry in zip(HISTORY, ITEMS, strict=True):
        raw = bytes.fromhex(v["payload_hex"])
        assert kind_of(raw) == COMMUNITY
        assert raw[:3] == b"FV\x01"
        seq, time_ms = struct.unpack(">Qq", raw[3:19])
        assert (seq, time_ms) == (v["n"], v["time_ms"])
        signer_len = raw[19]
        assert raw[20 : 20 + signer_len].decode() == v["signer"] == "community.barbershop"
        (length,) = struct.unpack(">I", raw[20 + signer_len : 24 + signer_len])
        body = raw[24 + signer_len : 24 + signer_len + length]
        assert body == canonical_json(v["body"])
        assert raw == bytes.fromhex(v["signed_bytes_hex"]) + bytes.fromhex(v["signature_hex"])
        assert v["hash"] == hashlib.sha256(raw).hexdigest() == entry.hash
        if v["n"] < 8:  # version 1's operator (the history keeps it)
            assert verify_signature(operator, entry.signed_bytes, entry.signature)
        if v["op"] == "transfer":
            statement = decode_transfer(bytes.fromhex(v["statement_payload_hex"]))
            assert statement.hash == v["statement_hash"]
            assert member_signer(statement.sender).startswith("member.")


def test_the_replay_reaches_every_recorded_state() -> None:
    replay = CommunityReplay(operator_key=bytes.fromhex(VECTORS["keys"]["operator"]["address"]))
    for v, entry in zip(HISTORY, ITEMS, strict=True):
        replay.apply(entry)
        after = v["after"]
        assert (replay.n, replay.head, replay.supply) == (
            after["n"],
            after["head"],
            after["supply"],
        )
        assert replay.supply == sum(m["balance"] for m in after["members"].values())
        for address, m in after["members"].items():
            state = replay.member(address)
            assert (state.balance, state.spend_state, state.moves) == (
                m["balance"],
                m["spend_state"],
                m["moves"],
            )
            assert m["fingerprint"] == fingerprint(bytes.fromhex(address))
        for d in after["distributions"]:
            assert sum(d["parts"].values()) == d["total"]
    for name, view in VECTORS["member_views"].items():
        assert replay.member_view(VECTORS["keys"][name]["address"]) == view


@pytest.mark.parametrize("case", VECTORS["invalid"], ids=lambda c: c["reason"])
def test_invalid_items_are_refused_for_their_reason(case: dict[str, Any]) -> None:
    with pytest.raises(CommerceError) as caught:
        if case["kind"] == "community":
            decode_community_entry(bytes.fromhex(case["payload_hex"]))
        elif case["kind"] == "transfer":
            decode_transfer(bytes.fromhex(case["payload_hex"]))
        else:
            parse_rules(case["rules"])
    assert case["reason"] in str(caught.value)


@pytest.mark.parametrize("case", VECTORS["violations"], ids=lambda c: c["name"])
def test_violations_name_the_first_broken_rule(case: dict[str, Any]) -> None:
    entries: list[CommunityEntry] = [
        ITEMS[ref["ref"]]
        if "ref" in ref
        else decode_community_entry(bytes.fromhex(ref["payload_hex"]))
        for ref in case["items"]
    ]
    replay = CommunityReplay(operator_key=bytes.fromhex(VECTORS["keys"]["operator"]["address"]))
    with pytest.raises(CommerceError) as caught:
        for entry in entries:
            replay.apply(entry)
    assert str(caught.value) == case["want"]
