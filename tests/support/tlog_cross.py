"""Cross-implementation vectors: inputs judged by the Python reference, for the JS verifier.

:func:`build_vectors` signs notes, checkpoints and tlog-proofs with ``farmtrace.tlog`` and fixed
keys, mutates each (every single-bit flip of every byte, each rule of the formats broken on its
own, wrong entries, keys and origins), and records the reference's verdict for every input: the
parsed result, or the name of the :class:`~farmtrace.tlog.errors.TlogError` subclass it raised.
``tests/js/cross.test.mjs`` feeds the same inputs to ``farmtrace/api/web/static/verify`` and requires the
same verdict, so the two verifiers agree on every rule these inputs exercise.

Bytes travel as standard base64 and integers as decimal strings (sizes reach 2**64 - 1, beyond a
JavaScript number). Run as a script to write the JSON file: ``python tests/support/tlog_cross.py
OUT.json``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from farmtrace.tlog.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from farmtrace.tlog.errors import TlogError
from farmtrace.tlog.merkle import MerkleTree, verify_consistency, verify_inclusion
from farmtrace.tlog.note import (
    MAX_SIGNATURES,
    NoteSignature,
    Signer,
    Verifier,
    open_note,
    sign_note,
)
from farmtrace.tlog.proof import PROOF_HEADER, TlogProof, build_tlog_proof, verify_tlog_proof

__all__ = ["build_vectors", "write_vectors"]

Case = dict[str, Any]

ORIGIN = "farmtrace.example/gw-1"
C2SP_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
C2SP_NOTE = (
    "This is an example message.\n\n"
    "\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOB"
    "H3mFXmRKuwHjG1Yu72IneyaQM=\n"
)


def _signer(name: str, label: str = "") -> Signer:
    return Signer(name, hashlib.sha256(f"cross/{name}/{label}".encode()).digest())


LOG_KEY = _signer(ORIGIN)
WITNESS_KEY = _signer("witness.example/w1")
STRANGER_KEY = _signer("stranger.example/s")
IMPOSTOR_KEY = _signer(ORIGIN, "impostor")  # same name as the log's key, another key ID


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _verdict(run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``{"ok": True, ...result}`` or ``{"ok": False, "error": <TlogError subclass name>}``.

    Only the layer's own errors are verdicts; anything else is a bug and propagates.
    """
    try:
        return {"ok": True, **run()}
    except TlogError as error:
        return {"ok": False, "error": type(error).__name__}


def _bit_flips(data: bytes) -> Iterator[tuple[str, bytes]]:
    for i in range(len(data)):
        for bit in (0x01, 0x80):
            flipped = bytearray(data)
            flipped[i] ^= bit
            yield f"bit {bit:#04x} of byte {i}", bytes(flipped)


def _signatures(sigs: tuple[NoteSignature, ...]) -> list[list[Any]]:
    return [[s.name, s.key_id] for s in sigs]


# --------------------------------------------------------------------------------------------
# Verifier keys
# --------------------------------------------------------------------------------------------


def _vkey_case(name: str, vkey: str) -> Case:
    def run() -> dict[str, Any]:
        v = Verifier.from_vkey(vkey)
        return {"name": v.name, "keyId": v.key_id, "publicKey": _b64(v.public_key)}

    return {"kind": "vkey", "name": name, "vkey": vkey, "want": _verdict(run)}


def _vkey_cases() -> Iterator[Case]:
    for vkey in (C2SP_VKEY, LOG_KEY.verifier.vkey, WITNESS_KEY.verifier.vkey):
        yield _vkey_case("valid", vkey)
        for cut in range(len(vkey)):
            yield _vkey_case(f"cut at {cut}", vkey[:cut])
        # Replace each character in turn. (Appending "=" is left out: Python 3.11's
        # b64decode(validate=True) accepts padding after a complete group; Go and JS do not.)
        for i in range(len(vkey)):
            for ch in "A+= g\u00a0":
                if vkey[i] != ch:
                    yield _vkey_case(f"{ch!r} at {i}", vkey[:i] + ch + vkey[i + 1 :])


# --------------------------------------------------------------------------------------------
# Signed notes
# --------------------------------------------------------------------------------------------


def _note_case(name: str, note: bytes, vkeys: list[str]) -> Case:
    def run() -> dict[str, Any]:
        verified = open_note(note, [Verifier.from_vkey(k) for k in vkeys])
        return {
            "text": verified.text,
            "verified": _signatures(verified.verified),
            "unverified": _signatures(verified.unverified),
        }

    return {"kind": "note", "name": name, "note": _b64(note), "vkeys": vkeys, "want": _verdict(run)}


