"""``farmtrace verify BUNDLE --key VKEY``: check a lot bundle offline with the plain-Python
reference only (``farmtrace.tlog``, ``farmtrace.wire.protocol``, the event encoding; no Rust, no
network). Campaign and coupon bundles (``docs/commerce.md``) are told apart by their
``format`` and checked by :mod:`farmtrace.api.services.verify_commerce`; a member's community
statement (``docs/community.md``) by :mod:`farmtrace.api.services.verify_community`.

Checked, in order (``docs/bundle.md``): each chain's checkpoint is signed by one of the given
keys, or by a key that a chain of key hand-overs leads to from one of them (``key_handovers``,
``docs/chain.md``); each block header parses, belongs to its chain and is in that checkpoint's chain log
(C2SP tlog-proof against the same checkpoint); each reading decodes, is signed by its device's
key, and its entry is in its block's batch tree at the stated position; the readings form the
complete series of every stage and device (``series_rule``: consecutive seqs between readings
signed before and after the window, gaps declared with their cause); each event decodes, is
signed by the API's event key, and, when anchored, is proven like a reading; so is each
excursion acknowledgement (``farmtrace/api/services/coldchain/ack.py``); and each version of the
lot's declaration (``farmtrace/api/services/lots/declaration.py``) is signed by the event key and
anchored or pending like an event, the versions form an unbroken chain 1..n, and every fact of
the bundle's ``lot`` equals the newest version's. The first failure stops the check with a
:class:`BundleError` naming the item (for the lot's facts: the field).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from farmtrace.api.services.bundle_proofs import BundleError
from farmtrace.api.services.bundle_proofs import b64_field as _b64
from farmtrace.api.services.bundle_proofs import check_blocks as _blocks
from farmtrace.api.services.bundle_proofs import check_checkpoints as _checkpoints
from farmtrace.api.services.bundle_proofs import check_inclusion as _inclusion
from farmtrace.api.services.bundle_proofs import get_field as _get
from farmtrace.api.services.coldchain.ack import open_ack
from farmtrace.api.services.coldchain.errors import ColdChainError
from farmtrace.api.services.lots.declaration import (
    DeclarationEntry,
    DeclarationError,
    chain_problem,
    first_difference,
)
from farmtrace.api.services.lots.declaration import decode as decode_declaration
from farmtrace.api.services.lots.declaration import verify as verify_declaration
from farmtrace.api.services.lots.event_entry import EventEntryError, signer_id
from farmtrace.api.services.lots.event_entry import decode as decode_event
from farmtrace.api.services.lots.event_entry import verify as verify_event
from farmtrace.api.services.series_rule import BundleReading, Gap, SeriesError, check_series
from farmtrace.api.services.verify_commerce import (
    COMMERCE_FORMATS,
    CommerceSummary,
    verify_commerce,
)
from farmtrace.api.services.verify_community import (
    COMMUNITY_STATEMENT,
    StatementSummary,
    verify_statement,
)
from farmtrace.chain.block import BlockHeader
from farmtrace.tlog.errors import TlogError
from farmtrace.tlog.note import Verifier
from farmtrace.tlog.policy import Policy
from farmtrace.wire.protocol import ProtocolError
from farmtrace.wire.protocol import decode as decode_reading
from farmtrace.wire.protocol import verify as verify_reading

__all__ = ["BundleError", "Report", "verify_bundle"]

FORMAT = "farmtrace-bundle/v2"
# Bundles of format v1 (before lot declarations and complete series) prove less than this
# verifier checks; they are refused with a remedy rather than passed on weaker rules.
_OLDER_FORMATS = {"farmtrace-bundle/v1": "it proves neither the lot's facts nor complete series"}


@dataclass
class Report:
    """What was checked (for printing), filled as the check proceeds."""

    lines: list[str] = field(default_factory=list)
    readings: int = 0
    events: int = 0
    pending: int = 0
    lot_readings: int = 0
    gaps: list[Gap] = field(default_factory=list)
    declarations: int = 0
    declarations_pending: int = 0
    commerce: CommerceSummary | None = None  # a campaign or coupon bundle's findings
    community: StatementSummary | None = None  # a community statement's findings


def verify_bundle(
    data: bytes,
    vkeys: list[str],
    say: Callable[[str], None] = print,
    policy: Policy | None = None,
) -> Report:
    """Check a bundle's bytes against the verifier keys; raise :class:`BundleError`.

    With a C2SP tlog-policy (``farmtrace verify --policy``) its log keys are trusted too, and
    each chain's checkpoint must carry the witness cosignatures its quorum asks for
    (docs/witness.md)."""
    report = Report()

    def ok(line: str) -> None:
        report.lines.append(line)
        say("ok    " + line)

    try:
        verifiers = [Verifier.from_vkey(k) for k in vkeys]
    except TlogError as exc:
        raise BundleError(f"verifier key: {exc}") from None
    if policy is not None:
        verifiers += [v for v in policy.logs if all(v.vkey != k.vkey for k in verifiers)]
    try:
        bundle = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BundleError(f"bundle is not JSON: {exc}") from None
    fmt = _get(bundle, "format", str, "bundle")
    if fmt in _OLDER_FORMATS:
        raise BundleError(
            f"bundle format is {fmt!r}, expected {FORMAT!r}: {_OLDER_FORMATS[fmt]};"
            " download the lot's bundle again"
        )
    if fmt in COMMERCE_FORMATS:
        report.commerce = verify_commerce(bundle, verifiers, ok, policy)
        report.pending = report.commerce.pending
        return report
    if fmt == COMMUNITY_STATEMENT:
        report.community = verify_statement(bundle, verifiers, ok, policy)
        report.pending = report.community.pending
        return report
    if fmt != FORMAT:
        raise BundleError(f"bundle format is {fmt!r}, expected {FORMAT!r}")
    lot = _get(bundle, "lot", dict, "bundle")
    ok(f"bundle for lot {lot.get('lot')!r} of GTIN {lot.get('gtin')}")
    checkpoints, trusted = _checkpoints(bundle, verifiers, ok, policy)
    headers = _blocks(bundle, checkpoints, trusted, ok)
    device_keys = {
        d: _b64(k, f"device key of {d}")
        for d, k in _get(bundle, "device_keys", dict, "bundle").items()
    }
    event_keys = {
        s: _b64(k, f"event key of {s}")
        for s, k in _get(bundle, "event_keys", dict, "bundle").items()
    }
    readings = _get(bundle, "readings", list, "bundle")
    # Signatures first: an altered entry then fails as itself, not as its block neighbours
    # whose proofs a rebuilt batch tree would also break.
    entries = [_reading(item, i, device_keys) for i, item in enumerate(readings)]
    ok(f"{len(entries)} readings: each signed by its registered device")
    for item, (what, entry) in zip(readings, entries, strict=True):
        _inclusion(item, what, entry, headers)
        report.readings += 1
    ok(f"{report.readings} readings: each in its block's batch tree (RFC 9162 inclusion)")
    # The lot's facts before the series: the series rule reads the stage windows from them.
    _declarations(bundle, lot, headers, event_keys, report, ok)
    _series(bundle, entries, device_keys, report, ok)
    for i, item in enumerate(_get(bundle, "events", list, "bundle")):
        if _event(item, i, headers, event_keys):
            report.events += 1
        else:
            report.pending += 1
    ok(
        f"{report.events + report.pending} events signed by the API's event key: "
        f"{report.events} anchored on a chain, {report.pending} pending anchoring"
    )
    acks = bundle.get("acknowledgements", [])
    if not isinstance(acks, list):
        raise BundleError("bundle: malformed field 'acknowledgements'")
    anchored = sum(_ack(item, i, headers, event_keys) for i, item in enumerate(acks))
    ok(
        f"{len(acks)} excursion acknowledgements signed by the API's key: "
        f"{anchored} anchored, {len(acks) - anchored} pending anchoring"
    )
    return report


def _declarations(
    bundle: dict[str, Any],
    lot: dict[str, Any],
    headers: dict[tuple[str, int], BlockHeader],
    keys: dict[str, bytes],
    report: Report,
    ok: Callable[[str], None],
) -> None:
    """Each version signed and anchored (or pending), the chain 1..n unbroken, and the
    bundle's ``lot`` equal, fact for fact, to the newest version."""
    items = bundle.get("declarations")
    if not isinstance(items, list) or not items:
        raise BundleError("bundle: no lot declaration (the lot's facts are not signed)")
    versions: list[DeclarationEntry] = []
    for i, item in enumerate(items):
        entry, anchored = _declaration(item, i, headers, keys)
        versions.append(entry)
        if anchored:
            report.declarations += 1
        else:
            report.declarations_pending += 1
    problem = chain_problem(versions)
    if problem is not None:
        raise BundleError(f"lot declaration: {problem}")
    newest = versions[-1]
    difference = first_difference(lot, newest)
    if difference is not None:
        raise BundleError(difference)
    ok(
        f"lot declaration v{newest.version} signed by the API's event key "
        f"({report.declarations} versions anchored, {report.declarations_pending} pending), "
        "every version naming the one before; the lot's facts are the newest version's"
    )


