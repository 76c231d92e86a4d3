"""Regenerate ``docs/vectors/chain.json``: ``.venv/bin/python tests/gateway/make_chain_vectors.py``.

A tiny chain built from fixed inputs (published RFC 8032 keys, fixed readings and block times)
with the gateway's own code: readings in the wire format, batch trees, block headers, the chain
log and its signed checkpoints, inclusion proofs and tlog-proofs. Ed25519 signatures are
deterministic, so the output is byte-for-byte reproducible; the test
``test_chain_vectors.py`` rebuilds it and checks every value with the plain-Python reference.
Change the file only together with a new block-format version.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from farmtrace.chain.block import GENESIS_PREVIOUS, BlockHeader
from farmtrace.chain.log import ChainLog
from farmtrace.tlog.checkpoint import Checkpoint, sign_checkpoint
from farmtrace.tlog.merkle import MerkleTree
from farmtrace.tlog.note import Signer
from farmtrace.tlog.proof import build_tlog_proof
from farmtrace.wire.protocol import Measurement, Reading, sign

VECTORS = Path(__file__).resolve().parents[2] / "docs" / "vectors" / "chain.json"

ORIGIN = "farmtrace.example/vector-gateway"
# RFC 8032 section 7.1: TEST 2 for the gateway's checkpoint key, TEST 1 for the device.
GATEWAY_SEED_HEX = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"
DEVICE_SEED_HEX = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
DEVICE_ID = "urn:epc:id:giai:4012345.FT-CR-0002"
START_MS = 1767225600000
BATCH_SIZES = (3, 1, 2)
BLOCK_TIMES_MS = (1767225601000, 1767225602000, 1767225603500)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def readings() -> list[bytes]:
    """Six readings of one cold-room sensor, a minute apart, as their payloads."""
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(DEVICE_SEED_HEX))
    payloads = []
    for seq in range(1, sum(BATCH_SIZES) + 1):
        reading = Reading(
            device_id=DEVICE_ID,
            seq=seq,
            timestamp_ms=START_MS + 60_000 * seq,
            site="greenacre/cold-room-1",
            lot="LOT-2026-0001",
            measurements=(
                Measurement("Temperature", 3.5 + seq / 4, "CEL"),
                Measurement("RelativeHumidity", 92.0, "P1"),
            ),
        )
        payloads.append(sign(reading, key))
    return payloads


def build() -> dict[str, Any]:
    """The vectors as a JSON-ready dict."""
    signer = Signer(ORIGIN, bytes.fromhex(GATEWAY_SEED_HEX))
    device_public = (
        Ed25519PrivateKey.from_private_bytes(bytes.fromhex(DEVICE_SEED_HEX))
        .public_key()
        .public_bytes_raw()
    )
    payloads = readings()
    entries: list[dict[str, Any]] = []
    blocks: list[dict[str, Any]] = []
    checkpoints: list[dict[str, Any]] = []
    log, previous, first = ChainLog(), GENESIS_PREVIOUS, 0
    headers: list[bytes] = []
    for height, (size, time_ms) in enumerate(zip(BATCH_SIZES, BLOCK_TIMES_MS, strict=True)):
        batch = payloads[first : first + size]
        tree = MerkleTree.from_entries(batch)
        header = BlockHeader(ORIGIN, height, previous, time_ms, first, size, tree.root)
        for position, payload in enumerate(batch):
            entries.append(
                {
                    "index": first + position,
                    "block": height,
                    "index_in_block": position,
                    "payload_hex": payload.hex(),
                    "leaf_hash": b64(tree.leaf_hash(position)),
                    "inclusion_proof": [b64(h) for h in tree.inclusion_proof(position)],
                }
            )
        blocks.append(
            {
                "height": height,
                "header": header.encode().decode("ascii"),
                "hash": b64(header.hash()),
                "batch_root": b64(tree.root),
                "entries": list(range(first, first + size)),
            }
        )
        headers.append(header.encode())
        old_size, old_root = log.size, log.root
        log, proof = log.extend([header.hash()])
        note = sign_checkpoint(Checkpoint(ORIGIN, log.size, log.root), signer)
        checkpoints.append(
            {
                "size": log.size,
                "root": b64(log.root),
                "note": note,
                "consistency_from_previous": None
                if old_size == 0
                else {"size": old_size, "root": b64(old_root), "proof": [b64(h) for h in proof]},
            }
        )
        previous, first = header.hash(), header.next_index
    chain_log = MerkleTree.from_entries(headers)
    latest = checkpoints[-1]["note"]
    tlog_proofs = [
        {
            "block": height,
            "checkpoint_size": chain_log.size,
            "text": build_tlog_proof(height, chain_log.inclusion_proof(height), latest),
        }
        for height in range(chain_log.size)
    ]
    return {
        "description": "A three-block farmtrace chain built from fixed inputs; see docs/chain.md",
        "origin": ORIGIN,
        "checkpoint_key": {
            "seed_hex": GATEWAY_SEED_HEX,
            "skey": signer.skey,
            "vkey": signer.verifier.vkey,
        },
        "device": {
            "device_id": DEVICE_ID,
            "seed_hex": DEVICE_SEED_HEX,
            "public_key": b64(device_public),
        },
        "entries": entries,
        "blocks": blocks,
        "checkpoints": checkpoints,
        "tlog_proofs": tlog_proofs,
    }


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    VECTORS.parent.mkdir(parents=True, exist_ok=True)
    VECTORS.write_text(render(), encoding="utf-8")
    print(f"wrote {VECTORS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