def _note_cases() -> Iterator[Case]:
    log, witness = LOG_KEY.verifier.vkey, WITNESS_KEY.verifier.vkey
    text = "farmtrace cross-check\n\nwith an empty line, and \u00fcnicode \u2014 too\n"
    multi = sign_note(text, [STRANGER_KEY, IMPOSTOR_KEY, LOG_KEY, WITNESS_KEY]).encode()
    for base_name, data, vkeys in (
        ("c2sp vector", C2SP_NOTE.encode(), [C2SP_VKEY]),
        ("four signers", multi, [log, witness]),
    ):
        yield _note_case(base_name, data, vkeys)
        for flip, flipped in _bit_flips(data):
            yield _note_case(f"{base_name}: {flip}", flipped, vkeys)
    yield _note_case("four signers, log key only", multi, [log])
    yield _note_case("four signers, no known key", multi, [C2SP_VKEY])
    yield _note_case("no verifiers", multi, [])
    forged = NoteSignature(LOG_KEY.name, LOG_KEY.key_id, bytes(64)).line()
    short = NoteSignature(LOG_KEY.name, LOG_KEY.key_id, bytes(63)).line()
    signed = sign_note("body\n", [WITNESS_KEY])
    yield _note_case("forged known signature", (signed + forged).encode(), [log, witness])
    yield _note_case("63-byte known signature", (signed + short).encode(), [log, witness])
    dup = sign_note("body\n", [LOG_KEY]) + forged
    yield _note_case("second signature of a known key is skipped", dup.encode(), [log])
    line = LOG_KEY.sign("x\n").line()
    yield _note_case("max signatures", ("x\n\n" + line * MAX_SIGNATURES).encode(), [log])
    yield _note_case("too many signatures", ("x\n\n" + line * (MAX_SIGNATURES + 1)).encode(), [log])
    yield _note_case("BOM kept", sign_note("\ufeffbom\n", [LOG_KEY]).encode(), [log])
    yield from _weak_key_cases()
    for i, bad in enumerate(
        [
            "no blank line\n\u2014 a AAAAAAA=\n",
            "text\n\n",
            "text\n\n\u2014 a AAAAAAA=",
            "text\n\n- a AAAAAAA=\n",
            "text\n\n\u2014 a\n",
            "text\n\n\u2014 a \n",
            "text\n\n\u2014 a+b AAAAAAA=\n",
            "text\n\n\u2014 a\u00a0b AAAAAAA=\n",
            "text\n\n\u2014 a AAAA\n",
            "text\n\n\u2014 a !!!!\n",
            "te\txt\n\n\u2014 a AAAAAAA=\n",
            "text\r\n\n\u2014 a AAAAAAA=\n",
            "text\x7f\n\n\u2014 a AAAAAAA=\n",
        ]
    ):
        yield _note_case(f"malformed {i}", bad.encode(), [log])


def _weak_key_cases() -> Iterator[Case]:
    """Keys no honest signer has: the identity point (small order) and a non-point.

    With the identity as public key, R = identity and S = 0 satisfy the Ed25519 equation for
    any message; the reference (OpenSSL) accepts that signature, so the JS side must too.
    """
    identity = bytes([1]) + bytes(31)
    for name, public in (("weak.example/identity", identity), ("weak.example/junk", b"\xff" * 32)):
        vkey = Verifier(name, public).vkey
        sig = NoteSignature(name, Verifier(name, public).key_id, identity + bytes(32)).line()
        yield _vkey_case(name, vkey)
        yield _note_case(f"{name}: R = identity, S = 0", f"body\n\n{sig}".encode(), [vkey])
        forged = NoteSignature(name, Verifier(name, public).key_id, bytes(64)).line()
        yield _note_case(f"{name}: zero signature", f"body\n\n{forged}".encode(), [vkey])


# --------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------


def _checkpoint_case(name: str, note: bytes, vkeys: list[str], origin: str | None) -> Case:
    def run() -> dict[str, Any]:
        signed = open_checkpoint(note, [Verifier.from_vkey(k) for k in vkeys], origin)
        c = signed.checkpoint
        return {
            "origin": c.origin,
            "size": str(c.size),
            "root": _b64(c.root),
            "extensions": list(c.extensions),
        }

    case = {"kind": "checkpoint", "name": name, "note": _b64(note), "vkeys": vkeys}
    return {**case, "origin": origin, "want": _verdict(run)}


