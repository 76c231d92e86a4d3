"""The community rules engine over signed entries: a barbershop history replays to the worked
balances; every broken rule is named with its entry and refused without changing anything
(docs/community.md, section 4)."""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from typing import Any

import pytest
from support.community import ADDR, KEYS, T0, Operator, rules_doc

from farmtrace.commerce.community.entries import (
    GENESIS,
    CommunityEntry,
    decode_community_entry,
    decode_transfer,
    sign_community_entry,
    sign_transfer,
)
from farmtrace.commerce.community.replay import CommunityReplay, Violation
from farmtrace.commerce.community.rules import parse_rules
from farmtrace.commerce.entries import fingerprint
from farmtrace.commerce.errors import CommerceError

PAY = "ab" * 32
REF = "cd" * 32


def barbershop() -> Operator:
    """Rules v1; a 1,000 CNY deposit by the customer; a 100 CNY service (cost 50) by the barber."""
    op = Operator(KEYS["operator"])
    op.put(op.replay.body_rules(rules_doc("barbershop")))
    op.put(op.replay.body_deposit(ADDR["customer"], 100_000, PAY))
    op.put(op.replay.body_service(ADDR["barber"], 10_000, 5_000, REF))
    return op


def test_barbershop_history_gives_the_worked_balances() -> None:
    op = barbershop()
    r = op.replay
    assert r.member(ADDR["customer"]).balance == 25_000
    assert r.member(ADDR["barber"]).balance == 250
    assert r.supply == 10_000_000 + 25_000 + 250 == sum(r.balances().values())
    assert [line.op for line in r.member(ADDR["customer"]).history] == ["deposit"]
    assert r.member(ADDR["customer"]).history[0].detail == {
        "amount": 100_000,
        "currency": "CNY",
        "version": 1,
    }
    # A transfer, then a dividend shared by the largest-remainder rule.
    st = op.transfer(KEYS["customer"], ADDR["barber"], 5_000)
    op.put(r.body_transfer(st))
    assert r.member(ADDR["customer"]).balance == 20_000
    assert r.member(ADDR["customer"]).spend_state == st.hash
    assert r.member(ADDR["customer"]).moves == 1
    op.put(r.body_distribution(T0, op.time_ms + 1, 1_000_001))
    d = r.distributions[-1]
    assert sum(d.parts.values()) == 1_000_001 == d.total
    assert list(d.parts) == sorted(d.parts)
    assert r.supply == sum(r.balances().values())  # a dividend mints nothing
    view = r.member_view(ADDR["barber"])
    assert view["balance"] == 5_250
    assert [h["op"] for h in view["history"]] == ["service", "transfer"]
    assert view["distributions"][0]["part"] == d.parts[ADDR["barber"]]
    assert [s for _, _, s in r.supply_history] == [10_000_000, 10_025_000, 10_025_250] + [
        10_025_250
    ] * 2


def test_entries_round_trip_through_their_bytes() -> None:
    op = barbershop()
    fresh = CommunityReplay(operator_key=KEYS["operator"].public_key().public_bytes_raw())
    for entry in op.entries:
        fresh.apply(decode_community_entry(entry.payload))
    assert fresh.balances() == op.replay.balances()
    assert fresh.head == op.replay.head


def test_rule_change_applies_from_its_entry_on_never_backwards() -> None:
    op = barbershop()
    r = op.replay
    v2 = copy.deepcopy(rules_doc("barbershop"))
    del v2["initial"]
    v2["version"] = 2
    v2["mint"]["deposit"] = {"share": {"num": 1, "den": 4}}
    v2["surplus"] = "reinvest"
    stale = r.body_deposit(ADDR["customer"], 100_000, PAY)  # computed under version 1
    op.put(r.body_rules(v2))
    assert r.member(ADDR["customer"]).balance == 25_000  # nothing recomputed
    with pytest.raises(Violation, match="computed under version 1, but version 2 is in force"):
        r.apply(op.sign({**stale, "prev": r.head}))
    op.put(r.body_deposit(ADDR["customer"], 100_000, PAY))
    assert r.member(ADDR["customer"]).balance == 25_000 + 12_500
    # Reinvest: the surplus buys tokens at the reference price, minted pro rata.
    before = r.supply
    op.put(r.body_distribution(T0, op.time_ms + 1, 100_001))
    assert r.distributions[-1].total == 50_000  # 100,001 fen buys 50,000 tokens at 2 fen
    assert r.supply == before + 50_000 == sum(r.balances().values())
    assert [v for _, v in ((n, rules.version) for n, rules in r.versions)] == [1, 2]


