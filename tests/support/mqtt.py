"""A test subscriber that records what a real broker delivers.

``Capture`` subscribes (QoS 1) with a persistent MQTT 5 session, so it misses nothing across a
broker restart, and keeps every message in arrival order. It runs paho's own network thread;
``wait_for`` polls a condition on the recorded messages with a deadline.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    retain: bool
    received: float  # time.monotonic() at arrival


class Capture:
    """Record messages on ``filters`` from ``host:port`` until ``stop()``."""

    def __init__(
        self,
        host: str,
        port: int,
        filters: tuple[str, ...] = ("farm/#",),
        client_id: str | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._messages: list[Message] = []
        self.filters = filters
        self.connected = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"test-capture-{uuid.uuid4().hex[:12]}",
            protocol=mqtt.MQTTv5,
        )
        self.client.reconnect_delay_set(0.1, 1)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect
        self._host, self._port = host, port

    def start(self, timeout: float = 10.0) -> Capture:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        # A fresh client ID gives a fresh session; clean_start=False keeps it on reconnects.
        self.client.connect(self._host, self._port, clean_start=False, properties=props)
        self.client.loop_start()
        if not self.connected.wait(timeout):
            raise TimeoutError("capture did not connect")
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: object, props: object
    ) -> None:
        for topic in self.filters:
            client.subscribe(topic, qos=1)
        self.connected.set()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: object, props: object
    ) -> None:
        self.connected.clear()

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self._messages.append(
                Message(
                    message.topic, bytes(message.payload), bool(message.retain), time.monotonic()
                )
            )

    @property
    def messages(self) -> list[Message]:
        with self._lock:
            return list(self._messages)

    def wait_for(self, condition: Callable[[list[Message]], bool], timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition(self.messages):
                return True
            time.sleep(0.05)
        return condition(self.messages)