def _checkpoint_cases() -> Iterator[Case]:
    log = LOG_KEY.verifier.vkey
    root = hashlib.sha256(b"root").digest()
    root64 = _b64(root)
    good = sign_checkpoint(Checkpoint(ORIGIN, 5, root, ("ext one", "ext two")), LOG_KEY).encode()
    yield _checkpoint_case("valid", good, [log], ORIGIN)
    yield _checkpoint_case("valid, any origin", good, [log], None)
    yield _checkpoint_case("other origin", good, [log], "farmtrace.example/gw-2")
    for flip, flipped in _bit_flips(good):
        yield _checkpoint_case(f"valid: {flip}", flipped, [log], ORIGIN)
    tweaked = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    tweaked_char = tweaked[tweaked.index(root64[-2]) ^ 1]
    bodies = [
        f"{ORIGIN}\n0\n{root64}\n",
        f"{ORIGIN}\n{2**64 - 1}\n{root64}\n",
        f"{ORIGIN}\n{2**64}\n{root64}\n",
        f"{ORIGIN}\n01\n{root64}\n",
        f"{ORIGIN}\n+1\n{root64}\n",
        f"{ORIGIN}\n-1\n{root64}\n",
        f"{ORIGIN}\n1 \n{root64}\n",
        f"{ORIGIN}\n\n{root64}\n",
        f"{ORIGIN}\n\u0661\n{root64}\n",
        f"{ORIGIN}\n1\nAAAA\n",
        f"{ORIGIN}\n1\n{root64[:-1]}\n",
        f"{ORIGIN}\n1\n{root64[:-2]}{tweaked_char}=\n",
        f"{ORIGIN}\n1\n{base64.urlsafe_b64encode(bytes([251] * 32)).decode()}\n",
        f"{ORIGIN}\n1\n{root64}\n\n",
        f"{ORIGIN}\n1\n{root64}\next\n\nmore\n",
        f"{ORIGIN}\n1\n",
        f"\n1\n{root64}\n",
    ]
    for i, body in enumerate(bodies):
        # Signed as notes, so that only the body's own rules can reject them.
        note = sign_note(body, [LOG_KEY]).encode()
        yield _checkpoint_case(f"body {i}", note, [log], None)


# --------------------------------------------------------------------------------------------
# tlog-proofs
# --------------------------------------------------------------------------------------------


def _proof_case(name: str, proof: bytes, entry: bytes, vkeys: list[str], origin: str) -> Case:
    def run() -> dict[str, Any]:
        signed = verify_tlog_proof(proof, entry, [Verifier.from_vkey(k) for k in vkeys], origin)
        parsed = TlogProof.parse(proof)
        return {
            "index": str(parsed.index),
            "size": str(signed.checkpoint.size),
            "extra": None if parsed.extra is None else _b64(parsed.extra),
        }

    case = {"kind": "tlogProof", "name": name, "proof": _b64(proof), "entry": _b64(entry)}
    return {**case, "vkeys": vkeys, "origin": origin, "want": _verdict(run)}


def _proof_cases() -> Iterator[Case]:
    log = LOG_KEY.verifier.vkey
    for count in (1, 2, 7, 16):
        entries = [f"reading {i} of {count}".encode() for i in range(count)]
        tree = MerkleTree.from_entries(entries)
        note = sign_checkpoint(Checkpoint(ORIGIN, tree.size, tree.root), LOG_KEY)
        for i, entry in enumerate(entries):
            text = build_tlog_proof(i, tree.inclusion_proof(i), note).encode()
            yield _proof_case(f"{count} entries, #{i}", text, entry, [log], ORIGIN)
            yield _proof_case(
                f"{count} entries, #{i}, wrong entry", text, b"x" + entry, [log], ORIGIN
            )
            yield _proof_case(
                f"{count} entries, #{i}, other origin", text, entry, [log], "o.example/x"
            )
            yield _proof_case(f"{count} entries, #{i}, other key", text, entry, [C2SP_VKEY], ORIGIN)
            for j in range(count + 1):
                if j != i:
                    moved = text.replace(f"\nindex {i}\n".encode(), f"\nindex {j}\n".encode(), 1)
                    yield _proof_case(f"{count} entries, #{i} as #{j}", moved, entry, [log], ORIGIN)
    entries = [f"entry {i}".encode() for i in range(7)]
    tree = MerkleTree.from_entries(entries)
    note = sign_checkpoint(Checkpoint(ORIGIN, tree.size, tree.root), LOG_KEY)
    base = TlogProof(3, tuple(tree.inclusion_proof(3)), note, extra=b"lot 42").encode()
    yield _proof_case("with extra", base.encode(), entries[3], [log], ORIGIN)
    for flip, flipped in _bit_flips(base.encode()):
        yield _proof_case(f"with extra: {flip}", flipped, entries[3], [log], ORIGIN)
    plain = build_tlog_proof(3, tree.inclusion_proof(3), note)
    first_hash = _b64(tree.inclusion_proof(3)[0])
    mutations: list[tuple[str, str]] = [
        ("version 2", plain.replace(PROOF_HEADER, "c2sp.org/tlog-proof@v2")),
        ("leading zero", plain.replace("index 3", "index 03")),
        ("negative", plain.replace("index 3", "index -3")),
        ("two spaces", plain.replace("index 3", "index  3")),
        ("index 2**64-1", plain.replace("index 3", f"index {2**64 - 1}")),
        ("index 2**64-2", plain.replace("index 3", f"index {2**64 - 2}")),
        ("idx", plain.replace("index 3", "idx 3")),
        ("no empty line", plain.replace("\n\n", "\n", 1)),
        ("short hash", plain.replace("index 3\n", "index 3\nAAAA\n")),
        ("bad hash", plain.replace("index 3\n", "index 3\n!!!!\n")),
        ("empty extra", plain.replace("index 3\n", "extra \nindex 3\n")),
        ("bad extra", plain.replace("index 3\n", "extra !!\nindex 3\n")),
        ("non-canonical extra", plain.replace("index 3\n", "extra AB==\nindex 3\n")),
        ("extra after index", plain.replace("index 3\n", "index 3\nextra AA==\n")),
        ("65 hashes", plain.replace("index 3\n", "index 3\n" + f"{first_hash}\n" * 65)),
        ("extra hash", plain.replace("index 3\n", f"index 3\n{first_hash}\n")),
        ("no checkpoint", plain[: plain.index("\n\n") + 2]),
        ("empty", ""),
    ]
    for name, mutated in mutations:
        yield _proof_case(name, mutated.encode(), entries[3], [log], ORIGIN)
    yield _proof_case("not UTF-8", b"\xff" + plain.encode(), entries[3], [log], ORIGIN)


