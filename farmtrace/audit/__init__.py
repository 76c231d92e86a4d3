"""``farmtrace audit``: recompute everything from the database and name the first bad item.

:func:`run_audit` checks every chain in the database (see :mod:`farmtrace.audit.chain` for the
checks), the signed records beside them (:mod:`farmtrace.audit.records`), every campaign and
coupon (:mod:`farmtrace.audit.commerce`: the reference rules replayed over the stored entries
and transfers, and the tables checked against the replay), every value community
(:mod:`farmtrace.audit.community`: every mint and distribution recomputed from its rules and
inputs, supply against balances, rows against the signed and anchored bytes), the coupon
market (:mod:`farmtrace.audit.market`: every listing, withdrawal and offer against its signature,
every end reason against the coupon's moves), checks every stored drop floor's
signature (:mod:`farmtrace.audit.floors`) and gathers per-device figures. It stops at the first failure and reports it in the
returned :class:`AuditReport`; it raises only when the database itself cannot be read.

Checkpoint signatures are checked with the keys given for a chain's origin (``--key``, or the
state directory's keys with ``--state``); a chain without given keys is checked against the
keys it recorded in its own ``chain_keys`` table, which proves the rows are self-consistent but
not who signed them (the report says which was used).
"""

from __future__ import annotations

from collections.abc import Sequence

from farmtrace.audit.chain import audit_chain
from farmtrace.audit.commerce import CommerceFailure, audit_commerce
from farmtrace.audit.community import CommunityFailure, audit_communities
from farmtrace.audit.devices import device_summaries
from farmtrace.audit.floors import FloorFailure, verified_floors
from farmtrace.audit.market import MarketFailure, audit_market
from farmtrace.audit.records import RecordFailure, check_records
from farmtrace.audit.report import (
    AuditFailure,
    AuditReport,
    ChainSummary,
    DeviceSummary,
    RefusedSummary,
)
from farmtrace.store.audit_reads import AuditReads, open_for_audit
from farmtrace.tlog.errors import TlogError
from farmtrace.tlog.note import Verifier

__all__ = ["AuditFailure", "AuditReport", "ChainSummary", "DeviceSummary", "run_audit"]


def run_audit(
    db_url: str, keys: Sequence[Verifier] = (), recorded: Sequence[str] = ()
) -> AuditReport:
    """Audit the database at ``db_url``; ``keys`` are trusted checkpoint verifier keys and
    ``recorded`` the checkpoint notes gateways recorded in their state directories (``--state``):
    each names its chain by its origin, and the stored chain must reach it and agree with it."""
    with open_for_audit(db_url) as reads:
        report = AuditReport(database=reads.database)
        _audit_chains(reads, keys, recorded, report)
        if report.ok:
            _audit_records(reads, report)
        if report.ok:
            try:
                audit_commerce(reads, report.commerce)
            except CommerceFailure as failure:
                report.fail_item("", failure.item, failure.reason)
        if report.ok:
            try:
                audit_communities(reads, report.community)
            except CommunityFailure as failure:
                report.fail_item("", failure.item, failure.reason)
        if report.ok:
            try:
                audit_market(reads, report.market)
            except MarketFailure as failure:
                report.fail_item("", failure.item, failure.reason)
        try:
            floors = verified_floors(reads)
        except FloorFailure as failure:
            report.fail_item("", failure.item, failure.reason)
            floors = {}
        report.devices = device_summaries(reads, floors)
        report.quarantined = reads.quarantine_counts()
        for count in reads.refused_counts():
            report.quarantine_refused[count.reason] = (
                report.quarantine_refused.get(count.reason, 0) + count.refused
            )
            report.quarantine_refused_by_device.append(
                RefusedSummary(
                    count.device_id,
                    count.reason,
                    count.refused,
                    count.refused_bytes,
                    count.first_at,
                    count.last_at,
                )
            )
    report.blocks = sum(c.blocks for c in report.chains)
    report.entries = sum(c.entries for c in report.chains)
    report.readings = sum(c.readings for c in report.chains)
    report.checkpoints = sum(c.checkpoints for c in report.chains)
    return report


def _audit_chains(
    reads: AuditReads, keys: Sequence[Verifier], recorded: Sequence[str], report: AuditReport
) -> None:
    device_keys = reads.device_keys()
    by_origin = {_note_origin(note): note for note in recorded}
    chains = reads.chains()
    for chain_id, origin in chains:
        summary = ChainSummary(origin)
        report.chains.append(summary)
        try:
            verifiers = _verifiers(reads, chain_id, origin, keys, summary)
            audit_chain(
                reads, chain_id, origin, verifiers, device_keys, summary, by_origin.get(origin)
            )
        except AuditFailure as failure:
            report.fail(failure)
            return
    stored = {origin for _, origin in chains}
    for origin in by_origin:
        if origin not in stored:
            report.fail_item(
                origin,
                "the checkpoint recorded in the state directory",
                "names a chain the database does not hold (its rows were removed?)",
            )
            return


def _audit_records(reads: AuditReads, report: AuditReport) -> None:
    signers = {c.origin: [k for run in c.signers for k in run.keys] for c in report.chains}
    try:
        check_records(reads, reads.device_keys(), reads.chains(), signers)
    except RecordFailure as failure:
        report.fail_item(failure.origin, failure.item, failure.reason)


def _note_origin(note: str) -> str:
    """The origin a checkpoint note names (its first line); checked when the chain is."""
    return note.split("\n", 1)[0]


def _verifiers(
    reads: AuditReads,
    chain_id: int,
    origin: str,
    keys: Sequence[Verifier],
    summary: ChainSummary,
) -> list[Verifier]:
    given = [k for k in keys if k.name == origin]
    if given:
        summary.keys, summary.keys_source = [k.vkey for k in given], "given"
        return given
    verifiers = []
    for vkey in reads.recorded_keys(chain_id):
        try:
            verifiers.append(Verifier.from_vkey(vkey))
        except TlogError as exc:
            raise AuditFailure(origin, f"recorded key {vkey!r}", f"is malformed: {exc}") from None
    summary.keys, summary.keys_source = [v.vkey for v in verifiers], "database"
    return verifiers
