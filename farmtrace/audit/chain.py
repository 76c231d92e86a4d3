"""Auditing one chain from its rows alone: blocks, entries, checkpoints.

The checks, in chain order, stopping at the first failure (raised as :class:`AuditFailure`):

1. Blocks: every header parses in its canonical form; heights run 0, 1, 2... without gaps;
   each names the chain's origin, links to the hash of the block before it and starts at the
   entry index where the previous block ended; the lookup columns agree with the header.
2. Entries, block by block: indexes run without gaps and sit in the block and position the
   block says; each entry's kind column agrees with its bytes; a reading's payload decodes and
   its ``device_id``, ``seq`` and ``timestamp_ms`` columns agree with it; its device signature
   verifies when the device is registered; then the RFC 9162 root of the block's entries
   (rust_core) must equal the header's ``root``.
3. Checkpoints: one per chain-log size from 1 to the number of blocks; each note verifies with
   the chain's keys, is for this origin and size, and its root equals the chain-log root over
   the headers (recomputed); each is consistent with the one before it, by an RFC 9162
   consistency proof checked against the two *signed* roots; each key hand-over is sound, and
   the report says which key signed which checkpoints (:mod:`farmtrace.audit.keys`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, CursorResult, Row, select

from farmtrace import rust_core
from farmtrace.audit.keys import KeyTimeline
from farmtrace.audit.report import AuditFailure, ChainSummary
from farmtrace.chain.block import GENESIS_PREVIOUS, BlockHeader
from farmtrace.chain.entry import READING, kind_of
from farmtrace.chain.errors import BlockHeaderError
from farmtrace.chain.log import ChainLog
from farmtrace.store.reader import BLOCKS, CHECKPOINTS, ENTRIES, batch_tree
from farmtrace.tlog.checkpoint import SignedCheckpoint, open_checkpoint
from farmtrace.tlog.errors import TlogError
from farmtrace.tlog.note import Note, Verifier
from farmtrace.wire.protocol import ProtocolError, SignedReading, decode

__all__ = ["audit_chain"]

_STREAM_ROWS = 5000


@dataclass(frozen=True, slots=True)
class _Block:
    header: BlockHeader
    raw: bytes


def audit_chain(
    conn: Connection,
    chain_id: int,
    origin: str,
    verifiers: Sequence[Verifier],
    device_keys: dict[str, bytes],
    summary: ChainSummary,
) -> None:
    """Run every check on chain ``chain_id``, filling ``summary``; raise at the first failure."""
    blocks = _check_blocks(conn, chain_id, origin, summary)
    _check_entries(conn, chain_id, origin, blocks, device_keys, summary)
    _check_checkpoints(conn, chain_id, origin, blocks, verifiers, summary)


def _check_blocks(
    conn: Connection, chain_id: int, origin: str, summary: ChainSummary
) -> list[_Block]:
    rows = conn.execute(
        select(
            BLOCKS.c.height, BLOCKS.c.header, BLOCKS.c.first_index, BLOCKS.c.size, BLOCKS.c.time_ms
        )
        .where(BLOCKS.c.chain_id == chain_id)
        .order_by(BLOCKS.c.height)
    )
    blocks: list[_Block] = []
    previous, next_index = GENESIS_PREVIOUS, 0
    for row in rows:
        expected = len(blocks)
        item = f"block {row.height}"
        if row.height != expected:
            raise AuditFailure(origin, f"block {expected}", "is missing")
        raw = bytes(row.header)
        try:
            header = BlockHeader.parse(raw)
        except BlockHeaderError as exc:
            raise AuditFailure(origin, item, f"header is malformed: {exc}") from None
        problem = None
        if header.height != row.height:
            problem = f"header says height {header.height}"
        elif header.origin != origin:
            problem = f"header names origin {header.origin!r}"
        elif header.previous != previous:
            problem = (
                f"does not link to block {row.height - 1}: its previous hash is not the hash "
                f"of block {row.height - 1} (one of the two was changed)"
            )
        elif header.first_index != next_index:
            problem = f"header starts at entry {header.first_index}, expected {next_index}"
        elif blocks and header.time_ms < blocks[-1].header.time_ms:
            problem = f"time {header.time_ms} is before the previous block's"
        else:
            for column, value in (
                ("first_index", header.first_index),
                ("size", header.size),
                ("time_ms", header.time_ms),
            ):
                if getattr(row, column) != value:
                    problem = f"column {column}={getattr(row, column)} disagrees with the header ({value})"
                    break
        if problem:
            raise AuditFailure(origin, item, problem)
        blocks.append(_Block(header, raw))
        previous, next_index = header.hash(), header.next_index
    summary.blocks = len(blocks)
    return blocks


def _stream_entries(conn: Connection, chain_id: int) -> CursorResult[Any]:
    """The chain's entries in index order, fetched in chunks (close the result when done)."""
    # Per-statement options: Connection.execution_options() would change the connection itself.
    return conn.execute(
        select(ENTRIES).where(ENTRIES.c.chain_id == chain_id).order_by(ENTRIES.c.global_index),
        execution_options={"stream_results": True, "yield_per": _STREAM_ROWS},
    )


