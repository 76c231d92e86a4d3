"""farmtrace.tlog.cosignature and farmtrace.tlog.policy against the C2SP texts."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from farmtrace.tlog.cosignature import (
    CosignatureVerifier,
    Cosigner,
    add_cosignatures,
    cosignatures_of,
    cosigned_message,
)
from farmtrace.tlog.errors import InvalidKey, InvalidNoteSignature
from farmtrace.tlog.note import Signer, Verifier, open_note, sign_note
from farmtrace.tlog.policy import MalformedPolicy, Policy

TEXT = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
SEED = hashlib.sha256(b"cosigner").digest()


def test_signed_message_is_the_spec_layout() -> None:
    assert cosigned_message(TEXT, 1679315147) == (
        b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n"
        b"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )


def test_cosignature_bytes_checked_with_plain_ed25519() -> None:
    """Key ID with type 0x04, 8-byte big-endian timestamp, Ed25519 over the message: checked
    with the cryptography package directly, not through our verifier."""
    cosigner = Cosigner("witness.example/w1", SEED)
    line = cosigner.cosign(TEXT, 1679315147).line()
    name, b64 = line[2:-1].split(" ")
    blob = base64.b64decode(b64)
    public = Ed25519PrivateKey.from_private_bytes(SEED).public_key()
    raw = public.public_bytes_raw()
    assert blob[:4] == hashlib.sha256(name.encode() + b"\n\x04" + raw).digest()[:4]
    assert int.from_bytes(blob[4:12], "big") == 1679315147
    public.verify(blob[12:], cosigned_message(TEXT, 1679315147))


def test_key_strings_round_trip_and_types_do_not_mix() -> None:
    cosigner = Cosigner("witness.example/w1", SEED)
    assert Cosigner.from_skey(cosigner.skey).verifier.vkey == cosigner.verifier.vkey
    assert CosignatureVerifier.from_vkey(cosigner.verifier.vkey).key_id == cosigner.verifier.key_id
    with pytest.raises(InvalidKey):
        Verifier.from_vkey(cosigner.verifier.vkey)  # a 0x04 key is no log key
    with pytest.raises(InvalidKey):
        CosignatureVerifier.from_vkey(Signer("log", SEED).verifier.vkey)


def test_a_cosignature_is_not_a_log_signature() -> None:
    """Same Ed25519 key, same name: the cosignature line neither verifies as a note signature
    nor matches the note key's ID."""
    log_key = Signer("witness.example/w1", SEED)
    note = sign_note(TEXT, [Signer("example.com/behind-the-sofa", bytes(32))])
    cosigned = add_cosignatures(note, [Cosigner("witness.example/w1", SEED).cosign(TEXT, 5).line()])
    with pytest.raises(Exception, match="no signature from a known key"):
        open_note(cosigned, [log_key.verifier])


def test_cosignatures_of_rejects_a_bad_known_line_and_ignores_unknown() -> None:
    a = Cosigner("witness.example/a", SEED)
    b = Cosigner.generate("witness.example/b")
    note = sign_note(TEXT, [Signer("example.com/behind-the-sofa", bytes(32))])
    good = add_cosignatures(note, [a.cosign(TEXT, 10).line(), b.cosign(TEXT, 11).line()])
    assert [c.timestamp for c in cosignatures_of(good, [a.verifier])] == [10]
    forged = a.cosign(TEXT.replace("20852163", "20852164"), 12).line()
    with pytest.raises(InvalidNoteSignature):
        cosignatures_of(add_cosignatures(note, [forged]), [a.verifier])


POLICY_KEYS = {
    "log": Signer("example.com/log", bytes(32)).verifier.vkey,
    **{
        n: Cosigner(f"w.example/{n}", hashlib.sha256(n.encode()).digest()).verifier.vkey
        for n in ("X1", "X2", "X3", "Y1")
    },
}


def test_the_specs_example_policy() -> None:
    text = (
        f"log {POLICY_KEYS['log']}\n\n"
        f"witness X1 {POLICY_KEYS['X1']}\nwitness X2 {POLICY_KEYS['X2']}\n"
        f"\twitness X3 {POLICY_KEYS['X3']} https://x3.example/\n"
        "group X-witnesses 2 X1 X2 X3\n"
        f"witness Y1 {POLICY_KEYS['Y1']}\n"
        "group Y-witnesses any Y1\n"
        "# both organisations\n"
        "group X-and-Y all X-witnesses Y-witnesses\n"
        "quorum X-and-Y\n"
    )
    policy = Policy.parse(text)
    assert policy.satisfied({"X1", "X3", "Y1"})
    assert not policy.satisfied({"X1", "Y1"})
    assert not policy.satisfied({"X1", "X2", "X3"})
    assert policy.witnesses[2].url == "https://x3.example/"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("log {log}\n", "no quorum line"),
        ("quorum none\nquorum none\n", "line 2: a second quorum"),
        ("quorum X1\n", "line 1: quorum 'X1' is not defined"),
        ("witness X1 {X1}\ngroup g 2 X1\nquorum g\n", "line 2: group g: threshold"),
        ("witness X1 {X1}\ngroup g 0 X1\nquorum g\n", "line 2: group g: threshold"),
        ("witness X1 {X1}\ngroup g any X1 X1\nquorum g\n", "listed twice"),
        ("witness X1 {X1}\nwitness X2 {X1}\nquorum X1\n", "line 2: witness X2: the same"),
        ("witness none {X1}\nquorum none\n", "reserved"),
        ("witness X1 {log}\nquorum X1\n", "line 1: witness X1"),
        ("log {X1}\nquorum none\n", "line 1: log key"),
        ("witness X1 {X1}\ngroup g any X2\nquorum g\n", "'X2' is not defined"),
        ("quorum none\nlogs x\n", "line 2: unknown keyword"),
        ("quorum none\x0b\n", "line 1: control character"),
    ],
)
def test_malformed_policies_are_named(text: str, why: str) -> None:
    with pytest.raises(MalformedPolicy, match=why):
        Policy.parse(text.format(**POLICY_KEYS))


def test_quorum_none_and_opaque_names() -> None:
    policy = Policy.parse(f"witness \u212a {POLICY_KEYS['X1']}\nquorum none\n".encode())
    assert policy.satisfied(set())
    assert Policy.parse(f"witness K {POLICY_KEYS['X1']}\nquorum K\n").satisfied({"K"})
