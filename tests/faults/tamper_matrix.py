"""The tamper matrix: one small chain, single changes to every column a proof, the gateway or
the audit relies on, and deletions of the first, a middle and the newest row of each table.

:func:`build_base` makes the chain once (SQLite): three devices' readings in four blocks, a lot
with its declaration and two events anchored, a third event still pending, three signed drop
floors and two signed rejections in the quarantine. Each case copies the database and the
gateway's state directory, applies one change with the append-only triggers off
(tests/support/tamper.py) and then asks both checks: ``farmtrace audit --state`` (run_audit with
the state's keys and recorded checkpoint) and the gateway's start-up check (``Ledger.open``, what
``farmtrace gateway`` runs before it subscribes). :data:`CASES` says which of them must catch
the change; ``test_tamper_matrix.py`` asserts exactly that, and ``make_tamper_matrix_doc.py``
writes docs/tamper-matrix.md from the same list, so the table cannot drift from the test.
"""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from support.api import ORIGIN, serve
from support.readings import BASE_TIME_MS

from farmtrace.audit import AuditReport, run_audit
from farmtrace.store.audit_reads import recorded_checkpoint
from farmtrace.store.errors import StoreError
from farmtrace.store.keys import trusted_verifiers
from farmtrace.store.ledger import Ledger
from farmtrace.store.records import PendingReading, QuarantineItem, StoredFloor

__all__ = ["CASES", "Case", "Outcome", "build_base", "device_view", "run_case"]

EVENT_BODY = {
    "kind": "harvest",
    "time": "2024-06-10T14:00:00+08:00",
    "read_point": "urn:epc:id:sgln:9506000.00001.0",
    "actor": "Li Wei",
}

STARTUP, AUDIT, BOTH = "start-up", "audit", "start-up and audit"
REPORT = "audit report"
"""The audit passes but its device report differs from the untouched chain's: a settled seq
shows as a gap again, or a device's drop floor is lower (the evidence for why seqs are missing
is gone; nothing unproven is believed)."""


@dataclass(frozen=True)
class Case:
    """One change: ``column`` of the ``row`` (``first``, ``middle`` or ``newest`` by insertion
    order, among rows where ``where`` holds) of ``table`` changed by one unit (a bit of a byte
    string, a character of a text, +1 to a number, a flag negated; a number whose neighbour is
    taken moves further), or, with ``column`` None, that row deleted. ``caught`` says who must
    catch it; ``startup_says`` and ``audit_says`` are what the start-up refusal and the audit's
    first failure (or its device report) must contain."""

    table: str
    column: str | None
    row: str
    caught: str
    startup_says: str
    audit_says: str
    where: str = "1 = 1"

    @property
    def id(self) -> str:
        what = self.column or "delete"
        extra = {"1 = 1": "", _EVENT: "-event", _SIGNED: "-signed", _WAITING: "-waiting"}.get(
            self.where, "-" + self.where.split("'")[1] if "'" in self.where else "-where"
        )
        return f"{self.table}{extra}.{what}-{self.row}"


@dataclass(frozen=True)
class Outcome:
    startup: str | None  # the start-up refusal's message, None if the gateway would start
    audit: str | None  # the audit's first failure (item: reason), None if it passes
    report: str | None = None  # how the audit's device report differs, when it passes

    @property
    def caught(self) -> str | None:
        if self.startup and self.audit:
            return BOTH
        if self.startup:
            return STARTUP
        return AUDIT if self.audit else REPORT if self.report else None


def build_base(where: Path) -> tuple[Path, Path]:
    """Build the chain in ``where``; return the database file and the gateway state dir."""
    db = where / "base.db"
    url = f"sqlite:///{db}"
    with serve(url, where) as served:
        auth = {"Authorization": f"Bearer {served.key}"}
        events = "/v1/lots/09506000134352/LOT-1/events"
        for kind in ("harvest", "packing"):
            response = served.client.post(events, json=EVENT_BODY | {"kind": kind}, headers=auth)
            assert response.status_code == 201, response.text
        devs = served.devices
        with Ledger.open(url, where / "gw", ORIGIN) as ledger:
            # Block 3 integrates the declaration and the two events with these readings.
            ledger.append_batch([d.reading(seq) for seq in range(21, 24) for d in devs])
            floors = [
                StoredFloor(d.device_id, 30 + i, d.drop_floor(30 + i), BASE_TIME_MS / 1000)
                for i, d in enumerate(devs)
            ]
            assert ledger.record_floors(floors) == 3
            rejected = [devs[0].reading(24, value=900.0), devs[1].reading(24, value=-500.0)]
            ledger.quarantine([_rejection(r) for r in rejected])
            ledger.append_batch([d.reading(seq) for seq in range(25, 27) for d in devs])
        for kind in ("shipping", "receiving", "storing"):  # pending: no block after them
            response = served.client.post(events, json=EVENT_BODY | {"kind": kind}, headers=auth)
            assert response.status_code == 201, response.text
    return db, where / "gw"


