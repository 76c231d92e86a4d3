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

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from farmtrace import rust_core
from farmtrace.audit.keys import KeyTimeline
from farmtrace.audit.report import AuditFailure, ChainSummary
from farmtrace.chain.block import GENESIS_PREVIOUS, BlockHeader
from farmtrace.chain.entry import READING, kind_of
from farmtrace.chain.errors import BlockHeaderError
from farmtrace.chain.log import ChainLog
from farmtrace.store.audit_reads import AuditReads, StoredBlock
from farmtrace.store.reader import batch_tree
from farmtrace.store.records import StoredEntry
from farmtrace.tlog.checkpoint import SignedCheckpoint, open_checkpoint
from farmtrace.tlog.errors import TlogError
from farmtrace.tlog.note import Note, Verifier
from farmtrace.wire.protocol import ProtocolError, SignedReading, decode

__all__ = ["audit_chain", "check_blocks", "walk_entries"]


@dataclass(frozen=True, slots=True)
class _Block:
    header: BlockHeader
    raw: bytes


def audit_chain(
    reads: AuditReads,
    chain_id: int,
    origin: str,
    verifiers: Sequence[Verifier],
    device_keys: dict[str, bytes],
    summary: ChainSummary,
    recorded: str | None = None,
) -> None:
    """Run every check on chain ``chain_id``, filling ``summary``; raise at the first failure.

    ``recorded`` is the checkpoint note the chain's gateway recorded in its state directory
    (``farmtrace audit --state``): the stored chain must reach it and agree with it.
    """
    blocks = check_blocks(reads.blocks(chain_id), origin, summary)
    _check_entries(reads, chain_id, origin, blocks, device_keys, summary)
    leaves = _check_checkpoints(reads, chain_id, origin, blocks, verifiers, summary)
    if recorded is not None:
        _check_recorded(origin, recorded, verifiers, leaves)


def _check_recorded(
    origin: str, note: str, verifiers: Sequence[Verifier], leaves: rust_core.MerkleTree
) -> None:
    """The stored chain reaches the gateway's own last checkpoint and agrees with it: a
    database restored from an older backup, or with its newest blocks removed (with their
    entries and checkpoints, so that it is consistent in itself), fails here."""
    item = "the checkpoint recorded in the state directory"
    try:
        recorded = open_checkpoint(note, verifiers, origin).checkpoint
    except TlogError as exc:
        raise AuditFailure(origin, item, f"does not verify: {exc}") from None
    if recorded.size > leaves.size:
        raise AuditFailure(
            origin,
            f"{item} (size {recorded.size})",
            f"the database holds only {leaves.size} blocks: blocks {leaves.size}.."
            f"{recorded.size - 1} are missing (rolled back, or restored from an older backup)",
        )
    if recorded.size and leaves.root_at(recorded.size) != recorded.root:
        raise AuditFailure(
            origin,
            f"{item} (size {recorded.size})",
            f"the first {recorded.size} stored blocks differ from what the gateway signed",
        )


def check_blocks(rows: Iterable[StoredBlock], origin: str, summary: ChainSummary) -> list[_Block]:
    """Check 1 on block rows in height order (from the database, or a mirror's tiles:
    :mod:`farmtrace.audit.mirror`); the blocks, parsed."""
    blocks: list[_Block] = []
    previous, next_index = GENESIS_PREVIOUS, 0
    for row in rows:
        expected = len(blocks)
        item = f"block {row.height}"
        if row.height != expected:
            raise AuditFailure(origin, f"block {expected}", "is missing")
        raw = row.header
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


def _check_entries(
    reads: AuditReads,
    chain_id: int,
    origin: str,
    blocks: list[_Block],
    device_keys: dict[str, bytes],
    summary: ChainSummary,
) -> None:
    with reads.entries(chain_id, origin) as entries:
        summary.entries = walk_entries(origin, entries, blocks, device_keys, summary)


def walk_entries(
    origin: str,
    rows: Iterator[StoredEntry],
    blocks: list[_Block],
    device_keys: dict[str, bytes],
    summary: ChainSummary,
) -> int:
    """Check 2 on entries in index order against ``blocks`` (from :func:`check_blocks`); the
    number of entries."""
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
    row: StoredEntry,
    header: BlockHeader,
    position: int,
    signed: list[tuple[int, str, int, SignedReading]],
    summary: ChainSummary,
) -> bytes:
    payload = row.payload
    index = row.global_index
    name = (
        f"reading {index} (device {row.device_id} seq {row.seq}) in block {header.height}"
        if row.kind == READING
        else f"entry {index} in block {header.height}"
    )
    if row.block_height != header.height or row.index_in_block != position:
        raise AuditFailure(
            origin,
            name,
            f"stored as block {row.block_height} position {row.index_in_block}, but block "
            f"{header.height} holds it at position {position}",
        )
    kind = kind_of(payload)
    if kind != row.kind:
        raise AuditFailure(origin, name, f"kind column {row.kind!r} but its bytes are {kind!r}")
    if kind == READING:
        try:
            reading = decode(payload)
        except ProtocolError as exc:
            raise AuditFailure(origin, name, f"payload does not decode: {exc}") from None
        for column in ("device_id", "seq", "timestamp_ms"):
            stored = getattr(row, column)
            if stored != getattr(reading, column):
                raise AuditFailure(
                    origin,
                    name,
                    f"column {column}={stored!r} but the signed payload says "
                    f"{getattr(reading, column)!r}",
                )
        # The columns equal the signed values (checked just above).
        signed.append((index, reading.device_id, reading.seq, reading))
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
    reads: AuditReads,
    chain_id: int,
    origin: str,
    blocks: list[_Block],
    verifiers: Sequence[Verifier],
    summary: ChainSummary,
) -> rust_core.MerkleTree:
    leaves = rust_core.MerkleTree.from_entries([b.raw for b in blocks])
    log = ChainLog()
    previous: SignedCheckpoint | None = None
    timeline = KeyTimeline(origin, list(verifiers))
    for row in reads.checkpoints(chain_id, origin):
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
    return leaves


def _canonical(note: str) -> str:
    """The note re-encoded from its parts (text and signature lines in canonical base64)."""
    parsed = Note.parse(note)
    return parsed.text + "\n" + "".join(sig.line() for sig in parsed.signatures)
