"""Chains, readings and proofs as the API returns them (bytes as standard base64)."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = [
    "ChainPublic",
    "ConsistencyPublic",
    "MeasurementPublic",
    "ReadingProofPublic",
    "ReadingPublic",
]


class ChainPublic(BaseModel):
    origin: str
    verifier_keys: list[str]
    checkpoint_url: str


class ConsistencyPublic(BaseModel):
    """An RFC 9162 consistency proof between two chain-log sizes, with both checkpoints."""

    origin: str
    from_size: int
    to_size: int
    proof: list[str]
    from_checkpoint: str
    to_checkpoint: str


class MeasurementPublic(BaseModel):
    type: str
    value: float
    uom: str


class ReadingPublic(BaseModel):
    """A stored entry; for readings, its decoded, signed fields and ``clock_backwards``."""

    origin: str
    global_index: int
    block_height: int
    index_in_block: int
    kind: str
    device_id: str | None
    seq: int | None
    timestamp_ms: int | None
    site: str | None = None
    lot: str | None = None
    measurements: list[MeasurementPublic] = []
    clock_backwards: bool = Field(
        description="true for a reading whose signed timestamp is more than 1 s before that of "
        "its device's previous stored reading by seq: the device clock went backwards. The "
        "reading is authentic and served as signed; only its time is suspect. Always false "
        "for other kinds of entry."
    )
    entry: str


class ReadingProofPublic(BaseModel):
    """Everything to check one entry: see ``docs/chain.md`` "A reading's proof"."""

    origin: str
    global_index: int
    entry: str
    leaf_hash: str
    index_in_block: int
    inclusion_proof: list[str]
    block_header: str
    block_hash: str
    tlog_proof: str
    device_public_key: str | None