def device_view(report: AuditReport) -> dict[str, tuple[object, ...]]:
    """What the audit reports per device: gaps, rejected seqs, drop floor, seqs lost by it."""
    return {
        d.device_id: (d.gaps, d.rejected_at, d.drop_floor, d.lost_by_floor) for d in report.devices
    }


def _rejection(reading: PendingReading) -> QuarantineItem:
    """A signed rejection of ``reading`` (as the judge stores one rejected on its content)."""
    topic = f"farm/f/{reading.device_id}/reading"
    return QuarantineItem(
        reading.received_at, "out-of-range", "test", topic, reading.payload,
        reading.device_id, reading.seq, True,
    )  # fmt: skip


def run_case(
    case: Case, db: Path, state: Path, work: Path, base_view: dict[str, tuple[object, ...]]
) -> Outcome:
    """Copy the base, apply ``case``'s change, and ask the audit and the start-up check. The
    audit names a change when it fails, or when its report shows a device gap that the base
    does not have (a seq that was settled, now missing)."""
    work.mkdir(parents=True, exist_ok=True)
    copy, state_copy = work / "case.db", work / "gw"
    shutil.copyfile(db, copy)
    shutil.copytree(state, state_copy)
    url = f"sqlite:///{copy}"
    _apply(url, case)
    note = recorded_checkpoint(state_copy)
    report = run_audit(url, trusted_verifiers(state_copy), [] if note is None else [note])
    audit = changed = None
    if report.failure is not None:
        where = f"chain {report.failure['chain']}: " if report.failure["chain"] else ""
        audit = f"{where}{report.failure['item']}: {report.failure['reason']}"
    else:
        view = device_view(report)
        differs = sorted(
            d for d in view.keys() | base_view.keys() if view.get(d) != base_view.get(d)
        )
        if differs:
            changed = "; ".join(
                f"device {d}: gaps, rejected, floor, lost {view.get(d)} (was {base_view.get(d)})"
                for d in differs
            )
    try:
        Ledger.open(url, state_copy, ORIGIN).close()
        startup = None
    except StoreError as exc:
        startup = str(exc)
    return Outcome(startup, audit, changed)


