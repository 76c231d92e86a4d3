"""Regenerate ``docs/vectors/declaration.json``:
``python tests/api/make_declaration_vectors.py docs/vectors/declaration.json``.

The vectors pin the lot declaration format (``FL 01``, ``docs/bundle.md``) for other
verifiers: valid versions with their bytes, malformed entries a decoder must refuse, version
chains, and bundle ``lot`` objects compared with a declaration (one tampered copy per declared
field, each naming the field). Change them only with a new format version.
"""

from __future__ import annotations

import copy
import json
import struct
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from farmtrace.api.services.lots.declaration import (
    DETAILS_FIELDS,
    LOT_FIELDS,
    STAGE_FIELDS,
    DeclarationEntry,
    entry_sha256,
    sign_declaration,
)
from farmtrace.api.services.lots.event_entry import signer_id

# RFC 8032 section 7.1, TEST 1 (the key of docs/vectors/readings.json).
SEED_HEX = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
KEY = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(SEED_HEX))
LINK = "https://id.example.com/01/09506000134352/10/LOT%2A7"

LOT_V1: dict[str, Any] = {
    "gtin": "09506000134352",
    "lot": "LOT*7",
    "product_name": "Butterhead lettuce 生菜",
    "product_class": "lettuce",
    "farm": "Greenacre",
    "origin_region": "Shouguang, Shandong",
    "harvest_date": "2024-06-10",
    "pack_date": None,
    "details": {
        "grower": "Li Wei",
        "method": None,
        "certifications": ["GLOBALG.A.P. 4063061000005", "China GAP"],
        "farm_location": "Shouguang",
        "time_zone": "Asia/Shanghai",
    },
    "stages": [
        {
            "kind": "field",
            "name": "Greenhouse 3",
            "place_id": "urn:epc:id:sgln:9506000.00001.3",
            "start": "2024-06-01T00:00:00.000Z",
            "end": "2024-06-10T06:13:20.000Z",
            "device_ids": ["urn:epc:id:giai:4012345.FT-SOIL-0001"],
        },
        {
            "kind": "room",
            "name": "Cold room 1",
            "place_id": None,
            "start": "2024-06-10T06:13:20.000Z",
            "end": None,
            "device_ids": ["urn:epc:id:giai:4012345.FT-AIR-0001", "dev-0001"],
        },
    ],
}


def _v2_lot() -> dict[str, Any]:
    lot = copy.deepcopy(LOT_V1)
    lot["origin_region"] = "Weifang, Shandong"
    lot["pack_date"] = "2024-06-11"
    lot["stages"][1]["end"] = "2024-06-12T01:00:00.500Z"
    return lot


def versions() -> list[DeclarationEntry]:
    """Version 1, version 2 naming it, and a version 2 naming a version 1 it is not."""
    v1 = sign_declaration(1, 1718000000000, {"version": 1, "previous": None, "lot": LOT_V1}, KEY)
    named = {"version": 1, "entry_sha256": entry_sha256(v1.payload)}
    v2 = sign_declaration(
        5, 1718100000000, {"version": 2, "previous": named, "lot": _v2_lot()}, KEY
    )
    wrong = {"version": 1, "entry_sha256": entry_sha256(v2.payload)}
    stray = sign_declaration(
        6, 1718100000001, {"version": 2, "previous": wrong, "lot": _v2_lot()}, KEY
    )
    return [v1, v2, stray]


def shown_lot(declared: dict[str, Any]) -> dict[str, Any]:
    """A bundle's ``lot`` as the API writes it: the declared facts, times as pydantic writes
    them (same instants, other spelling), and the Digital Link."""
    lot: dict[str, Any] = {"digital_link": LINK, **copy.deepcopy(declared)}
    for stage in lot["stages"]:
        for key in ("start", "end"):
            if stage[key] is not None:
                stage[key] = stage[key].replace(".000Z", "Z")
    return lot


