"""One device's MQTT connection: a paho client driven by the simulator's own event loop.

Each device connects with its own client ID (its device ID) and credentials, so broker ACLs
apply per device. The simulator runs thousands of these from one thread: paho's sockets are
registered with a ``selectors`` selector through paho's socket callbacks and serviced with
``loop_read``/``loop_write``/``loop_misc`` (paho's "external event loop" interface); no paho
thread is ever started.

Without a paho write callback, paho writes each publish to the socket at once (one send per
message, no selector change); only when the socket is full does the link ask the selector for
write readiness, until paho's buffer is empty again.

A client lives for one connection. When the connection ends, the client is dropped, and the
next connection starts from a fresh one: unacknowledged readings are resent from the on-disk
outbox, never from paho's in-memory queue, so there is a single source of truth for what is
still owed.
"""

from __future__ import annotations

import contextlib
import re
import selectors
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from farmtrace.sim.errors import ConfigError
from farmtrace.wire import topics


@dataclass(frozen=True)
class BrokerConfig:
    """Where and how every device connects."""

    host: str
    port: int
    tls: ssl.SSLContext | None = None
    username: str | None = None  # "{device}" -> device ID, "{asset}" -> ID after its last ':'
    password: str | None = None
    passwords: dict[str, str] | None = None  # per-device passwords, by device ID
    keepalive: int = 30
    session_expiry: int = 3600
    connect_timeout: float = 5.0
    max_inflight: int = 10
    protocol: str = "5"  # "5" or "3.1.1"

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_broker_url(url: str) -> tuple[str, int, bool, str | None, str | None]:
    """``mqtt://[user:pass@]host[:1883]`` or ``mqtts://host[:8883]`` -> host, port, tls, user, pw."""
    shown = redact_url(url)
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ConfigError(f"--broker {shown!r}: expected mqtt://HOST:PORT or mqtts://HOST:PORT")
    if parts.path not in ("", "/"):
        raise ConfigError(f"--broker {shown!r}: a broker URL has no path")
    tls = parts.scheme == "mqtts"
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError as err:
        raise ConfigError(f"--broker {shown!r}: {err}") from None
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return parts.hostname, port, tls, user, password


def redact_url(url: str) -> str:
    """``url`` with the password of ``user:password@`` masked, for messages; never raises.

    The simulator runs without the rest of farmtrace (``requirements.txt``), so this is a
    copy of ``farmtrace.redact.redact_url`` restricted to broker URLs.
    """
    return re.sub(r"(^[A-Za-z][A-Za-z0-9+.\-]*://[^:/?#@\s]*):[^\s]*@", r"\1:***@", url)


class LinkEvents(Protocol):
    """What a link reports to the simulator (called from inside paho's loop functions)."""

    def link_up(self, link: Link) -> None: ...
    def link_refused(self, link: Link, reason: str) -> None: ...
    def link_down(self, link: Link, reason: str) -> None: ...
    def puback(self, link: Link, mid: int, failure: str | None) -> None: ...
    def subscribed(self, link: Link) -> None: ...
    def watermark(self, link: Link, payload: bytes) -> None: ...