def _apply(url: str, case: Case) -> None:
    """Make the change with plain sqlite3 (foreign keys off, the table's triggers dropped for
    the change and put back), as someone editing the file would."""
    conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        rowids = [
            r for (r,) in conn.execute(
                f"SELECT rowid FROM {case.table} WHERE {case.where} ORDER BY rowid"
            )
        ]  # fmt: skip
        assert rowids, f"{case.table}: no row where {case.where}"
        picked = {"first": rowids[0], "middle": rowids[len(rowids) // 2], "newest": rowids[-1]}
        rowid = picked[case.row]
        triggers = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?",
            (case.table,),
        ).fetchall()
        for name, _ in triggers:
            conn.execute(f'DROP TRIGGER "{name}"')
        if case.column is None:
            done = conn.execute(f"DELETE FROM {case.table} WHERE rowid = ?", (rowid,))
        else:
            (value,) = conn.execute(
                f"SELECT {case.column} FROM {case.table} WHERE rowid = ?", (rowid,)
            ).fetchone()
            done = _update(conn, case, rowid, value)
        assert done.rowcount == 1, case
        for _, sql in triggers:
            conn.execute(sql)
        conn.commit()
    finally:
        conn.close()


def _update(conn: sqlite3.Connection, case: Case, rowid: int, value: Any) -> sqlite3.Cursor:
    """Change the value by one unit; a number whose neighbour is taken (a unique key) moves
    further, to a value no row holds."""
    statement = f"UPDATE {case.table} SET {case.column} = ? WHERE rowid = ?"
    try:
        return conn.execute(statement, (_changed(case, value), rowid))
    except sqlite3.IntegrityError:
        assert isinstance(value, int), case
        return conn.execute(statement, (value + 1_000_003, rowid))


def _changed(case: Case, value: Any) -> Any:
    if case.column == "header":
        # A block header's bytes vary with its hashes; its time, one ms later, keeps it well
        # formed wherever a flipped bit would land.
        head, _, rest = value.partition(b"\ntime ")
        time_ms, _, tail = rest.partition(b"\n")
        return head + b"\ntime " + str(int(time_ms) + 1).encode() + b"\n" + tail
    if isinstance(value, bytes):
        data = bytearray(value)
        data[len(data) // 2] ^= 0x01
        return bytes(data)
    if value == "":
        return "B"
    if isinstance(value, str):
        middle = len(value) // 2
        swap = "B" if value[middle] != "B" else "C"
        return value[:middle] + swap + value[middle + 1 :]
    if case.column == "signed_rejection":
        return 0 if value else 1
    if isinstance(value, int | float):
        return value + 1
    raise AssertionError(f"{case.id}: cannot change a {type(value).__name__} ({value!r})")


def _c(
    table: str,
    column: str | None,
    row: str,
    caught: str,
    startup_says: str,
    audit_says: str,
    where: str = "1 = 1",
) -> Case:
    return Case(table, column, row, caught, startup_says, audit_says, where)


_EVENT = "kind = 'event'"
_SIGNED = "signed_rejection = 1"
_CHECKPOINT_KEY = "kind = 'checkpoint'"
_EVENT_KEY = _EVENT
_WAITING = (
    "NOT EXISTS (SELECT 1 FROM entries AS e "
    "WHERE e.device_id = pending_entries.device_id AND e.seq = pending_entries.seq)"
)

NOT_COVERED = {
    "entries.received_at": "the gateway's arrival time: bookkeeping, covered by no signature",
    "blocks, checkpoints, chains, chain_keys: signed_at, created_at, added_at": "bookkeeping",
    "signing_keys.valid_from, valid_until": "the key history's periods: the API picks the key "
    "valid at an entry's time from them; the audit checks keys by signature, not by period",
    "devices.registered_at, revoked_at": "the registry's bookkeeping and an operator's decision "
    "(revoking a device stops new readings; it proves nothing about stored ones)",
    "quarantine rows that are not signed rejections; quarantine_refused": "evidence of junk, "
    "relied on by nothing (bounded, docs/gateway.md)",
    "lots (other than gtin, lot), lot_stages": "described by the lot's signed declaration "
    "(FL entry), checked by the bundle verifier (issue 12), not by the audit",
    "witness_cosignatures": "not written when this matrix was made (no rows to change)",
}
"""Columns and tables the matrix leaves out, and why."""

CASES: list[Case] = [
    _c("entries", "block_height", "middle", AUDIT, "", "stored as block"),
    _c("entries", "block_height", "newest", BOTH, "not position", "stored as block"),
    _c("entries", "index_in_block", "middle", AUDIT, "", "stored as block"),
    _c("entries", "index_in_block", "newest", BOTH, "not position", "stored as block"),
    _c("entries", "kind", "middle", AUDIT, "", "kind column"),
    _c("entries", "kind", "newest", BOTH, "has kind column", "kind column"),
    _c("entries", "device_id", "middle", AUDIT, "", "column device_id="),
    _c("entries", "device_id", "newest", AUDIT, "", "column device_id="),
    _c("entries", "seq", "middle", AUDIT, "", "column seq="),
    _c("entries", "seq", "newest", AUDIT, "", "column seq="),
    _c("entries", "timestamp_ms", "middle", AUDIT, "", "column timestamp_ms="),
    _c("entries", "timestamp_ms", "newest", AUDIT, "", "column timestamp_ms="),
    _c("entries", "payload", "middle", AUDIT, "", "device signature does not verify"),
    _c(
        "entries",
        "payload",
        "newest",
        BOTH,
        "do not hash to the batch root",
        "device signature does not verify",
    ),
    _c("entries", "global_index", "middle", BOTH, "entries run to index", "is missing"),
    _c("entries", "global_index", "newest", BOTH, "entries run to index", "is missing"),
    _c("entries", "chain_id", "middle", BOTH, "entries stored but the blocks cover", "is missing"),
    _c("entries", "chain_id", "newest", BOTH, "entries run to index", "is missing"),
    _c("entries", "payload", "middle", AUDIT, "", "batch root does not match", _EVENT),
    _c("entries", "device_id", "middle", AUDIT, "", "has no lot record", _EVENT),
    _c("entries", "seq", "middle", AUDIT, "", "differs from the entry anchored", _EVENT),
    _c("entries", None, "first", BOTH, "entries stored but the blocks cover", "is missing"),
    _c("entries", None, "middle", BOTH, "entries stored but the blocks cover", "is missing"),
    _c("entries", None, "newest", BOTH, "entries run to index", "is missing"),
    _c("blocks", "height", "middle", BOTH, "is missing", "is missing"),
    _c("blocks", "height", "newest", BOTH, "is missing", "is missing"),
    _c("blocks", "header", "middle", BOTH, "does not link to", "disagrees with the header"),
    _c(
        "blocks",
        "header",
        "newest",
        BOTH,
        "differs from what was signed",
        "disagrees with the header",
    ),
    _c("blocks", "first_index", "middle", BOTH, "disagrees with", "disagrees with"),
    _c("blocks", "first_index", "newest", BOTH, "disagrees with", "disagrees with"),
    _c("blocks", "size", "middle", BOTH, "disagrees with", "disagrees with"),
    _c("blocks", "size", "newest", BOTH, "disagrees with", "disagrees with"),
    _c("blocks", "time_ms", "middle", BOTH, "disagrees with", "disagrees with"),
    _c("blocks", "time_ms", "newest", BOTH, "disagrees with", "disagrees with"),
    _c("blocks", "chain_id", "middle", BOTH, "is missing", "is missing"),
    _c("blocks", "chain_id", "newest", BOTH, "blocks are missing", "is not in any block"),
    _c("blocks", None, "first", BOTH, "is missing", "is missing"),
    _c("blocks", None, "middle", BOTH, "is missing", "is missing"),
    _c("blocks", None, "newest", BOTH, "blocks are missing", "is not in any block"),
    _c("checkpoints", "size", "middle", BOTH, "unsigned blocks", "is missing"),
    _c("checkpoints", "size", "newest", BOTH, "checkpoints stored for sizes", "is missing"),
    _c("checkpoints", "note", "middle", AUDIT, "", "does not verify"),
    _c(
        "checkpoints",
        "note",
        "newest",
        BOTH,
        "the newest stored checkpoint does not verify",
        "does not verify",
    ),
    _c("checkpoints", "chain_id", "middle", BOTH, "checkpoints stored for sizes", "is missing"),
    _c(
        "checkpoints",
        "chain_id",
        "newest",
        BOTH,
        "unsigned blocks",
        "are not covered by any signed checkpoint",
    ),
    _c("checkpoints", None, "first", BOTH, "checkpoints stored for sizes", "is missing"),
    _c("checkpoints", None, "middle", BOTH, "checkpoints stored for sizes", "is missing"),
    _c(
        "checkpoints",
        None,
        "newest",
        BOTH,
        "unsigned blocks",
        "are not covered by any signed checkpoint",
    ),
    _c("chains", "origin", "first", BOTH, "signed a checkpoint of size", "header names origin"),
    _c(
        "chains",
        "id",
        "first",
        BOTH,
        "signed a checkpoint of size",
        "the database holds only 0 blocks",
    ),
    _c("chains", None, "first", AUDIT, "", "names a chain the database does not hold"),
    _c("chain_keys", "vkey", "first", BOTH, "chain_keys lists", "is not in the key"),
    _c("chain_keys", "chain_id", "first", AUDIT, "", "signed checkpoints but is not recorded"),
    _c("chain_keys", None, "first", AUDIT, "", "signed checkpoints but is not recorded"),
    _c("signing_keys", "kind", "first", AUDIT, "", "is not in the key", _CHECKPOINT_KEY),
    _c("signing_keys", "scope", "first", AUDIT, "", "is not in the key", _CHECKPOINT_KEY),
    _c("signing_keys", "public_key", "first", AUDIT, "", "is not in the key", _CHECKPOINT_KEY),
    _c("signing_keys", "key_id", "first", AUDIT, "", "has another key ID", _CHECKPOINT_KEY),
    _c("signing_keys", "kind", "first", AUDIT, "", "its signer has no event", _EVENT_KEY),
    _c("signing_keys", "scope", "first", AUDIT, "", "has scope", _EVENT_KEY),
    _c("signing_keys", "public_key", "first", AUDIT, "", "does not verify", _EVENT_KEY),
    _c("signing_keys", "key_id", "first", AUDIT, "", "its signer has no event", _EVENT_KEY),
    _c("signing_keys", None, "first", AUDIT, "", "is not in the key"),
    _c("signing_keys", None, "newest", AUDIT, "", "its signer has no event"),
    _c("devices", "device_id", "middle", AUDIT, "", "the device is not registered"),
    _c("devices", "public_key", "middle", AUDIT, "", "device signature does not verify"),
    _c("devices", None, "first", AUDIT, "", "the device is not registered"),
    _c("devices", None, "middle", AUDIT, "", "the device is not registered"),
    _c("devices", None, "newest", AUDIT, "", "the device is not registered"),
    _c("drop_floors", "device_id", "middle", AUDIT, "", "the stored statement says"),
    _c("drop_floors", "floor", "middle", AUDIT, "", "the stored statement says"),
    _c("drop_floors", "payload", "middle", AUDIT, "", "does not verify"),
    _c("drop_floors", None, "first", REPORT, "", "gaps, rejected, floor, lost"),
    _c("drop_floors", None, "middle", REPORT, "", "gaps, rejected, floor, lost"),
    _c("drop_floors", None, "newest", REPORT, "", "gaps, rejected, floor, lost"),
    _c("quarantine", "device_id", "middle", AUDIT, "", "its payload is device", _SIGNED),
    _c("quarantine", "seq", "middle", AUDIT, "", "its payload is device", _SIGNED),
    _c("quarantine", "payload", "middle", AUDIT, "", "does not verify", _SIGNED),
    _c(
        "quarantine",
        "signed_rejection",
        "middle",
        REPORT,
        "",
        "gaps, rejected, floor, lost",
        _SIGNED,
    ),
    _c("quarantine", None, "first", REPORT, "", "gaps, rejected, floor, lost", _SIGNED),
    _c("quarantine", None, "middle", REPORT, "", "gaps, rejected, floor, lost", _SIGNED),
    _c("quarantine", None, "newest", REPORT, "", "gaps, rejected, floor, lost", _SIGNED),
    _c(
        "pending_entries",
        "device_id",
        "middle",
        AUDIT,
        "",
        "is neither on a chain nor pending",
        _WAITING,
    ),
    _c(
        "pending_entries", "seq", "middle", AUDIT, "", "is neither on a chain nor pending", _WAITING
    ),
    _c(
        "pending_entries",
        "timestamp_ms",
        "middle",
        AUDIT,
        "",
        "its pending entry has time",
        _WAITING,
    ),
    _c(
        "pending_entries",
        "payload",
        "middle",
        AUDIT,
        "",
        "differs from its pending entry",
        _WAITING,
    ),
    _c("pending_entries", None, "first", AUDIT, "", "is neither on a chain nor pending", _WAITING),
    _c("pending_entries", None, "middle", AUDIT, "", "is neither on a chain nor pending", _WAITING),
    _c("pending_entries", None, "newest", AUDIT, "", "is neither on a chain nor pending", _WAITING),
    _c("lot_events", "lot_id", "middle", AUDIT, "", "is stored under lot"),
    _c("lot_events", "signer", "middle", AUDIT, "", "its signed event says"),
    _c("lot_events", "seq", "middle", AUDIT, "", "its signed event says"),
    _c("lot_events", "time_ms", "middle", AUDIT, "", "its signed event says"),
    _c("lot_events", "payload", "middle", AUDIT, "", "does not verify"),
    _c("lot_events", None, "first", AUDIT, "", "has no lot record"),
    _c("lot_events", None, "middle", AUDIT, "", "has no lot record"),
    _c("lot_events", None, "newest", AUDIT, "", "has no lot record"),
    _c("lots", "gtin", "first", AUDIT, "", "is stored under lot"),
    _c("lots", "lot", "first", AUDIT, "", "is stored under lot"),
]
"""Every change, with who must catch it (from one run on the chain of :func:`build_base`)."""