def _other(value: Any, kind: str) -> Any:
    if kind in ("time", "opt-time"):
        return "2030-01-01T00:00:00Z"
    if kind == "date":
        return "2030-01-01" if value is None else None
    if kind == "list":
        return [*value, "added"]
    if kind == "opt":
        return "changed" if value is None else None
    return value + " (changed)"


def field_tampers(lot: dict[str, Any], version: int) -> Iterator[tuple[str, dict[str, Any], str]]:
    """For every declared field of ``lot`` (a bundle's ``lot`` object): a copy with that field
    changed, and the message a verifier must give."""

    def want(path: str) -> str:
        return f"{path} differs from declaration v{version}"

    for key, kind in LOT_FIELDS.items():
        if kind == "details":
            for sub, sub_kind in DETAILS_FIELDS.items():
                changed = copy.deepcopy(lot)
                changed["details"][sub] = _other(lot["details"][sub], sub_kind)
                yield f"lot.details.{sub}", changed, want(f"lot.details.{sub}")
        elif kind == "stages":
            for i, stage in enumerate(lot["stages"]):
                for sub, sub_kind in STAGE_FIELDS.items():
                    changed = copy.deepcopy(lot)
                    changed["stages"][i][sub] = _other(stage[sub], sub_kind)
                    path = f"lot.stages[{i}].{sub}"
                    yield path, changed, want(path)
        else:
            changed = copy.deepcopy(lot)
            changed[key] = _other(lot[key], kind)
            yield f"lot.{key}", changed, want(f"lot.{key}")


def _comparisons(v2: DeclarationEntry) -> list[dict[str, Any]]:
    lot = shown_lot(v2.lot)
    cases: list[dict[str, Any]] = [
        {"name": "as served", "lot": lot, "want": None},
        {
            "name": "the declared spelling of times",
            "lot": {"digital_link": LINK, **v2.lot},
            "want": None,
        },
    ]
    offset = copy.deepcopy(lot)
    offset["stages"][1]["start"] = "2024-06-10T14:13:20+08:00"
    cases.append({"name": "a stage start in +08:00, same instant", "lot": offset, "want": None})
    for path, changed, message in field_tampers(lot, 2):
        cases.append({"name": f"{path} changed", "lot": changed, "want": message})
    late = copy.deepcopy(lot)
    late["stages"][0]["end"] = "2024-06-10T06:13:20.001Z"
    cases.append(
        {
            "name": "a stage end 1 ms later",
            "lot": late,
            "want": "lot.stages[0].end differs from declaration v2",
        }
    )
    extra = copy.deepcopy(lot)
    extra["organic"] = "yes"
    missing = copy.deepcopy(lot)
    del missing["farm"]
    dropped = copy.deepcopy(lot)
    dropped["stages"].pop()
    swapped = copy.deepcopy(lot)
    swapped["stages"].reverse()
    link = copy.deepcopy(lot)
    link["digital_link"] = "https://id.example.com/01/09506000134352/10/LOT-8"
    cases += [
        {
            "name": "an undeclared fact",
            "lot": extra,
            "want": "lot.organic is not in declaration v2",
        },
        {
            "name": "a declared fact left out",
            "lot": missing,
            "want": "lot.farm is missing (declaration v2 states it)",
        },
        {
            "name": "a stage left out",
            "lot": dropped,
            "want": "lot.stages has 1 stages, declaration v2 has 2",
        },
        {
            "name": "stages swapped",
            "lot": swapped,
            "want": "lot.stages[0].kind differs from declaration v2",
        },
        {
            "name": "another lot's link",
            "lot": link,
            "want": "lot.digital_link does not name the lot of declaration v2",
        },
    ]
    return cases


def _reencoded(entry: DeclarationEntry, body_bytes: bytes) -> bytes:
    """``entry`` with its body bytes replaced (and signed again, so only the body is at fault)."""
    head = entry.signed_bytes[: 3 + 16 + 1 + len(entry.signer)]
    signed = head + struct.pack(">I", len(body_bytes)) + body_bytes
    return signed + KEY.sign(signed)