def _declaration(
    item: Any, i: int, headers: dict[tuple[str, int], BlockHeader], keys: dict[str, bytes]
) -> tuple[DeclarationEntry, bool]:
    what = f"declaration {i}"
    entry = _b64(_get(item, "entry", str, what), what)
    try:
        declared = decode_declaration(entry)
    except DeclarationError as exc:
        raise BundleError(f"{what}: entry does not decode: {exc}") from None
    what += f" (v{declared.version} by {declared.signer} seq {declared.seq})"
    key = keys.get(declared.signer)
    if key is None or not verify_declaration(declared, key):
        raise BundleError(f"{what}: signature does not verify with the bundle's event key")
    status = _get(item, "status", str, what)
    if status == "pending-anchoring":
        return declared, False
    if status != "anchored":
        raise BundleError(f"{what}: unknown status {status!r}")
    _inclusion(item, what, entry, headers)
    return declared, True


def _series(
    bundle: dict[str, Any],
    entries: list[tuple[str, bytes]],
    device_keys: dict[str, bytes],
    report: Report,
    ok: Callable[[str], None],
) -> None:
    """The complete-series rule (``docs/bundle.md``), over the readings proven above."""
    held = []
    for what, entry in entries:
        signed = decode_reading(entry)
        held.append(BundleReading(what, signed.device_id, signed.seq, signed.timestamp_ms))
    try:
        summary = check_series(bundle, held, device_keys)
    except SeriesError as exc:
        raise BundleError(str(exc)) from None
    for line in summary.lines:
        ok(line)
    report.lot_readings = summary.lot_readings
    report.gaps = summary.gaps
    gaps = summary.gaps
    ok(
        f"complete series: {summary.lot_readings} readings inside their stage windows, "
        f"{summary.other_readings} more around them (run boundaries, or signed outside "
        f"their window by the device clock), {len(gaps)} gaps declared"
        + "".join(f"; gap: {g.device_id} seqs {g.first_seq}-{g.last_seq} {g.cause}" for g in gaps)
    )


