"""The load side of ``farmtrace bench ingest``: the pool of pre-signed readings, a light QoS 1
publisher, and the bare paho subscriber the gateway is compared with.

Run as ``python -m farmtrace.bench.ingest_load publish|drain ...`` (a process each, so they
share the machine's cores with the broker and the gateway the way separate programs do).

* The **pool** file holds the stream: a JSON header line (device topics), then per message a
  4-byte device index, a 2-byte length and the payload, all big-endian.
* The **publisher** speaks MQTT 3.1.1 on a plain socket with every PUBLISH packet encoded before
  the window opens, so publishing costs microseconds and leaves the CPU to the broker and the
  consumer; it keeps at most ``--inflight`` messages unacknowledged (QoS 1) and paces itself to
  ``--rate`` messages/s (0: as fast as the window lets it, the stream queueing in the broker).
  With ``--times`` it writes each message's publish time (Unix seconds, a float64 a message in
  pool order, taken just before the write that sends it): latency is counted from there.
* The **drain** subscriber is what the gateway is measured against: paho 2.x, MQTT 5, the same
  receive window as the gateway, QoS 1, and ``client.ack`` right after each message arrives.
"""

from __future__ import annotations

import argparse
import itertools
import json
import socket
import struct
import sys
import threading
import time
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["read_pool", "write_pool"]

_RECORD = struct.Struct(">IH")


def write_pool(path: Path, topics: list[str], stream: Iterator[tuple[int, bytes]]) -> int:
    """Write the pool: ``topics`` and the ``(device index, payload)`` stream; return the count."""
    count = 0
    with open(path, "wb") as out:
        out.write(json.dumps({"topics": topics}).encode("utf-8") + b"\n")
        for index, payload in stream:
            out.write(_RECORD.pack(index, len(payload)))
            out.write(payload)
            count += 1
    return count


def read_pool(path: Path) -> tuple[list[str], list[tuple[int, bytes]]]:
    """The topics and ``(device index, payload)`` messages of a pool file."""
    data = path.read_bytes()
    end = data.index(b"\n")
    topics: list[str] = json.loads(data[:end])["topics"]
    messages = []
    pos, size = end + 1, len(data)
    while pos < size:
        index, length = _RECORD.unpack_from(data, pos)
        pos += _RECORD.size
        messages.append((index, data[pos : pos + length]))
        pos += length
    return topics, messages


# -- publisher -----------------------------------------------------------------------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _publish_packet(topic: bytes, packet_id: int, payload: bytes) -> bytes:
    body = struct.pack(">H", len(topic)) + topic + struct.pack(">H", packet_id) + payload
    return b"\x32" + _varint(len(body)) + body


def _connect_packet(client_id: str) -> bytes:
    cid = client_id.encode("utf-8")
    body = b"\x00\x04MQTT\x04\x02" + struct.pack(">H", 60) + struct.pack(">H", len(cid)) + cid
    return b"\x10" + _varint(len(body)) + body


