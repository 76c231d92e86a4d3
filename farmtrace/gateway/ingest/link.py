"""The gateway's MQTT session: a persistent MQTT 5 session with manual acknowledgements.

* ``Client(VERSION2, client_id=<stable>, protocol=MQTTv5, manual_ack=True)``, connected with
  ``clean_start=False``, a long Session Expiry Interval and a Receive Maximum above the batch
  size, so the broker keeps our subscription and unacknowledged readings while we are away and
  never has more than the receive window out to us.
* ``on_message``, and the buffered client's ``on_publishes`` with a run of messages, only
  append to the inbox (they run on paho's network thread).
* :meth:`BrokerLink.ack` acknowledges only deliveries of the current connection. Packet ids
  belong to a connection: after a reconnect the broker redelivers what we had not acknowledged
  under the same ids and then reuses freed ids for new messages, so acknowledging an old
  connection's id could acknowledge a message we have not stored. The connection generation is
  bumped (under the acknowledgement lock) when a connection is lost, before paho reconnects and
  when the new connection is accepted; an acknowledgement racing a reconnect either goes out on
  the old socket or is skipped, and the redelivered copy is acknowledged instead.
* Commit watermarks are published retained, QoS 1, as statements signed with the gateway's
  watermark key (:mod:`farmtrace.wire.watermark`; devices ignore anything else), those of one
  committer pass signed together in one call; the broker's PUBACK for each is reported back
  (:meth:`BrokerLink.confirmed`) so the replay rule knows when a device could have seen it.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections import deque
from collections.abc import Sequence
from functools import partial
from typing import Any

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from farmtrace import rust_core
from farmtrace.gateway.ingest.config import IngestConfig
from farmtrace.gateway.ingest.errors import BrokerError
from farmtrace.gateway.ingest.inbox import Delivery, Inbox
from farmtrace.gateway.ingest.mqtt_client import AVAILABLE as BUFFERED_AVAILABLE
from farmtrace.gateway.ingest.mqtt_client import BufferedClient, Publish
from farmtrace.wire import topics
from farmtrace.wire import watermark as watermark_wire

__all__ = ["DROPPED_FILTER", "BrokerLink"]

log = logging.getLogger("farmtrace.gateway")

DROPPED_FILTER = "farm/+/+/dropped"
"""Devices' drop floors (retained); never shared, every gateway needs all of them."""

# paho scans every outgoing message on each PUBACK while fewer than this are in flight, so a
# large window makes each acknowledgement of our watermark publications cost O(window).
_OUTGOING_INFLIGHT = 20
_OUTGOING_QUEUE = 100_000
_CONFIRMATIONS = 200_000
_BACKOFF_MIN_S, _BACKOFF_MAX_S = 0.5, 30.0
_TOPIC_CACHE_LIMIT = 65536  # decoded topics kept by raw bytes (devices reuse a few each)