def _refused(op: Operator, body: dict[str, Any], reason: str, **sign: Any) -> None:
    """``body`` signed as the next entry is refused naming ``reason``, and changes nothing."""
    r = op.replay
    before = (r.n, r.head, r.supply, r.balances(), r.time_ms, len(r.distributions))
    entry = op.sign(body, **sign)
    with pytest.raises(Violation) as caught:
        r.apply(entry)
    assert reason in str(caught.value), str(caught.value)
    assert str(caught.value).startswith(f"community entry {entry.n} ({entry.op}): ")
    assert (r.n, r.head, r.supply, r.balances(), r.time_ms, len(r.distributions)) == before


def _with(body: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**body, **changes}


def test_mints_must_equal_the_rules_computation() -> None:
    op = barbershop()
    r = op.replay
    body = r.body_deposit(ADDR["customer"], 100_000, PAY)
    _refused(
        op,
        _with(body, minted=25_001, supply=body["supply"] + 1),
        "mints 25001 tokens but the rules give 25000",
    )
    _refused(op, _with(body, amount=-100_000), "deposit amount: -100000 is negative")
    _refused(op, _with(body, amount=0, minted=0, supply=r.supply), "deposit amount: 0 is below 1")
    _refused(
        op,
        _with(body, supply=body["supply"] + 7),
        "states supply 10050257 but the recount gives 10050250",
    )
    service = r.body_service(ADDR["barber"], 10_000, 5_000, REF)
    _refused(op, _with(service, cost=10_001), "service cost 10001 is more than its revenue 10000")
    work = {
        **r.body_deposit(ADDR["barber"], 100, PAY),
        "op": "work",
        "minutes": 60,
        "ref_sha256": REF,
    }
    del work["amount"], work["payment_sha256"]
    _refused(op, work, "no work rule in force (version 1)")


def test_transfers_spend_a_state_once_and_no_more_than_the_balance() -> None:
    op = barbershop()
    r = op.replay
    first = op.transfer(KEYS["customer"], ADDR["barber"], 1_000)
    second = sign_transfer(
        1, op.time_ms, "barbershop", ADDR["team"], 1_000, GENESIS, KEYS["customer"]
    )
    op.put(r.body_transfer(first))
    _refused(
        op, r.body_transfer(second), f"double spend: a second statement spends state {GENESIS}"
    )
    _refused(
        op,
        r.body_transfer(op.transfer(KEYS["customer"], ADDR["barber"], 24_001)),
        "spends 24001 tokens but the balance is 24000",
    )
    wrong_move = sign_transfer(
        5, op.time_ms, "barbershop", ADDR["team"], 1, first.hash, KEYS["customer"]
    )
    _refused(op, r.body_transfer(wrong_move), "is move 5, not the sender's next move 2")
    stale = sign_transfer(2, op.time_ms, "barbershop", ADDR["team"], 1, "ee" * 32, KEYS["customer"])
    _refused(op, r.body_transfer(stale), "not the sender's spend state")
    to_self = op.transfer(KEYS["customer"], ADDR["customer"], 1)
    _refused(op, r.body_transfer(to_self), "sends to its own address")
    zero = op.transfer(KEYS["customer"], ADDR["barber"], 0)
    _refused(op, r.body_transfer(zero), "amount 0 is below 1")
    other = op.transfer(KEYS["customer"], ADDR["barber"], 1, community="elsewhere")
    _refused(op, r.body_transfer(other), "the statement names community 'elsewhere'")
    # Signed by someone else than its sender: the body's from is the customer's key.
    good = op.transfer(KEYS["customer"], ADDR["barber"], 1)
    forged = decode_transfer(good.signed_bytes + KEYS["barber"].sign(good.signed_bytes))
    _refused(op, r.body_transfer(forged), "signature does not verify with its sender's key")
    _refused(op, _with(r.body_transfer(good), statement="not base64!"), "statement does not decode")
    op.put(r.body_transfer(good))
    assert r.member(ADDR["customer"]).moves == 2


