"""The gateway's buffered paho client sees exactly what stock paho sees, whatever the packets
(QoS 0 and 1, DUP and RETAIN flags, with and without MQTT 5 properties) and however the byte
stream is cut, whether each message goes to ``on_message`` or runs of them to ``on_publishes``."""

from __future__ import annotations

import random
import select
import socket
import struct
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.client import _ConnectionState
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from farmtrace.gateway.ingest.mqtt_client import AVAILABLE, BufferedClient, Publish

Seen = tuple[str, bytes, int, int, bool, bool, Any]


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def publish_packet(
    topic: str, mid: int, payload: bytes, qos: int, dup: bool, retain: bool, props: bytes
) -> bytes:
    encoded = topic.encode()
    body = struct.pack(">H", len(encoded)) + encoded
    if qos:
        body += struct.pack(">H", mid)
    body += varint(len(props)) + props + payload
    header = 0x30 | (qos << 1) | (0x08 if dup else 0) | (0x01 if retain else 0)
    return bytes([header]) + varint(len(body)) + body


def user_property() -> bytes:
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    props.UserProperty = ("k", "v")
    packed: bytes = props.pack()  # type: ignore[no-untyped-call]
    return packed[1:]  # without its length, added by publish_packet


def stream(rng: random.Random, count: int) -> list[bytes]:
    packets = []
    for n in range(count):
        qos = rng.choice((1, 1, 1, 0))
        props = user_property() if rng.random() < 0.1 else b""
        payload = rng.randbytes(rng.choice((0, 1, 200, 300, 2000)))
        packets.append(
            publish_packet(
                f"farm/f{n % 3}/dev-{n % 7}/reading",
                n % 65535 + 1,
                payload,
                qos,
                rng.random() < 0.2,
                rng.random() < 0.1,
                props,
            )
        )
    return packets


def batch_into(client: mqtt.Client, seen: list[Seen], runs: list[int]) -> None:
    """Have ``client`` hand runs of PUBLISH packets to ``on_publishes``, recorded as stock
    paho's ``on_message`` would see each (its topic decoded as ``MQTTMessage.topic`` does)."""
    assert isinstance(client, BufferedClient)

    def on_publishes(publishes: list[Publish]) -> None:
        assert publishes
        runs.append(len(publishes))
        for mid, topic, payload, dup, retain in publishes:
            seen.append((topic.decode("utf-8"), payload, mid, 1, dup, retain, None))

    client.on_publishes = on_publishes


def receive(
    client_class: type[mqtt.Client], data: bytes, cuts: list[int], runs: list[int] | None = None
) -> list[Seen]:
    """What ``client_class`` delivers of ``data`` sent in pieces; with ``runs``, through
    ``on_publishes`` where it can (``runs`` gets the length of each list it was handed)."""
    left, right = socket.socketpair()
    client = client_class(
        CallbackAPIVersion.VERSION2, client_id="x", protocol=mqtt.MQTTv5, manual_ack=True
    )
    seen: list[Seen] = []

    def on_message(c: mqtt.Client, userdata: Any, m: mqtt.MQTTMessage) -> None:
        props = m.properties.UserProperty if hasattr(m.properties, "UserProperty") else None
        seen.append((m.topic, bytes(m.payload), m.mid, m.qos, bool(m.dup), bool(m.retain), props))

    client.on_message = on_message
    if runs is not None:
        batch_into(client, seen, runs)
    right.setblocking(False)
    client._sock = right  # a connected session, as after CONNACK
    client._state = _ConnectionState.MQTT_CS_CONNECTED

    def write() -> None:
        last = 0
        for cut in [*cuts, len(data)]:
            left.sendall(data[last:cut])
            last = cut
            time.sleep(0.001)

    writer = threading.Thread(target=write)
    writer.start()
    deadline = time.monotonic() + 30
    expected = data.count(b"farm/")  # every packet has one topic
    while len(seen) < expected and time.monotonic() < deadline:
        assert client.loop_read() == MQTTErrorCode.MQTT_ERR_SUCCESS
        time.sleep(0.0005)
    writer.join()
    left.close()
    right.close()
    return seen


@pytest.mark.parametrize("seed", range(4))
def test_same_messages_as_stock_paho(seed: int) -> None:
    assert AVAILABLE
    rng = random.Random(seed)
    data = b"".join(stream(rng, 300))
    cuts = sorted(rng.sample(range(1, len(data)), 60))
    stock = receive(mqtt.Client, data, cuts)
    buffered = receive(BufferedClient, data, cuts)
    assert len(stock) == 300
    assert buffered == stock
    runs: list[int] = []
    assert receive(BufferedClient, data, cuts, runs) == stock
    assert sum(runs) > 150 and max(runs) > 1  # most went through on_publishes, in runs


