"""Properties of the wire format: decode only ever raises ProtocolError; one encoding per reading."""

from __future__ import annotations

import math

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from support.fast import examples

from farmtrace.wire import topics
from farmtrace.wire.protocol import (
    MAX_DEVICE_ID_BYTES,
    MAX_LOT_BYTES,
    MAX_MEASUREMENTS,
    MAX_PAYLOAD,
    MAX_SITE_BYTES,
    MAX_TYPE_BYTES,
    Measurement,
    ProtocolError,
    Reading,
    decode,
    encode,
    sign,
    verify,
)

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUBLIC = KEY.public_key().public_bytes_raw()

_ID_CHARS = "ABCXYZabcxyz0189._:-"
_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"]), max_size=20)


def _fits(limit: int) -> st.SearchStrategy[str]:
    return _TEXT.filter(lambda s: len(s.encode("utf-8")) <= limit)


_TYPES = st.sampled_from(
    ["Temperature", "RelativeHumidity", "VolumeFraction", "Voltage", "farm:CO2", "farm:Soil_pH"]
)
_UNITS = st.sampled_from(["CEL", "P1", "LUX", "KPA", "59", "VLT", "D10"])
_VALUES = st.floats(allow_nan=False, allow_infinity=False)


@st.composite
def readings(draw: st.DrawFn) -> Reading:
    types = draw(st.lists(_TYPES, min_size=1, max_size=6, unique=True))
    return Reading(
        device_id=draw(st.text(alphabet=_ID_CHARS, min_size=1, max_size=MAX_DEVICE_ID_BYTES)),
        seq=draw(st.integers(0, 2**64 - 1)),
        timestamp_ms=draw(st.integers(-(2**63), 2**63 - 1)),
        site=draw(_fits(MAX_SITE_BYTES).filter(bool)),
        lot=draw(_fits(MAX_LOT_BYTES)),
        measurements=tuple(Measurement(t, draw(_VALUES), draw(_UNITS)) for t in types),
    )


@given(readings())
def test_roundtrip_is_identity(reading: Reading) -> None:
    payload = sign(reading, KEY)
    decoded = decode(payload)
    assert decoded.reading == reading
    assert encode(decoded.reading) == decoded.signed_bytes
    assert len(payload) <= MAX_PAYLOAD
    assert verify(decoded, PUBLIC)


@given(st.binary(max_size=2 * MAX_PAYLOAD))
def test_decode_arbitrary_bytes_raises_only_protocol_error(data: bytes) -> None:
    try:
        decoded = decode(data)
    except ProtocolError as err:
        assert err.reason and err.field
    else:
        assert encode(decoded.reading) == decoded.signed_bytes


