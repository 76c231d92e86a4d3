"""C2SP tlog-proof files: format round trips and verification with the plain-Python reference."""

from __future__ import annotations

import base64
import hashlib

import pytest

from farmtrace.tlog.checkpoint import Checkpoint, sign_checkpoint
from farmtrace.tlog.errors import (
    InvalidNoteSignature,
    MalformedCheckpoint,
    MalformedProof,
    ProofMismatch,
    UnverifiedNote,
)
from farmtrace.tlog.merkle import MerkleTree
from farmtrace.tlog.note import Signer
from farmtrace.tlog.proof import PROOF_HEADER, TlogProof, build_tlog_proof, verify_tlog_proof

ORIGIN = "farmtrace.example/gw-1"
KEY = Signer(ORIGIN, hashlib.sha256(b"proof-test").digest())
ENTRIES = [f"entry {i}".encode() for i in range(7)]
TREE = MerkleTree.from_entries(ENTRIES)
NOTE = sign_checkpoint(Checkpoint(ORIGIN, TREE.size, TREE.root), KEY)


def proof_for(index: int) -> str:
    return build_tlog_proof(index, TREE.inclusion_proof(index), NOTE)


def test_format_matches_the_spec_layout() -> None:
    text = proof_for(3)
    lines = text.split("\n")
    assert lines[0] == PROOF_HEADER
    assert lines[1] == "index 3"
    hashes = TREE.inclusion_proof(3)
    assert lines[2 : 2 + len(hashes)] == [base64.b64encode(h).decode() for h in hashes]
    assert lines[2 + len(hashes)] == ""
    assert "\n".join(lines[3 + len(hashes) :]) == NOTE
    assert TlogProof.parse(text).encode() == text


@pytest.mark.parametrize("index", range(len(ENTRIES)))
def test_every_entry_verifies(index: int) -> None:
    signed = verify_tlog_proof(proof_for(index), ENTRIES[index], [KEY.verifier], ORIGIN)
    assert signed.checkpoint.size == len(ENTRIES)


def test_extra_data_round_trips_and_is_not_needed_to_verify() -> None:
    proof = TlogProof(2, tuple(TREE.inclusion_proof(2)), NOTE, extra=b"context")
    text = proof.encode()
    assert text.split("\n")[1] == "extra " + base64.b64encode(b"context").decode()
    assert TlogProof.parse(text) == proof
    verify_tlog_proof(text, ENTRIES[2], [KEY.verifier], ORIGIN)


def test_single_entry_log_has_no_hashes() -> None:
    tree = MerkleTree.from_entries([b"only"])
    note = sign_checkpoint(Checkpoint(ORIGIN, 1, tree.root), KEY)
    text = build_tlog_proof(0, [], note)
    assert text.startswith(f"{PROOF_HEADER}\nindex 0\n\n")
    verify_tlog_proof(text, b"only", [KEY.verifier], ORIGIN)


def test_wrong_entry_is_rejected() -> None:
    with pytest.raises(ProofMismatch):
        verify_tlog_proof(proof_for(3), ENTRIES[4], [KEY.verifier], ORIGIN)


def test_wrong_index_is_rejected() -> None:
    text = proof_for(3).replace("index 3", "index 2", 1)
    with pytest.raises(ProofMismatch):
        verify_tlog_proof(text, ENTRIES[3], [KEY.verifier], ORIGIN)


def test_index_beyond_checkpoint_is_rejected() -> None:
    text = proof_for(3).replace("index 3", "index 7", 1)
    with pytest.raises(ProofMismatch, match="not below"):
        verify_tlog_proof(text, ENTRIES[3], [KEY.verifier], ORIGIN)


def test_altered_hash_is_rejected() -> None:
    proof = TlogProof.parse(proof_for(3))
    hashes = list(proof.hashes)
    hashes[1] = bytes(32)
    with pytest.raises(ProofMismatch):
        verify_tlog_proof(TlogProof(3, tuple(hashes), NOTE), ENTRIES[3], [KEY.verifier], ORIGIN)


def test_unknown_key_or_origin_is_rejected() -> None:
    other = Signer(ORIGIN, hashlib.sha256(b"other").digest())
    with pytest.raises(UnverifiedNote):
        verify_tlog_proof(proof_for(1), ENTRIES[1], [other.verifier], ORIGIN)
    with pytest.raises(MalformedCheckpoint):
        verify_tlog_proof(proof_for(1), ENTRIES[1], [KEY.verifier], "farmtrace.example/gw-2")


def test_altered_checkpoint_is_rejected() -> None:
    text = proof_for(1).replace(f"\n{len(ENTRIES)}\n", f"\n{len(ENTRIES) + 1}\n")
    with pytest.raises(InvalidNoteSignature):
        verify_tlog_proof(text, ENTRIES[1], [KEY.verifier], ORIGIN)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda t: t.replace(PROOF_HEADER, "c2sp.org/tlog-proof@v2"), "start with"),
        (lambda t: t.replace("index 3", "index 03"), "leading"),
        (lambda t: t.replace("index 3", "index -3"), "leading"),
        (lambda t: t.replace("index 3", "index  3"), "leading"),
        (lambda t: t.replace("index 3", "idx 3"), "index <N>"),
        (lambda t: t.replace("\n\n", "\n", 1), "empty line|not base64"),
        (lambda t: t.replace("index 3\n", "index 3\nAAAA\n"), "32 bytes"),
        (lambda t: t.replace("index 3\n", "index 3\n!!!!\n"), "not base64"),
        (lambda t: t.replace("index 3\n", "extra \nindex 3\n"), "empty"),
        (lambda t: t.replace("index 3\n", "extra !!\nindex 3\n"), "not base64"),
        (lambda t: t.replace("index 3\n", "index 3\nextra AA==\n"), "not base64"),
    ],
)
def test_malformed_proofs_are_rejected(mutate: object, message: str) -> None:
    text = mutate(proof_for(3))  # type: ignore[operator]
    with pytest.raises(MalformedProof, match=message):
        TlogProof.parse(text)


def test_invalid_utf8_is_rejected() -> None:
    with pytest.raises(MalformedProof, match="UTF-8"):
        TlogProof.parse(b"\xff")


def test_constructor_validates() -> None:
    with pytest.raises(MalformedProof):
        TlogProof(-1, (), NOTE)
    with pytest.raises(MalformedProof):
        TlogProof(0, (b"x",), NOTE)
    with pytest.raises(MalformedProof):
        TlogProof(0, (), NOTE, extra=b"")
