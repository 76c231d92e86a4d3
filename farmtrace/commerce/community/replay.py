"""The one rules engine of value communities: replay entries, name the first violation.

``CommunityReplay`` decides what a valid community history is (``docs/community.md``, section
4). The API builds each entry's body with it (:meth:`CommunityReplay.body_deposit` and the like)
and refuses one that :meth:`~CommunityReplay.apply` refuses; ``farmtrace audit`` replays the
database with it; ``farmtrace verify`` replays a member's statement bundle with it; the browser's
verifier is held to it by the vectors. In short:

* entries come in order 1, 2, 3..., each naming the previous one's hash, signed by the operator
  key of the rules version in force, with times that never go back;
* entry 1 publishes rules version 1, whose initial allocation is the first supply; later
  ``rules`` entries publish version + 1, in force from the next entry on;
* every mint states its inputs and the tokens minted, which must equal the rules' computation
  (:mod:`farmtrace.commerce.community.mint`) under the version in force;
* a transfer carries its sender's signed statement, which spends the sender's spend state once
  and no more tokens than the sender holds;
* a distribution's parts are exactly the largest-remainder shares of its total among the holders;
* every entry states the supply after it, which must equal the recount, which is the sum of all
  balances.

:meth:`~CommunityReplay.apply` is atomic: an entry it refuses changes nothing, so a caller can
try an entry before recording it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from farmtrace.commerce.canonical import MAX_INT
from farmtrace.commerce.community.entries import (
    GENESIS,
    CommunityEntry,
    TransferStatement,
    encode_statement,
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
from farmtrace.commerce.community.rules import CommunityRules, parse_rules, validate_address
from farmtrace.commerce.entries import fingerprint, verify_signature
from farmtrace.commerce.errors import CommerceError
from farmtrace.commerce.replay import SignatureCheck, Violation

__all__ = [
    "CommunityReplay",
    "Distribution",
    "HistoryLine",
    "MemberState",
    "PledgeCheck",
    "Violation",
]

PledgeCheck = Callable[[CommunityEntry, CommunityRules], str | None]
"""Given a ``pledge`` entry and the rules in force, why its campaign pledge does not back it
(``None`` if it does): a verifier holding the campaign's entries checks the issue entry's hash,
holder and amount (:func:`farmtrace.commerce.community.pledges.campaign_pledge_check`)."""

MINT_OPS = ("deposit", "service", "work", "pledge")


@dataclass(frozen=True, slots=True)
class HistoryLine:
    """One change of a member's balance: entry ``n``, the op, the tokens gained (or lost, < 0),
    and what it came from (``detail``: the inputs, the counterparty, the distribution)."""

    n: int
    time_ms: int
    op: str
    delta: int
    detail: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "time_ms": self.time_ms,
            "op": self.op,
            "delta": self.delta,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class Distribution:
    """A distribution as replayed: its total (money for a dividend, tokens when reinvested) and
    each holder's part."""

    n: int
    time_ms: int
    kind: str  # dividend or reinvest
    version: int
    from_ms: int
    until_ms: int
    surplus: int  # money, minor units
    total: int  # what the parts sum to: the surplus, or the tokens it buys
    parts: dict[str, int]  # address -> part, ascending address order


@dataclass
class MemberState:
    """One member as the replay sees it."""

    balance: int = 0
    spend_state: str = GENESIS  # the hash of their last transfer statement
    moves: int = 0  # transfers they sent
    history: list[HistoryLine] = field(default_factory=list)
    spent: set[str] = field(default_factory=set)  # spend states already spent


@dataclass
class _Effect:
    """What an entry changes, computed in full before anything changes."""

    changes: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    minted: int = 0
    rules: CommunityRules | None = None
    spend: TransferStatement | None = None
    distribution: Distribution | None = None
    pledge: str | None = None


