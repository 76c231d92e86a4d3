"""``farmtrace audit``: recompute everything from the database and name the first bad item.

:func:`run_audit` checks every chain in the database (see :mod:`farmtrace.audit.chain` for the
checks), checks every stored drop floor's signature (:mod:`farmtrace.audit.floors`) and gathers
per-device figures. It stops at the first failure and reports it in the
returned :class:`AuditReport`; it raises only when the database itself cannot be read.

Checkpoint signatures are checked with the keys given for a chain's origin (``--key``, or the
state directory's keys with ``--state``); a chain without given keys is checked against the
keys it recorded in its own ``chain_keys`` table, which proves the rows are self-consistent but
not who signed them (the report says which was used).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import SQLAlchemyError

from farmtrace.audit.chain import audit_chain
from farmtrace.audit.devices import device_summaries
from farmtrace.audit.floors import FloorFailure, verified_floors
from farmtrace.audit.report import AuditFailure, AuditReport, ChainSummary, DeviceSummary
from farmtrace.store.engine import create_db_engine, describe_url
from farmtrace.store.errors import DatabaseError
from farmtrace.store.migrate import current_revision, head_revision
from farmtrace.store.models import Base
from farmtrace.tlog.errors import TlogError
from farmtrace.tlog.note import Verifier

__all__ = ["AuditFailure", "AuditReport", "ChainSummary", "DeviceSummary", "run_audit"]

CHAINS = Base.metadata.tables["chains"]
CHAIN_KEYS = Base.metadata.tables["chain_keys"]
DEVICES = Base.metadata.tables["devices"]
QUARANTINE = Base.metadata.tables["quarantine"]


def run_audit(db_url: str, keys: Sequence[Verifier] = ()) -> AuditReport:
    """Audit the database at ``db_url``; ``keys`` are trusted checkpoint verifier keys."""
    engine = create_db_engine(db_url)
    report = AuditReport(database=describe_url(db_url))
    try:
        revision = current_revision(engine)
        if revision != head_revision():
            raise DatabaseError(
                f"{report.database} is not a farmtrace database at schema {head_revision()} "
                f"(found revision {revision})"
            )
        with engine.connect() as conn:
            _audit_chains(conn, keys, report)
            try:
                floors = verified_floors(conn)
            except FloorFailure as failure:
                report.fail_item("", failure.item, failure.reason)
                floors = {}
            report.devices = device_summaries(conn, floors)
            report.quarantined = {
                reason: int(n)
                for reason, n in conn.execute(
                    select(QUARANTINE.c.reason, func.count()).group_by(QUARANTINE.c.reason)
                )
            }
    except SQLAlchemyError as exc:
        raise DatabaseError(f"cannot read {report.database}: {exc}") from None
    finally:
        engine.dispose()
    report.blocks = sum(c.blocks for c in report.chains)
    report.entries = sum(c.entries for c in report.chains)
    report.readings = sum(c.readings for c in report.chains)
    report.checkpoints = sum(c.checkpoints for c in report.chains)
    return report


def _audit_chains(conn: Connection, keys: Sequence[Verifier], report: AuditReport) -> None:
    device_keys = {
        device_id: bytes(key)
        for device_id, key in conn.execute(select(DEVICES.c.device_id, DEVICES.c.public_key))
    }
    chains = conn.execute(select(CHAINS.c.id, CHAINS.c.origin).order_by(CHAINS.c.id)).all()
    for chain_id, origin in chains:
        summary = ChainSummary(origin)
        report.chains.append(summary)
        try:
            verifiers = _verifiers(conn, chain_id, origin, keys, summary)
            audit_chain(conn, chain_id, origin, verifiers, device_keys, summary)
        except AuditFailure as failure:
            report.fail(failure)
            return


def _verifiers(
    conn: Connection,
    chain_id: int,
    origin: str,
    keys: Sequence[Verifier],
    summary: ChainSummary,
) -> list[Verifier]:
    given = [k for k in keys if k.name == origin]
    if given:
        summary.keys, summary.keys_source = [k.vkey for k in given], "given"
        return given
    recorded = conn.execute(
        select(CHAIN_KEYS.c.vkey).where(CHAIN_KEYS.c.chain_id == chain_id)
    ).scalars()
    verifiers = []
    for vkey in recorded:
        try:
            verifiers.append(Verifier.from_vkey(vkey))
        except TlogError as exc:
            raise AuditFailure(origin, f"recorded key {vkey!r}", f"is malformed: {exc}") from None
    summary.keys, summary.keys_source = [v.vkey for v in verifiers], "database"
    return verifiers
