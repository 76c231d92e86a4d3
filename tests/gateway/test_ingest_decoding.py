"""The batcher's caching decoder agrees with the reference ``protocol.decode`` on every input:
the same reading, or the same ProtocolError (reason, field and message)."""

from __future__ import annotations

import math
import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from farmtrace.gateway.ingest.decoding import ReadingDecoder
from farmtrace.wire import protocol
from farmtrace.wire.protocol import Measurement, ProtocolError, Reading

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KINDS = [("Temperature", "CEL"), ("RelativeHumidity", "P1"), ("Voltage", "VLT"), ("x:Y_1", "KGM")]


def outcome(decode: object, payload: bytes) -> object:
    """What ``decode(payload)`` gave: the reading, or the error's reason, field and text."""
    try:
        return decode(payload)  # type: ignore[operator]
    except ProtocolError as exc:
        return ("error", exc.reason, exc.field, str(exc))


def agree(decoder: ReadingDecoder, payload: bytes) -> object:
    expected = outcome(protocol.decode, payload)
    assert outcome(decoder.decode, payload) == expected
    assert outcome(decoder.decode, payload) == expected  # again, now from the caches
    return expected


def framed(
    device: bytes, site: bytes, lot: bytes, parts: list[tuple[bytes, bytes, bytes]], tail: bytes
) -> bytes:
    """A payload with the reading layout's length prefixes around arbitrary field bytes."""

    def field(raw: bytes) -> bytes:
        return bytes((len(raw) % 256,)) + raw

    body = struct.pack(">2sBQq", b"FT", 1, 7, 1_700_000_000_000)
    body += field(device) + field(site) + field(lot) + bytes((len(parts) % 256,))
    for type_raw, uom_raw, value in parts:
        body += field(type_raw) + field(uom_raw) + value
    return body + tail


measurements = st.lists(
    st.tuples(
        st.sampled_from(KINDS),
        st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([0.0, -0.0, 3.1]),
    ),
    min_size=1,
    max_size=protocol.MAX_MEASUREMENTS,
    unique_by=lambda m: m[0][0],
)
readings = st.builds(
    Reading,
    device_id=st.text(alphabet="AZaz09._:-", min_size=1, max_size=protocol.MAX_DEVICE_ID_BYTES),
    seq=st.integers(0, 2**64 - 1),
    timestamp_ms=st.integers(-(2**63), 2**63 - 1),
    site=st.sampled_from(["bench/cold-room", "é-site", "s"]),
    lot=st.sampled_from(["", "LOT-1", "lot ü"]),
    measurements=measurements.map(
        lambda ms: tuple(Measurement(kind[0], value, kind[1]) for kind, value in ms)
    ),
)


@SETTINGS
@given(reading=readings, signature=st.binary(min_size=64, max_size=64))
def test_valid_readings_decode_alike_and_take_the_fast_path(
    reading: Reading, signature: bytes
) -> None:
    decoder = ReadingDecoder()
    payload = protocol.encode(reading) + signature
    decoded = agree(decoder, payload)
    assert decoded == protocol.decode(payload)
    assert decoder.fast == 2  # both calls were decided by the fast path


@SETTINGS
@given(
    reading=readings,
    signature=st.binary(min_size=64, max_size=64),
    edits=st.lists(
        st.tuples(
            st.sampled_from(["flip", "cut", "insert"]), st.integers(0, 2000), st.integers(0, 255)
        ),
        min_size=1,
        max_size=3,
    ),
)
def test_mutated_payloads_give_the_same_reading_or_error(
    reading: Reading, signature: bytes, edits: list[tuple[str, int, int]]
) -> None:
    payload = bytearray(protocol.encode(reading) + signature)
    for edit, at, byte in edits:
        at %= len(payload) + 1
        if edit == "flip" and at < len(payload):
            payload[at] ^= byte or 1
        elif edit == "cut":
            del payload[at:]
        elif edit == "insert":
            payload[at:at] = bytes((byte,))
    decoder = ReadingDecoder()
    agree(decoder, protocol.encode(reading) + signature)  # warm the caches first
    agree(decoder, bytes(payload))


