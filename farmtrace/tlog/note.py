"""C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys, in plain Python.

A signed note is UTF-8 text ending in a newline, a blank line, then one or more signature
lines ``— <key name> <base64(4-byte key ID || signature)>``. The signed message is the text up
to and including its last newline before the blank line that precedes the signatures.

Keys are named; an Ed25519 key's ID is ``SHA-256(name || 0x0A || 0x01 || public key)[:4]``
read big-endian. Keys travel as strings, in the format of Go's ``golang.org/x/mod/sumdb/note``:

* verifier key: ``<name>+<8 hex digits of the key ID>+<base64(0x01 || 32-byte public key)>``;
* signer key: ``PRIVATE+KEY+<name>+<key ID>+<base64(0x01 || 32-byte seed)>``.

Key strings are split on the first ``+`` separators only, since base64 itself may contain ``+``.

:func:`open_note` follows the specification and the Go implementation: the note must be valid
UTF-8 without control characters other than newline; signatures from unknown keys (whose name
and ID do not both match a known key) are ignored; a known key's signature that fails to verify
rejects the whole note; a note with no verified signature is rejected. At most
:data:`MAX_SIGNATURES` signature lines are read (the specification asks for at least 16; Go
allows 100).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from farmtrace.tlog.errors import (
    InvalidKey,
    InvalidNoteSignature,
    MalformedNote,
    UnverifiedNote,
)

__all__ = [
    "ALG_ED25519",
    "MAX_SIGNATURES",
    "Note",
    "NoteSignature",
    "Signer",
    "VerifiedNote",
    "Verifier",
    "is_valid_key_name",
    "key_id",
    "open_note",
    "sign_note",
]

ALG_ED25519 = 0x01
"""Signature type byte of Ed25519 note signatures."""

MAX_SIGNATURES = 100
"""Most signature lines :func:`open_note` reads before rejecting the note (as Go does)."""

_SIGNATURE_PREFIX = "\u2014 "  # em dash, space
_ED25519_SIGNATURE_SIZE = 64
# C0 controls except newline: forbidden anywhere in a note.
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f]")


def is_valid_key_name(name: str) -> bool:
    """Whether ``name`` is a valid key name: non-empty, no Unicode space, no ``+``."""
    return (
        isinstance(name, str)
        and name != ""
        and "+" not in name
        and not any(ch.isspace() for ch in name)
        and _CONTROL.search(name) is None
    )


def key_id(name: str, typed_key: bytes) -> int:
    """The key ID of a key: ``SHA-256(name || 0x0A || type byte || key)[:4]`` big-endian."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + typed_key).digest()
    return int.from_bytes(digest[:4], "big")


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """One signature line: the key's name and ID and the raw signature (ID stripped)."""

    name: str
    key_id: int
    signature: bytes

    def line(self) -> str:
        """The signature line, newline included."""
        blob = self.key_id.to_bytes(4, "big") + self.signature
        return f"{_SIGNATURE_PREFIX}{self.name} {base64.b64encode(blob).decode('ascii')}\n"


@dataclass(frozen=True, slots=True)
class Note:
    """A parsed, *unverified* note: its text (ending in newline) and its signatures."""

    text: str
    signatures: tuple[NoteSignature, ...]

    @classmethod
    def parse(cls, data: str | bytes) -> Note:
        """Split a signed note into text and signature lines; raise :class:`MalformedNote`."""
        message = _as_text(data)
        if _CONTROL.search(message):
            raise MalformedNote("note contains a control character other than newline")
        split = message.rfind("\n\n")
        if split < 0:
            raise MalformedNote("note has no blank line before its signatures")
        text, block = message[: split + 1], message[split + 2 :]
        if not block or not block.endswith("\n"):
            raise MalformedNote("note must end with signature lines, each ending in a newline")
        lines = block[:-1].split("\n")
        if len(lines) > MAX_SIGNATURES:
            raise MalformedNote(f"note has more than {MAX_SIGNATURES} signature lines")
        return cls(text, tuple(_parse_signature_line(line) for line in lines))


@dataclass(frozen=True, slots=True)
class VerifiedNote:
    """A note whose text at least one known key has signed.

    ``verified`` holds the signatures checked against known keys; ``unverified`` those from
    unknown keys, which were ignored.
    """

    text: str
    verified: tuple[NoteSignature, ...]
    unverified: tuple[NoteSignature, ...]