def test_distribution_parts_must_be_the_rule_and_sum_to_the_surplus() -> None:
    op = barbershop()
    r = op.replay
    body = r.body_distribution(T0, op.time_ms + 1, 1_000)
    parts = body["parts"]
    more = copy.deepcopy(parts)
    more[0][1] += 1
    _refused(op, _with(body, parts=more), "parts sum to 1001, not the surplus 1000")
    moved = copy.deepcopy(parts)
    moved[0][1] += 1
    moved[1][1] -= 1
    _refused(op, _with(body, parts=moved), f"part of {fingerprint(bytes.fromhex(moved[0][0]))} is")
    _refused(op, _with(body, parts=parts[1:]), "parts must list the 4 holders")
    _refused(op, _with(body, parts=list(reversed(parts))), "ascending address order")
    _refused(op, _with(body, tokens=5), "a dividend distribution may not state tokens")
    _refused(op, _with(body, surplus=-5), "surplus: -5 is negative")
    _refused(
        op,
        _with(body, period={"from_ms": 5, "until_ms": 5}),
        "the period must start before it ends",
    )
    _refused(
        op,
        _with(body, period={"from_ms": 0, "until_ms": op.time_ms + 10 * 3_600_000}),
        "the period ends after the entry's time",
    )
    op.put(body)
    again = r.body_distribution(T0, op.time_ms + 1, 1_000)
    _refused(op, again, "the period starts before the previous distribution's ended")


def test_chain_order_signatures_and_rules_versions() -> None:
    op = barbershop()
    r = op.replay
    body = r.body_deposit(ADDR["customer"], 100, PAY)
    _refused(op, _with(body, prev="00" * 32), "prev does not name the previous entry's hash")
    _refused(op, body, "is not the next entry (4)", n=5)
    _refused(op, body, "time goes back before the previous entry's", at=T0)
    forged = sign_community_entry(4, op.time_ms + 1, body, KEYS["team"])
    with pytest.raises(
        Violation, match="signature does not verify with the operator key of version 1"
    ):
        r.apply(forged)
    _refused(
        op,
        _with(body, community="elsewhere"),
        "names community 'elsewhere', not this community 'barbershop'",
    )
    v3 = copy.deepcopy(rules_doc("barbershop"))
    del v3["initial"]
    v3["version"] = 3
    _refused(op, r.body_rules(v3), "publishes version 3, not version 2")
    v2 = _with(v3, version=2)
    _refused(op, _with(r.body_rules(v2), rules_sha256="00" * 32), "rules_sha256 is not the SHA-256")
    bad = _with(v2, mint={"airdrop": {}})
    with pytest.raises(CommerceError, match="unknown mint rule kind 'airdrop'"):
        r.body_rules(bad)
    _refused(op, _with(r.body_rules(v2), rules=bad), "unknown mint rule kind 'airdrop'")
    # A new version may hand the operator role to a new key, which signs from then on.
    op.put(r.body_rules(_with(v2, operator=ADDR["team"])))
    op.key = KEYS["team"]
    op.put(r.body_deposit(ADDR["customer"], 100, PAY))
    op.key = KEYS["operator"]
    with pytest.raises(Violation, match="operator key of version 2"):
        r.apply(op.sign(r.body_deposit(ADDR["customer"], 100, PAY)))


def test_the_first_entry_publishes_version_1_with_the_expected_operator() -> None:
    op = Operator(KEYS["operator"])
    doc = rules_doc("barbershop")
    _refused(
        op,
        {
            "community": "barbershop",
            "prev": GENESIS,
            "op": "deposit",
            "supply": 0,
            "version": 1,
            "member": ADDR["customer"],
            "minted": 0,
            "amount": 1,
            "payment_sha256": PAY,
        },
        "the first entry must publish the rules (version 1)",
    )
    _refused(op, op.replay.body_rules(doc), "the first entry must be entry 1", n=2)
    later = {k: v for k, v in doc.items() if k != "initial"}
    with pytest.raises(CommerceError, match="a community starts at version 1, not 2"):
        op.replay.body_rules({**later, "version": 2})
    alloc = copy.deepcopy(doc)
    alloc["initial"]["allocation"][ADDR["team"]] = 1
    _refused(
        op,
        _with(op.replay.body_rules(doc), rules=alloc),
        "initial allocation sums to 5000001, not the declared supply 10000000",
    )
    _refused(
        op,
        _with(op.replay.body_rules(doc), supply=1),
        "states supply 1 but the recount gives 10000000",
    )
    wary = CommunityReplay(operator_key=KEYS["team"].public_key().public_bytes_raw())
    with pytest.raises(Violation, match=r"not the operator key .* the verifier was given"):
        wary.apply(op.sign(op.replay.body_rules(doc)))


