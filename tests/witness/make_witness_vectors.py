"""Write tests/vectors/witness.json: cosignature and tlog-policy cases with the Python
reference's verdict on each, for the browser verifier (tests/js/witness.test.mjs) to match.

Deterministic (fixed seeds and timestamps; Ed25519 signing is deterministic), so
tests/witness/test_witness_vectors.py regenerates it and requires the stored file to be equal:
the file always holds today's Python verdicts. Regenerate with
``.venv/bin/python tests/witness/make_witness_vectors.py``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from farmtrace.tlog.checkpoint import Checkpoint
from farmtrace.tlog.cosignature import (
    CosignatureVerifier,
    Cosigner,
    cosignatures_of,
    cosigned_message,
)
from farmtrace.tlog.errors import TlogError
from farmtrace.tlog.merkle import MerkleTree
from farmtrace.tlog.note import NoteSignature, Signer, sign_note
from farmtrace.tlog.policy import Policy, check_checkpoint

OUT = Path(__file__).resolve().parents[1] / "vectors" / "witness.json"
ORIGIN = "farmtrace.example/vector-log"
T0 = 1_767_225_600


def seed(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


LOG = Signer(ORIGIN, seed("log"))
OTHER_LOG = Signer("farmtrace.example/other-log", seed("other log"))
W = {n: Cosigner(f"witness.example/{n}", seed("witness " + n)) for n in ("a", "b", "c")}
W["ü"] = Cosigner("witness.example/\u00fc-x", seed("witness u"))


def checkpoint(leaves: list[bytes], signer: Signer = LOG, origin: str = ORIGIN) -> str:
    tree = MerkleTree.from_entries(leaves)
    return sign_note(Checkpoint(origin, tree.size, tree.root).body(), [signer])


def error_of(exc: Exception) -> dict[str, str]:
    return {"error": type(exc).__name__}


def cosign(note: str, *names: str, at: int = T0) -> str:
    text = note.split("\n\n", 1)[0] + "\n"
    return note + "".join(W[n].cosign(text, at + i).line() for i, n in enumerate(names))


def raw_line(name: str, key_id: int, blob: bytes) -> str:
    return NoteSignature(name, key_id, blob).line()


def cosignature_cases() -> list[dict[str, Any]]:
    leaves = [f"entry {i}".encode() for i in range(7)]
    note = checkpoint(leaves)
    text = note.split("\n\n", 1)[0] + "\n"
    a, b = W["a"], W["b"]
    good = a.cosign(text, T0)
    flipped = bytearray(good.signature)
    flipped[20] ^= 1
    huge = (2**63).to_bytes(8, "big") + good.signature[8:]
    notes = {
        "one witness": cosign(note, "a"),
        "three witnesses": cosign(note, "a", "b", "c"),
        "non-ascii witness name": cosign(note, "ü"),
        "no cosignature": note,
        "bad signature of a known witness": note
        + raw_line(a.name, a.verifier.key_id, bytes(flipped)),
        "timestamp above 2**63-1": note + raw_line(a.name, a.verifier.key_id, huge),
        "short cosignature": note + raw_line(a.name, a.verifier.key_id, good.signature[:40]),
        "same witness twice": cosign(note, "a") + a.cosign(text, T0 + 99).line(),
        "cosigned another checkpoint": note + a.cosign(text.replace("\n7\n", "\n8\n"), T0).line(),
        "unknown key's line ignored": note + b.cosign(text, T0).line(),
        "timestamp zero is still a signature": note + _zero_time_line(a, text),
        "malformed note": note.replace("\n\n", "\n"),
    }
    cases = []
    for what, data in notes.items():
        keys = [W["a"].verifier.vkey, W["c"].verifier.vkey, W["ü"].verifier.vkey]
        try:
            found = cosignatures_of(data, [CosignatureVerifier.from_vkey(k) for k in keys])
            want: Any = [
                {"name": c.name, "keyId": c.key_id, "timestamp": str(c.timestamp)} for c in found
            ]
        except TlogError as exc:
            want = error_of(exc)
        cases.append({"what": what, "note": data, "witnesses": keys, "want": want})
    return cases


def _zero_time_line(cosigner: Cosigner, text: str) -> str:
    private = Ed25519PrivateKey.from_private_bytes(seed("witness a"))
    blob = (0).to_bytes(8, "big") + private.sign(cosigned_message(text, 0))
    return raw_line(cosigner.name, cosigner.verifier.key_id, blob)


def vkey_cases() -> list[dict[str, Any]]:
    good = W["a"].verifier.vkey
    name, hex_id, b64 = good.split("+", 2)
    typed = base64.b64decode(b64)
    texts = {
        "witness key": good,
        "log key is not a witness key": LOG.verifier.vkey,
        "wrong key id": f"{name}+00000000+{b64}",
        "short key": f"{name}+{hex_id}+{base64.b64encode(typed[:20]).decode()}",
        "no id": f"{name}+{b64}",
        "space in name": "a b+" + hex_id + "+" + b64,
    }
    cases = []
    for what, vkey in texts.items():
        try:
            key = CosignatureVerifier.from_vkey(vkey)
            want: Any = {"name": key.name, "keyId": key.key_id}
        except TlogError as exc:
            want = error_of(exc)
        cases.append({"what": what, "vkey": vkey, "want": want})
    return cases


def policy_cases() -> list[dict[str, Any]]:
    leaves = [f"entry {i}".encode() for i in range(7)]
    note = checkpoint(leaves)
    fork = checkpoint([*leaves[:6], b"forked"])
    other = checkpoint(leaves, OTHER_LOG, "farmtrace.example/other-log")
    misnamed = checkpoint(leaves, Signer(ORIGIN + "-key", seed("log")), ORIGIN)
    log = LOG.verifier.vkey
    wa, wb, wc, wu = (W[n].verifier.vkey for n in ("a", "b", "c", "ü"))
    base = f"log {log}\nwitness a {wa}\nwitness b {wb}\n\twitness  c {wc} https://c.example/\n"
    policies = {
        "2 of 3": base + "group g 2 a b c\nquorum g\n",
        "all": base + "group g all a b c\nquorum g\n",
        "any": base + "# a comment\ngroup g any a b c\nquorum g\n",
        "single witness": base + "quorum b\n",
        "none": f"log {log}\nquorum none\n",
        "nested, opaque non-ASCII name": base + f"witness \u00fc\u00a0x {wu}\n"
        "group ab any a b\ngroup g all ab \u00fc\u00a0x\nquorum g\n",
        "log listed under another name": f"log {Signer(ORIGIN + '-key', seed('log')).verifier.vkey}"
        "\nquorum none\n",
        "no log listed": f"witness a {wa}\nquorum a\n",
    }
    notes = {
        "a": cosign(note, "a"),
        "a b": cosign(note, "a", "b"),
        "a b c": cosign(note, "a", "b", "c"),
        "a ü": cosign(note, "a", "ü"),
        "none": note,
        "fork cosigned by c": cosign(fork, "c"),
        "fork with pasted a b": fork + cosign(note, "a", "b").split("\n\n", 1)[1].split("\n", 1)[1],
        "other log": cosign(other, "a"),
        "log key named otherwise": misnamed,
    }
    cases = []
    for pname, ptext in policies.items():
        for nname, ntext in notes.items():
            try:
                result = check_checkpoint(ntext, Policy.parse(ptext))
                want: Any = {
                    "log": result.log.vkey,
                    "cosigned": sorted(result.cosigned),
                    "quorum": result.quorum,
                }
            except TlogError as exc:
                want = error_of(exc)
            cases.append(
                {"what": f"{pname} / {nname}", "policy": ptext, "note": ntext, "want": want}
            )
    malformed = {
        "no quorum": f"log {log}\n",
        "two quorums": "quorum none\nquorum none\n",
        "undefined member": f"witness a {wa}\ngroup g any a z\nquorum g\n",
        "k above n": f"witness a {wa}\ngroup g 2 a\nquorum g\n",
        "k zero": f"witness a {wa}\ngroup g 0 a\nquorum g\n",
        "leading zero k": f"witness a {wa}\nwitness b {wb}\ngroup g 01 a b\nquorum g\n",
        "duplicate member": f"witness a {wa}\ngroup g any a a\nquorum g\n",
        "duplicate witness key": f"witness a {wa}\nwitness b {wa}\nquorum a\n",
        "duplicate log key": f"log {log}\nlog {log}\nquorum none\n",
        "none as a name": f"witness none {wa}\nquorum none\n",
        "redefined name": f"witness a {wa}\ngroup a any a\nquorum a\n",
        "log key as witness": f"witness a {log}\nquorum a\n",
        "witness key as log": f"log {wa}\nquorum none\n",
        "unknown keyword": "quorum none\nwitnesses a\n",
        "carriage return": "quorum none\r\n",
        "vertical tab": "quorum\x0bnone\n",
        "nbsp is not a separator": f"witness\u00a0a {wa}\nquorum none\n",
        "quorum before definition": f"quorum a\nwitness a {wa}\n",
    }
    for what, ptext in malformed.items():
        try:
            Policy.parse(ptext)
            want = {"ok": True}
        except TlogError as exc:
            want = error_of(exc)
        cases.append({"what": what, "policy": ptext, "note": None, "want": want})
    return cases


def vectors() -> dict[str, Any]:
    return {
        "about": "farmtrace witness vectors: C2SP cosignature/v1 and tlog-policy cases with the "
        "verdicts of farmtrace.tlog (tests/witness/make_witness_vectors.py). Keys are derived "
        "from SHA-256 of fixed labels; public domain test data.",
        "cosignatures": cosignature_cases(),
        "vkeys": vkey_cases(),
        "policies": policy_cases(),
    }


def render() -> str:
    return json.dumps(vectors(), indent=1, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    OUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUT}", file=sys.stderr)