class Verifier:
    """An Ed25519 verifier key with its name and key ID."""

    __slots__ = ("_public", "key_id", "name", "public_key")

    def __init__(self, name: str, public_key: bytes) -> None:
        if not is_valid_key_name(name):
            raise InvalidKey(f"invalid key name {name!r}: empty, or has a space or '+'")
        if not isinstance(public_key, bytes) or len(public_key) != 32:
            raise InvalidKey("an Ed25519 public key must be 32 bytes")
        self.name = name
        self.public_key = public_key
        self.key_id = key_id(name, bytes([ALG_ED25519]) + public_key)
        self._public = Ed25519PublicKey.from_public_bytes(public_key)

    @classmethod
    def from_vkey(cls, vkey: str) -> Verifier:
        """Parse a verifier key string ``<name>+<hex key ID>+<base64(0x01 || key)>``."""
        if not isinstance(vkey, str):
            raise InvalidKey(f"a verifier key must be a string, not {type(vkey).__name__}")
        name, _, rest = vkey.partition("+")
        hex_id, sep, b64 = rest.partition("+")
        if not sep or re.fullmatch("[0-9a-fA-F]{8}", hex_id) is None:
            raise InvalidKey(f"malformed verifier key {vkey!r}: want <name>+<8 hex>+<base64>")
        typed = _b64decode(b64, InvalidKey, "verifier key")
        if len(typed) != 33 or typed[0] != ALG_ED25519:
            raise InvalidKey("verifier key is not an Ed25519 key (0x01 and 32 bytes)")
        verifier = cls(name, typed[1:])
        if verifier.key_id != int(hex_id, 16):
            raise InvalidKey(f"verifier key {name}: key ID {hex_id} does not match the key")
        return verifier

    @property
    def vkey(self) -> str:
        """This key as a verifier key string."""
        typed = base64.b64encode(bytes([ALG_ED25519]) + self.public_key).decode("ascii")
        return f"{self.name}+{self.key_id:08x}+{typed}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is this key's Ed25519 signature of ``message``."""
        if len(signature) != _ED25519_SIGNATURE_SIZE:
            return False
        try:
            self._public.verify(signature, message)
        except _CryptoInvalidSignature:
            return False
        return True

    def __repr__(self) -> str:
        return f"Verifier({self.vkey!r})"


class Signer:
    """An Ed25519 signing key with its name; never printed (its repr shows the verifier key)."""

    __slots__ = ("_private", "_seed", "verifier")

    def __init__(self, name: str, seed: bytes) -> None:
        if not isinstance(seed, bytes) or len(seed) != 32:
            raise InvalidKey("an Ed25519 seed must be 32 bytes")
        self._seed = seed
        self._private = Ed25519PrivateKey.from_private_bytes(seed)
        public = self._private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.verifier = Verifier(name, public)

    @classmethod
    def generate(cls, name: str) -> Signer:
        """A new random key named ``name``."""
        seed = Ed25519PrivateKey.generate().private_bytes_raw()
        return cls(name, seed)

    @classmethod
    def from_skey(cls, skey: str) -> Signer:
        """Parse ``PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 || seed)>``."""
        parts = skey.split("+", 4) if isinstance(skey, str) else []
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise InvalidKey("malformed signer key: want PRIVATE+KEY+<name>+<id>+<base64>")
        name, hex_id, b64 = parts[2], parts[3], parts[4]
        if re.fullmatch("[0-9a-fA-F]{8}", hex_id) is None:
            raise InvalidKey("malformed signer key: the key ID must be 8 hex digits")
        typed = _b64decode(b64, InvalidKey, "signer key")
        if len(typed) != 33 or typed[0] != ALG_ED25519:
            raise InvalidKey("signer key is not an Ed25519 key (0x01 and a 32-byte seed)")
        signer = cls(name, typed[1:])
        if signer.key_id != int(hex_id, 16):
            raise InvalidKey(f"signer key {name}: key ID {hex_id} does not match the key")
        return signer

    @property
    def name(self) -> str:
        return self.verifier.name

    @property
    def key_id(self) -> int:
        return self.verifier.key_id

    @property
    def skey(self) -> str:
        """This key as a signer key string (secret: keep it in a mode-0600 file)."""
        typed = base64.b64encode(bytes([ALG_ED25519]) + self._seed).decode("ascii")
        return f"PRIVATE+KEY+{self.name}+{self.key_id:08x}+{typed}"

    def sign(self, text: str) -> NoteSignature:
        """Sign a note text (which must end in a newline)."""
        return NoteSignature(self.name, self.key_id, self._private.sign(text.encode("utf-8")))

    def __repr__(self) -> str:
        return f"Signer(verifier={self.verifier.vkey!r})"