def test_runs_are_handed_over_in_order_around_other_packets() -> None:
    # PUBLISH packets paho must handle (QoS 0, properties) between runs: the runs stop there,
    # and every message still arrives in the order sent.
    rng = random.Random(11)
    packets = []
    for n in range(40):
        qos = 0 if n % 7 == 3 else 1
        props = user_property() if n % 11 == 5 else b""
        topic = f"farm/f/dev-{n}/reading"
        packets.append(
            publish_packet(topic, n + 1, rng.randbytes(50), qos, n % 2 == 0, False, props)
        )
    data = b"".join(packets)
    runs: list[int] = []
    seen = receive(BufferedClient, data, [], runs)
    assert seen == receive(mqtt.Client, data, [])
    assert [s[2] if s[3] else None for s in seen] == [
        None if n % 7 == 3 else n + 1 for n in range(40)
    ]
    # Every one, the first too: the buffer is filled before paho's reader would read it.
    eligible = sum(1 for n in range(40) if n % 7 != 3 and n % 11 != 5)
    assert len(runs) > 1 and sum(runs) == eligible


def test_a_topic_that_is_not_utf8_reaches_the_link_as_on_message_does() -> None:
    # The link decodes on_publishes' raw topics with the rule it applies to on_message's.
    from farmtrace.gateway.ingest.link import _decode_topic

    assert _decode_topic(b"farm/f/dev-1/reading") == "farm/f/dev-1/reading"
    assert _decode_topic(b"farm/\xff/x") == b"farm/\xff/x".decode("utf-8", "replace")


def sent_bytes(client_class: type[mqtt.Client], mids: list[int], together: bool) -> bytes:
    left, right = socket.socketpair()
    client = client_class(
        CallbackAPIVersion.VERSION2, client_id="x", protocol=mqtt.MQTTv5, manual_ack=True
    )
    client._sock = right
    client._state = _ConnectionState.MQTT_CS_CONNECTED
    if together:
        assert isinstance(client, BufferedClient)
        assert client.ack_many(mids) == MQTTErrorCode.MQTT_ERR_SUCCESS
    else:
        for mid in mids:
            assert client.ack(mid, 1) == MQTTErrorCode.MQTT_ERR_SUCCESS
    while client.want_write():
        assert client.loop_write() == MQTTErrorCode.MQTT_ERR_SUCCESS
    left.settimeout(5)
    data = b""
    while len(data) < 4 * len(mids):
        data += left.recv(65536)
    left.close()
    right.close()
    return data


def test_ack_many_sends_what_ack_sends_one_by_one() -> None:
    mids = [1, 2, 300, 65535, 7, 7000]
    expected = sent_bytes(mqtt.Client, mids, together=False)
    assert len(expected) == 4 * len(mids)
    assert sent_bytes(BufferedClient, mids, together=True) == expected


def receive_in_steps(
    client_class: type[mqtt.Client], data: bytes, cuts: list[int], runs: list[int] | None = None
) -> tuple[list[Seen], list[MQTTErrorCode]]:
    """Each piece is on the socket before the next ``loop_read``, so the buffered client's
    buffer ends exactly at the cuts (paho's reader is then handed the packet cut in two);
    ``runs`` as for :func:`receive`."""
    left, right = socket.socketpair()
    client = client_class(
        CallbackAPIVersion.VERSION2, client_id="x", protocol=mqtt.MQTTv5, manual_ack=True
    )
    seen: list[Seen] = []

    def on_message(c: mqtt.Client, userdata: Any, m: mqtt.MQTTMessage) -> None:
        seen.append((m.topic, bytes(m.payload), m.mid, m.qos, bool(m.dup), bool(m.retain), None))

    client.on_message = on_message
    if runs is not None:
        batch_into(client, seen, runs)
    right.setblocking(False)
    client._sock = right
    client._state = _ConnectionState.MQTT_CS_CONNECTED
    codes = []
    last = 0
    try:
        for cut in [*cuts, len(data)]:
            left.sendall(data[last:cut])
            last = cut
            # Stock paho reads one packet a call: call until the socket holds nothing more.
            while True:
                code = client.loop_read()
                if code != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    break
                if not select.select([right], [], [], 0)[0]:
                    break
            codes.append(code)
            if code != MQTTErrorCode.MQTT_ERR_SUCCESS:
                break
    finally:
        left.close()
        right.close()
    return seen, codes


def test_a_packet_cut_anywhere_is_read_as_stock_paho_reads_it() -> None:
    # One-byte and two-byte Remaining Lengths, QoS 0 and 1; every cut position, then pairs.
    rng = random.Random(7)
    data = b"".join(
        [
            publish_packet("farm/f/dev-1/reading", 1, b"", 1, False, False, b""),
            publish_packet("farm/f/dev-2/reading", 2, rng.randbytes(200), 1, True, False, b""),
            publish_packet("farm/f/dev-3/reading", 0, rng.randbytes(3), 0, False, True, b""),
        ]
    )
    cut_sets = [[cut] for cut in range(1, len(data))]
    cut_sets += [sorted(rng.sample(range(1, len(data)), 2)) for _ in range(100)]
    for cuts in cut_sets:
        stock = receive_in_steps(mqtt.Client, data, cuts)
        assert len(stock[0]) == 3
        assert receive_in_steps(BufferedClient, data, cuts) == stock, cuts
        runs: list[int] = []
        assert receive_in_steps(BufferedClient, data, cuts, runs) == stock, cuts
        # The two QoS 1 packets go through the run path wherever they were cut: the cut
        # packet's start waits in the buffer for the rest (paho's reader never reads it).
        assert sum(runs) == 2, cuts


