"""C2SP tlog-checkpoint bodies: strict parsing, exact round trips, signing and opening."""

from __future__ import annotations

import base64
import hashlib

import pytest

from farmtrace.tlog.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from farmtrace.tlog.errors import InvalidNoteSignature, MalformedCheckpoint
from farmtrace.tlog.note import Signer

ROOT = hashlib.sha256(b"root").digest()
ROOT64 = base64.b64encode(ROOT).decode()
# The example of c2sp.org/tlog-checkpoint (its body; the signature needs a key we don't have).
SPEC_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"


def signer(name: str = "farmtrace.example/gw-1") -> Signer:
    return Signer(name, hashlib.sha256(name.encode()).digest())


def test_spec_example_body_parses_and_round_trips() -> None:
    checkpoint = Checkpoint.parse(SPEC_BODY)
    assert checkpoint.origin == "example.com/behind-the-sofa"
    assert checkpoint.size == 20852163
    assert checkpoint.body() == SPEC_BODY


def test_extension_lines_round_trip() -> None:
    body = f"o.example/x\n0\n{ROOT64}\nextension one\nanother\n"
    checkpoint = Checkpoint.parse(body)
    assert checkpoint.extensions == ("extension one", "another")
    assert checkpoint.body() == body


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (f"o\n1\n{ROOT64}", "newline"),
        ("o\n1\n", "origin, size and root"),
        (f"\n1\n{ROOT64}\n", "origin line is empty"),
        (f"o\n01\n{ROOT64}\n", "leading zeros"),
        (f"o\n+1\n{ROOT64}\n", "leading zeros"),
        (f"o\n-1\n{ROOT64}\n", "leading zeros"),
        (f"o\n1 \n{ROOT64}\n", "leading zeros"),
        (f"o\n\n{ROOT64}\n", "leading zeros"),
        (f"o\n{2**64}\n{ROOT64}\n", "2\\*\\*64"),
        ("o\n1\nAAAA\n", "32 bytes"),
        (f"o\n1\n{ROOT64[:-1]}\n", "not base64"),
        (f"o\n1\n{ROOT64}=\n", "not base64"),
        (f"o\n1\n{base64.urlsafe_b64encode(bytes([251] * 32)).decode()}\n", "not base64"),
        (f"o\n1\n{ROOT64}\n\n", "extension lines"),
        (f"o\n1\n{ROOT64}\next\n\nmore\n", "extension lines"),
    ],
)
def test_malformed_bodies_are_rejected(body: str, message: str) -> None:
    with pytest.raises(MalformedCheckpoint, match=message):
        Checkpoint.parse(body)


def test_non_canonical_base64_root_is_rejected() -> None:
    # The last character of a 32-byte base64 value carries 2 padding bits that must be zero.
    last = ROOT64[-2]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    tweaked = alphabet[alphabet.index(last) ^ 1]
    with pytest.raises(MalformedCheckpoint, match="canonical"):
        Checkpoint.parse(f"o\n1\n{ROOT64[:-2]}{tweaked}=\n")


def test_largest_size_is_accepted() -> None:
    assert Checkpoint.parse(f"o\n{2**64 - 1}\n{ROOT64}\n").size == 2**64 - 1


def test_sign_and_open() -> None:
    key = signer()
    note = sign_checkpoint(Checkpoint("farmtrace.example/gw-1", 5, ROOT), key)
    opened = open_checkpoint(note, [key.verifier], origin="farmtrace.example/gw-1")
    assert opened.checkpoint == Checkpoint("farmtrace.example/gw-1", 5, ROOT)
    assert opened.text == note


def test_open_rejects_unexpected_origin() -> None:
    key = signer()
    note = sign_checkpoint(Checkpoint("farmtrace.example/gw-1", 5, ROOT), key)
    with pytest.raises(MalformedCheckpoint, match="expected"):
        open_checkpoint(note, [key.verifier], origin="farmtrace.example/gw-2")


def test_open_rejects_altered_size() -> None:
    key = signer()
    note = sign_checkpoint(Checkpoint("farmtrace.example/gw-1", 5, ROOT), key)
    with pytest.raises(InvalidNoteSignature):
        open_checkpoint(note.replace("\n5\n", "\n6\n", 1), [key.verifier])


def test_signing_needs_key_name_equal_to_origin() -> None:
    with pytest.raises(MalformedCheckpoint, match="does not match"):
        sign_checkpoint(Checkpoint("farmtrace.example/gw-2", 5, ROOT), signer())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"origin": ""},
        {"origin": "a\nb"},
        {"size": -1},
        {"size": 2**64},
        {"root": b"short"},
        {"extensions": ("",)},
    ],
)
def test_constructor_validates(kwargs: dict[str, object]) -> None:
    fields: dict[str, object] = {"origin": "o", "size": 1, "root": ROOT, **kwargs}
    with pytest.raises(MalformedCheckpoint):
        Checkpoint(**fields)  # type: ignore[arg-type]
