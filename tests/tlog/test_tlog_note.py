"""C2SP signed notes: the published test vectors, signing round trips and every rejection rule."""

from __future__ import annotations

import base64
import hashlib

import pytest

from farmtrace.tlog.errors import InvalidKey, InvalidNoteSignature, MalformedNote, UnverifiedNote
from farmtrace.tlog.note import (
    MAX_SIGNATURES,
    Note,
    NoteSignature,
    Signer,
    Verifier,
    is_valid_key_name,
    key_id,
    open_note,
    sign_note,
)

# From STANDARDS.md (C2SP signed-note test vector).
C2SP_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
C2SP_NOTE = (
    "This is an example message.\n\n"
    "\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOB"
    "H3mFXmRKuwHjG1Yu72IneyaQM=\n"
)
# From the documentation of Go's golang.org/x/mod/sumdb/note.
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_NOTE = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n\n"
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngot"
    "pRZb6KE6RyyBwJnAM=\n"
)


def seeded(name: str, label: str = "") -> Signer:
    return Signer(name, hashlib.sha256(f"{name}/{label}".encode()).digest())


def test_c2sp_vector_verifies() -> None:
    verifier = Verifier.from_vkey(C2SP_VKEY)
    assert verifier.vkey == C2SP_VKEY
    assert verifier.key_id == 0x530D903A
    note = open_note(C2SP_NOTE, [verifier])
    assert note.text == "This is an example message.\n"
    assert [s.name for s in note.verified] == ["example.com/foo"]
    assert note.unverified == ()


def test_c2sp_vector_as_bytes_verifies() -> None:
    assert open_note(C2SP_NOTE.encode(), [Verifier.from_vkey(C2SP_VKEY)]).verified


def test_go_documentation_vector_verifies() -> None:
    note = open_note(GO_NOTE, [Verifier.from_vkey(GO_VKEY)])
    assert note.text.startswith("If you think")


def test_key_id_is_sha256_of_name_newline_type_and_key() -> None:
    verifier = Verifier.from_vkey(C2SP_VKEY)
    digest = hashlib.sha256(b"example.com/foo\n\x01" + verifier.public_key).digest()
    assert key_id("example.com/foo", b"\x01" + verifier.public_key) == int.from_bytes(
        digest[:4], "big"
    )


def test_sign_and_open_round_trip() -> None:
    signer = seeded("farmtrace.example/gw-1")
    signed = sign_note("hello\nworld\n", [signer])
    assert signed.startswith("hello\nworld\n\n\u2014 farmtrace.example/gw-1 ")
    note = open_note(signed, [signer.verifier])
    assert note.text == "hello\nworld\n"


def test_signer_key_string_round_trip() -> None:
    signer = seeded("farmtrace.example/gw-1")
    again = Signer.from_skey(signer.skey)
    assert again.verifier.vkey == signer.verifier.vkey
    assert "PRIVATE" not in repr(signer)


def test_verifier_key_splits_on_first_two_plus_signs_only() -> None:
    # Find a deterministic key whose base64 contains '+'.
    for label in range(1000):
        signer = seeded("example.org/plus", str(label))
        encoded = signer.verifier.vkey.split("+", 2)[2]
        if "+" in encoded:
            break
    else:  # pragma: no cover - astronomically unlikely
        pytest.fail("no key with '+' in its base64 among 1000")
    parsed = Verifier.from_vkey(signer.verifier.vkey)
    assert parsed.public_key == signer.verifier.public_key
    assert open_note(sign_note("x\n", [signer]), [parsed]).verified


@pytest.mark.parametrize(
    "vkey",
    [
        "",
        "example.com/foo",
        "example.com/foo+530d903a",
        "example.com/foo+530d903+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+530d903g+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",  # wrong ID
        "example.com/bar+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",  # wrong name
        "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2",  # bad base64
        "example.com/foo+530d903a+AkyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k=",  # not 0x01
        "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv",  # short key
        "exa mple.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
    ],
)
def test_malformed_verifier_keys_are_rejected(vkey: str) -> None:
    with pytest.raises(InvalidKey):
        Verifier.from_vkey(vkey)


@pytest.mark.parametrize(
    "skey",
    ["", "PRIVATE+KEY+a", "PRIVATE+KEY+a+00000000+AQ==", "KEY+PRIVATE+a+00000000+AAAA"],
)
def test_malformed_signer_keys_are_rejected(skey: str) -> None:
    with pytest.raises(InvalidKey):
        Signer.from_skey(skey)


def test_signer_key_with_wrong_id_is_rejected() -> None:
    good = seeded("a.example/k").skey
    bad = good.replace(f"+{seeded('a.example/k').key_id:08x}+", "+00000000+")
    with pytest.raises(InvalidKey, match="does not match"):
        Signer.from_skey(bad)


def test_key_names() -> None:
    assert is_valid_key_name("example.com/foo")
    for bad in ["", "a b", "a+b", "a\u00a0b", "a\u2003b", "a\tb"]:
        assert not is_valid_key_name(bad)


def test_unknown_keys_are_ignored_when_a_known_key_verifies() -> None:
    known, other = seeded("log.example/a"), seeded("witness.example/w")
    # Same name as the known key but another key ID: unknown, so ignored.
    impostor = seeded("log.example/a", "impostor")
    text = "body\n"
    signed = text + "\n" + other.sign(text).line() + impostor.sign(text).line()
    signed += known.sign(text).line()
    note = open_note(signed, [known.verifier])
    assert [s.name for s in note.verified] == ["log.example/a"]
    assert {s.name for s in note.unverified} == {"witness.example/w", "log.example/a"}


