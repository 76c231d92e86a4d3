"""The pre-signed stream of ``farmtrace bench ingest``: devices with their own keys, readings
signed before any timed window (in worker processes, on every core), written to a pool file."""

from __future__ import annotations

import hashlib
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from farmtrace.bench.ingest_load import write_pool

__all__ = ["FARM", "device_id", "sign_pool"]

FARM = "bench"


def device_id(tag: str, index: int) -> str:
    """The ID of the bench's device ``index`` in run ``tag`` (unique per run, so a reused
    database never holds the stream already)."""
    return f"urn:epc:id:giai:4012345.BENCH-{tag}-{index:06d}"


def _seed(tag: str, index: int) -> bytes:
    return hashlib.sha256(f"farmtrace-bench/{tag}/{index}".encode()).digest()


def _sign_device(args: tuple[str, int, int, int]) -> tuple[bytes, list[bytes]]:
    """One device's public key and its readings 1..count (run in a worker process)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from farmtrace.wire.protocol import Measurement, Reading, encode

    tag, index, count, start_ms = args
    key = Ed25519PrivateKey.from_private_bytes(_seed(tag, index))
    name = device_id(tag, index)
    step = max(1, 3_600_000 // count)
    payloads = []
    for seq in range(1, count + 1):
        body = encode(
            Reading(
                name,
                seq,
                start_ms + seq * step,
                "bench/cold-room",
                "LOT-BENCH",
                (
                    Measurement("Temperature", 3.0 + (seq % 50) / 10, "CEL"),
                    Measurement("RelativeHumidity", 90.0 + (seq % 7), "P1"),
                    Measurement("Voltage", 3.7, "VLT"),
                ),
            )
        )
        payloads.append(body + key.sign(body))
    return key.public_key().public_bytes_raw(), payloads


def sign_pool(path: Path, tag: str, devices: int, per_device: int) -> dict[str, bytes]:
    """Sign ``per_device`` readings for each device (timestamps in the past two hours), write
    them to ``path`` interleaved by seq as a fleet sends them; return the public keys."""
    from farmtrace.wire import topics

    start_ms = int(time.time() * 1000) - 2 * 3_600_000
    jobs = [(tag, i, per_device, start_ms) for i in range(devices)]
    workers = max(1, min(os.cpu_count() or 1, 8))
    with ProcessPoolExecutor(workers) as pool:
        signed = list(pool.map(_sign_device, jobs, chunksize=max(1, len(jobs) // (workers * 4))))
    names = [device_id(tag, i) for i in range(devices)]
    stream = (
        (index, signed[index][1][seq]) for seq in range(per_device) for index in range(devices)
    )
    write_pool(path, [topics.reading_topic(FARM, n) for n in names], stream)
    return {name: signed[i][0] for i, name in enumerate(names)}
