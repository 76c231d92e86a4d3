"""A paho ``Client`` that reads its socket in large chunks.

Stock paho 2.x reads each incoming packet with several ``recv`` calls (the command byte, the
length bytes one at a time, then the body) and handles one packet per turn of its network loop,
each turn starting with a ``select``. Every one of those system calls releases the GIL; with the
batcher and committer threads busy, getting it back can take a switch interval each time, and
the network thread falls behind. This subclass keeps a receive buffer filled 256 KiB at a time
and handles every complete packet it holds in one turn. A packet that lies whole in the buffer
is framed straight from it (its fixed header parsed here, one slice for its body) instead of
through paho's three or more ``_sock_recv`` calls and byte-by-byte length decoding; a packet cut
by the buffer's end goes through paho's reader, which refills it (with
:attr:`BufferedClient.on_publishes` set, the buffer is topped up first instead, see
:meth:`BufferedClient.loop_read`).

Acknowledgements of a whole batch go out as one write (:meth:`BufferedClient.ack_many`).
It also decodes the common PUBLISH (QoS 1, MQTT 5, no properties) itself instead of through
paho's ``Properties`` machinery, which costs about 30 µs per message, more than the rest of
paho's handling; every other packet goes through paho unchanged. With
:attr:`BufferedClient.on_publishes` set, the run of such PUBLISH packets lying whole at the
buffer's head is framed in one pass and handed over as one list, without an ``MQTTMessage``
and a callback per message (in a socket-pair microbenchmark with the link's hand-off, 6 to
1.4 µs of the network thread's CPU a message). The broker's PUBACK of success for one of our
own QoS 1 publications (the gateway's watermarks) is likewise decoded here, without paho's
``ReasonCode`` and ``Properties`` objects built twice for each (about 15 µs a PUBACK, a third of
the network thread's GIL time in a profile of the ingest bench).

It overrides paho internals (``_sock_recv``, ``_handle_publish``, ``_handle_pubackcomp``, and the packet loop in
``loop_read`` through ``_packet_read`` and ``_loop_rc_handle``), present throughout paho-mqtt
2.x; :data:`AVAILABLE` says whether they exist, and the gateway falls back to the stock client
when they do not. ``tests/gateway/test_ingest_mqtt_client.py`` compares it with stock paho.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.exception import MalformedPacket
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

__all__ = ["AVAILABLE", "BufferedClient", "Publish"]

AVAILABLE = all(
    hasattr(mqtt.Client, name)
    for name in (
        "_sock_recv",
        "_packet_read",
        "_loop_rc_handle",
        "_handle_publish",
        "_handle_pubackcomp",
        "_do_on_publish",
        "_handle_on_message",
        "_packet_queue",
        "_packet_handle",
    )
) and hasattr(mqtt, "time_func")

_CHUNK = 256 * 1024
_U16 = struct.Struct("!H")
_PUBACK = struct.Struct("!BBH")
_PUBACK_COMMAND = 0x40
_MAX_LENGTH_BYTES = 4  # MQTT's Remaining Length is at most 4 bytes
# The fixed header's type and QoS bits of a QoS 1 PUBLISH (DUP 0x08 and RETAIN 0x01 vary).
_PUBLISH_QOS1_MASK, _PUBLISH_QOS1 = 0xF6, 0x32

# What paho's decoder makes of a PUBACK without properties whose reason code is a success
# (0x00 Success; 0x10 No matching subscribers, what Mosquitto answers for a retained watermark
# no device is subscribed to yet), made once: on_publish gets these same objects for every such
# PUBACK (it must not change them). Failure codes are rare and left to paho.
_PUBACK_REASONS = {code: ReasonCode(PacketTypes.PUBACK, identifier=code) for code in (0x00, 0x10)}
_PUBACK_NO_PROPERTIES = Properties(PacketTypes.PUBACK)  # type: ignore[no-untyped-call]

Publish = tuple[int, bytes, bytes, bool, bool]
"""A QoS 1 PUBLISH as :attr:`BufferedClient.on_publishes` receives it: ``(mid, topic, payload,
dup, retain)``, the topic as the raw bytes sent (paho's ``MQTTMessage.topic`` decodes them as
strict UTF-8)."""


def _remaining_length(buffer: bytes, pos: int) -> tuple[int, int] | None:
    """``(body_start, length)`` of the packet whose fixed header starts at ``pos``: MQTT's
    Remaining Length, 1 to 4 bytes after the command byte, 7 bits each. ``None`` when the
    buffer ends inside it or it runs past 4 bytes (malformed); whether the body itself lies
    whole in the buffer is the caller's check."""
    end = len(buffer)
    at, length, shift = pos + 1, 0, 0
    while at < end and at - pos <= _MAX_LENGTH_BYTES:
        byte = buffer[at]
        at += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return at, length
    return None