def _check_entries(
    conn: Connection,
    chain_id: int,
    origin: str,
    blocks: list[_Block],
    device_keys: dict[str, bytes],
    summary: ChainSummary,
) -> None:
    with _stream_entries(conn, chain_id) as result:
        summary.entries = _walk_entries(origin, iter(result), blocks, device_keys, summary)


def _walk_entries(
    origin: str,
    rows: Iterator[Row[Any]],
    blocks: list[_Block],
    device_keys: dict[str, bytes],
    summary: ChainSummary,
) -> int:
    index = 0
    for block in blocks:
        header = block.header
        payloads: list[bytes] = []
        signed: list[tuple[int, str, int, SignedReading]] = []
        for position in range(header.size):
            row = next(rows, None)
            if row is None or row.global_index != index:
                raise AuditFailure(origin, f"entry {index} in block {header.height}", "is missing")
            payload = _check_entry(origin, row, header, position, signed, summary)
            payloads.append(payload)
            index += 1
        _check_signatures(origin, header, signed, device_keys, summary)
        if batch_tree(payloads).root != header.root:
            raise AuditFailure(
                origin,
                f"block {header.height}",
                f"batch root does not match its {header.size} entries "
                f"({header.first_index}..{header.next_index - 1})",
            )
    extra = next(rows, None)
    if extra is not None:
        raise AuditFailure(
            origin,
            f"entry {extra.global_index}",
            "is not in any block",
        )
    return index


def _check_entry(
    origin: str,
    row: Row[Any],
    header: BlockHeader,
    position: int,
    signed: list[tuple[int, str, int, SignedReading]],
    summary: ChainSummary,
) -> bytes:
    r = row._mapping
    payload = bytes(r["payload"])
    index = r["global_index"]
    name = (
        f"reading {index} (device {r['device_id']} seq {r['seq']}) in block {header.height}"
        if r["kind"] == READING
        else f"entry {index} in block {header.height}"
    )
    if r["block_height"] != header.height or r["index_in_block"] != position:
        raise AuditFailure(
            origin,
            name,
            f"stored as block {r['block_height']} position {r['index_in_block']}, but block "
            f"{header.height} holds it at position {position}",
        )
    kind = kind_of(payload)
    if kind != r["kind"]:
        raise AuditFailure(origin, name, f"kind column {r['kind']!r} but its bytes are {kind!r}")
    if kind == READING:
        try:
            reading = decode(payload)
        except ProtocolError as exc:
            raise AuditFailure(origin, name, f"payload does not decode: {exc}") from None
        for column in ("device_id", "seq", "timestamp_ms"):
            if r[column] != getattr(reading, column):
                raise AuditFailure(
                    origin,
                    name,
                    f"column {column}={r[column]!r} but the signed payload says "
                    f"{getattr(reading, column)!r}",
                )
        signed.append((index, r["device_id"], r["seq"], reading))
        summary.readings += 1
    return payload