def _invalid(v1: DeclarationEntry, v2: DeclarationEntry) -> list[dict[str, str]]:
    body = v1.body

    def dumps(value: Any, **kw: Any) -> bytes:
        return json.dumps(value, ensure_ascii=False, **kw).encode()

    canonical = {"sort_keys": True, "separators": (",", ":")}
    text = dumps(body, **canonical)
    float_version = text.replace(b'"version":1}', b'"version":1.5}')
    # JSON cannot tell 1.0 from 1 in JavaScript: a decoder may call it either reason.
    point_zero = text.replace(b'"version":1}', b'"version":1.0}')
    extra = dict(body, note="x")
    named = dict(body, previous=v2.previous)
    no_previous = dict(v2.body, previous=None)
    bad_time = copy.deepcopy(body)
    bad_time["lot"]["stages"][0]["start"] = "2024-06-01T00:00:00Z"
    payload = v1.payload
    cases = [
        ("does not start with FL 01", b"FE" + payload[2:]),
        ("does not start with FL 01", payload[:2] + b"\x02" + payload[3:]),
        ("truncated", payload[:40]),
        ("body length does not match", payload[:-65] + payload[-64:]),
        ("not in canonical form", _reencoded(v1, dumps(body, sort_keys=True))),
        ("not in canonical form", _reencoded(v1, dumps(body, separators=(",", ":")))),
        ("must be an integer", _reencoded(v1, float_version)),
        ("declaration", _reencoded(v1, point_zero)),
        ("must have exactly the keys", _reencoded(v1, dumps(extra, **canonical))),
        ("names a previous version", _reencoded(v1, dumps(named, **canonical))),
        ("previous must be", _reencoded(v1, dumps(no_previous, **canonical))),
        ("malformed", _reencoded(v1, dumps(bad_time, **canonical))),
        ("not valid ASCII/JSON", _reencoded(v1, b"\xff" + dumps(body, **canonical))),
        ("no UTF-8 form", _reencoded(v1, dumps(body, **canonical).replace(b"Li Wei", b"\\ud800"))),
    ]
    return [{"reason": reason, "payload_hex": raw.hex()} for reason, raw in cases]


def build() -> dict[str, Any]:
    v1, v2, stray = versions()
    public = KEY.public_key().public_bytes_raw()
    return {
        "format": "farmtrace lot declaration, version 1 (docs/bundle.md, Lot declarations)",
        "key": {"seed_hex": SEED_HEX, "public_key_hex": public.hex(), "signer": signer_id(public)},
        "valid": [
            {
                "seq": entry.seq,
                "time_ms": entry.time_ms,
                "body": entry.body,
                "signed_bytes_hex": entry.signed_bytes.hex(),
                "signature_hex": entry.signature.hex(),
                "payload_hex": entry.payload.hex(),
                "entry_sha256": entry_sha256(entry.payload),
            }
            for entry in (v1, v2, stray)
        ],
        "invalid": _invalid(v1, v2),
        "chains": [
            {"name": "v1 then v2", "versions": [0, 1], "want": None},
            {"name": "v1 alone", "versions": [0], "want": None},
            {
                "name": "v1 removed",
                "versions": [1],
                "want": "declaration 0 is version 2, expected version 1",
            },
            {
                "name": "reordered",
                "versions": [1, 0],
                "want": "declaration 0 is version 2, expected version 1",
            },
            {
                "name": "v1 twice",
                "versions": [0, 0],
                "want": "declaration 1 is version 1, expected version 2",
            },
            {
                "name": "v2 naming another entry",
                "versions": [0, 2],
                "want": "declaration v2 does not name v1 as its previous",
            },
        ],
        "comparisons": {"declaration": 1, "cases": _comparisons(v2)},
    }


if __name__ == "__main__":
    out = Path(sys.argv[1])
    out.write_text(json.dumps(build(), indent=1, ensure_ascii=False) + "\n", "utf-8")
