"""C2SP checkpoint cosignatures (c2sp.org/tlog-cosignature, ``cosignature/v1``, Ed25519).

A cosignature is a note signature line on a checkpoint, made by a *witness* (cosigner)::

    — <witness name> base64(4-byte key ID || 8-byte big-endian timestamp || 64-byte signature)

* key ID = ``SHA-256(<name> || 0x0A || 0x04 || 32-byte Ed25519 public key)[:4]`` (type byte
  0x04, not the 0x01 of log keys, so a cosignature can never pass as a log signature);
* the timestamp is POSIX seconds, at most 2**63 - 1; a witness never sends 0;
* the signature is Ed25519 over ``cosignature/v1\\ntime <timestamp>\\n`` followed by the whole
  checkpoint note text (the lines before the blank line, each ending in a newline).

Keys travel in the same string formats as note keys (:mod:`farmtrace.tlog.note`) with type byte
0x04: ``<name>+<hex key ID>+<base64(0x04 || public key)>`` and
``PRIVATE+KEY+<name>+<hex key ID>+<base64(0x04 || seed)>``.

:func:`cosignatures_of` follows the note rules: a line whose name and key ID match a known
witness must verify (else :class:`InvalidNoteSignature`); lines of unknown keys are ignored.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from farmtrace.tlog.errors import InvalidKey, InvalidNoteSignature, MalformedNote
from farmtrace.tlog.note import Note, NoteSignature, is_valid_key_name, key_id

__all__ = [
    "ALG_COSIGNATURE_V1",
    "MAX_TIMESTAMP",
    "Cosignature",
    "CosignatureVerifier",
    "Cosigner",
    "add_cosignatures",
    "cosignatures_of",
    "cosigned_message",
]

ALG_COSIGNATURE_V1 = 0x04
"""Signature type byte of Ed25519 ``cosignature/v1`` keys."""

MAX_TIMESTAMP = 2**63 - 1
"""Largest timestamp a cosignature may carry."""

_SIGNATURE_SIZE = 8 + 64
_HEX_ID = re.compile("[0-9a-fA-F]{8}")
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


def cosigned_message(text: str, timestamp: int) -> bytes:
    """The bytes a ``cosignature/v1`` signs for checkpoint note ``text`` at ``timestamp``."""
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise TypeError("a cosignature timestamp must be an int")
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise MalformedNote(f"cosignature timestamp {timestamp} is not in [0, 2**63 - 1]")
    return f"cosignature/v1\ntime {timestamp}\n{text}".encode()


@dataclass(frozen=True, slots=True)
class Cosignature:
    """A verified cosignature: which witness, when (POSIX seconds), and its signature line."""

    name: str
    key_id: int
    timestamp: int
    line: str


def _decode_key(text: str, what: str) -> bytes:
    if not _BASE64.fullmatch(text):
        raise InvalidKey(f"{what} is not valid base64")
    typed = base64.b64decode(text, validate=True)
    if len(typed) != 33 or typed[0] != ALG_COSIGNATURE_V1:
        raise InvalidKey(f"{what} is not a cosignature/v1 key (0x04 and 32 bytes)")
    return typed[1:]


class CosignatureVerifier:
    """A witness's Ed25519 cosignature/v1 verifier key with its name and key ID."""

    __slots__ = ("_public", "key_id", "name", "public_key")

    def __init__(self, name: str, public_key: bytes) -> None:
        if not is_valid_key_name(name):
            raise InvalidKey(f"invalid key name {name!r}: empty, or has a space or '+'")
        if not isinstance(public_key, bytes) or len(public_key) != 32:
            raise InvalidKey("an Ed25519 public key must be 32 bytes")
        self.name = name
        self.public_key = public_key
        self.key_id = key_id(name, bytes([ALG_COSIGNATURE_V1]) + public_key)
        self._public = Ed25519PublicKey.from_public_bytes(public_key)

    @classmethod
    def from_vkey(cls, vkey: str) -> CosignatureVerifier:
        """Parse ``<name>+<hex key ID>+<base64(0x04 || key)>``; :class:`InvalidKey` if not."""
        if not isinstance(vkey, str):
            raise InvalidKey(f"a verifier key must be a string, not {type(vkey).__name__}")
        name, _, rest = vkey.partition("+")
        hex_id, sep, b64 = rest.partition("+")
        if not sep or _HEX_ID.fullmatch(hex_id) is None:
            raise InvalidKey(f"malformed verifier key {vkey!r}: want <name>+<8 hex>+<base64>")
        verifier = cls(name, _decode_key(b64, "witness verifier key"))
        if verifier.key_id != int(hex_id, 16):
            raise InvalidKey(f"witness key {name}: key ID {hex_id} does not match the key")
        return verifier

    @property
    def vkey(self) -> str:
        """This key as a verifier key string."""
        typed = base64.b64encode(bytes([ALG_COSIGNATURE_V1]) + self.public_key).decode("ascii")
        return f"{self.name}+{self.key_id:08x}+{typed}"

    def verify(self, text: str, signature: bytes) -> int | None:
        """The timestamp of ``signature`` (key ID stripped) if it is this key's cosignature of
        checkpoint note ``text``, else ``None``."""
        if len(signature) != _SIGNATURE_SIZE:
            return None
        timestamp = int.from_bytes(signature[:8], "big")
        if timestamp > MAX_TIMESTAMP:
            return None
        try:
            self._public.verify(signature[8:], cosigned_message(text, timestamp))
        except _CryptoInvalidSignature:
            return None
        return timestamp

    def __repr__(self) -> str:
        return f"CosignatureVerifier({self.vkey!r})"


