"""``docs/vectors/chain.json``: reproducible from its fixed inputs, and every value in it checks
with the plain-Python reference alone (RFC 9162 hashing and proofs, C2SP notes and proofs)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from make_chain_vectors import VECTORS, render

from farmtrace.chain.block import GENESIS_PREVIOUS, BlockHeader
from farmtrace.tlog.checkpoint import open_checkpoint
from farmtrace.tlog.merkle import MerkleTree, verify_consistency, verify_inclusion
from farmtrace.tlog.note import Signer, Verifier
from farmtrace.tlog.proof import verify_tlog_proof
from farmtrace.wire.protocol import decode


@pytest.fixture(scope="module")
def vectors() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTORS.read_text(encoding="utf-8"))
    return data


def unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def test_file_is_reproducible_from_its_inputs() -> None:
    assert VECTORS.read_text(encoding="utf-8") == render(), (
        "docs/vectors/chain.json differs from tests/gateway/make_chain_vectors.py's output"
    )


def test_keys(vectors: dict[str, Any]) -> None:
    key = vectors["checkpoint_key"]
    signer = Signer.from_skey(key["skey"])
    assert signer.verifier.vkey == key["vkey"]
    assert signer.name == vectors["origin"]
    assert Signer(vectors["origin"], bytes.fromhex(key["seed_hex"])).skey == key["skey"]


def test_entries_are_signed_readings_in_their_batches(vectors: dict[str, Any]) -> None:
    device = Ed25519PublicKey.from_public_bytes(unb64(vectors["device"]["public_key"]))
    blocks = {b["height"]: b for b in vectors["blocks"]}
    for entry in vectors["entries"]:
        payload = bytes.fromhex(entry["payload_hex"])
        reading = decode(payload)
        assert reading.device_id == vectors["device"]["device_id"]
        device.verify(reading.signature, reading.signed_bytes)
        leaf = hashlib.sha256(b"\x00" + payload).digest()
        assert unb64(entry["leaf_hash"]) == leaf
        block = blocks[entry["block"]]
        assert verify_inclusion(
            leaf,
            entry["index_in_block"],
            len(block["entries"]),
            [unb64(h) for h in entry["inclusion_proof"]],
            unb64(block["batch_root"]),
        )


def test_blocks_parse_link_and_commit_to_their_entries(vectors: dict[str, Any]) -> None:
    payloads = [bytes.fromhex(e["payload_hex"]) for e in vectors["entries"]]
    previous, first = GENESIS_PREVIOUS, 0
    for block in vectors["blocks"]:
        data = block["header"].encode("ascii")
        header = BlockHeader.parse(data)
        assert header.encode() == data
        assert (header.height, header.origin) == (block["height"], vectors["origin"])
        assert header.previous == previous and header.first_index == first
        batch = payloads[first : first + header.size]
        assert header.root == unb64(block["batch_root"]) == MerkleTree.from_entries(batch).root
        assert unb64(block["hash"]) == hashlib.sha256(b"\x00" + data).digest()
        previous, first = unb64(block["hash"]), first + header.size
    assert first == len(payloads)


def test_checkpoints_are_signed_chain_log_heads_consistent_in_turn(
    vectors: dict[str, Any],
) -> None:
    verifier = Verifier.from_vkey(vectors["checkpoint_key"]["vkey"])
    headers = [b["header"].encode("ascii") for b in vectors["blocks"]]
    log = MerkleTree.from_entries(headers)
    previous = None
    for cp in vectors["checkpoints"]:
        signed = open_checkpoint(cp["note"], [verifier], vectors["origin"]).checkpoint
        assert signed.size == cp["size"] and signed.root == unb64(cp["root"])
        assert signed.root == log.root_at(cp["size"])
        link = cp["consistency_from_previous"]
        if previous is None:
            assert link is None
        else:
            assert (link["size"], unb64(link["root"])) == (previous.size, previous.root)
            proof = [unb64(h) for h in link["proof"]]
            prefix = MerkleTree.from_entries(headers[: signed.size])
            assert proof == prefix.consistency_proof(previous.size)
            assert verify_consistency(previous.size, signed.size, proof, previous.root, signed.root)
        previous = signed


def test_tlog_proofs_prove_each_header(vectors: dict[str, Any]) -> None:
    verifier = Verifier.from_vkey(vectors["checkpoint_key"]["vkey"])
    blocks = {b["height"]: b for b in vectors["blocks"]}
    for item in vectors["tlog_proofs"]:
        header = blocks[item["block"]]["header"].encode("ascii")
        signed = verify_tlog_proof(item["text"], header, [verifier], vectors["origin"])
        assert signed.checkpoint.size == item["checkpoint_size"]
