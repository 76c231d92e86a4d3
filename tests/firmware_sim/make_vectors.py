"""Regenerate ``docs/vectors/readings.json``: ``python tests/firmware_sim/make_vectors.py``.

The vectors pin the wire format; change them only with a new format version.
"""

from __future__ import annotations

import base64
import json
import struct
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from farmtrace.wire.protocol import Measurement, Reading, encode, sign

# RFC 8032 section 7.1, TEST 1: a published key, so anyone can recompute the signatures.
SEED_HEX = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"

READINGS = [
    Reading(
        device_id="urn:epc:id:giai:4012345.FT-AIR-0001",
        seq=42,
        timestamp_ms=1767225600000,
        site="greenacre/field-north",
        lot="LOT-2026-0001",
        measurements=(
            Measurement("Temperature", 4.25, "CEL"),
            Measurement("RelativeHumidity", 93.5, "P1"),
            Measurement("Voltage", 3.71, "VLT"),
        ),
    ),
    Reading(
        device_id="urn:epc:id:giai:4012345.FT-CR-0002",
        seq=1,
        timestamp_ms=1767229199999,
        site="Grünhof/Kühlraum 1",
        lot="",
        measurements=(
            Measurement("farm:CO2", 812.0, "59"),
            Measurement("Temperature", -0.5, "CEL"),
        ),
    ),
]


def _reading_json(reading: Reading) -> dict[str, Any]:
    return {
        "device_id": reading.device_id,
        "seq": reading.seq,
        "timestamp_ms": reading.timestamp_ms,
        "site": reading.site,
        "lot": reading.lot,
        "measurements": [
            {"type": m.type, "value": m.value, "uom": m.uom} for m in reading.measurements
        ],
    }


def _invalid(signed: bytes, payload: bytes) -> list[dict[str, str]]:
    sig = payload[len(signed) :]
    device_len_at = 19
    site_len_at = device_len_at + 1 + signed[device_len_at]
    nan = struct.pack(">d", float("nan"))
    cases = [
        ("oversized", payload + bytes(1025 - len(payload))),
        ("truncated", payload[:-1]),
        ("truncated", payload[:40]),
        ("bad-magic", b"XT" + payload[2:]),
        ("unsupported-version", payload[:2] + b"\x02" + payload[3:]),
        ("trailing-bytes", signed + b"\x00" + sig),
        ("non-finite-value", signed[:-8] + nan + sig),
        ("bad-device-id", signed[:20] + b"/" + signed[21:] + sig),
        ("bad-utf8", signed[: site_len_at + 1] + b"\xff" + signed[site_len_at + 2 :] + sig),
        ("bad-unit", signed[:-11] + b"vlt" + signed[-8:] + sig),
    ]
    return [{"reason": reason, "payload_hex": raw.hex()} for reason, raw in cases]


def build() -> dict[str, Any]:
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(SEED_HEX))
    public = key.public_key().public_bytes_raw()
    valid = []
    for reading in READINGS:
        signed = encode(reading)
        payload = sign(reading, key)
        valid.append(
            {
                "reading": _reading_json(reading),
                "signed_bytes_hex": signed.hex(),
                "signature_hex": payload[len(signed) :].hex(),
                "payload_hex": payload.hex(),
            }
        )
    first_signed = bytes.fromhex(valid[0]["signed_bytes_hex"])
    first_payload = bytes.fromhex(valid[0]["payload_hex"])
    return {
        "format": "farmtrace reading wire format, version 1 (docs/wire-format.md)",
        "key": {
            "seed_hex": SEED_HEX,
            "public_key_hex": public.hex(),
            "public_key_base64": base64.b64encode(public).decode("ascii"),
        },
        "valid": valid,
        "invalid": _invalid(first_signed, first_payload),
    }


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    text = json.dumps(build(), indent=2, ensure_ascii=False) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