# --------------------------------------------------------------------------------------------
# Merkle proofs
# --------------------------------------------------------------------------------------------


def _merkle_cases() -> Iterator[Case]:
    entries = [f"leaf {i}".encode() for i in range(21)]
    full = MerkleTree.from_entries(entries)
    for n in range(1, len(entries) + 1):
        root = full.root_at(n)
        tree = MerkleTree.from_leaf_hashes(full.leaf_hash(i) for i in range(n))
        for i in range(n):
            proof = tree.inclusion_proof(i)
            for name, leaf, index, size, p in (
                ("valid", tree.leaf_hash(i), i, n, proof),
                ("next leaf", tree.leaf_hash((i + 1) % n), i, n, proof),
                ("size + 1", tree.leaf_hash(i), i, n + 1, proof),
                ("size - 1", tree.leaf_hash(i), i, n - 1, proof),
                ("index ^ 1", tree.leaf_hash(i), i ^ 1, n, proof),
                ("proof reversed", tree.leaf_hash(i), i, n, proof[::-1]),
                ("proof + root", tree.leaf_hash(i), i, n, [*proof, root]),
            ):
                want = verify_inclusion(leaf, index, size, p, root)
                yield {
                    "kind": "inclusion",
                    "name": f"{n} leaves, #{i}: {name}",
                    "leafHash": _b64(leaf),
                    "index": str(index),
                    "size": str(size),
                    "proof": [_b64(h) for h in p],
                    "root": _b64(root),
                    "want": want,
                }
        for m in range(0, n + 1):
            proof = tree.consistency_proof(m) if m else []
            root1 = full.root_at(m)
            for name, size1, size2, p, r1 in (
                ("valid", m, n, proof, root1),
                ("size1 + 1", m + 1, n, proof, root1),
                ("size2 + 1", m, n + 1, proof, root1),
                ("proof reversed", m, n, proof[::-1], root1),
                ("root1 = root2", m, n, proof, root),
            ):
                yield {
                    "kind": "consistency",
                    "name": f"{m} -> {n}: {name}",
                    "size1": str(size1),
                    "size2": str(size2),
                    "proof": [_b64(h) for h in p],
                    "root1": _b64(r1),
                    "root2": _b64(root),
                    "want": verify_consistency(size1, size2, p, r1, root),
                }


def build_vectors() -> dict[str, Any]:
    """Every case, each with the Python reference's verdict under ``want``."""
    cases = [
        *_vkey_cases(),
        *_note_cases(),
        *_checkpoint_cases(),
        *_proof_cases(),
        *_merkle_cases(),
    ]
    return {
        "description": "farmtrace.tlog verdicts for the JS verifier (tests/support/tlog_cross.py)",
        "cases": cases,
    }


def write_vectors(path: Path) -> dict[str, Any]:
    """Build the vectors and write them to ``path`` as JSON; return them."""
    vectors = build_vectors()
    path.write_text(json.dumps(vectors, ensure_ascii=True, indent=0), encoding="utf-8")
    return vectors


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/support/tlog_cross.py OUT.json")
    written = write_vectors(Path(sys.argv[1]))
    print(f"{len(written['cases'])} cases written to {sys.argv[1]}")
