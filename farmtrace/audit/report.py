"""What an audit found: the first bad item, if any, and the counts around it."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from farmtrace.audit.commerce import CommerceSummary
from farmtrace.audit.community import CommunityAuditSummary
from farmtrace.audit.market import MarketAuditSummary

__all__ = [
    "AuditFailure",
    "AuditReport",
    "ChainSummary",
    "DeviceSummary",
    "RefusedSummary",
    "SignerRun",
]


class AuditFailure(Exception):
    """The first item that failed a check: which chain, which item, and why.

    ``item`` names it as a person would look for it: ``reading 1234 (device dev-7 seq 88) in
    block 3``, ``block 3``, ``checkpoint of size 4``.
    """

    def __init__(self, origin: str, item: str, reason: str) -> None:
        super().__init__(f"chain {origin}: {item}: {reason}")
        self.origin = origin
        self.item = item
        self.reason = reason


@dataclass
class SignerRun:
    """Checkpoints ``first`` to ``last`` (sizes) were signed by ``keys`` (``name+key ID``);
    ``handover``: the first of them is a key hand-over (``docs/chain.md``)."""

    keys: list[str]
    first: int
    last: int
    handover: bool = False

    def text(self) -> str:
        span = f"{self.first}" if self.first == self.last else f"{self.first}-{self.last}"
        ids = ", ".join(k.rsplit("+", 1)[-1] for k in self.keys)
        return f"{span}{' (hand-over)' if self.handover else ''} by {ids}"


@dataclass
class ChainSummary:
    """One chain's counts; ``keys`` are the verifier keys its checkpoints were checked with and
    ``keys_source`` says where they came from (``given`` on the command line or ``database``:
    the keys the chain recorded itself, which prove integrity but not authenticity); ``signers``
    says which of them signed which checkpoints."""

    origin: str
    blocks: int = 0
    entries: int = 0
    readings: int = 0
    checkpoints: int = 0
    device_signatures_checked: int = 0
    readings_from_unregistered_devices: int = 0
    keys: list[str] = field(default_factory=list)
    keys_source: str = "database"
    signers: list[SignerRun] = field(default_factory=list)


@dataclass
class DeviceSummary:
    """Per device, over every chain: how many readings, the sequence range and the gaps.

    ``rejected_at`` lists the seqs that are signed rejections (the device's key signed them and
    the gateway quarantined them on their content) and not stored (at most :data:`MAX_GAPS`;
    ``rejected`` counts them all). ``lowest_seq`` and ``highest_seq`` span the stored and
    rejected seqs; ``gaps`` lists the seqs between them that are neither, as inclusive
    ``[first, last]`` ranges (at most :data:`MAX_GAPS` of them; ``gap_count`` has them all).
    ``clock_backwards_at`` lists the stored seqs whose signed timestamp is more than the
    gateway's tolerance (1 s) before that of the stored seq below them: the device's clock went
    backwards there (at most :data:`MAX_GAPS`; ``clock_backwards`` counts them all). Such
    readings are authentic and stored; this is where the flag survives a gateway restart.
    ``drop_floor`` is the device's highest stored drop floor (0: none), its signed statement
    that it gave up every unsent seq up to it; ``lost_by_floor`` counts the seqs ``1..floor``
    neither stored nor rejected: lost, and explained by that statement.
    """

    device_id: str
    readings: int
    lowest_seq: int
    highest_seq: int
    missing: int
    gap_count: int
    gaps: list[list[int]]
    clock_backwards: int = 0
    clock_backwards_at: list[int] = field(default_factory=list)
    rejected: int = 0
    rejected_at: list[int] = field(default_factory=list)
    drop_floor: int = 0
    lost_by_floor: int = 0


@dataclass
class RefusedSummary:
    """``refused`` rejected messages (``refused_bytes`` of payload) of ``device_id`` (``''``:
    topics naming no registered device) and ``reason`` that the gateway counted but did not
    store, the first at ``first_at`` and the last at ``last_at`` (seconds since the epoch)."""

    device_id: str
    reason: str
    refused: int
    refused_bytes: int
    first_at: float
    last_at: float


@dataclass
class AuditReport:
    """The whole audit: ``ok`` is true exactly when ``failure`` is ``None``."""

    database: str
    ok: bool = True
    failure: dict[str, str] | None = None
    blocks: int = 0
    readings: int = 0
    entries: int = 0
    checkpoints: int = 0
    chains: list[ChainSummary] = field(default_factory=list)
    devices: list[DeviceSummary] = field(default_factory=list)
    quarantined: dict[str, int] = field(default_factory=dict)
    quarantine_refused: dict[str, int] = field(default_factory=dict)
    """Rejected messages counted but not stored, past the quarantine's bounds, per reason."""
    quarantine_refused_by_device: list[RefusedSummary] = field(default_factory=list)
    commerce: CommerceSummary = field(default_factory=CommerceSummary)
    """Campaigns and coupons replayed (:mod:`farmtrace.audit.commerce`)."""
    community: CommunityAuditSummary = field(default_factory=CommunityAuditSummary)
    """Value communities replayed (:mod:`farmtrace.audit.community`)."""
    market: MarketAuditSummary = field(default_factory=MarketAuditSummary)
    """Coupon market listings and offers checked (:mod:`farmtrace.audit.market`)."""

    def fail(self, failure: AuditFailure) -> None:
        self.fail_item(failure.origin, failure.item, failure.reason)

    def fail_item(self, origin: str, item: str, reason: str) -> None:
        """Record the first failure (``origin`` empty: not in a chain, e.g. a drop floor)."""
        if self.ok:
            self.ok = False
            self.failure = {"chain": origin, "item": item, "reason": reason}

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def to_text(self) -> str:
        lines = [f"audit of {self.database}: {'OK' if self.ok else 'FAILED'}"]
        if self.failure is not None:
            f = self.failure
            where = f"chain {f['chain']}: " if f["chain"] else ""
            lines.append(f"first bad item: {where}{f['item']}: {f['reason']}")
        for chain in self.chains:
            keys = ", ".join(chain.keys) or "none"
            lines.append(
                f"chain {chain.origin}: {chain.blocks} blocks, {chain.entries} entries "
                f"({chain.readings} readings, {chain.device_signatures_checked} device "
                f"signatures checked), {chain.checkpoints} checkpoints; "
                f"checkpoint keys ({chain.keys_source}): {keys}"
            )
            if len(chain.signers) > 1:
                runs = "; ".join(run.text() for run in chain.signers)
                lines.append(f"  checkpoints signed: {runs}")
        if self.commerce.campaigns:
            lines.append(self.commerce.text())
        if self.community.communities:
            lines.append(self.community.text())
        if self.market.listings:
            lines.append(self.market.text())
        with_gaps = [d for d in self.devices if d.gap_count]
        lines.append(
            f"{len(self.devices)} devices, {self.readings} readings; "
            f"{len(with_gaps)} devices with sequence gaps"
        )
        for device in with_gaps[:20]:
            ranges = ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in device.gaps[:10])
            more = " ..." if device.gap_count > 10 else ""
            lines.append(f"  {device.device_id}: missing {device.missing} ({ranges}{more})")
        refused = [d for d in self.devices if d.rejected]
        if refused:
            lines.append(f"{len(refused)} devices with signed readings rejected (seqs settled)")
        for device in refused[:20]:
            seqs = ", ".join(str(s) for s in device.rejected_at[:10])
            more = " ..." if device.rejected > 10 else ""
            lines.append(f"  {device.device_id}: {device.rejected} rejected, seq {seqs}{more}")
        floored = [d for d in self.devices if d.drop_floor]
        if floored:
            lines.append(f"{len(floored)} devices with a signed drop floor (seqs given up)")
        for device in floored[:20]:
            lines.append(
                f"  {device.device_id}: floor {device.drop_floor}, "
                f"{device.lost_by_floor} lost by the device"
            )
        backwards = [d for d in self.devices if d.clock_backwards]
        if backwards:
            lines.append(f"{len(backwards)} devices whose clock went backwards (readings kept)")
        for device in backwards[:20]:
            seqs = ", ".join(str(s) for s in device.clock_backwards_at[:10])
            more = " ..." if device.clock_backwards > 10 else ""
            lines.append(
                f"  {device.device_id}: {device.clock_backwards} times, at seq {seqs}{more}"
            )
        if self.quarantined:
            counts = ", ".join(f"{reason} {n}" for reason, n in sorted(self.quarantined.items()))
            lines.append(f"quarantined: {counts}")
        if self.quarantine_refused:
            counts = ", ".join(
                f"{reason} {n}" for reason, n in sorted(self.quarantine_refused.items())
            )
            lines.append(f"refused past the quarantine's bounds (counted, not stored): {counts}")
        for row in self.quarantine_refused_by_device[:20]:
            who = row.device_id or "(unregistered or no device)"
            lines.append(
                f"  {who}: {row.reason} {row.refused} ({row.refused_bytes} bytes), "
                f"{_utc(row.first_at)} to {_utc(row.last_at)}"
            )
        return "\n".join(lines)


def _utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
