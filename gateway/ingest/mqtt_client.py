"""A paho ``Client`` that reads its socket in large chunks.

Stock paho 2.x reads each incoming packet with several ``recv`` calls (the command byte, the
length bytes one at a time, then the body) and handles one packet per turn of its network loop,
each turn starting with a ``select``. Every one of those system calls releases the GIL; with the
batcher and committer threads busy, getting it back can take a switch interval each time, and
the network thread falls behind. This subclass keeps a receive buffer filled 256 KiB at a time
and handles every complete packet it holds in one turn.

It overrides two paho internals (``_sock_recv``, and the packet loop in ``loop_read`` through
``_packet_read`` and ``_loop_rc_handle``), present throughout paho-mqtt 2.x; :data:`AVAILABLE`
says whether they exist, and the gateway falls back to the stock client when they do not.
"""

from __future__ import annotations

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

__all__ = ["AVAILABLE", "BufferedClient"]

AVAILABLE = all(
    hasattr(mqtt.Client, name) for name in ("_sock_recv", "_packet_read", "_loop_rc_handle")
)

_CHUNK = 256 * 1024


class BufferedClient(mqtt.Client):
    """``mqtt.Client`` with buffered socket reads (see the module docstring)."""

    _rbuf: bytes = b""
    _rpos: int = 0
    _rsock: object = None

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

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """Handle every packet available now (the broker's receive window bounds how many)."""
        while True:
            if self._sock is None:
                return MQTTErrorCode.MQTT_ERR_NO_CONN
            rc = self._packet_read()
            if rc > 0:
                return self._loop_rc_handle(rc)
            if rc == MQTTErrorCode.MQTT_ERR_AGAIN:
                return MQTTErrorCode.MQTT_ERR_SUCCESS