class Link:
    """The connection state of one device: ``down`` -> ``connecting`` -> ``up`` -> ``down``."""

    def __init__(
        self,
        device_id: str,
        farm: str,
        config: BrokerConfig,
        selector: selectors.BaseSelector,
        events: LinkEvents,
        subscribe_watermark: bool,
    ) -> None:
        self.device_id = device_id
        self.config = config
        self.selector = selector
        self.events = events
        self.subscribe_watermark = subscribe_watermark
        self.status_topic = topics.status_topic(farm, device_id)
        self.committed_topic = topics.committed_topic(farm, device_id)
        self.client: mqtt.Client | None = None
        self.state = "down"
        self.failures = 0
        self.next_attempt = 0.0
        self.started = 0.0
        self.owner: Any = None  # the simulator's Device
        self.writing = False  # registered for write readiness

    def _new_client(self) -> mqtt.Client:
        config = self.config
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.device_id,
            protocol=mqtt.MQTTv5 if config.protocol == "5" else mqtt.MQTTv311,
            clean_session=None if config.protocol == "5" else False,
            userdata=self,
        )
        client.connect_timeout = config.connect_timeout
        # Readings are flow-controlled by the simulator; this leaves room for status messages.
        client.max_inflight_messages_set(config.max_inflight + 8)
        client.max_queued_messages_set(config.max_inflight + 64)
        if config.tls is not None:
            client.tls_set_context(config.tls)
        username = None
        if config.username:
            # {asset}: the ID without its URN prefix, for brokers whose user names cannot
            # hold ':' (Mosquitto's password file).
            username = config.username.replace("{device}", self.device_id).replace(
                "{asset}", self.device_id.rsplit(":", 1)[-1]
            )
        password = config.password
        if config.passwords is not None:
            password = config.passwords.get(self.device_id, password)
        if username is not None:
            client.username_pw_set(username, password)
        client.will_set(self.status_topic, topics.STATUS_OFFLINE, qos=1, retain=True)
        client.on_socket_open = _on_socket_open
        client.on_socket_close = _on_socket_close
        client.on_connect = _on_connect
        client.on_disconnect = _on_disconnect
        client.on_publish = _on_publish
        client.on_subscribe = _on_subscribe
        client.on_message = _on_message
        return client

    def open(self) -> None:
        """Start connecting (blocks for the TCP and TLS handshake only); raises OSError."""
        client = self._new_client()
        config = self.config
        self.client = client
        self.state = "connecting"
        self.started = time.monotonic()
        try:
            if config.protocol == "5":
                # A persistent session: without SessionExpiryInterval MQTT 5 ends it on
                # disconnect, and paho's default clean_start would drop it on every new process.
                properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
                properties.SessionExpiryInterval = config.session_expiry
                client.connect(
                    config.host,
                    config.port,
                    keepalive=config.keepalive,
                    clean_start=False,
                    properties=properties,
                )
            else:  # MQTT 3.1.1: clean_session=False, set when the client was made
                client.connect(config.host, config.port, keepalive=config.keepalive)
        except (OSError, ssl.SSLError):
            self._forget_socket()
            raise

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> int | None:
        """QoS 1 publish; the message id, or None when the client cannot take it now."""
        client = self.client
        if client is None or self.state != "up":
            return None
        info = client.publish(topic, payload, qos=1, retain=retain)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            return None
        if client.want_write():
            self._write_interest(client, True)
        return info.mid

    def _write_interest(self, client: mqtt.Client, wanted: bool) -> None:
        if wanted == self.writing:
            return
        sock = client.socket()
        if sock is None:
            return
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if wanted else 0)
        with contextlib.suppress(KeyError, ValueError):  # closing socket: already unregistered
            self.selector.modify(sock, events, self)
            self.writing = wanted

    def close(self) -> None:
        """End the connection cleanly (DISCONNECT: the broker discards the last will)."""
        if self.client is not None:
            self.client.disconnect()

    def abort(self, reason: str) -> None:
        """Drop the connection at once, without DISCONNECT, as a power cut or lost radio link
        would: the broker then publishes the last will (``offline``)."""
        self._forget_socket()
        self.events.link_down(self, reason)

    def _forget_socket(self) -> None:
        client = self.client
        sock = client.socket() if client is not None else None
        if isinstance(sock, socket.socket):
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(sock)
            sock.close()
        self.client = None
        self.state = "down"

    def service(self, readable: bool, writable: bool) -> None:
        """Let paho read and write after the selector reported the socket ready."""
        client = self.client
        if client is None:
            return
        if readable:
            client.loop_read()
            sock = client.socket()
            # TLS can hold decrypted records the selector cannot see; drain them now.
            while self.client is client and isinstance(sock, ssl.SSLSocket) and sock.pending():
                client.loop_read()
        if self.client is not client:
            return
        if writable or client.want_write():
            # Messages queued inside paho callbacks (status, subscribe) are written here.
            client.loop_write()
        if self.client is client:
            self._write_interest(client, client.want_write())

    def misc(self) -> None:
        if self.client is not None:
            self.client.loop_misc()


def _link(userdata: Any) -> Link:
    assert isinstance(userdata, Link)
    return userdata


def _on_socket_open(client: mqtt.Client, userdata: Any, sock: Any) -> None:
    link = _link(userdata)
    link.writing = False
    link.selector.register(sock, selectors.EVENT_READ, userdata)


def _on_socket_close(client: mqtt.Client, userdata: Any, sock: Any) -> None:
    with contextlib.suppress(KeyError, ValueError):
        _link(userdata).selector.unregister(sock)


def _on_connect(
    client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any
) -> None:
    link = _link(userdata)
    if reason.is_failure:
        link.events.link_refused(link, str(reason))
        return
    link.state = "up"
    link.failures = 0
    if link.subscribe_watermark:
        client.subscribe(link.committed_topic, qos=1)
    client.publish(link.status_topic, topics.STATUS_ONLINE, qos=1, retain=True)
    link.events.link_up(link)


def _on_disconnect(
    client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any
) -> None:
    link = _link(userdata)
    if link.client is client:
        link.client = None
        link.state = "down"
        link.events.link_down(link, str(reason))


def _on_publish(
    client: mqtt.Client, userdata: Any, mid: int, reason: ReasonCode, properties: Any
) -> None:
    link = _link(userdata)
    link.events.puback(link, mid, str(reason) if reason.is_failure else None)


def _on_subscribe(
    client: mqtt.Client, userdata: Any, mid: int, reasons: list[ReasonCode], properties: Any
) -> None:
    link = _link(userdata)
    link.events.subscribed(link)


def _on_message(client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
    link = _link(userdata)
    if message.topic == link.committed_topic:
        link.events.watermark(link, bytes(message.payload))