def _decode_topic(raw: bytes) -> str:
    """A topic as paho's ``MQTTMessage.topic`` decodes it (strict UTF-8); one that is not
    UTF-8 is decoded with replacement characters instead of raising: brokers must refuse such
    topics, and if one did not, the batcher rejects it as a bad topic rather than paho's
    thread dying on it."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("utf-8", "replace")


class BrokerLink:
    """One gateway's connection to the broker (see the module docstring)."""

    def __init__(
        self, config: IngestConfig, inbox: Inbox, watermark_key: Ed25519PrivateKey, origin: str
    ) -> None:
        """``watermark_key`` signs the commit watermarks, which name ``origin`` (our chain)."""
        self.config = config
        self._inbox = inbox
        # The watermarks of a committer pass are signed in one call, on the committer's thread
        # (threads=1: a handful at a time, and its CPU stays counted where it is spent).
        self._sign_watermarks = partial(
            rust_core.sign_ed25519, watermark_key.private_bytes_raw(), threads=1
        )
        self._origin = origin
        self._lock = threading.Lock()
        self._generation = 0
        self._topics: dict[bytes, str] = {}
        self._connected = False
        self._ever_connected = threading.Event()
        self._stopping = False
        self.refused: str | None = None
        self.fatal: str | None = None
        self.connects = 0
        self.thread_cpu = 0.0  # CPU seconds of paho's network thread, read when it disconnects
        self._confirmed: deque[tuple[int, float]] = deque(maxlen=_CONFIRMATIONS)
        self._client = self._make_client()

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def generation(self) -> int:
        return self._generation

    def _make_client(self) -> mqtt.Client:
        config = self.config
        client_class = BufferedClient if BUFFERED_AVAILABLE else mqtt.Client
        client = client_class(
            CallbackAPIVersion.VERSION2,
            client_id=config.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        client.max_inflight_messages_set(_OUTGOING_INFLIGHT)
        client.max_queued_messages_set(_OUTGOING_QUEUE)
        client.reconnect_delay_set(1, int(_BACKOFF_MAX_S))
        broker = config.broker
        if broker.username is not None:
            client.username_pw_set(broker.username, broker.password)
        if broker.tls:
            context = ssl.create_default_context(
                cafile=str(config.ca_file) if config.ca_file else None
            )
            client.tls_set_context(context)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_pre_connect = self._on_pre_connect
        client.on_message = self._on_message
        if isinstance(client, BufferedClient):
            client.on_publishes = self._on_publishes
        client.on_publish = self._on_publish
        client.on_subscribe = self._on_subscribe
        return client

    # -- connecting ---------------------------------------------------------------------------

    def connect(self, stop: threading.Event) -> bool:
        """Connect, retrying an unreachable broker with backoff; False if ``stop`` was set first.

        Raises :class:`BrokerError` when the broker answers but refuses us (bad credentials,
        client ID not allowed): that does not get better by retrying.
        """
        config, broker = self.config, self.config.broker
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = config.session_expiry
        properties.ReceiveMaximum = config.window
        delay = _BACKOFF_MIN_S
        while not stop.is_set():
            try:
                self._client.connect(
                    broker.host,
                    broker.port,
                    keepalive=config.keepalive,
                    clean_start=False,
                    properties=properties,
                )
                break
            except (OSError, ssl.SSLError) as exc:
                log.warning(
                    "broker %s unreachable (%s); retrying in %.1f s", broker.url, exc, delay
                )
                stop.wait(delay)
                delay = min(delay * 2, _BACKOFF_MAX_S)
        else:
            return False
        self._client.loop_start()
        while not stop.is_set():
            if self._ever_connected.wait(0.2):
                return True
            if self.refused is not None:
                raise BrokerError(f"broker {broker.url} refused the connection: {self.refused}")
        return False

    def close(self) -> None:
        """Disconnect cleanly (acknowledgements already queued are sent first) and stop paho."""
        with self._lock:
            self._stopping = True
        self._client.disconnect()
        self._client.loop_stop()
        with self._lock:
            self._connected = False
            self._generation += 1

    # -- acknowledging and publishing ---------------------------------------------------------

    def ack(self, delivery: Delivery) -> bool:
        """Acknowledge a QoS 1 delivery if it came on the current connection; say whether."""
        return self.ack_all([delivery]) == 1

    def ack_all(self, deliveries: Sequence[Delivery]) -> int:
        """Acknowledge, in order, the QoS 1 deliveries that came on the current connection;
        return how many were acknowledged (the others will be delivered again)."""
        with self._lock:
            if not self._connected:
                return 0
            generation = self._generation
            mids = [d.mid for d in deliveries if d.generation == generation and d.qos > 0]
            client = self._client
            if isinstance(client, BufferedClient):
                ok = client.ack_many(mids) == MQTTErrorCode.MQTT_ERR_SUCCESS
                return len(mids) if ok else 0
            return sum(client.ack(mid, 1) == MQTTErrorCode.MQTT_ERR_SUCCESS for mid in mids)

    def publish_watermarks(self, due: Sequence[tuple[str, str, int]]) -> list[int | None]:
        """Publish commit watermarks, each ``(farm, device_id, watermark)``, retained at QoS 1,
        all signed in one call (:func:`farmtrace.wire.watermark.sign_many`) and stamped with one
        clock reading; for each, in order, its message id, or None when paho did not take it."""
        if not due:
            return []
        timestamp_ms = int(time.time() * 1000)
        origin = self._origin
        statements = [
            watermark_wire.Watermark(device_id, watermark, timestamp_ms, origin)
            for _, device_id, watermark in due
        ]
        payloads = watermark_wire.sign_many(statements, self._sign_watermarks)
        publish, success = self._client.publish, MQTTErrorCode.MQTT_ERR_SUCCESS
        mids: list[int | None] = []
        for (farm, device_id, _), payload in zip(due, payloads, strict=True):
            info = publish(topics.committed_topic(farm, device_id), payload, qos=1, retain=True)
            mids.append(info.mid if info.rc == success else None)
        return mids

    def flush(self, timeout: float = 2.0) -> bool:
        """Wait until paho has taken every queued packet (acknowledgements, publications) to
        write it to the socket, or ``timeout`` passed; say whether it had. For crash failpoints
        (:mod:`farmtrace.failpoints`), so that a kill "after the PUBACKs" comes after them."""
        deadline = time.monotonic() + timeout
        while self._client.want_write():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.002)
        time.sleep(0.02)  # paho takes a packet off its queue just before the send() call
        return True

    def confirmed(self) -> list[tuple[int, float]]:
        """Message ids of our publications the broker acknowledged since the last call."""
        out: list[tuple[int, float]] = []
        confirmed = self._confirmed
        while confirmed:
            out.append(confirmed.popleft())
        return out

    # -- paho callbacks (network thread) -------------------------------------------------------

    def _on_pre_connect(self, client: mqtt.Client, userdata: Any) -> None:
        with self._lock:
            self._generation += 1
            self._connected = False

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any
    ) -> None:
        if reason.is_failure:
            self.refused = str(reason)
            log.error("broker %s refused the connection: %s", self.config.broker.url, reason)
            return
        with self._lock:
            self._generation += 1
            self._connected = True
        self.connects += 1
        resumed = "resumed" if flags.session_present else "new"
        log.info(
            "connected to %s as %s (%s session, receive window %d)",
            self.config.broker.url,
            self.config.client_id,
            resumed,
            self.config.window,
        )
        client.subscribe(
            [(self.config.reading_filter, 1), (DROPPED_FILTER, 1)],
        )
        self._ever_connected.set()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any
    ) -> None:
        with self._lock:
            self._generation += 1
            self._connected = False
            stopping = self._stopping
        self.thread_cpu = time.thread_time()
        if not stopping:
            log.warning(
                "lost the connection to %s (%s); reconnecting with backoff",
                self.config.broker.url,
                reason,
            )

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._inbox.put(
            Delivery(
                self._generation,
                message.mid,
                message.qos,
                _decode_topic(bytes(message._topic)),
                bytes(message.payload),
                time.time(),
                time.monotonic(),
                bool(message.dup),
            )
        )

    def _on_publishes(self, publishes: list[Publish]) -> None:
        """The buffered client's run of QoS 1 PUBLISH packets: the deliveries ``_on_message``
        would make of them one by one (topics decoded as it decodes them), all stamped with
        the time their bytes were handed over, put in the inbox together."""
        generation, received_at, received_mono = self._generation, time.time(), time.monotonic()
        topic_of = self._topics
        deliveries = []
        for mid, raw_topic, payload, dup, _retain in publishes:
            topic = topic_of.get(raw_topic)
            if topic is None:
                topic = _decode_topic(raw_topic)
                if len(topic_of) >= _TOPIC_CACHE_LIMIT:
                    topic_of.clear()
                topic_of[raw_topic] = topic
            deliveries.append(
                Delivery(generation, mid, 1, topic, payload, received_at, received_mono, dup)
            )
        self._inbox.put_many(deliveries)

    def _on_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, reason: ReasonCode, properties: Any
    ) -> None:
        if not reason.is_failure:
            self._confirmed.append((mid, time.monotonic()))

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reasons: list[ReasonCode], props: Any
    ) -> None:
        refused = [str(r) for r in reasons if r.is_failure]
        if refused:
            self.fatal = f"the broker refused our subscriptions: {', '.join(refused)}"
            log.error("%s", self.fatal)
