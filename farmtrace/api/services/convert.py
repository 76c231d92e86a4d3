"""Turning stored records into response models."""

from __future__ import annotations

import base64

from farmtrace.api.schemas.chain import MeasurementPublic, ReadingProofPublic, ReadingPublic
from farmtrace.store.records import ReadingProof, StoredEntry
from farmtrace.tlog.merkle import leaf_hash
from farmtrace.wire.protocol import ProtocolError, decode

__all__ = ["b64", "proof_public", "reading_public"]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def reading_public(entry: StoredEntry, clock_backwards: bool) -> ReadingPublic:
    """``entry`` as served; ``clock_backwards`` from :func:`farmtrace.store.clock.entry_went_backwards`."""
    public = ReadingPublic(
        origin=entry.origin,
        global_index=entry.global_index,
        block_height=entry.block_height,
        index_in_block=entry.index_in_block,
        kind=entry.kind,
        device_id=entry.device_id,
        seq=entry.seq,
        timestamp_ms=entry.timestamp_ms,
        clock_backwards=clock_backwards,
        entry=b64(entry.payload),
    )
    if entry.kind == "reading":
        try:
            signed = decode(entry.payload)
        except ProtocolError:
            return public  # the audit reports it; the bytes are still served as stored
        public.site, public.lot = signed.site, signed.lot
        public.measurements = [
            MeasurementPublic(type=m.type, value=m.value, uom=m.uom) for m in signed.measurements
        ]
    return public


def proof_public(proof: ReadingProof, device_key: bytes | None) -> ReadingProofPublic:
    return ReadingProofPublic(
        origin=proof.entry.origin,
        global_index=proof.entry.global_index,
        entry=b64(proof.entry.payload),
        leaf_hash=b64(leaf_hash(proof.entry.payload)),
        index_in_block=proof.entry.index_in_block,
        inclusion_proof=[b64(h) for h in proof.inclusion_proof],
        block_header=proof.block_bytes.decode("ascii"),
        block_hash=b64(proof.block.hash()),
        tlog_proof=proof.tlog_proof,
        device_public_key=None if device_key is None else b64(device_key),
    )