def test_pledges_mint_once_and_can_be_checked_against_their_campaign() -> None:
    op = Operator(KEYS["coop-operator"])
    r = op.replay
    op.put(r.body_rules(rules_doc("farm-coop")))
    body = r.body_pledge(ADDR["backer"], "0614141000012", "12" * 16, "34" * 32, 9_000)
    assert body["minted"] == 9
    op.put(body)
    _refused(
        op,
        r.body_pledge(ADDR["backer"], "0614141000012", "12" * 16, "34" * 32, 9_000),
        "was minted on at entry 2",
    )
    op.put(r.body_work(ADDR["worker"], 90, REF))
    assert r.member(ADDR["worker"]).balance == 20_045
    checked = CommunityReplay(pledge_check=lambda e, r: "its issue entry is not in the campaign")
    checked.apply(op.entries[0])
    with pytest.raises(
        Violation, match="community entry 2 \\(pledge\\): its issue entry is not in the campaign"
    ):
        checked.apply(op.entries[1])


MALFORMED: list[tuple[Callable[[CommunityEntry], bytes], str]] = [
    (lambda e: b"FX\x01" + e.payload[3:], "does not start with FV 01"),
    (lambda e: e.payload[:20], "truncated"),
    (lambda e: e.payload.replace(b'"op":"deposit"', b'"op":"deposi7"'), "unknown op 'deposi7'"),
    (lambda e: e.payload.replace(b'"amount":100', b'"amount":1.0'), "only strings, integers"),
]


@pytest.mark.parametrize(("mangle", "reason"), MALFORMED)
def test_malformed_entries_are_named(
    mangle: Callable[[CommunityEntry], bytes], reason: str
) -> None:
    op = barbershop()
    entry = op.sign(op.replay.body_deposit(ADDR["customer"], 100, PAY))
    with pytest.raises(CommerceError, match=reason):
        decode_community_entry(mangle(entry))


def test_decoder_refuses_unknown_fields_non_canonical_bytes_and_wrong_signer() -> None:
    op = barbershop()
    body = op.replay.body_deposit(ADDR["customer"], 100, PAY)
    with pytest.raises(CommerceError, match="unknown field 'tip'"):
        sign_community_entry(4, T0, {**body, "tip": 1}, KEYS["operator"])
    with pytest.raises(CommerceError, match="field 'minted' missing"):
        sign_community_entry(
            4, T0, {k: v for k, v in body.items() if k != "minted"}, KEYS["operator"]
        )
    from farmtrace.chain.entry import COMMUNITY_PREFIX
    from farmtrace.chain.signed_entry import frame

    spaced = frame(COMMUNITY_PREFIX, 4, T0, "community.barbershop", b'{ "op": "work"}')
    with pytest.raises(CommerceError, match="not in canonical form"):
        decode_community_entry(spaced + bytes(64))
    import json

    data = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    wrong = frame(COMMUNITY_PREFIX, 4, T0, "community.other", data)
    with pytest.raises(CommerceError, match="its signer does not name its community"):
        decode_community_entry(wrong + bytes(64))
    st = op.transfer(KEYS["customer"], ADDR["barber"], 1)
    with pytest.raises(CommerceError, match="does not start with FW 01"):
        decode_transfer(base64.b64decode(base64.b64encode(b"FV" + st.payload[2:])))


def test_rules_parse_is_the_same_for_the_published_document() -> None:
    op = barbershop()
    published = op.entries[0].body["rules"]
    assert parse_rules(published).sha256 == op.entries[0].body["rules_sha256"]


def test_pledge_mints_are_checked_against_the_campaign_entries() -> None:
    from support.commerce import Farm

    from farmtrace.commerce.community.pledges import campaign_pledge_check

    farm = Farm()  # terms: 4500 CNY minor units per coupon
    farm.open()
    issue = farm.issue(KEYS["backer"], 2, pledge="12" * 16)
    other = farm.issue(KEYS["worker"], 1, pledge="34" * 16)
    op = Operator(KEYS["coop-operator"])
    r = CommunityReplay(pledge_check=campaign_pledge_check(farm.entries))
    op.replay = r
    op.put(r.body_rules(rules_doc("farm-coop")))
    gcn = farm.terms.campaign

    def pledge(**changes: Any) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "member": ADDR["backer"],
            "campaign": gcn,
            "pledge": "12" * 16,
            "issue_sha256": issue.state,
            "amount": 9_000,
        }
        fields.update(changes)
        return r.body_pledge(**fields)

    _refused(op, pledge(issue_sha256="ee" * 32), f"its issue entry {'ee' * 32} is not among")
    _refused(op, pledge(issue_sha256=other.state), "not the campaign's issue of that pledge")
    _refused(op, pledge(member=ADDR["worker"]), "were issued to")
    _refused(op, pledge(amount=9_001), "amount 9001 is not the pledge's 2 coupons at 4500 = 9000")
    op.put(pledge())
    assert r.member(ADDR["backer"]).balance == 9  # 10 % of 90 CNY at 1 CNY a share
