"""Value communities as the API runs them: validate, compute with the rules, sign, store.

The operator's records (a deposit, a service, work hours, a campaign pledge, a surplus
distribution, a new rules version) and members' signed transfers become community entries
(``FV 01``, ``docs/community.md``) signed with the community's operator key
(:class:`~farmtrace.store.community_keys.CommunityKeys`). Every body is built by the one rules
engine, :class:`~farmtrace.commerce.community.replay.CommunityReplay` (the mint computed from its
inputs, the parts of a distribution by the rounding rule), and the signed entry is applied to the
replay resumed from the community's stored head inside the store's write transaction
(:meth:`~farmtrace.store.communities.Communities.append`), so the API only ever stores a history
that ``farmtrace verify`` and ``farmtrace audit`` accept.

Resuming: the replay of a community's stored entries is kept after each write and taken by the
next one if the stored head is still the one it reached (else, another worker wrote: the
stored entries are replayed again inside the transaction, trusting the signatures checked when
they were written; the new entry's signatures are always checked).

Errors are :class:`~farmtrace.commerce.errors.CommerceError`: ``invalid`` (422: malformed
input, input the rules refuse, such as a negative deposit, an unknown rule kind, an allocation
that does not sum to the supply, a stated mint or distribution parts that differ from what the
rules give), ``not-found`` (404) and ``conflict`` (409: a transfer spending a state already
spent, or more than the sender holds, naming the current state). Nothing is written then.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from farmtrace.commerce.canonical import MAX_INT
from farmtrace.commerce.community.entries import (
    CommunityEntry,
    TransferStatement,
    community_signer,
    decode_community_entry,
    decode_transfer,
    sign_community_entry,
    statement_of,
)
from farmtrace.commerce.community.replay import CommunityReplay
from farmtrace.commerce.community.rules import (
    CommunityRules,
    parse_rules,
    validate_address,
    validate_community_id,
)
from farmtrace.commerce.entries import (
    b64decode_strict,
    decode_campaign_entry,
    fingerprint,
    state_of,
    verify_signature,
)
from farmtrace.commerce.errors import CommerceError, ErrorKind
from farmtrace.commerce.gcn import validate_gcn
from farmtrace.commerce.replay import Violation
from farmtrace.store.campaigns import Campaigns
from farmtrace.store.communities import (
    Communities,
    CommunityChange,
    CommunityHead,
    CommunityView,
    MemberChange,
    NewCommunity,
    RulesRecord,
    StoredCommunityEntry,
    TransferSpend,
)
from farmtrace.store.community_keys import CommunityKeys
from farmtrace.store.errors import KeyFileError, StateConflictError

__all__ = ["CommunityService", "Recorded", "replay_entries"]

MAX_REFERENCE = 200
FUTURE_SLACK_MS = 300_000
"""How far ahead of the server's clock a member's statement may be dated (clock skew)."""
_PLACEHOLDER_OPERATOR = Ed25519PrivateKey.from_private_bytes(bytes(32)).public_key()
# Reasons of a transfer the current state refuses (409); every other refusal is the input's.
_STATE_REFUSALS = ("double spend", "not the sender's spend state", "the balance is")


@dataclass(frozen=True, slots=True)
class Recorded:
    """A community entry the API signed and stored: its place, op, hash, the tokens it minted
    and the supply after it."""

    community: str
    n: int
    op: str
    hash: str
    time_ms: int
    minted: int
    supply: int
    holders: int
    body: dict[str, Any]


class _Verify:
    """The replay's signature check: trusting while stored entries (checked when written) are
    replayed, checking otherwise."""

    def __init__(self) -> None:
        self.trusting = False

    def __call__(self, public_key: bytes, signed: bytes, signature: bytes) -> bool:
        return self.trusting or verify_signature(public_key, signed, signature)


def replay_entries(
    operator_key: bytes, entries: list[StoredCommunityEntry], verify: bool = True
) -> CommunityReplay:
    """The replay of a community's stored entries, in order (signatures checked unless
    ``verify`` is false: the stored rows' own signatures were checked when written)."""
    check = _Verify()
    check.trusting = not verify
    replay = CommunityReplay(operator_key, verify=check)
    for stored in entries:
        replay.apply(decode_community_entry(stored.payload))
    check.trusting = False
    return replay


