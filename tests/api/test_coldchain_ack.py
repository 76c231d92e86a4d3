"""Signed excursion acknowledgements (farmtrace.api.services.coldchain.ack)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from farmtrace.api.services.coldchain import (
    ColdChainError,
    Sample,
    compute_excursions,
    product_class,
)
from farmtrace.api.services.coldchain.ack import ACK_HEADER, ExcursionAck, open_ack, sign_ack

MIN = 60_000
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


def make_ack(
    comment: str = "Door left open during unloading; product checked, 3.1 °C",
) -> ExcursionAck:
    rule = product_class("lettuce").rule_for("Temperature")
    assert rule is not None
    series = [Sample(i * MIN, 1.0 if not 5 <= i < 60 else 4.2) for i in range(90)]
    (excursion,) = compute_excursions(series, rule)
    return ExcursionAck.for_excursion(
        excursion,
        gtin="06901234567892",
        lot="LOT-2026-0001",
        device="urn:epc:id:giai:4012345.FT-AIR-0001",
        by="operator-anna",
        time_ms=1767300000000,
        comment=comment,
    )


def test_canonical_bytes() -> None:
    ack = make_ack()
    text = ack.to_bytes().decode()
    lines = text.split("\n")
    assert lines[0] == ACK_HEADER and text.endswith("\n")
    assert lines[3].startswith(
        "rule lettuce/Temperature@1 measurement=Temperature unit=CEL low=-0.5"
    )
    assert lines[5:9] == ["start 300000", "end 3600000", "direction high", "peak 4.2"]
    assert lines[-2] == "comment Door left open during unloading; product checked, 3.1 °C"
    assert ExcursionAck.parse(ack.to_bytes()) == ack


def test_signed_entry_opens_and_any_change_is_caught() -> None:
    ack = make_ack()
    entry = sign_ack(ack, KEY)
    assert open_ack(entry, KEY.public_key()) == ack
    for i in (0, 40, len(entry) - 70, len(entry) - 1):
        bad = bytearray(entry)
        bad[i] ^= 1
        with pytest.raises(ColdChainError, match="signature does not verify"):
            open_ack(bytes(bad), KEY.public_key())
    other = Ed25519PrivateKey.from_private_bytes(bytes(32)).public_key()
    with pytest.raises(ColdChainError, match="signature"):
        open_ack(entry, other)
    with pytest.raises(ColdChainError, match="too short"):
        open_ack(entry[:64], KEY.public_key())


@pytest.mark.parametrize(
    ("comment", "message"),
    [("", "1-500"), ("two\nlines", "line breaks"), ("x" * 501, "1-500"), (" pad", "spaces")],
)
def test_bad_comments(comment: str, message: str) -> None:
    with pytest.raises(ColdChainError, match=message):
        make_ack(comment)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (b"start 300000", b"start 0300000", "canonical decimal"),
        (b"peak 4.2", b"peak 4.20", "canonical form"),
        (b"gtin ", b"gtin  ", "14 digits"),
        (b"direction high", b"direction up", "high or low"),
        (b"by operator-anna", b"by: operator-anna", "expected 'by <value>'"),
    ],
)
def test_parse_is_strict(old: bytes, new: bytes, message: str) -> None:
    data = make_ack().to_bytes()
    assert old in data
    with pytest.raises(ColdChainError, match=message):
        ExcursionAck.parse(data.replace(old, new, 1))
    with pytest.raises(ColdChainError, match="newline"):
        ExcursionAck.parse(data[:-1])
    with pytest.raises(ColdChainError, match="UTF-8"):
        ExcursionAck.parse(b"\xff" + data)


@given(st.text(min_size=1, max_size=500).map(str.strip).filter(bool))
def test_any_valid_comment_round_trips(comment: str) -> None:
    try:
        ack = make_ack(comment)
    except ColdChainError:
        return  # control characters: refused on construction, never written
    assert ExcursionAck.parse(ack.to_bytes()) == ack