def _check_signatures(
    origin: str,
    header: BlockHeader,
    signed: list[tuple[int, str, int, SignedReading]],
    device_keys: dict[str, bytes],
    summary: ChainSummary,
) -> None:
    """Check a block's device signatures in one rust_core call; name the first that fails."""
    claims = [(item, device_keys.get(item[1])) for item in signed]
    known = [(item, key) for item, key in claims if key is not None]
    summary.readings_from_unregistered_devices += len(claims) - len(known)
    failed = rust_core.verify_ed25519(
        [(key, reading.signed_bytes, reading.signature) for (_, _, _, reading), key in known]
    )
    if failed:
        index, device_id, seq, _ = known[failed[0]][0]
        raise AuditFailure(
            origin,
            f"reading {index} (device {device_id} seq {seq}) in block {header.height}",
            "device signature does not verify",
        )
    summary.device_signatures_checked += len(known)


def _check_checkpoints(
    conn: Connection,
    chain_id: int,
    origin: str,
    blocks: list[_Block],
    verifiers: Sequence[Verifier],
    summary: ChainSummary,
) -> None:
    leaves = rust_core.MerkleTree.from_entries([b.raw for b in blocks])
    log = ChainLog()
    previous: SignedCheckpoint | None = None
    timeline = KeyTimeline(origin, list(verifiers))
    rows = conn.execute(
        select(CHECKPOINTS.c.size, CHECKPOINTS.c.note)
        .where(CHECKPOINTS.c.chain_id == chain_id)
        .order_by(CHECKPOINTS.c.size)
    ).all()
    for row in rows:
        item = f"checkpoint of size {row.size}"
        expected = log.size + 1
        if row.size != expected:
            what = f"checkpoint of size {expected}"
            raise AuditFailure(
                origin, what, "is missing" if row.size > expected else "is out of order"
            )
        if row.size > len(blocks):
            raise AuditFailure(origin, item, f"covers more blocks than are stored ({len(blocks)})")
        try:
            signed = open_checkpoint(row.note, verifiers, origin)
        except TlogError as exc:
            raise AuditFailure(origin, item, f"does not verify: {exc}") from None
        if _canonical(row.note) != row.note:
            # Base64 decoders ignore the unused low bits of the last character, so a note can
            # change without its signatures changing; the stored text must be as it was signed.
            raise AuditFailure(origin, item, "note is not in canonical form (it was altered)")
        cp = signed.checkpoint
        if cp.size != row.size:
            raise AuditFailure(origin, item, f"the signed note is for size {cp.size}")
        log, proof = log.extend([leaves.leaf_hash(row.size - 1)])
        if cp.root != log.root:
            raise AuditFailure(
                origin,
                item,
                f"signed root does not match the chain log of blocks 0..{row.size - 1}: "
                f"block {row.size - 1} differs from what was signed",
            )
        if previous is not None and not rust_core.verify_consistency(
            previous.checkpoint.size, cp.size, proof, previous.checkpoint.root, cp.root
        ):
            raise AuditFailure(
                origin, item, f"is not consistent with checkpoint {previous.checkpoint.size}"
            )
        timeline.observe(row.size, signed)
        previous = signed
    if log.size != len(blocks):
        raise AuditFailure(
            origin,
            f"blocks {log.size}..{len(blocks) - 1}",
            "are not covered by any signed checkpoint",
        )
    summary.checkpoints = log.size
    summary.signers = timeline.runs


def _canonical(note: str) -> str:
    """The note re-encoded from its parts (text and signature lines in canonical base64)."""
    parsed = Note.parse(note)
    return parsed.text + "\n" + "".join(sig.line() for sig in parsed.signatures)
