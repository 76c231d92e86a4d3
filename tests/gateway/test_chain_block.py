"""Block headers: one encoding per header, strict parsing, and the block hash."""

from __future__ import annotations

import hashlib

import pytest

from farmtrace.chain.block import (
    GENESIS_PREVIOUS,
    MAX_INT,
    BlockHeader,
    block_hash,
    validate_origin,
)
from farmtrace.chain.errors import BlockHeaderError

ROOT = hashlib.sha256(b"root").digest()
PREV = hashlib.sha256(b"prev").digest()
HEADER = BlockHeader("farmtrace.example/gw-1", 3, PREV, 1718000000123, 15000, 5000, ROOT)


def test_round_trip_and_layout() -> None:
    data = HEADER.encode()
    assert BlockHeader.parse(data) == HEADER
    lines = data.decode().split("\n")
    assert lines[0] == "farmtrace/block/v1"
    assert [line.split(" ")[0] for line in lines[1:-1]] == [
        "origin",
        "height",
        "previous",
        "time",
        "first",
        "size",
        "root",
    ]
    assert lines[-1] == ""


def test_block_hash_is_rfc9162_leaf_hash_of_the_bytes() -> None:
    assert HEADER.hash() == hashlib.sha256(b"\x00" + HEADER.encode()).digest()
    assert block_hash(HEADER.encode()) == HEADER.hash()
    assert HEADER.next_index == 20000


def test_genesis_needs_zero_previous_and_only_genesis() -> None:
    BlockHeader("o.example/x", 0, GENESIS_PREVIOUS, 0, 0, 1, ROOT)
    with pytest.raises(BlockHeaderError, match="zero"):
        BlockHeader("o.example/x", 0, PREV, 0, 0, 1, ROOT)
    with pytest.raises(BlockHeaderError, match="zero"):
        BlockHeader("o.example/x", 1, GENESIS_PREVIOUS, 0, 0, 1, ROOT)


def replace_line(field: str, value: str) -> bytes:
    lines = HEADER.encode().decode().split("\n")
    for i, line in enumerate(lines):
        if line.startswith(field + " "):
            lines[i] = f"{field} {value}"
    return "\n".join(lines).encode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (HEADER.encode()[:-1], "newline"),
        (HEADER.encode() + b"\n", "lines"),
        (HEADER.encode() + b"extra 1\n", "lines"),
        (b"farmtrace/block/v2" + HEADER.encode()[18:], "start with"),
        (HEADER.encode().replace(b"origin ", b"origin  "), "origin"),
        (HEADER.encode().replace(b"height ", b"height\t"), "height"),
        (HEADER.encode().replace(b"first", b"First"), "first"),
        (HEADER.encode().replace(b"\n", b"\r\n"), "lines|start with|newline|origin"),
        (replace_line("height", "03"), "leading zeros"),
        (replace_line("height", "-3"), "leading zeros"),
        (replace_line("height", "+3"), "leading zeros"),
        (replace_line("height", ""), "leading zeros"),
        (replace_line("height", str(MAX_INT + 1)), "out of range|leading"),
        (replace_line("size", "0"), "out of range"),
        (replace_line("time", "1.5"), "leading zeros"),
        (replace_line("root", "AAAA"), "32 bytes"),
        (replace_line("root", "!" * 44), "base64"),
        (replace_line("origin", "a+b"), "origin"),
        (replace_line("origin", "a b"), "lines|origin"),
        (HEADER.encode().replace(b"farmtrace.example", "f\u00e4rm".encode()), "ASCII"),
    ],
)
def test_parse_rejects(data: bytes, message: str) -> None:
    with pytest.raises(BlockHeaderError, match=message):
        BlockHeader.parse(data)


def test_parse_rejects_non_canonical_base64() -> None:
    text = HEADER.encode().decode()
    root64 = text.split("root ")[1].strip()
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    tweaked = root64[:-2] + alphabet[alphabet.index(root64[-2]) ^ 1] + "="
    with pytest.raises(BlockHeaderError, match="canonical"):
        BlockHeader.parse(text.replace(root64, tweaked).encode())


def test_parse_rejects_non_bytes() -> None:
    with pytest.raises(BlockHeaderError):
        BlockHeader.parse("text")  # type: ignore[arg-type]


def test_every_single_byte_change_changes_or_breaks_the_header() -> None:
    data = HEADER.encode()
    for i in range(len(data)):
        flipped = bytearray(data)
        flipped[i] ^= 0x01
        try:
            parsed = BlockHeader.parse(bytes(flipped))
        except BlockHeaderError:
            continue
        assert parsed != HEADER
        assert parsed.hash() != HEADER.hash()


@pytest.mark.parametrize("origin", ["", "a b", "a+b", "a\u00e9", "x" * 256, "tab\there"])
def test_invalid_origins(origin: str) -> None:
    with pytest.raises(BlockHeaderError, match="origin"):
        validate_origin(origin)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"height": -1},
        {"height": True},
        {"time_ms": -1},
        {"first_index": MAX_INT, "size": 2},
        {"size": 0},
        {"root": b"x" * 31},
        {"previous": "p" * 32},
    ],
)
def test_constructor_validates(kwargs: dict[str, object]) -> None:
    fields: dict[str, object] = {
        "origin": "o.example/x",
        "height": 3,
        "previous": PREV,
        "time_ms": 1,
        "first_index": 0,
        "size": 1,
        "root": ROOT,
        **kwargs,
    }
    with pytest.raises(BlockHeaderError):
        BlockHeader(**fields)  # type: ignore[arg-type]