def test_note_signed_only_by_unknown_keys_is_rejected() -> None:
    signed = sign_note("body\n", [seeded("someone.example/x")])
    with pytest.raises(UnverifiedNote):
        open_note(signed, [seeded("log.example/a").verifier])


def test_note_with_no_known_keys_at_all_is_rejected() -> None:
    with pytest.raises(UnverifiedNote):
        open_note(C2SP_NOTE, [])


def test_bad_signature_from_known_key_rejects_the_whole_note() -> None:
    known, extra = seeded("log.example/a"), seeded("log.example/b")
    good = sign_note("body\n", [extra])
    forged = NoteSignature(known.name, known.key_id, bytes(64)).line()
    with pytest.raises(InvalidNoteSignature, match=r"log\.example/a"):
        open_note(good + forged, [known.verifier, extra.verifier])


def test_altered_text_is_rejected() -> None:
    verifier = Verifier.from_vkey(C2SP_VKEY)
    with pytest.raises(InvalidNoteSignature):
        open_note(C2SP_NOTE.replace("example", "exemple", 1), [verifier])


def test_every_single_byte_flip_of_the_vector_is_rejected() -> None:
    verifier = Verifier.from_vkey(C2SP_VKEY)
    data = C2SP_NOTE.encode()
    for i in range(len(data)):
        for bit in (0x01, 0x80):
            flipped = bytearray(data)
            flipped[i] ^= bit
            try:
                open_note(bytes(flipped), [verifier])
            except (MalformedNote, InvalidNoteSignature, UnverifiedNote):
                continue
            pytest.fail(f"flip of bit {bit:#x} at byte {i} was accepted")


def test_ambiguous_known_keys_are_rejected() -> None:
    a = seeded("log.example/a")
    fake = Verifier.__new__(Verifier)
    for slot, value in (("name", a.name), ("key_id", a.key_id), ("public_key", bytes(32))):
        object.__setattr__(fake, slot, value)
    with pytest.raises(InvalidKey, match="share"):
        open_note(sign_note("x\n", [a]), [a.verifier, fake])


@pytest.mark.parametrize(
    ("note", "message"),
    [
        ("no blank line\n\u2014 a AAAAAAA=\n", "blank line"),
        ("text\n\n", "signature lines"),
        ("text\n\n\u2014 a AAAAAAA=", "signature lines"),
        ("text\n\n- a AAAAAAA=\n", "em dash"),
        ("text\n\n\u2014 a\n", "malformed"),
        ("text\n\n\u2014 a \n", "malformed"),
        ("text\n\n\u2014 a+b AAAAAAA=\n", "malformed"),
        ("text\n\n\u2014 a AAAA\n", "too short"),
        ("text\n\n\u2014 a !!!!\n", "base64"),
        ("te\txt\n\n\u2014 a AAAAAAA=\n", "control"),
        ("text\r\n\n\u2014 a AAAAAAA=\n", "control"),
    ],
)
def test_malformed_notes_are_rejected(note: str, message: str) -> None:
    with pytest.raises(MalformedNote, match=message):
        open_note(note, [Verifier.from_vkey(C2SP_VKEY)])


def test_invalid_utf8_is_rejected() -> None:
    with pytest.raises(MalformedNote, match="UTF-8"):
        Note.parse(b"\xff\xfe\n\n\xe2\x80\x94 a AAAAAAA=\n")


def test_too_many_signatures_are_rejected() -> None:
    signer = seeded("log.example/a")
    line = signer.sign("x\n").line()
    Note.parse("x\n\n" + line * MAX_SIGNATURES)
    with pytest.raises(MalformedNote, match="more than"):
        Note.parse("x\n\n" + line * (MAX_SIGNATURES + 1))


def test_text_may_contain_empty_lines_split_at_last_blank_line() -> None:
    signer = seeded("log.example/a")
    signed = sign_note("a\n\nb\n", [signer])
    assert open_note(signed, [signer.verifier]).text == "a\n\nb\n"


@pytest.mark.parametrize("text", ["", "no newline", "ctrl\x00\n"])
def test_sign_rejects_bad_text(text: str) -> None:
    with pytest.raises(MalformedNote):
        sign_note(text, [seeded("log.example/a")])


def test_signature_encoding_is_key_id_then_signature() -> None:
    signer = seeded("log.example/a")
    line = signer.sign("x\n").line()
    blob = base64.b64decode(line.split(" ")[2])
    assert int.from_bytes(blob[:4], "big") == signer.key_id
    assert len(blob) == 68


def test_padding_after_a_complete_base64_group_is_rejected() -> None:
    # Python's b64decode accepts "....=" here; Go and the JS verifier refuse it.
    with pytest.raises(InvalidKey, match="not valid base64"):
        Verifier.from_vkey(C2SP_VKEY + "=")
    sig_line = C2SP_NOTE.splitlines()[-1]
    with pytest.raises(MalformedNote, match="not valid base64"):
        open_note(C2SP_NOTE.replace(sig_line, sig_line + "="), [Verifier.from_vkey(C2SP_VKEY)])


def test_lone_surrogate_in_a_str_note_is_a_malformed_note() -> None:
    with pytest.raises(MalformedNote, match="UTF-8"):
        open_note(
            "text \ud800\n" + C2SP_NOTE[C2SP_NOTE.index("\n") :], [Verifier.from_vkey(C2SP_VKEY)]
        )