def _ack(
    item: Any, i: int, headers: dict[tuple[str, int], BlockHeader], keys: dict[str, bytes]
) -> bool:
    what = f"acknowledgement {i}"
    entry = _b64(_get(item, "entry", str, what), what)
    signer = _get(item, "signer", str, what)
    key = keys.get(signer)
    if key is None or signer_id(key) != signer:
        raise BundleError(f"{what}: the bundle has no key for its signer {signer!r}")
    try:
        ack = open_ack(entry, Ed25519PublicKey.from_public_bytes(key))
    except (ColdChainError, ValueError) as exc:
        raise BundleError(f"{what}: {exc}") from None
    what += f" (by {ack.by}, {ack.device} from {ack.start_ms})"
    status = _get(item, "status", str, what)
    if status == "pending-anchoring":
        return False
    if status != "anchored":
        raise BundleError(f"{what}: unknown status {status!r}")
    _inclusion(item, what, entry, headers)
    return True


def _reading(item: Any, i: int, keys: dict[str, bytes]) -> tuple[str, bytes]:
    what = f"reading {item.get('global_index', i) if isinstance(item, dict) else i}"
    entry = _b64(_get(item, "entry", str, what), what)
    try:
        signed = decode_reading(entry)
    except ProtocolError as exc:
        raise BundleError(f"{what}: entry does not decode: {exc}") from None
    what += f" (device {signed.device_id} seq {signed.seq})"
    key = keys.get(signed.device_id)
    if key is None:
        raise BundleError(f"{what}: the bundle has no key for its device")
    if not verify_reading(signed, key):
        raise BundleError(f"{what}: device signature does not verify")
    return what, entry


def _event(
    item: Any, i: int, headers: dict[tuple[str, int], BlockHeader], keys: dict[str, bytes]
) -> bool:
    what = f"event {i}"
    entry = _b64(_get(item, "entry", str, what), what)
    try:
        event = decode_event(entry)
    except EventEntryError as exc:
        raise BundleError(f"{what}: entry does not decode: {exc}") from None
    what += f" ({event.body.get('kind')} by {event.signer} seq {event.seq})"
    key = keys.get(event.signer)
    if key is None or not verify_event(event, key):
        raise BundleError(f"{what}: signature does not verify with the bundle's event key")
    status = _get(item, "status", str, what)
    if status == "pending-anchoring":
        return False
    if status != "anchored":
        raise BundleError(f"{what}: unknown status {status!r}")
    _inclusion(item, what, entry, headers)
    return True