def sign_note(text: str, signers: Sequence[Signer]) -> str:
    """A signed note of ``text`` with one signature line per signer, in order.

    ``text`` must be non-empty, end in a newline and contain no control character other than
    newline; otherwise :class:`MalformedNote` is raised.
    """
    if not isinstance(text, str) or not text.endswith("\n"):
        raise MalformedNote("note text must be a string ending in a newline")
    if _CONTROL.search(text):
        raise MalformedNote("note text contains a control character other than newline")
    if not signers:
        raise MalformedNote("a signed note needs at least one signer")
    return text + "\n" + "".join(signer.sign(text).line() for signer in signers)


def open_note(data: str | bytes, verifiers: Iterable[Verifier]) -> VerifiedNote:
    """Parse a signed note and verify it against the known keys ``verifiers``.

    Raises :class:`MalformedNote` for a note that breaks the format,
    :class:`InvalidNoteSignature` when a known key's signature does not verify, and
    :class:`UnverifiedNote` when no known key signed it.
    """
    note = Note.parse(data)
    known: dict[tuple[str, int], Verifier] = {}
    for verifier in verifiers:
        other = known.setdefault((verifier.name, verifier.key_id), verifier)
        if other.public_key != verifier.public_key:
            raise InvalidKey(
                f"two different known keys share {verifier.name}+{verifier.key_id:08x}"
            )
    message = note.text.encode("utf-8")
    verified: list[NoteSignature] = []
    unverified: list[NoteSignature] = []
    seen: set[tuple[str, int]] = set()
    for sig in note.signatures:
        key = (sig.name, sig.key_id)
        signer_key = known.get(key)
        if signer_key is None:
            if sig not in unverified:
                unverified.append(sig)
            continue
        if key in seen:
            continue
        seen.add(key)
        if not signer_key.verify(message, sig.signature):
            raise InvalidNoteSignature(f"invalid signature for key {sig.name}+{sig.key_id:08x}")
        verified.append(sig)
    if not verified:
        names = ", ".join(f"{s.name}+{s.key_id:08x}" for s in note.signatures)
        raise UnverifiedNote(f"note has no signature from a known key (signed by: {names})")
    return VerifiedNote(note.text, tuple(verified), tuple(unverified))


_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


def _as_text(data: str | bytes) -> str:
    if isinstance(data, str):
        try:
            data.encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate can sit in a str but in no UTF-8 note: name it, don't leak it.
            raise MalformedNote("note is not valid UTF-8 (it holds a lone surrogate)") from None
        return data
    if isinstance(data, bytes | bytearray | memoryview):
        try:
            return bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedNote("note is not valid UTF-8") from None
    raise TypeError(f"a note must be str or bytes, not {type(data).__name__}")


def _parse_signature_line(line: str) -> NoteSignature:
    if not line.startswith(_SIGNATURE_PREFIX):
        raise MalformedNote(f"signature line {line[:40]!r} does not start with an em dash")
    name, sep, b64 = line[len(_SIGNATURE_PREFIX) :].partition(" ")
    if not sep or not is_valid_key_name(name) or not b64:
        raise MalformedNote(f"malformed signature line {line[:60]!r}")
    blob = _b64decode(b64, MalformedNote, "signature")
    if len(blob) < 5:
        raise MalformedNote(f"signature of {name} is too short")
    return NoteSignature(name, int.from_bytes(blob[:4], "big"), blob[4:])


def _b64decode(text: str, error: type[Exception], what: str) -> bytes:
    # Python's decoder accepts padding after a complete group ("AAAA="); Go's encoding/base64
    # and the JS verifier refuse it, so check the padded shape first and all three agree.
    if not _BASE64.fullmatch(text):
        raise error(f"{what} is not valid base64")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise error(f"{what} is not valid base64") from None