@st.composite
def mutated_payloads(draw: st.DrawFn) -> bytes:
    payload = bytearray(sign(draw(readings()), KEY))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        at = draw(st.integers(0, max(len(payload) - 1, 0)))
        if op == "flip" and payload:
            payload[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and payload:
            payload[at] = draw(st.integers(0, 255))
        elif op == "insert":
            payload[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del payload[at : at + draw(st.integers(1, 8))]
        else:
            del payload[at:]
    return bytes(payload)


@settings(max_examples=examples(500))
@given(mutated_payloads())
def test_decode_mutated_payloads(payload: bytes) -> None:
    try:
        decoded = decode(payload)
    except ProtocolError as err:
        assert err.reason
    else:
        # A mutation that still parses is a different, canonical reading; the signature
        # check is what catches it.
        assert encode(decoded.reading) == decoded.signed_bytes


def _base(**changes: object) -> Reading:
    fields: dict[str, object] = {
        "device_id": "urn:epc:id:giai:4012345.FT-AIR-0001",
        "seq": 1,
        "timestamp_ms": 0,
        "site": "field",
        "lot": "",
        "measurements": (Measurement("Temperature", 1.0, "CEL"),),
    }
    fields.update(changes)
    return Reading(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "reason", "field"),
    [
        ({"device_id": ""}, "empty-field", "device_id"),
        ({"device_id": "a/b"}, "bad-device-id", "device_id"),
        ({"device_id": "x" * (MAX_DEVICE_ID_BYTES + 1)}, "field-too-long", "device_id"),
        ({"site": ""}, "empty-field", "site"),
        ({"site": "a\nb"}, "bad-text", "site"),
        ({"lot": "\ud800"}, "bad-utf8", "lot"),
        ({"lot": "é" * 33}, "field-too-long", "lot"),
        ({"seq": -1}, "out-of-range", "seq"),
        ({"seq": 2**64}, "out-of-range", "seq"),
        ({"timestamp_ms": 2**63}, "out-of-range", "timestamp_ms"),
        ({"measurements": ()}, "no-measurements", "measurements"),
        (
            {"measurements": (Measurement("Temperature", math.nan, "CEL"),)},
            "non-finite-value",
            "measurements[0].value",
        ),
        (
            {"measurements": (Measurement("Temperature", -math.inf, "CEL"),)},
            "non-finite-value",
            "measurements[0].value",
        ),
        (
            {"measurements": (Measurement("Temperature", 1.0, "cel"),)},
            "bad-unit",
            "measurements[0].uom",
        ),
        (
            {"measurements": (Measurement("Temperature", 1.0, "CELS"),)},
            "field-too-long",
            "measurements[0].uom",
        ),
        (
            {"measurements": (Measurement("9Temp", 1.0, "CEL"),)},
            "bad-measurement-type",
            "measurements[0].type",
        ),
        (
            {"measurements": (Measurement("T" * (MAX_TYPE_BYTES + 1), 1.0, "CEL"),)},
            "field-too-long",
            "measurements[0].type",
        ),
        (
            {"measurements": (Measurement("Temperature", 1.0, "CEL"),) * 2},
            "duplicate-type",
            "measurements[1].type",
        ),
        (
            {
                "measurements": tuple(
                    Measurement(f"farm:T{i}", 1.0, "CEL") for i in range(MAX_MEASUREMENTS + 1)
                )
            },
            "too-many-measurements",
            "measurements",
        ),
    ],
)
def test_encode_rejects(changes: dict[str, object], reason: str, field: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        encode(_base(**changes))
    assert (caught.value.reason, caught.value.field) == (reason, field)
    assert str(caught.value).startswith(field)


def test_largest_reading_fits_max_payload() -> None:
    reading = Reading(
        device_id="d" * MAX_DEVICE_ID_BYTES,
        seq=2**64 - 1,
        timestamp_ms=-(2**63),
        site="s" * MAX_SITE_BYTES,
        lot="l" * MAX_LOT_BYTES,
        measurements=tuple(
            Measurement(f"farm:{'M' * (MAX_TYPE_BYTES - 7)}{i:02d}", -1e308, "ABC")
            for i in range(MAX_MEASUREMENTS)
        ),
    )
    payload = sign(reading, KEY)
    assert len(payload) <= MAX_PAYLOAD
    assert decode(payload).reading == reading


def test_decode_accepts_bytearray_and_memoryview() -> None:
    payload = sign(_base(), KEY)
    assert decode(bytearray(payload)).reading == _base()
    assert decode(memoryview(payload)).reading == _base()


def test_duplicate_type_rejected_at_decode() -> None:
    one = encode(_base(measurements=(Measurement("Temperature", 1.0, "CEL"),)))
    # Build two identical measurements by hand: encode refuses to.
    measurement = one[one.index(b"\x0bTemperature") :]
    body = one[: one.index(b"\x0bTemperature") - 1] + b"\x02" + measurement * 2
    with pytest.raises(ProtocolError) as caught:
        decode(body + bytes(64))
    assert caught.value.reason == "duplicate-type"


def test_topics() -> None:
    device = "urn:epc:id:giai:4012345.FT-AIR-0001"
    assert topics.reading_topic("greenacre", device) == f"farm/greenacre/{device}/reading"
    assert topics.status_topic("greenacre", device).endswith("/status")
    assert topics.committed_topic("greenacre", device).endswith("/committed")
    assert topics.dropped_topic("greenacre", device).endswith("/dropped")
    assert topics.parse_topic(f"farm/greenacre/{device}/reading") == (
        "greenacre",
        device,
        "reading",
    )
    for bad in [
        "farm/a/b",
        "farm/a+/b/reading",
        "farm/a/b#/reading",
        "farm/a/b/other",
        "x/a/b/reading",
    ]:
        with pytest.raises(ProtocolError):
            topics.parse_topic(bad)
    with pytest.raises(ProtocolError):
        topics.reading_topic("a/b", device)


@pytest.mark.parametrize("payload", [b"", b"-1", b"01", b"1.0", b" 1", b"18446744073709551616"])
def test_parse_seq_rejects(payload: bytes) -> None:
    with pytest.raises(ProtocolError) as caught:
        topics.parse_seq(payload)
    assert caught.value.reason == "bad-seq"


@given(st.integers(0, 2**64 - 1))
def test_seq_roundtrip(seq: int) -> None:
    assert topics.parse_seq(topics.format_seq(seq)) == seq