class Cosigner:
    """A witness's cosignature/v1 signing key; never printed (repr shows the verifier key)."""

    __slots__ = ("_private", "_seed", "verifier")

    def __init__(self, name: str, seed: bytes) -> None:
        if not isinstance(seed, bytes) or len(seed) != 32:
            raise InvalidKey("an Ed25519 seed must be 32 bytes")
        self._seed = seed
        self._private = Ed25519PrivateKey.from_private_bytes(seed)
        public = self._private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.verifier = CosignatureVerifier(name, public)

    @classmethod
    def generate(cls, name: str) -> Cosigner:
        """A new random key named ``name``."""
        return cls(name, Ed25519PrivateKey.generate().private_bytes_raw())

    @classmethod
    def from_skey(cls, skey: str) -> Cosigner:
        """Parse ``PRIVATE+KEY+<name>+<hex key ID>+<base64(0x04 || seed)>``."""
        parts = skey.split("+", 4) if isinstance(skey, str) else []
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise InvalidKey("malformed witness key: want PRIVATE+KEY+<name>+<id>+<base64>")
        name, hex_id, b64 = parts[2], parts[3], parts[4]
        if _HEX_ID.fullmatch(hex_id) is None:
            raise InvalidKey("malformed witness key: the key ID must be 8 hex digits")
        cosigner = cls(name, _decode_key(b64, "witness signer key"))
        if cosigner.verifier.key_id != int(hex_id, 16):
            raise InvalidKey(f"witness key {name}: key ID {hex_id} does not match the key")
        return cosigner

    @property
    def name(self) -> str:
        return self.verifier.name

    @property
    def skey(self) -> str:
        """This key as a signer key string (secret: keep it in a mode-0600 file)."""
        typed = base64.b64encode(bytes([ALG_COSIGNATURE_V1]) + self._seed).decode("ascii")
        return f"PRIVATE+KEY+{self.name}+{self.verifier.key_id:08x}+{typed}"

    def cosign(self, text: str, timestamp: int) -> NoteSignature:
        """The cosignature of checkpoint note ``text`` at ``timestamp`` (POSIX seconds, > 0)."""
        if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 1:
            raise MalformedNote("a witness's cosignature timestamp must be a positive int")
        signature = self._private.sign(cosigned_message(text, timestamp))
        return NoteSignature(
            self.name, self.verifier.key_id, timestamp.to_bytes(8, "big") + signature
        )

    def __repr__(self) -> str:
        return f"Cosigner(verifier={self.verifier.vkey!r})"


def cosignatures_of(
    note: str | bytes | Note, witnesses: Iterable[CosignatureVerifier]
) -> list[Cosignature]:
    """The valid cosignatures on a signed ``note`` by the known ``witnesses``, in note order.

    Lines from unknown keys are ignored (the log's own signature among them); a line whose
    name and key ID match a known witness but that does not verify raises
    :class:`InvalidNoteSignature`, as a bad known-key signature does in :func:`open_note`.
    A witness that signed twice counts once (its first line).
    """
    parsed = note if isinstance(note, Note) else Note.parse(note)
    known = {(w.name, w.key_id): w for w in witnesses}
    found: list[Cosignature] = []
    seen: set[tuple[str, int]] = set()
    for sig in parsed.signatures:
        witness = known.get((sig.name, sig.key_id))
        if witness is None or (sig.name, sig.key_id) in seen:
            continue
        timestamp = witness.verify(parsed.text, sig.signature)
        if timestamp is None:
            raise InvalidNoteSignature(
                f"invalid cosignature for witness key {sig.name}+{sig.key_id:08x}"
            )
        seen.add((sig.name, sig.key_id))
        found.append(Cosignature(sig.name, sig.key_id, timestamp, sig.line()))
    return found


def add_cosignatures(note: str, lines: Iterable[str]) -> str:
    """``note`` with the signature ``lines`` appended, each once (in the given order).

    ``note`` must be a signed note (checked by parsing); each line must be a well-formed
    signature line ending in a newline (:class:`MalformedNote` otherwise).
    """
    parsed = Note.parse(note)
    present = {sig.line() for sig in parsed.signatures}
    out = note
    for line in lines:
        if not isinstance(line, str) or not line.endswith("\n"):
            raise MalformedNote("a cosignature line must end with a newline")
        Note.parse("x\n\n" + line)  # well-formed on its own
        if line not in present:
            present.add(line)
            out += line
    return out
