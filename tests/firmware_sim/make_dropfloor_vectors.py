"""Regenerate ``docs/vectors/dropfloor.json``:
``python tests/firmware_sim/make_dropfloor_vectors.py docs/vectors/dropfloor.json``.

The vectors pin the drop floor format; change them only with a new format version.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from farmtrace.wire import dropfloor
from farmtrace.wire.dropfloor import DropFloor

# RFC 8032 section 7.1, TEST 1: the key of docs/vectors/readings.json.
SEED_HEX = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
# The first reading vector (seq 42 of this device), to show it is no drop floor.
READING_PAYLOAD_PATH = Path(__file__).resolve().parents[2] / "docs/vectors/readings.json"

FLOORS = [
    DropFloor("urn:epc:id:giai:4012345.FT-AIR-0001", 41, 1767225600000),
    DropFloor("d", 2**64 - 1, -1),
]


def _invalid(signed: bytes, payload: bytes, reading: bytes) -> list[dict[str, str]]:
    sig = payload[len(signed) :]
    cases = [
        ("truncated", b""),
        ("truncated", b"FD"),
        ("truncated", payload[:18]),
        ("truncated", payload[:-1]),
        ("bad-magic", b"41"),  # the unsigned ASCII floor of old
        ("oversized", reading),  # a reading is never a floor (this one is too long to be)
        ("bad-magic", reading[:100]),
        ("unsupported-version", payload[:2] + b"\x02" + payload[3:]),
        ("trailing-bytes", payload + b"\x00"),
        ("oversized", payload + bytes(dropfloor.MAX_PAYLOAD + 1 - len(payload))),
        ("empty-field", signed[:19] + b"\x00" + sig),
        ("field-too-long", signed[:19] + b"\x81" + b"d" * 60 + sig),
        ("bad-device-id", signed[:20] + b"/" + signed[21:] + sig),
        ("bad-device-id", signed[:20] + b"\xff" + signed[21:] + sig),
    ]
    return [{"reason": reason, "payload_hex": raw.hex()} for reason, raw in cases]


def build() -> dict[str, Any]:
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(SEED_HEX))
    valid: list[dict[str, Any]] = []
    for floor in FLOORS:
        signed = dropfloor.encode(floor)
        payload = dropfloor.sign(floor, key)
        valid.append(
            {
                "floor": {
                    "device_id": floor.device_id,
                    "floor": floor.floor,
                    "timestamp_ms": floor.timestamp_ms,
                },
                "signed_bytes_hex": signed.hex(),
                "signature_hex": payload[len(signed) :].hex(),
                "payload_hex": payload.hex(),
            }
        )
    readings = json.loads(READING_PAYLOAD_PATH.read_text("utf-8"))
    reading = bytes.fromhex(readings["valid"][0]["payload_hex"])
    first_signed = bytes.fromhex(valid[0]["signed_bytes_hex"])
    first_payload = bytes.fromhex(valid[0]["payload_hex"])
    return {
        "format": "farmtrace drop floor, version 1 (docs/wire-format.md, Drop floor)",
        "key": {
            "seed_hex": SEED_HEX,
            "public_key_hex": key.public_key().public_bytes_raw().hex(),
        },
        "valid": valid,
        "invalid": _invalid(first_signed, first_payload, reading),
    }


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    text = json.dumps(build(), indent=2) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