class CommunityReplay:
    """Feed community entries in order (:meth:`apply`); every refusal is a :class:`Violation`
    naming the entry (``community entry <n> (<op>)``) and the rule it broke.

    ``operator_key``: the version 1 operator key as the verifier knows it (a bundle's
    ``operator_key``, an audit's key history); ``None`` trusts the key entry 1's rules name.
    ``verify`` checks signatures; ``pledge_check`` optionally checks pledge inputs against the
    campaign they name."""

    def __init__(
        self,
        operator_key: bytes | None = None,
        verify: SignatureCheck = verify_signature,
        pledge_check: PledgeCheck | None = None,
    ) -> None:
        self.expected_key = operator_key
        self._verify = verify
        self._pledge_check = pledge_check
        self.community: str | None = None
        self.n = 0
        self.head = GENESIS
        self.time_ms = 0
        self.rules: CommunityRules | None = None
        self.versions: list[tuple[int, CommunityRules]] = []  # (entry n, rules) in order
        self.supply = 0
        self.members: dict[str, MemberState] = {}
        self.distributions: list[Distribution] = []
        self.supply_history: list[tuple[int, int, int]] = []  # (n, time_ms, supply after)
        self.pledges: dict[str, int] = {}  # pledge ID -> the entry that minted on it
        self.last_until_ms = 0
        self.balance_total = 0  # the sum of all balances, kept by the changes themselves

    # -- reading the state ------------------------------------------------------------------

    def member(self, address: str) -> MemberState:
        """A member's state (a fresh empty one for an address never seen)."""
        return self.members.get(address) or MemberState()

    def balances(self) -> dict[str, int]:
        """Every member's balance (zero balances included)."""
        return {a: m.balance for a, m in self.members.items()}

    @property
    def holders(self) -> int:
        """How many members hold tokens now."""
        return sum(1 for m in self.members.values() if m.balance > 0)

    def member_view(self, address: str) -> dict[str, Any]:
        """What a member's statement shows: balance, spend state, moves, history, parts."""
        m = self.member(address)
        return {
            "member": address,
            "fingerprint": fingerprint(bytes.fromhex(address)),
            "balance": m.balance,
            "spend_state": m.spend_state,
            "moves": m.moves,
            "history": [line.to_json() for line in m.history],
            "distributions": [
                {
                    "n": d.n,
                    "kind": d.kind,
                    "total": d.total,
                    "part": d.parts[address],
                }
                for d in self.distributions
                if address in d.parts
            ],
        }

    # -- building bodies (the operator's side) --------------------------------------------

    def _in_force(self) -> CommunityRules:
        if self.rules is None:
            raise CommerceError("the community has no rules yet: publish version 1 first")
        return self.rules

    def _common(self, op: str, supply: int) -> dict[str, Any]:
        community = self.community
        if community is None:
            raise CommerceError("the community has no rules yet: publish version 1 first")
        return {"community": community, "prev": self.head, "op": op, "supply": supply}

    def body_rules(self, document: dict[str, Any]) -> dict[str, Any]:
        """The body of the ``rules`` entry that publishes ``document`` as the next version."""
        rules = parse_rules(document)
        if self.rules is None and rules.version != 1:
            raise CommerceError(f"rules: a community starts at version 1, not {rules.version}")
        community = self.community or rules.community
        supply = rules.initial_supply if self.rules is None else self.supply
        return {
            "community": community,
            "prev": self.head,
            "op": "rules",
            "supply": supply,
            "rules": document,
            "rules_sha256": rules.sha256,
        }

    def _grow(self, tokens: int) -> int:
        """The supply after minting ``tokens``, refused past what an entry can state."""
        if self.supply + tokens > MAX_INT:
            raise CommerceError("the supply would exceed 2**53-1", "conflict")
        return self.supply + tokens

    def _mint_body(self, op: str, member: str, minted: int, **inputs: Any) -> dict[str, Any]:
        validate_address(member, f"{op}: member")
        self._grow(minted)
        body = self._common(op, self.supply + minted)
        body.update(version=self._in_force().version, member=member, minted=minted, **inputs)
        return body

    def body_deposit(self, member: str, amount: int, payment_sha256: str) -> dict[str, Any]:
        minted = deposit_mint(self._in_force(), amount)
        return self._mint_body(
            "deposit", member, minted, amount=amount, payment_sha256=payment_sha256
        )

    def body_service(
        self, member: str, revenue: int, cost: int | None, ref_sha256: str
    ) -> dict[str, Any]:
        minted = service_mint(self._in_force(), revenue, cost)
        inputs: dict[str, Any] = {"revenue": revenue, "ref_sha256": ref_sha256}
        if cost is not None:
            inputs["cost"] = cost
        return self._mint_body("service", member, minted, **inputs)

    def body_work(self, member: str, minutes: int, ref_sha256: str) -> dict[str, Any]:
        minted = work_mint(self._in_force(), minutes)
        return self._mint_body("work", member, minted, minutes=minutes, ref_sha256=ref_sha256)

    def body_pledge(
        self, member: str, campaign: str, pledge: str, issue_sha256: str, amount: int
    ) -> dict[str, Any]:
        minted = pledge_mint(self._in_force(), amount)
        return self._mint_body(
            "pledge",
            member,
            minted,
            campaign=campaign,
            pledge=pledge,
            issue_sha256=issue_sha256,
            amount=amount,
        )

    def body_transfer(self, statement: TransferStatement) -> dict[str, Any]:
        body = self._common("transfer", self.supply)
        body["statement"] = encode_statement(statement)
        return body

    def body_distribution(self, from_ms: int, until_ms: int, surplus: int) -> dict[str, Any]:
        rules = self._in_force()
        body = self._common("distribution", self.supply)
        total = surplus
        if rules.surplus == "reinvest":
            total = reinvest_tokens(rules, surplus)
            body["tokens"] = total
            body["supply"] = self._grow(total)
        parts = pro_rata(total, self.balances())
        body.update(
            version=rules.version,
            period={"from_ms": from_ms, "until_ms": until_ms},
            surplus=surplus,
            parts=[[a, p] for a, p in parts.items()],
        )
        return body

    # -- the rules ------------------------------------------------------------------------

    def apply(self, entry: CommunityEntry) -> None:
        """Check ``entry`` against every rule and, only if it passes, apply it."""
        name = f"community entry {entry.n} ({entry.op})"
        try:
            effect = self._check(entry)
        except Violation:
            raise
        except CommerceError as error:
            raise Violation(name, str(error)) from None
        self._commit(entry, effect)

    def _check(self, entry: CommunityEntry) -> _Effect:
        if self.community is not None and entry.community != self.community:
            raise CommerceError(
                f"names community {entry.community!r}, not this community {self.community!r}"
            )
        if entry.n != self.n + 1:
            if self.n == 0:
                raise CommerceError("the first entry must be entry 1")
            raise CommerceError(f"is not the next entry ({self.n + 1})")
        if entry.prev != self.head:
            raise CommerceError("prev does not name the previous entry's hash")
        new_rules: CommunityRules | None = None
        if self.rules is None:
            if entry.op != "rules":
                raise CommerceError("the first entry must publish the rules (version 1)")
            new_rules = self._parse_published(entry)
            key = bytes.fromhex(new_rules.operator)
            if self.expected_key is not None and key != self.expected_key:
                raise CommerceError(
                    f"its rules name operator key {fingerprint(key)}, not the operator key "
                    f"{fingerprint(self.expected_key)} the verifier was given"
                )
            version = 1
        else:
            key = bytes.fromhex(self.rules.operator)
            version = self.rules.version
        if not self._verify(key, entry.signed_bytes, entry.signature):
            raise CommerceError(
                f"signature does not verify with the operator key of version {version}"
            )
        if entry.time_ms < self.time_ms:
            raise CommerceError("time goes back before the previous entry's")
        if entry.op == "rules":
            effect = _Effect(rules=new_rules or self._parse_published(entry))
            if new_rules is not None:
                for address, amount in sorted(new_rules.allocation.items()):
                    effect.changes.append((address, amount, {"version": 1}))
                effect.minted = new_rules.initial_supply or 0
        elif entry.op in MINT_OPS:
            effect = self._mint(entry)
        elif entry.op == "transfer":
            effect = self._transfer(entry)
        else:
            effect = self._distribution(entry)
        recount = self.supply + effect.minted
        if recount > MAX_INT:
            raise CommerceError("the supply would exceed 2**53-1")
        if entry.supply != recount:
            raise CommerceError(f"states supply {entry.supply} but the recount gives {recount}")
        return effect

    def _parse_published(self, entry: CommunityEntry) -> CommunityRules:
        body = entry.body
        rules = parse_rules(body["rules"])
        if body["rules_sha256"] != rules.sha256:
            raise CommerceError("rules_sha256 is not the SHA-256 of the rules' canonical JSON")
        if rules.community != entry.community:
            raise CommerceError(
                f"the rules name community {rules.community!r}, not {entry.community!r}"
            )
        expected = 1 if self.rules is None else self.rules.version + 1
        if rules.version != expected:
            raise CommerceError(f"publishes version {rules.version}, not version {expected}")
        return rules

    def _version(self, entry: CommunityEntry) -> CommunityRules:
        rules = self._in_force()
        if entry.body["version"] != rules.version:
            raise CommerceError(
                f"computed under version {entry.body['version']}, but version "
                f"{rules.version} is in force"
            )
        return rules

    def _mint(self, entry: CommunityEntry) -> _Effect:
        rules = self._version(entry)
        body = entry.body
        op = entry.op
        effect = _Effect()
        if op == "deposit":
            computed = deposit_mint(rules, body["amount"])
            detail = {"amount": body["amount"], "currency": rules.currency}
        elif op == "service":
            computed = service_mint(rules, body["revenue"], body.get("cost"))
            detail = {"revenue": body["revenue"], "currency": rules.currency}
            if "cost" in body:
                detail["cost"] = body["cost"]
        elif op == "work":
            computed = work_mint(rules, body["minutes"])
            detail = {"minutes": body["minutes"]}
        else:
            computed = pledge_mint(rules, body["amount"])
            earlier = self.pledges.get(body["pledge"])
            if earlier is not None:
                raise CommerceError(f"pledge {body['pledge']} was minted on at entry {earlier}")
            if self._pledge_check is not None:
                problem = self._pledge_check(entry, rules)
                if problem is not None:
                    raise CommerceError(problem)
            effect.pledge = body["pledge"]
            detail = {
                "campaign": body["campaign"],
                "pledge": body["pledge"],
                "amount": body["amount"],
                "currency": rules.currency,
            }
        if body["minted"] != computed:
            raise CommerceError(f"mints {body['minted']} tokens but the rules give {computed}")
        member = body["member"]
        if self.member(member).balance + computed > MAX_INT:
            raise CommerceError("the member's balance would exceed 2**53-1")
        detail["version"] = rules.version
        effect.changes.append((member, computed, detail))
        effect.minted = computed
        return effect

    def _transfer(self, entry: CommunityEntry) -> _Effect:
        try:
            statement = statement_of(entry)
        except CommerceError as error:
            raise CommerceError(f"statement does not decode: {error}") from None
        if statement.community != entry.community:
            raise CommerceError(
                f"the statement names community {statement.community!r}, not {entry.community!r}"
            )
        if statement.to == statement.sender:
            raise CommerceError("the statement sends to its own address")
        if statement.amount < 1:
            raise CommerceError(f"the statement's amount {statement.amount} is below 1")
        sender = self.member(statement.sender)
        if statement.prev != sender.spend_state:
            if statement.prev in sender.spent:
                raise CommerceError(
                    f"double spend: a second statement spends state {statement.prev}"
                )
            raise CommerceError(
                f"the statement spends state {statement.prev}, not the sender's spend state "
                f"{sender.spend_state}"
            )
        if statement.move != sender.moves + 1:
            raise CommerceError(
                f"the statement is move {statement.move}, not the sender's next move "
                f"{sender.moves + 1}"
            )
        if not self._verify(
            bytes.fromhex(statement.sender), statement.signed_bytes, statement.signature
        ):
            raise CommerceError("the statement's signature does not verify with its sender's key")
        if statement.amount > sender.balance:
            raise CommerceError(
                f"spends {statement.amount} tokens but the balance is {sender.balance}"
            )
        if self.member(statement.to).balance + statement.amount > MAX_INT:
            raise CommerceError("the receiver's balance would exceed 2**53-1")
        return _Effect(
            changes=[
                (statement.sender, -statement.amount, {"to": statement.to}),
                (statement.to, statement.amount, {"from": statement.sender}),
            ],
            spend=statement,
        )

    def _distribution(self, entry: CommunityEntry) -> _Effect:
        rules = self._version(entry)
        body = entry.body
        surplus = body["surplus"]
        if rules.surplus == "reinvest":
            if "tokens" not in body:
                raise CommerceError("a reinvest distribution must state the tokens it mints")
            total = reinvest_tokens(rules, surplus)
            if body["tokens"] != total:
                raise CommerceError(
                    f"states tokens {body['tokens']} but the surplus buys {total} at the "
                    "reference price"
                )
            what = "tokens"
        else:
            if "tokens" in body:
                raise CommerceError("a dividend distribution may not state tokens")
            reinvest_tokens(rules, surplus)  # the surplus's range check
            total = surplus
            what = "surplus"
        period = body["period"]
        if not 0 <= period["from_ms"] < period["until_ms"]:
            raise CommerceError("the period must start before it ends")
        if period["until_ms"] > entry.time_ms:
            raise CommerceError("the period ends after the entry's time")
        if period["from_ms"] < self.last_until_ms:
            raise CommerceError(
                f"the period starts before the previous distribution's ended ({self.last_until_ms})"
            )
        holders = sorted(a for a, m in self.members.items() if m.balance > 0)
        listed = [item[0] for item in body["parts"]]
        if listed != holders:
            raise CommerceError(
                f"parts must list the {len(holders)} holders in ascending address order, "
                "each once and nobody else"
            )
        stated = {item[0]: item[1] for item in body["parts"]}
        paid = sum(stated.values())
        if paid != total:
            raise CommerceError(f"parts sum to {paid}, not the {what} {total}")
        rule = pro_rata(total, self.balances())
        for address in holders:
            if stated[address] != rule[address]:
                raise CommerceError(
                    f"part of {fingerprint(bytes.fromhex(address))} is {stated[address]}, "
                    f"the rule gives {rule[address]}"
                )
        distribution = Distribution(
            n=entry.n,
            time_ms=entry.time_ms,
            kind=rules.surplus,
            version=rules.version,
            from_ms=period["from_ms"],
            until_ms=period["until_ms"],
            surplus=surplus,
            total=total,
            parts=rule,
        )
        effect = _Effect(distribution=distribution)
        if rules.surplus == "reinvest":
            effect.minted = total
            for address in holders:
                effect.changes.append(
                    (address, rule[address], {"distribution": entry.n, "surplus": surplus})
                )
        return effect

    def _commit(self, entry: CommunityEntry, effect: _Effect) -> None:
        if self.community is None:
            self.community = entry.community
        if effect.rules is not None:
            self.rules = effect.rules
            self.versions.append((entry.n, effect.rules))
        for address, delta, detail in effect.changes:
            member = self.members.setdefault(address, MemberState())
            member.balance += delta
            self.balance_total += delta
            member.history.append(HistoryLine(entry.n, entry.time_ms, entry.op, delta, detail))
        if effect.spend is not None:
            sender = self.members[effect.spend.sender]
            sender.spent.add(sender.spend_state)
            sender.spend_state = effect.spend.hash
            sender.moves += 1
        if effect.distribution is not None:
            self.distributions.append(effect.distribution)
            self.last_until_ms = effect.distribution.until_ms
        if effect.pledge is not None:
            self.pledges[effect.pledge] = entry.n
        self.supply += effect.minted
        self.n = entry.n
        self.head = entry.hash
        self.time_ms = entry.time_ms
        self.supply_history.append((entry.n, entry.time_ms, self.supply))
        if self.balance_total != self.supply:  # an invariant of the rules; checked all the same
            raise Violation(
                f"community entry {entry.n} ({entry.op})",
                f"the supply {self.supply} is not the sum of the balances {self.balance_total}",
            )