def _recv_exact(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("the broker closed the connection")
        data += chunk
    return data


def publish(
    host: str, port: int, pool: Path, rate: float, inflight: int, times: Path | None = None
) -> dict[str, Any]:
    """Publish the pool once, QoS 1, paced (unless ``rate`` is 0) and flow-controlled; return
    timings, and write each message's publish time to ``times`` if given."""
    topics, messages = read_pool(pool)
    encoded = [t.encode("utf-8") for t in topics]
    packets = [
        _publish_packet(encoded[index], n % 65535 + 1, payload)
        for n, (index, payload) in enumerate(messages)
    ]
    sock = socket.create_connection((host, port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(_connect_packet(f"bench-publisher-{time.monotonic_ns()}"))
    connack = _recv_exact(sock, 4)
    if connack[0] != 0x20 or connack[3] != 0:
        raise ConnectionError(f"the broker refused the connection: {connack.hex()}")
    acked = 0
    lock = threading.Condition()

    def read_acks() -> None:
        nonlocal acked
        buffer = b""
        while acked < len(packets):
            chunk = sock.recv(65536)
            if not chunk:
                return
            buffer += chunk
            whole = len(buffer) // 4 * 4
            # Only PUBACKs (0x40 0x02 id id) come back on this connection.
            with lock:
                acked += whole // 4
                lock.notify_all()
            buffer = buffer[whole:]

    reader = threading.Thread(target=read_acks, daemon=True)
    reader.start()
    started = time.monotonic()
    sent = 0
    stamps = array("d")
    chunk = max(1, min(inflight // 4, 256))
    while sent < len(packets):
        with lock:
            while sent - acked >= inflight:
                lock.wait(1.0)
            room = min(inflight - (sent - acked), chunk, len(packets) - sent)
        due = started + (sent + room) / rate if rate > 0 else 0.0
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        stamps.extend(itertools.repeat(time.time(), room))
        sock.sendall(b"".join(packets[sent : sent + room]))
        sent += room
    published = time.monotonic()
    with lock:
        while acked < len(packets):
            if not lock.wait(30.0):
                break
    finished = time.monotonic()
    sock.sendall(b"\xe0\x00")
    sock.close()
    if times is not None:
        times.write_bytes(stamps.tobytes())
    return {
        "messages": len(packets),
        "acked": acked,
        "seconds": published - started,
        "rate": len(packets) / max(published - started, 1e-9),
        "ack_wait_seconds": finished - published,
    }


# -- bare drain -----------------------------------------------------------------------------------


def drain(
    host: str, port: int, expect: int, window: int, ready: Path, idle: float
) -> dict[str, Any]:
    """Receive until ``expect`` distinct readings arrived (or ``idle`` s without any)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    seen: set[tuple[str, bytes]] = set()
    state = {"received": 0, "first": 0.0, "last": 0.0}
    done = threading.Event()

    def on_message(client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        client.ack(message.mid, message.qos)
        now = time.time()
        if not state["received"]:
            state["first"] = now
        state["received"] += 1
        state["last"] = now
        seen.add((message.topic, bytes(message.payload[3:11])))
        if len(seen) >= expect:
            done.set()

    def on_connect(client: mqtt.Client, *args: Any) -> None:
        client.subscribe("farm/+/+/reading", qos=1)

    def on_subscribe(*args: Any) -> None:
        ready.write_text("ready\n")

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"bench-drain-{time.monotonic_ns()}",
        protocol=mqtt.MQTTv5,
        manual_ack=True,
    )
    client.on_message = on_message
    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.ReceiveMaximum = window
    client.connect(host, port, properties=properties)
    client.loop_start()
    last_count, last_change = -1, time.monotonic()
    while not done.wait(0.5):
        if state["received"] != last_count:
            last_count, last_change = int(state["received"]), time.monotonic()
        elif state["received"] and time.monotonic() - last_change > idle:
            break
    client.disconnect()
    client.loop_stop()
    span = state["last"] - state["first"]
    return {
        "received": state["received"],
        "distinct": len(seen),
        "first_at": state["first"],
        "last_at": state["last"],
        "rate": state["received"] / span if span > 0 else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m farmtrace.bench.ingest_load")
    sub = parser.add_subparsers(dest="role", required=True)
    pub = sub.add_parser("publish")
    pub.add_argument("--pool", type=Path, required=True)
    pub.add_argument("--rate", type=float, default=0.0)
    pub.add_argument("--inflight", type=int, default=1000)
    pub.add_argument("--times", type=Path, help="write each message's publish time here")
    dra = sub.add_parser("drain")
    dra.add_argument("--expect", type=int, required=True)
    dra.add_argument("--window", type=int, required=True)
    dra.add_argument("--ready", type=Path, required=True)
    dra.add_argument("--idle", type=float, default=10.0)
    for p in (pub, dra):
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.role == "publish":
        result = publish(args.host, args.port, args.pool, args.rate, args.inflight, args.times)
    else:
        result = drain(args.host, args.port, args.expect, args.window, args.ready, args.idle)
    args.out.write_text(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