class BufferedClient(mqtt.Client):
    """``mqtt.Client`` with buffered socket reads (see the module docstring)."""

    _rbuf: bytes = b""
    _rpos: int = 0
    _rsock: object = None

    on_publishes: Callable[[list[Publish]], None] | None = None
    """When set, with manual acknowledgement and MQTT 5: called with the QoS 1 PUBLISH packets
    without properties that lie whole in the receive buffer, in arrival order, instead of one
    ``on_message`` each (which still gets every other PUBLISH). Deliveries keep their order:
    the list is handed over before any packet that follows them is handled."""

    def _sock_recv(self, bufsize: int) -> bytes:
        buffer, pos = self._rbuf, self._rpos
        if pos >= len(buffer) or self._rsock is not self._sock:
            # Empty, or filled from a socket that has since been replaced (a reconnect): refill
            # from the current one. Raises BlockingIOError when it has nothing, like paho's own.
            buffer = super()._sock_recv(_CHUNK)
            self._rsock = self._sock
            self._rbuf, pos = buffer, 0
            if not buffer:
                return buffer
        end = pos + bufsize
        self._rpos = end
        return buffer[pos:end]

    def _packet_read(self) -> MQTTErrorCode:
        """Handle the next packet; straight from the buffer when it lies there whole."""
        buffer, pos = self._rbuf, self._rpos
        if self._in_packet["command"] != 0 or self._rsock is not self._sock:
            return super()._packet_read()
        framed = _remaining_length(buffer, pos)
        if framed is None or framed[0] + framed[1] > len(buffer):
            # Cut by the buffer's end, or malformed: paho reads (and judges) it.
            return super()._packet_read()
        at, length = framed
        command = buffer[pos]
        body = memoryview(buffer)[at : at + length]
        self._rpos = at + length
        in_packet = self._in_packet
        in_packet["command"] = command
        in_packet["remaining_length"] = length
        in_packet["have_remaining"] = 1
        in_packet["packet"] = bytearray(body)
        try:
            rc = self._packet_handle()
        except MalformedPacket as exc:
            self._easy_log(mqtt.MQTT_LOG_DEBUG, "Received malformed packet: %s", exc)
            rc = MQTTErrorCode.MQTT_ERR_PROTOCOL
        self._in_packet = {  # as paho's reader leaves it between packets
            "command": 0,
            "have_remaining": 0,
            "remaining_count": [],
            "remaining_mult": 1,
            "remaining_length": 0,
            "packet": bytearray(b""),
            "to_process": 0,
            "pos": 0,
        }
        with self._msgtime_mutex:
            self._last_bytes_received = mqtt.time_func()
        return rc

    def _read_publishes(self) -> None:
        """Hand the run of whole QoS 1 PUBLISH packets without properties at the buffer's head
        to :attr:`on_publishes`, as one list; stop at anything else (another packet, one cut
        by the buffer's end, properties, a malformed length), which ``_packet_read`` handles."""
        buffer, pos = self._rbuf, self._rpos
        end = len(buffer)
        found: list[Publish] = []
        while pos < end:
            command = buffer[pos]
            if command & _PUBLISH_QOS1_MASK != _PUBLISH_QOS1:
                break
            framed = _remaining_length(buffer, pos)
            if framed is None:
                break
            at, length = framed
            body_end = at + length
            if body_end > end or length < 2:
                break
            topic_end = at + 2 + (buffer[at] << 8 | buffer[at + 1])
            # The packet id, then a Property Length of 0 (one zero byte): anything else, paho.
            if topic_end + 3 > body_end or buffer[topic_end + 2] != 0:
                break
            found.append(
                (
                    buffer[topic_end] << 8 | buffer[topic_end + 1],
                    buffer[at + 2 : topic_end],
                    buffer[topic_end + 3 : body_end],
                    bool(command & 0x08),
                    bool(command & 0x01),
                )
            )
            pos = body_end
        if not found:
            return
        self._rpos = pos
        with self._msgtime_mutex:
            self._last_bytes_received = mqtt.time_func()
        sink = self.on_publishes
        assert sink is not None
        sink(found)

    def _needs_more(self) -> bool:
        """Whether the buffer's unread rest is worth topping up from the socket before paho's
        reader sees it: nothing is left (or only bytes of a socket since replaced), or a packet
        of at most a chunk is cut by its end. Not for a whole packet, a malformed Remaining
        Length, or a longer packet, which paho's reader reads and judges."""
        buffer, pos = self._rbuf, self._rpos
        if pos >= len(buffer) or self._rsock is not self._sock:
            return True
        framed = _remaining_length(buffer, pos)
        if framed is None:  # cut inside the length bytes, or malformed
            return len(buffer) - pos <= _MAX_LENGTH_BYTES
        end = framed[0] + framed[1]
        return end > len(buffer) and end - pos <= _CHUNK

    def _receive_more(self) -> bool | None:
        """Append what the socket holds now to the buffer's unread rest (a packet cut by the
        buffer's end, if any): True when it had something, False when nothing now; None on
        the socket's error or end, which paho's reader then meets itself on its next read."""
        try:
            data = super()._sock_recv(_CHUNK)
        except BlockingIOError:
            return False
        except OSError:
            return None
        if not data:
            return None
        rest = self._rbuf[self._rpos :] if self._rsock is self._sock else b""
        self._rbuf = rest + data if rest else data
        self._rpos = 0
        self._rsock = self._sock
        return True

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """Handle every packet available now (the broker's receive window bounds how many).

        With :attr:`on_publishes`, the buffer is refilled before paho's reader would have to
        read a packet it cuts: the cut packet's start stays in the buffer, the socket's next
        bytes are appended, and the run path frames it whole. So paho's byte-by-byte reader
        sees only a packet longer than the buffer's chunk, or what comes when the socket
        fails or ends."""
        batched = (
            self.on_publishes is not None
            and self._manual_ack
            and self._protocol == MQTTProtocolVersion.MQTTv5
        )
        while True:
            if self._sock is None:
                return MQTTErrorCode.MQTT_ERR_NO_CONN
            if batched and self._in_packet["command"] == 0:
                if self._rsock is self._sock:
                    self._read_publishes()
                if self._needs_more():
                    more = self._receive_more()
                    if more:
                        continue
                    if more is False:
                        return MQTTErrorCode.MQTT_ERR_SUCCESS
            rc = self._packet_read()
            if rc > 0:
                return self._loop_rc_handle(rc)
            if rc == MQTTErrorCode.MQTT_ERR_AGAIN:
                return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _handle_publish(self) -> MQTTErrorCode:
        """Decode a QoS 1 MQTT 5 PUBLISH without properties directly; anything else is left to
        paho. (paho builds a ``Properties`` object for every MQTT 5 PUBLISH, which costs more
        than the rest of the packet's handling together.)"""
        header: int = self._in_packet["command"]
        packet: bytes | bytearray = self._in_packet["packet"]
        if self._protocol != MQTTProtocolVersion.MQTTv5 or (header & 0x06) != 0x02:
            return super()._handle_publish()
        (topic_length,) = _U16.unpack_from(packet, 0)
        at = 2 + topic_length
        if len(packet) < at + 3 or packet[at + 2] != 0:  # truncated, or properties present
            return super()._handle_publish()
        (mid,) = _U16.unpack_from(packet, at)
        message = mqtt.MQTTMessage(mid=mid, topic=bytes(packet[2:at]))
        message.dup = bool(header & 0x08)
        message.qos = 1
        message.retain = bool(header & 0x01)
        message.payload = bytes(packet[at + 3 :])
        on_message = self._on_message
        if on_message is not None:
            # No per-topic callbacks exist (see message_callback_add): skip paho's topic
            # matcher and callback lock, and call on_message as paho would.
            on_message(self, self._userdata, message)
        if self._manual_ack:
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        return self._send_puback(mid)

    def _handle_pubackcomp(self, cmd: Any) -> MQTTErrorCode:
        """Decode an MQTT 5 PUBACK without properties and with a success reason code directly
        (Remaining Length 2, which means Success; 3 with the reason code; 4 with a Property
        Length of 0); anything else, and every PUBCOMP, is left to paho. Then as paho:
        ``on_publish`` once, for a message still outstanding."""
        packet: bytes | bytearray = self._in_packet["packet"]
        size = len(packet)
        reason = _PUBACK_REASONS.get(packet[2] if size > 2 else 0)
        if (
            cmd != "PUBACK"
            or self._protocol != MQTTProtocolVersion.MQTTv5
            or reason is None
            or not 2 <= size <= 4
            or (size == 4 and packet[3] != 0)
        ):
            return super()._handle_pubackcomp(cmd)
        mid = packet[0] << 8 | packet[1]
        self._easy_log(mqtt.MQTT_LOG_DEBUG, "Received %s (Mid: %d)", cmd, mid)
        with self._out_message_mutex:
            if mid in self._out_messages:
                rc: MQTTErrorCode = self._do_on_publish(mid, reason, _PUBACK_NO_PROPERTIES)
                return rc
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def message_callback_add(self, sub: str, callback: Any) -> None:
        """Not supported: the PUBLISH fast path calls ``on_message`` for every message."""
        raise NotImplementedError("BufferedClient delivers every message to on_message")

    def ack_many(self, mids: Sequence[int]) -> MQTTErrorCode:
        """Acknowledge QoS 1 messages: their PUBACKs, in order, queued as one write.

        The same bytes as ``ack(mid, 1)`` for each, but one queue entry and one wake-up of the
        network loop instead of one (and a system call) per message.
        """
        if not mids:
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        packets = b"".join([_PUBACK.pack(_PUBACK_COMMAND, 2, mid) for mid in mids])
        return self._packet_queue(_PUBACK_COMMAND, packets, 0, 1)
