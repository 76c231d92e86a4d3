"""Regenerate ``docs/vectors/watermark.json``:
``python tests/firmware_sim/make_watermark_vectors.py docs/vectors/watermark.json``.

The vectors pin the commit watermark format (``FW 01``) and the device's acceptance rule;
change them only with a new format version.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from farmtrace.wire import watermark
from farmtrace.wire.watermark import Watermark

# RFC 8032 section 7.1, TEST 1: the key of docs/vectors/readings.json, here the gateway's.
SEED_HEX = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
# RFC 8032 section 7.1, TEST 2: a key the device has not pinned.
OTHER_SEED_HEX = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"
DEVICE = "urn:epc:id:giai:4012345.FT-AIR-0001"
ORIGIN = "farmtrace.example/gw-1"
# The first drop floor vector, to show it is no watermark.
DROPFLOOR_PATH = Path(__file__).resolve().parents[2] / "docs/vectors/dropfloor.json"

MARKS = [
    Watermark(DEVICE, 41, 1767225600000, ORIGIN),
    Watermark("d", 2**64 - 1, -1, "o"),
    Watermark(DEVICE, 0, 0, "~" * watermark.MAX_ORIGIN_BYTES),
]


def _invalid(signed: bytes, payload: bytes, floor: bytes) -> list[dict[str, str]]:
    sig = payload[len(signed) :]
    end_device = 20 + len(DEVICE)
    cases = [
        ("truncated", b""),
        ("truncated", b"FW"),
        ("truncated", payload[:18]),
        ("truncated", payload[:end_device]),
        ("truncated", payload[:-1]),
        ("bad-magic", b"1000000"),  # the unsigned ASCII watermark of old
        ("bad-magic", floor),  # a drop floor is never a watermark
        ("unsupported-version", payload[:2] + b"\x02" + payload[3:]),
        ("trailing-bytes", payload + b"\x00"),
        ("oversized", payload + bytes(watermark.MAX_PAYLOAD + 1 - len(payload))),
        ("empty-field", signed[:19] + b"\x00" + sig),
        ("field-too-long", signed[:19] + b"\x81" + b"d" * 60 + sig),
        ("bad-device-id", signed[:20] + b"/" + signed[21:] + sig),
        ("empty-field", signed[:end_device] + b"\x00" + sig),
        ("bad-origin", signed[: end_device + 1] + b" " + signed[end_device + 2 :] + sig),
        ("bad-origin", signed[: end_device + 1] + b"\x80" + signed[end_device + 2 :] + sig),
    ]
    return [{"reason": reason, "payload_hex": raw.hex()} for reason, raw in cases]


def _judged(key: Ed25519PrivateKey, other: Ed25519PrivateKey) -> list[dict[str, Any]]:
    """What a device with ``committed`` 10 and ``last_seq`` 50 does with each payload."""

    def signed(seq: int, device: str = DEVICE, by: Ed25519PrivateKey = key) -> bytes:
        return watermark.sign(Watermark(device, seq, 1767225600000, ORIGIN), by)

    good = signed(41)
    cases = [
        ("accepted", signed(41)),
        ("accepted", signed(10)),  # the same watermark again (after a reconnect)
        ("accepted", signed(50)),
        ("unsigned", b"1000000"),
        ("unsigned", b""),
        ("malformed", good[:2] + b"\x02" + good[3:]),
        ("bad-signature", signed(41, by=other)),
        ("bad-signature", good[:-1] + bytes((good[-1] ^ 1,))),
        ("bad-signature", good[:3] + (1_000_000).to_bytes(8, "big") + good[11:]),
        ("other-device", signed(41, device="urn:epc:id:giai:4012345.FT-AIR-0002")),
        ("backwards", signed(9)),
        ("beyond-last-seq", signed(51)),
        ("beyond-last-seq", signed(1_000_000)),
    ]
    return [{"outcome": outcome, "payload_hex": raw.hex()} for outcome, raw in cases]


def build() -> dict[str, Any]:
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(SEED_HEX))
    other = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(OTHER_SEED_HEX))
    valid: list[dict[str, Any]] = []
    for mark in MARKS:
        signed = watermark.encode(mark)
        payload = watermark.sign(mark, key)
        valid.append(
            {
                "watermark": {
                    "device_id": mark.device_id,
                    "seq": mark.seq,
                    "timestamp_ms": mark.timestamp_ms,
                    "origin": mark.origin,
                },
                "signed_bytes_hex": signed.hex(),
                "signature_hex": payload[len(signed) :].hex(),
                "payload_hex": payload.hex(),
            }
        )
    floors = json.loads(DROPFLOOR_PATH.read_text("utf-8"))
    floor = bytes.fromhex(floors["valid"][0]["payload_hex"])
    first_signed = bytes.fromhex(valid[0]["signed_bytes_hex"])
    first_payload = bytes.fromhex(valid[0]["payload_hex"])
    return {
        "format": "farmtrace commit watermark, version 1 (docs/wire-format.md, Commit watermark)",
        "key": {
            "seed_hex": SEED_HEX,
            "public_key_hex": key.public_key().public_bytes_raw().hex(),
        },
        "other_key": {
            "seed_hex": OTHER_SEED_HEX,
            "public_key_hex": other.public_key().public_bytes_raw().hex(),
        },
        "valid": valid,
        "invalid": _invalid(first_signed, first_payload, floor),
        "judge": {
            "device_id": DEVICE,
            "committed": 10,
            "last_seq": 50,
            "pinned_public_keys_hex": [key.public_key().public_bytes_raw().hex()],
            "cases": _judged(key, other),
        },
    }


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    text = json.dumps(build(), indent=2) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