@pytest.mark.parametrize("length_bytes", [b"\xff\xff\xff\x7f", b"\xff\xff\xff\xff\x01"])
def test_the_longest_and_a_too_long_remaining_length_as_stock_paho(length_bytes: bytes) -> None:
    # Four length bytes is the most MQTT allows (a body that never comes); five is malformed.
    good = publish_packet("farm/f/dev-1/reading", 1, b"x", 1, False, False, b"")
    data = good + b"\x32" + length_bytes + b"farm/" + bytes(40) + good
    stock = receive_in_steps(mqtt.Client, data, [])
    assert stock[0][:1] == receive_in_steps(mqtt.Client, good, [])[0]
    assert receive_in_steps(BufferedClient, data, []) == stock
    assert receive_in_steps(BufferedClient, data, [], []) == stock


PUBACKS = [
    bytes([0x40, 2, 0, 1]),  # success, the short form
    bytes([0x40, 3, 0, 2, 0x00]),  # success with its reason code
    bytes([0x40, 4, 0, 3, 0x00, 0x00]),  # success with an empty property set
    bytes([0x40, 3, 0, 4, 0x10]),  # no matching subscribers (a success)
    bytes([0x40, 3, 0, 5, 0x87]),  # not authorized: a failure
    bytes([0x40, 12, 0, 6, 0x00, 8, 0x1F, 0, 5]) + b"quota",  # success with a reason string
    bytes([0x40, 2, 0, 1]),  # a second PUBACK for the same message
    bytes([0x40, 2, 0x99, 0x99]),  # for a message never sent
    bytes([0x40, 4, 0, 7, 0x10, 0x00]),
    bytes([0x40, 2, 0, 8]),
]


def puback_outcome(client_class: type[mqtt.Client], chunks: list[bytes]) -> dict[str, Any]:
    """Publish 8 QoS 1 messages (at most 3 in flight), feed ``chunks`` of the broker's PUBACKs,
    and say what ``client_class`` made of them: the ``on_publish`` calls, what stays
    outstanding, the messages in flight, which are published, and what went out on the wire."""
    left, right = socket.socketpair()
    client = client_class(
        CallbackAPIVersion.VERSION2, client_id="x", protocol=mqtt.MQTTv5, manual_ack=True
    )
    client.max_inflight_messages_set(3)
    calls: list[tuple[int, int, int, str]] = []

    def on_publish(c: mqtt.Client, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        calls.append((mid, reason.value, reason.packetType, str(properties)))

    client.on_publish = on_publish
    right.setblocking(False)
    client._sock = right
    client._state = _ConnectionState.MQTT_CS_CONNECTED
    infos = [client.publish(f"farm/f/committed/d{i}", b"w", qos=1, retain=True) for i in range(8)]
    for chunk in chunks:
        left.sendall(chunk)
        time.sleep(0.002)
        while select.select([right], [], [], 0.05)[0]:
            assert client.loop_read() == MQTTErrorCode.MQTT_ERR_SUCCESS
    while client.want_write():
        assert client.loop_write() == MQTTErrorCode.MQTT_ERR_SUCCESS
    left.setblocking(False)
    written = b""
    try:
        while chunk := left.recv(65536):
            written += chunk
    except BlockingIOError:
        pass
    left.close()
    right.close()
    return {
        "calls": calls,
        "outstanding": sorted(client._out_messages),
        "in_flight": client._inflight_messages,
        "published": [info.is_published() for info in infos],
        "written": written,
    }


@pytest.mark.parametrize("together", [False, True])
def test_pubacks_are_taken_as_stock_paho_takes_them(together: bool) -> None:
    chunks = [b"".join(PUBACKS)] if together else PUBACKS
    expected = puback_outcome(mqtt.Client, chunks)
    assert [mid for mid, *_ in expected["calls"]] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert expected["written"].count(b"farm/f/committed/") == 8  # the window refilled
    assert puback_outcome(BufferedClient, chunks) == expected


def test_the_success_pubacks_skip_pahos_decoder(monkeypatch: pytest.MonkeyPatch) -> None:
    decoded: list[int] = []
    original = mqtt._packet.decode_puback

    def counting(header: int, packet: bytes | bytearray, protocol: Any) -> Any:
        decoded.append(struct.unpack_from("!H", packet)[0])
        return original(header, packet, protocol)

    monkeypatch.setattr(mqtt._packet, "decode_puback", counting)
    outcome = puback_outcome(BufferedClient, PUBACKS)
    assert len(outcome["calls"]) == 8
    assert decoded == [5, 6]  # a failure's reason code, and properties
