"""``farmtrace verify`` for campaign and coupon bundles (``docs/commerce.md``), offline, plain
Python only (``farmtrace.tlog`` and the reference rules :mod:`farmtrace.commerce.replay`; no
Rust, no network).

Checked, in order, stopping at the first failure with a :class:`BundleError` naming the item:

1. each chain's checkpoint, each block header in its chain log (as for a lot bundle:
   :mod:`farmtrace.api.services.bundle_proofs`);
2. each farm key in ``farm_keys`` is named by its own fingerprint (``farm.<16 hex>``);
3. each campaign entry (``entries``) decodes strictly and is signed by the farm key its frame
   names; each holder statement (``moves``) decodes strictly; each anchored item is in its
   block's batch tree at the stated place (pending items are counted, not proven);
4. :class:`~farmtrace.commerce.replay.CampaignReplay`, with the farm key of the ``open`` entry,
   replays the entries in order (``cseq`` 1..n, each naming the one before: no gap, no
   reordering) and the transfers, recounting the totals and the caps; the terms name the
   bundle's campaign;
5. a coupon bundle's coupon was issued, and its chain runs from its issue to its head through
   the statements the bundle holds.

A bundle proves what it holds: campaign entries 1..n and the transfers in it. An entry n+1 or a
later transfer may exist beyond them; a newer bundle would hold it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from farmtrace.api.services.bundle_proofs import (
    BundleError,
    Headers,
    b64_field,
    check_blocks,
    check_checkpoints,
    check_inclusion,
    get_field,
)
from farmtrace.commerce.entries import (
    CampaignEntry,
    HolderStatement,
    Totals,
    decode_campaign_entry,
    decode_statement,
    farm_signer,
    fingerprint,
    state_of,
    verify_signature,
)
from farmtrace.commerce.errors import CommerceError
from farmtrace.commerce.gcn import parse_coupon_id, validate_gcn
from farmtrace.commerce.replay import CampaignReplay, Violation
from farmtrace.tlog.note import Verifier
from farmtrace.tlog.policy import Policy

__all__ = [
    "CAMPAIGN_BUNDLE",
    "COMMERCE_FORMATS",
    "COUPON_BUNDLE",
    "CommerceSummary",
    "CouponFindings",
    "verify_commerce",
]

CAMPAIGN_BUNDLE = "farmtrace-campaign-bundle/v1"
COUPON_BUNDLE = "farmtrace-coupon-bundle/v1"
COMMERCE_FORMATS = (CAMPAIGN_BUNDLE, COUPON_BUNDLE)

ANCHORED = "anchored"
PENDING = "pending-anchoring"


@dataclass(frozen=True, slots=True)
class CouponFindings:
    """The named coupon of a coupon bundle, as the replay left it."""

    coupon: str
    status: str  # active, redeemed or void
    state: str
    holder: str  # address: 64 hex
    holder_fingerprint: str
    moves: int
    history: list[tuple[str, str, bool]]  # (kind, state after it, anchored)


@dataclass
class CommerceSummary:
    """What a campaign or coupon bundle was found to prove."""

    format: str
    campaign: str
    entries: int = 0  # campaign entries 1..entries
    anchored: int = 0  # items (entries and statements) proven on a chain
    pending: int = 0  # items signed but pending anchoring
    transfers: int = 0
    status: str = "none"
    head: str = ""
    totals: Totals = field(default_factory=Totals)
    cap: int = 0
    target: int = 0
    harvested: int | None = None
    covered: int | None = None
    shortfall: str | None = None
    coupon: CouponFindings | None = None

    def verdict(self) -> str:
        """One line for the end of ``farmtrace verify``."""
        t = self.totals
        text = (
            f"{'coupon' if self.coupon else 'campaign'} bundle verifies: campaign {self.campaign} "
            f"{self.status}, entries 1..{self.entries} ({self.anchored} items anchored, "
            f"{self.pending} pending), issued {t.issued}/{self.cap}, redeemed {t.redeemed}, "
            f"voided {t.voided}, outstanding {t.outstanding}"
        )
        if self.coupon is not None:
            c = self.coupon
            text += (
                f"; coupon {c.coupon} {c.status}, holder {c.holder_fingerprint}, state {c.state}"
            )
        return text


def verify_commerce(
    bundle: dict[str, Any],
    verifiers: list[Verifier],
    ok: Callable[[str], None],
    policy: Policy | None = None,
) -> CommerceSummary:
    """Check a parsed campaign or coupon bundle (its ``format`` one of
    :data:`COMMERCE_FORMATS`) against the verifier keys; raise :class:`BundleError`."""
    fmt = get_field(bundle, "format", str, "bundle")
    if fmt not in COMMERCE_FORMATS:
        raise BundleError(f"bundle format is {fmt!r}, expected one of {COMMERCE_FORMATS}")
    try:
        gcn = validate_gcn(bundle.get("campaign"))
    except CommerceError as exc:
        raise BundleError(f"bundle: field 'campaign': {exc}") from None
    coupon: str | None = None
    serial = 0
    if fmt == COUPON_BUNDLE:
        coupon = get_field(bundle, "coupon", str, "bundle")
        try:
            named_gcn, serial = parse_coupon_id(coupon)
        except CommerceError as exc:
            raise BundleError(f"bundle: field 'coupon': {exc}") from None
        if named_gcn != gcn:
            raise BundleError(f"bundle: coupon {coupon} is not of campaign {gcn}")
        ok(f"coupon bundle for coupon {coupon} of campaign {gcn}")
    else:
        ok(f"campaign bundle for campaign {gcn}")
    summary = CommerceSummary(fmt, gcn)
    checkpoints, trusted = check_checkpoints(bundle, verifiers, ok, policy)
    headers = check_blocks(bundle, checkpoints, trusted, ok)
    farm_keys = _farm_keys(bundle)
    entries = _campaign_entries(bundle, farm_keys, headers, summary)
    if not entries:
        raise BundleError("bundle: no campaign entries (the campaign's open entry is missing)")
    ok(
        f"{len(entries)} campaign entries: each signed by its farm key; {summary.anchored} in "
        f"their block's batch tree (RFC 9162 inclusion), {summary.pending} pending anchoring "
        "(signed, not yet proven on a chain)"
    )
    anchored_before = summary.anchored
    moves = _moves(bundle, headers, summary)
    ok(
        f"{len(moves)} holder transfers: each decodes; {summary.anchored - anchored_before} "
        f"anchored, {len(moves) - summary.anchored + anchored_before} pending anchoring "
        "(holder signatures are checked by the replay)"
    )
    replay = _replay(gcn, entries, moves, farm_keys)
    _summarize(summary, replay)
    ok(
        f"campaign entries 1..{summary.entries} replayed with no gap, each naming the one before "
        f"(head {summary.head}); the bundle proves what it holds: an entry "
        f"{summary.entries + 1} may exist beyond it"
    )
    ok(_caps_line(summary, replay))
    if coupon is not None:
        summary.coupon = _coupon(coupon, serial, replay, entries, moves)
        ok(_coupon_line(summary.coupon))
    return summary


def _farm_keys(bundle: dict[str, Any]) -> dict[str, bytes]:
    keys: dict[str, bytes] = {}
    for signer, value in get_field(bundle, "farm_keys", dict, "bundle").items():
        key = b64_field(value, f"farm key of {signer}")
        if len(key) != 32 or farm_signer(key) != signer:
            raise BundleError(
                f"farm key of {signer}: not the key that signer names (its fingerprint)"
            )
        keys[signer] = key
    return keys


def _proof_status(item: Any, what: str, payload: bytes, headers: Headers) -> bool:
    """Whether ``item`` is anchored (and then proven in its block) or pending."""
    status = get_field(item, "status", str, what)
    if status == PENDING:
        return False
    if status != ANCHORED:
        raise BundleError(f"{what}: unknown status {status!r}")
    check_inclusion(item, what, payload, headers)
    return True


def _campaign_entries(
    bundle: dict[str, Any],
    farm_keys: dict[str, bytes],
    headers: Headers,
    summary: CommerceSummary,
) -> list[tuple[CampaignEntry, bool]]:
    items = get_field(bundle, "entries", list, "bundle")
    decoded: list[tuple[str, CampaignEntry, Any]] = []
    # Signatures first: an altered entry then fails as itself, not as a neighbour whose
    # inclusion proof a rebuilt batch tree would also break.
    for i, item in enumerate(items):
        what = f"entries[{i}]"
        payload = b64_field(get_field(item, "entry", str, what), what)
        try:
            entry = decode_campaign_entry(payload)
        except CommerceError as exc:
            raise BundleError(f"{what}: campaign entry does not decode: {exc}") from None
        what = f"campaign entry {entry.cseq} ({entry.op}) at entries[{i}]"
        key = farm_keys.get(entry.signer)
        if key is None:
            raise BundleError(f"{what}: the bundle has no farm key for its signer {entry.signer}")
        if not verify_signature(key, entry.signed_bytes, entry.signature):
            raise BundleError(f"{what}: signature does not verify with the bundle's farm key")
        decoded.append((what, entry, item))
    found = []
    for what, entry, item in decoded:
        anchored = _proof_status(item, what, entry.payload, headers)
        _count(summary, anchored)
        found.append((entry, anchored))
    return found


def _moves(
    bundle: dict[str, Any], headers: Headers, summary: CommerceSummary
) -> list[tuple[HolderStatement, bool]]:
    items = bundle.get("moves", [])
    if not isinstance(items, list):
        raise BundleError("bundle: malformed field 'moves'")
    found = []
    for i, item in enumerate(items):
        what = f"moves[{i}]"
        payload = b64_field(get_field(item, "entry", str, what), what)
        try:
            statement = decode_statement(payload)
        except CommerceError as exc:
            raise BundleError(f"{what}: holder statement does not decode: {exc}") from None
        what = f"transfer of coupon {statement.coupon} move {statement.move} at moves[{i}]"
        anchored = _proof_status(item, what, payload, headers)
        _count(summary, anchored)
        found.append((statement, anchored))
    summary.transfers = len(found)
    return found


def _count(summary: CommerceSummary, anchored: bool) -> None:
    if anchored:
        summary.anchored += 1
    else:
        summary.pending += 1


def _replay(
    gcn: str,
    entries: list[tuple[CampaignEntry, bool]],
    moves: list[tuple[HolderStatement, bool]],
    farm_keys: dict[str, bytes],
) -> CampaignReplay:
    first = entries[0][0]
    if first.op != "open" or first.cseq != 1:
        raise BundleError(
            f"campaign entry {first.cseq} ({first.op}) at entries[0]: the bundle must start "
            "with campaign entry 1 (open)"
        )
    replay = CampaignReplay(farm_keys[first.signer])
    try:
        for statement, _ in moves:
            replay.add_transfer(statement)
        for entry, _ in entries:
            replay.apply(entry)
        replay.finish()
    except Violation as exc:
        raise BundleError(str(exc)) from None
    assert replay.terms is not None
    if replay.terms.campaign != gcn:
        raise BundleError(
            f"campaign entry 1 (open): opens campaign {replay.terms.campaign}, not {gcn}"
        )
    return replay


def _summarize(summary: CommerceSummary, replay: CampaignReplay) -> None:
    terms = replay.terms
    assert terms is not None
    summary.entries = replay.cseq
    summary.status = replay.status
    summary.head = replay.head
    summary.totals = replay.totals
    summary.cap = terms.cap
    summary.target = terms.target
    summary.harvested = replay.harvested
    summary.covered = replay.covered(terms)
    summary.shortfall = None if replay.shortfall is None else replay.shortfall.policy


def _caps_line(summary: CommerceSummary, replay: CampaignReplay) -> str:
    terms = replay.terms
    assert terms is not None
    t = summary.totals
    line = (
        f"caps recounted: issued {t.issued} of cap {terms.cap} (target {terms.target}), "
        f"redeemed {t.redeemed}, voided {t.voided}, outstanding {t.outstanding}; "
        f"campaign {summary.status}"
    )
    if summary.harvested is None:
        return line + "; no harvest recorded yet"
    line += (
        f"; harvested {summary.harvested} {terms.unit} covers {summary.covered} "
        f"coupon{'' if summary.covered == 1 else 's'} of "
        f"{terms.quantity} {terms.unit}, redeemed + outstanding = {t.redeemed + t.outstanding}"
    )
    if summary.shortfall is not None:
        line += f"; shortfall decided: {summary.shortfall}"
    return line


def _coupon(
    coupon: str,
    serial: int,
    replay: CampaignReplay,
    entries: list[tuple[CampaignEntry, bool]],
    moves: list[tuple[HolderStatement, bool]],
) -> CouponFindings:
    found = replay.coupons.get(serial)
    if found is None:
        raise BundleError(f"coupon {coupon}: the bundle holds no entry issuing it")
    anchored = {e.state: a for e, a in entries} | {s.state: a for s, a in moves}
    history = []
    state = ""
    for kind, payload in found.history:
        state = state_of(payload)
        history.append((kind, state, anchored.get(state, False)))
    if state != found.state:  # pragma: no cover - the replay keeps them equal
        raise BundleError(f"coupon {coupon}: its history does not end at its head")
    return CouponFindings(
        coupon,
        found.status,
        found.state,
        found.holder,
        fingerprint(bytes.fromhex(found.holder)),
        found.moves,
        history,
    )


def _coupon_line(c: CouponFindings) -> str:
    steps = ", ".join(f"{k} {s[:12]}… {'anchored' if a else 'pending'}" for k, s, a in c.history)
    # A redeemed or void coupon never moves again (the rules), so its bundle proves its end;
    # an active one's may be followed by a transfer newer than the bundle.
    tail = (
        "a later transfer may exist beyond what the bundle holds"
        if c.status == "active"
        else f"{c.status}, it never moves again"
    )
    return (
        f"coupon {c.coupon}: {c.status}, holder {c.holder_fingerprint}, state {c.state}, "
        f"{c.moves} holder moves; chain issue → head: {steps}; {tail}"
    )