# Valid choices and invalid ones for each field: a framed reading is drawn valid, then with at
# most one field (or a few, for good measure) drawn from the invalid choices.
GOOD = {
    "device": [b"dev-1", b"dev-2", b"urn:epc:id:giai:4012345.X", b"x" * 128],
    "site": [b"s", b"bench/cold-room", b"\xc3\xa9", b"y" * 64],
    "lot": [b"", b"LOT-1", b"s", b"y" * 64],
    "type": [b"Temperature", b"Voltage", b"x:Y_1", b"T" * 40],
    "uom": [b"CEL", b"P1", b"VLT"],
    "value": [struct.pack(">d", v) for v in (1.5, 3.1, -0.0, 0.0, 1e308)],
    "tail": [bytes(64), bytes(range(64))],
}
BAD = {
    "device": [b"d\xc3\xa9v", b"a b", b"", b"x" * 129],
    "site": [b"a\x00b", b"\xc2\x85", b"\xed\xa0\x80", b"", b"\xff", b"y" * 65],
    "lot": [b"\x7f", b"\xff", b"a\nb", b"y" * 65],
    "type": [b"1a", b"a:", b"", b"T" * 41, b"a b"],
    "uom": [b"cel", b"A", b"ABCD", b""],
    "value": [struct.pack(">d", v) for v in (math.nan, math.inf, -math.inf)],
    "tail": [bytes(63), bytes(65), b""],
}


@st.composite
def framed_readings(draw: st.DrawFn) -> bytes:
    broken = set(draw(st.lists(st.sampled_from([*GOOD, "duplicate", "count"]), max_size=2)))

    def pick(name: str) -> bytes:
        return draw(st.sampled_from(BAD[name] if name in broken else GOOD[name]))

    kinds = draw(st.integers(1, 3))
    parts = [(pick("type"), pick("uom"), pick("value")) for _ in range(kinds)]
    if "duplicate" in broken:
        parts.append(parts[0])
    if "count" in broken:
        parts = draw(st.sampled_from([[], parts * 5]))  # none, or more than 12
    return framed(pick("device"), pick("site"), pick("lot"), parts, pick("tail"))


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=framed_readings(), second=framed_readings())
def test_framed_fields_decode_alike(first: bytes, second: bytes) -> None:
    decoder = ReadingDecoder()
    agree(decoder, first)
    agree(decoder, second)  # after the first filled the caches: anything wrongly cached shows


@SETTINGS
@given(payload=st.binary(max_size=1100), prefix=st.sampled_from([b"", b"FT\x01", b"FT\x02"]))
def test_random_bytes_decode_alike(payload: bytes, prefix: bytes) -> None:
    agree(ReadingDecoder(), prefix + payload)


def test_non_bytes_payloads_go_to_the_reference() -> None:
    payload = protocol.encode(
        Reading("dev-1", 1, 0, "site", "", (Measurement("Temperature", 1.0, "CEL"),))
    ) + bytes(64)
    decoder = ReadingDecoder()
    assert decoder.decode(bytearray(payload)) == protocol.decode(payload)  # type: ignore[arg-type]
    assert decoder.fast == 0


def test_caches_stay_within_their_bound() -> None:
    decoder = ReadingDecoder(cache_limit=4)
    for n in range(50):
        reading = Reading(
            f"dev-{n}", n, 0, f"site-{n}", f"lot-{n}", (Measurement("Temperature", n / 7, "CEL"),)
        )
        payload = protocol.encode(reading) + bytes(64)
        assert decoder.decode(payload) == protocol.decode(payload)
    caches = (
        decoder._device_ids,
        decoder._texts,
        decoder._tags,
        decoder._kinds,
        decoder._measurements,
    )
    assert all(len(cache) <= 4 for cache in caches)
    assert decoder.fast == 50