def _reference_sha256(value: object, field: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_REFERENCE:
        raise CommerceError(f"{field}: 1-{MAX_REFERENCE} characters")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise CommerceError(f"{field}: control characters are not allowed")
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _integer(value: object, field: str, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise CommerceError(f"{field}: expected an integer")
    if value < 0 and low >= 0:
        raise CommerceError(f"{field}: {value} is negative")
    if not low <= value <= MAX_INT:
        raise CommerceError(f"{field}: {value} is outside {low}..{MAX_INT}")
    return value


class CommunityService:
    """The value-community operations of one API process."""

    def __init__(
        self,
        communities: Communities,
        keys: CommunityKeys,
        campaigns: Campaigns | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.communities = communities
        self.keys = keys
        self.campaigns = campaigns
        self._clock = clock
        self._kept: dict[str, CommunityReplay] = {}
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    # -- reads --------------------------------------------------------------------------------

    def head(self, community: str) -> CommunityHead:
        validate_community_id(community)
        head = self.communities.get(community)
        if head is None:
            raise CommerceError(f"community {community} not found", "not-found")
        return head

    def replay(self, community: str) -> tuple[CommunityHead, CommunityReplay]:
        """The community's head and the replay of its stored entries (for reads)."""
        head = self.head(community)
        entries = self.communities.entries(head.id, with_anchors=False)
        return head, replay_entries(bytes.fromhex(head.operator_key), entries, verify=False)

    def rules_in_force(self, head: CommunityHead) -> CommunityRules:
        """The newest rules version stored for the community (what its head row says)."""
        versions = self.communities.rules(head.id)
        if not versions:
            raise CommerceError(f"community {head.community} has no rules stored", "not-found")
        return parse_rules(json.loads(versions[-1].document))

    def member(self, community: str, address: str) -> dict[str, Any]:
        """A member's view (balance, spend state, moves, history, distribution parts)."""
        validate_address(address, "address")
        _, replay = self.replay(community)
        if address not in replay.members:
            raise CommerceError(
                f"{fingerprint(bytes.fromhex(address))} is not a member of community {community}",
                "not-found",
            )
        return replay.member_view(address)

    # -- writes -------------------------------------------------------------------------------

    def create(self, document: object) -> CommunityHead:
        """Found a community from its rules document (version 1): entry 1 publishes it, signed
        with the community's operator key. A document without ``operator`` gets the key the API
        holds for the community; one naming another key is refused (422) with the remedy."""
        if not isinstance(document, dict):
            raise CommerceError("rules: expected a JSON object (farmtrace-community-rules/v1)")
        given = document.get("operator")
        # Validate before a key is made or recorded for an ID that may never be founded.
        probe = dict(document)
        if given is None:
            probe["operator"] = _PLACEHOLDER_OPERATOR.public_bytes_raw().hex()
        rules = parse_rules(probe)
        if rules.version != 1:
            raise CommerceError(
                f"rules: version {rules.version}: a community is founded with version 1; "
                f"publish later versions with POST /v1/communities/{rules.community}/rules"
            )
        if self.communities.get(rules.community) is not None:
            raise CommerceError(f"community {rules.community} exists already", "conflict")
        key = self._key(rules.community)
        public = key.public_key().public_bytes_raw()
        if given is None:
            document = {**document, "operator": public.hex()}
            rules = parse_rules(document)
        elif given != public.hex():
            raise CommerceError(
                f"operator: the rules name operator key {fingerprint(bytes.fromhex(given))}, "
                f"but this API signs community {rules.community} with "
                f"{fingerprint(public)} ({public.hex()}); name that key, leave operator out, "
                f"or place the operator's seed in the API's state directory as "
                f"community-keys/{rules.community}.key before founding"
            )
        now = max(self.now_ms(), 0)

        def build(n: int) -> CommunityChange:
            replay = CommunityReplay(public)
            entry = sign_community_entry(n, now, replay.body_rules(document), key)
            return self._judged(replay, entry, rules)

        created = self.communities.create(
            NewCommunity(
                rules.community, rules.token_name, community_signer(rules.community), public.hex()
            ),
            build,
        )
        if created is None:
            raise CommerceError(f"community {rules.community} exists already", "conflict")
        return created

    def _key(self, community: str) -> Ed25519PrivateKey:
        try:
            return self.keys.key(community)
        except KeyFileError as exc:
            raise CommerceError(f"operator key: {exc}", "conflict") from None

    def _judged(
        self, replay: CommunityReplay, entry: CommunityEntry, rules: CommunityRules | None = None
    ) -> CommunityChange:
        """Apply ``entry`` to ``replay`` (refusals as CommerceError) and say what it changes."""
        try:
            replay.apply(entry)
        except Violation as exc:
            kind: ErrorKind = (
                "conflict"
                if entry.op == "transfer" and any(r in exc.reason for r in _STATE_REFUSALS)
                else "invalid"
            )
            raise CommerceError(str(exc), kind) from None
        touched = _touched(entry)
        changes = []
        for address in sorted(touched):
            member = replay.member(address)
            delta = sum(line.delta for line in member.history if line.n == entry.n)
            changes.append(
                MemberChange(address, member.balance, member.spend_state, member.moves, delta)
            )
        record = None
        if entry.op == "rules":
            published = rules or parse_rules(entry.body["rules"])
            record = RulesRecord(
                published.version, published.canonical, published.sha256, entry.n + 1
            )
        transfer = None
        if entry.op == "transfer":
            statement = statement_of(entry)
            transfer = TransferSpend(
                statement.sender, statement.prev, statement.to, statement.amount
            )
        assert replay.rules is not None
        return CommunityChange(
            entry.op,
            entry.payload,
            entry.hash,
            entry.time_ms,
            replay.supply,
            replay.holders,
            replay.rules.version,
            tuple(changes),
            record,
            transfer,
        )

    def _append(
        self, community: str, make: Callable[[CommunityReplay], dict[str, Any]]
    ) -> Recorded:
        head0 = self.head(community)
        key = self._key(community)
        taken: list[CommunityReplay] = []

        def build(head: CommunityHead, n: int, view: CommunityView) -> CommunityChange:
            taken.clear()
            replay = self._resume(head, view)
            body = make(replay)
            now = max(self.now_ms(), replay.time_ms)
            entry = sign_community_entry(n, now, body, key)
            change = self._judged(replay, entry)
            taken.append(replay)
            return change

        try:
            result = self.communities.append(head0.community, build)
        except StateConflictError as exc:
            raise CommerceError(
                f"{exc}; the current spend state is {exc.current}"
                if exc.current is not None
                else str(exc),
                "conflict",
            ) from None
        if result is None:
            raise CommerceError(f"community {community} not found", "not-found")
        head, change = result
        with self._lock:
            self._kept[head.community] = taken[0]
        body = decode_community_entry(change.payload).body
        return Recorded(
            head.community,
            head.eseq,
            change.op,
            change.state,
            change.time_ms,
            int(body.get("minted", body.get("tokens", 0))),
            head.supply,
            head.members,
            body,
        )

    def _resume(self, head: CommunityHead, view: CommunityView) -> CommunityReplay:
        """The replay at the stored head: the one kept after the last write if it reached this
        very head, else the stored entries replayed inside this transaction."""
        with self._lock:
            kept = self._kept.pop(head.community, None)
        if kept is not None and kept.n == head.eseq and kept.head == head.head:
            return kept
        return replay_entries(bytes.fromhex(head.operator_key), view.entries(), verify=False)

    # -- the operator's records -----------------------------------------------------------

    def deposit(
        self,
        community: str,
        member: str,
        amount: object,
        payment_reference: object,
        minted: object = None,
    ) -> Recorded:
        """A member's deposit of ``amount`` minor units ("consumption mining"); the payment
        reference is kept only as its SHA-256."""
        validate_address(member, "member")
        amount = _integer(amount, "amount")
        reference = _reference_sha256(payment_reference, "payment_reference")

        def make(replay: CommunityReplay) -> dict[str, Any]:
            return _with_mint(replay.body_deposit(member, amount, reference), minted)

        return self._append(community, make)

    def service(
        self,
        community: str,
        member: str,
        revenue: object,
        cost: object,
        reference: object,
        minted: object = None,
    ) -> Recorded:
        """A service performed by ``member`` ("service mining"): revenue and, optionally, its
        cost (else the rules' margin assumption gives it)."""
        validate_address(member, "member")
        revenue = _integer(revenue, "revenue")
        cost_value = None if cost is None else _integer(cost, "cost", 0)
        ref = _reference_sha256(reference, "reference")

        def make(replay: CommunityReplay) -> dict[str, Any]:
            return _with_mint(replay.body_service(member, revenue, cost_value, ref), minted)

        return self._append(community, make)

    def work(
        self,
        community: str,
        member: str,
        minutes: object,
        reference: object,
        minted: object = None,
    ) -> Recorded:
        """Work hours of ``member``, in minutes."""
        validate_address(member, "member")
        minutes = _integer(minutes, "minutes")
        ref = _reference_sha256(reference, "reference")

        def make(replay: CommunityReplay) -> dict[str, Any]:
            return _with_mint(replay.body_work(member, minutes, ref), minted)

        return self._append(community, make)

    def pledge(
        self, community: str, campaign: str, pledge_id: str, minted: object = None
    ) -> Recorded:
        """A campaign's confirmed pledge: the backer (the pledge's holder) mints on the amount
        paid; the entry names the campaign, the pledge and the hash of its ``issue`` entry."""
        gcn = validate_gcn(campaign)
        if not isinstance(pledge_id, str) or len(pledge_id) != 32:
            raise CommerceError("pledge: expected the pledge's ID, 32 lowercase hex digits")
        if self.campaigns is None:
            raise CommerceError("pledge: this API runs no campaigns", "not-found")
        head = self.campaigns.get(gcn)
        if head is None:
            raise CommerceError(f"campaign {gcn} not found", "not-found")
        record = self.campaigns.pledge(head.id, pledge_id)
        if record is None:
            raise CommerceError(f"pledge {pledge_id} of campaign {gcn} not found", "not-found")
        issue = None
        for stored in self.campaigns.entries(head.id, with_anchors=False):
            if (
                stored.op == "issue"
                and decode_campaign_entry(stored.payload).body["pledge"] == pledge_id
            ):
                issue = stored
        if record.first_serial is None or issue is None:
            raise CommerceError(
                f"pledge {pledge_id} is {record.status}: only a confirmed pledge (coupons "
                "issued) mints",
                "conflict",
            )
        issue_sha256 = state_of(issue.payload)

        def make(replay: CommunityReplay) -> dict[str, Any]:
            body = replay.body_pledge(record.holder, gcn, pledge_id, issue_sha256, record.amount)
            return _with_mint(body, minted)

        return self._append(community, make)

    def distribute(
        self,
        community: str,
        from_ms: object,
        until_ms: object,
        surplus: object,
        parts: object = None,
    ) -> Recorded:
        """Share a period's surplus among the holders pro rata (the rules in force say whether
        as a dividend in money or as tokens minted); stated ``parts`` must be the rule's."""
        start = _integer(from_ms, "period.from_ms", 0)
        end = _integer(until_ms, "period.until_ms", 0)
        money = _integer(surplus, "surplus")
        stated = _parts(parts)

        def make(replay: CommunityReplay) -> dict[str, Any]:
            try:
                body = replay.body_distribution(start, end, money)
            except CommerceError as exc:
                raise CommerceError(f"distribution: {exc}", exc.kind) from None
            if stated is not None:
                body["parts"] = stated
            return body

        return self._append(community, make)

    def publish_rules(self, community: str, document: object) -> Recorded:
        """A new rules version, in force for every entry after this one (never backwards)."""
        if not isinstance(document, dict):
            raise CommerceError("rules: expected a JSON object (farmtrace-community-rules/v1)")
        head = self.head(community)
        given = document.get("operator", head.operator_key)
        if given != head.operator_key:
            raise CommerceError(
                "operator: a new operator key is not supported by this API: it signs with "
                f"{head.operator_key}; name that key or leave operator out"
            )
        document = {**document, "operator": head.operator_key}

        def make(replay: CommunityReplay) -> dict[str, Any]:
            return replay.body_rules(document)

        return self._append(community, make)

    # -- members' transfers ---------------------------------------------------------------

    def transfer(self, community: str, encoded: object) -> Recorded:
        """Record a member's signed transfer statement (``FW 01``, base64) in a ``transfer``
        entry. A second statement spending one state is refused (409, naming the current
        spend state), as is one spending more than the sender holds."""
        if not isinstance(encoded, str):
            raise CommerceError("statement: expected base64 text")
        try:
            statement = decode_transfer(b64decode_strict(encoded, "statement"))
        except CommerceError as exc:
            message = str(exc)
            if not message.startswith("statement"):
                message = f"statement: {message}"
            raise CommerceError(message) from None
        if statement.community != community:
            raise CommerceError(
                f"statement: names community {statement.community}, not {community}"
            )
        if statement.time_ms > self.now_ms() + FUTURE_SLACK_MS:
            raise CommerceError("statement: dated in the future")
        # Checked first, so a forged statement is told apart from a stale one (422, not 409).
        if not verify_signature(
            bytes.fromhex(statement.sender), statement.signed_bytes, statement.signature
        ):
            raise CommerceError("statement: not signed by the key it sends from")

        def make(replay: CommunityReplay) -> dict[str, Any]:
            _check_spend(replay, statement)
            return replay.body_transfer(statement)

        return self._append(community, make)


def _with_mint(body: dict[str, Any], minted: object) -> dict[str, Any]:
    """A mint the caller states replaces the rules' in the body, so the rules judge it (and
    name the difference) instead of it being silently recomputed."""
    if minted is None:
        return body
    stated = _integer(minted, "minted", 0)
    return {**body, "minted": stated, "supply": body["supply"] - body["minted"] + stated}


def _parts(value: object) -> list[list[Any]] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise CommerceError("parts: expected a list of [address, amount]")
    parts: list[list[Any]] = []
    for i, item in enumerate(value):
        if (
            not isinstance(item, list)
            or len(item) != 2
            or not isinstance(item[0], str)
            or isinstance(item[1], bool)
            or not isinstance(item[1], int)
        ):
            raise CommerceError(f"parts[{i}]: expected [address, amount]")
        validate_address(item[0], f"parts[{i}]")
        parts.append([item[0], _integer(item[1], f"parts[{i}] amount", 0)])
    return parts


def _check_spend(replay: CommunityReplay, statement: TransferStatement) -> None:
    """The current state's refusals of a transfer, with the sender's current spend state named
    (409), before the entry is signed."""
    sender = replay.member(statement.sender)
    who = fingerprint(bytes.fromhex(statement.sender))
    if statement.prev != sender.spend_state:
        raise CommerceError(
            f"member {who}: state {statement.prev} was already spent; the current spend "
            f"state is {sender.spend_state} after {sender.moves} transfers",
            "conflict",
        )
    if statement.move != sender.moves + 1:
        raise CommerceError(
            f"statement: is move {statement.move}, but member {who}'s next move is "
            f"{sender.moves + 1}"
        )
    if statement.amount > sender.balance:
        raise CommerceError(
            f"member {who}: spends {statement.amount} tokens but the balance is {sender.balance}",
            "conflict",
        )


def _touched(entry: CommunityEntry) -> set[str]:
    """The members whose balance or spend state the entry may change."""
    body = entry.body
    if entry.op == "rules":
        initial = body["rules"].get("initial")
        return set(initial["allocation"]) if isinstance(initial, dict) else set()
    if entry.op == "transfer":
        statement = statement_of(entry)
        return {statement.sender, statement.to}
    if entry.op == "distribution":
        return {part[0] for part in body["parts"]} if "tokens" in body else set()
    return {body["member"]}
