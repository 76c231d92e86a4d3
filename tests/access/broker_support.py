"""The shipped Mosquitto configuration run for real, and MQTT logins that record what the
broker answered.

:class:`ShippedBroker` starts Mosquitto from ``deploy/mosquitto/farmtrace.conf`` (and, with
``tls``, ``deploy/mosquitto/conf.d/farmtrace-tls.conf``) with only their paths and ports replaced
by the test's: each replaced text must occur exactly once in the shipped file, so a change there
fails here rather than leaving a test of a copy.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode
from support.mosquitto import Mosquitto, free_port

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "deploy" / "mosquitto" / "farmtrace.conf"
SHIPPED_TLS = ROOT / "deploy" / "mosquitto" / "conf.d" / "farmtrace-tls.conf"
NOT_AUTHORIZED = 0x87


def substitute(text: str, replacements: dict[str, str], source: Path) -> str:
    """``text`` with each key replaced by its value; each key must occur exactly once."""
    for old, new in replacements.items():
        count = text.count(old)
        if count != 1:
            raise AssertionError(f"{source} holds {old!r} {count} times, expected once")
        text = text.replace(old, new)
    return text


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


def make_certificates(directory: Path) -> TlsFiles:
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it, as PEM files."""

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    now = dt.datetime.now(dt.UTC)
    valid = (now - dt.timedelta(minutes=5), now + dt.timedelta(days=1))
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder().subject_name(name("farmtrace test CA")).issuer_name(name("farmtrace test CA"))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(valid[0]).not_valid_after(valid[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    cert = (
        x509.CertificateBuilder().subject_name(name("127.0.0.1")).issuer_name(ca.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(valid[0]).not_valid_after(valid[1])
        .add_extension(san, critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    files.key.chmod(0o600)
    return files


@dataclass
class ShippedBroker(Mosquitto):
    """Mosquitto run from the shipped configuration; ``access`` is the directory written by
    ``farmtrace broker files``; ``tls`` enables the shipped TLS listener on ``tls_port``."""

    access: Path = Path("/nonexistent")
    tls: TlsFiles | None = None
    tls_port: int = field(default_factory=free_port)

    def _config(self) -> Path:
        include = self.workdir / "conf.d"
        include.mkdir(exist_ok=True)
        text = substitute(
            SHIPPED.read_text("utf-8"),
            {
                "/run/mosquitto/mosquitto.pid": str(self.workdir / "mosquitto.pid"),
                "/var/log/mosquitto/mosquitto.log": str(self.log_path),
                "persistence_location /var/lib/mosquitto/": f"persistence_location {self.workdir}/",
                "/etc/mosquitto/farmtrace/passwd": str(self.access / "passwd"),
                "/etc/mosquitto/farmtrace/acl": str(self.access / "acl"),
                "listener 1883 127.0.0.1": f"listener {self.port} 127.0.0.1",
                "include_dir /etc/mosquitto/conf.d": f"include_dir {include}",
            },
            SHIPPED,
        )
        if self.tls is not None:
            tls = substitute(
                SHIPPED_TLS.read_text("utf-8"),
                {
                    "listener 8883\n": f"listener {self.tls_port} 127.0.0.1\n",
                    "/etc/mosquitto/certs/farmtrace-ca.pem": str(self.tls.ca),
                    "/etc/mosquitto/certs/farmtrace-server.pem": str(self.tls.cert),
                    "/etc/mosquitto/certs/farmtrace-server.key": str(self.tls.key),
                },
                SHIPPED_TLS,
            )
            (include / SHIPPED_TLS.name).write_text(tls)
        if os.geteuid() == 0:
            # As root, Mosquitto would drop to the "mosquitto" user, which cannot enter the
            # test's private temp dir (the only change to the shipped settings).
            text += "user root\n"
        path = self.workdir / "mosquitto.conf"
        path.write_text(text)
        return path

    def reload(self) -> None:
        """SIGHUP: Mosquitto rereads its password and ACL files (as ``systemctl reload``)."""
        assert self.process is not None
        before = self.log().count("Reloading config.")
        self.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while self.log().count("Reloading config.") == before:
            if time.monotonic() > deadline:
                raise AssertionError(f"mosquitto did not reload:\n{self.log()[-2000:]}")
            time.sleep(0.05)


class Login:
    """One MQTT 5 client logged in as ``user``: records the CONNACK, each PUBACK's reason and
    every message delivered to it."""

    def __init__(
        self,
        port: int,
        user: str | None,
        password: str | None,
        client_id: str,
        will: str | None = None,
    ) -> None:
        self.connack: ReasonCode | None = None
        self.pubacks: dict[int, ReasonCode] = {}
        self.messages: list[tuple[str, bytes]] = []
        self.disconnected = threading.Event()
        self._lock = threading.Lock()
        self._answered = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        if user is not None:
            self.client.username_pw_set(user, password)
        if will is not None:
            self.client.will_set(will, b"offline", qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not self._answered.wait(10):
            raise AssertionError(f"no CONNACK for {user!r}")

    @property
    def connected(self) -> bool:
        return self.connack is not None and not self.connack.is_failure

    def _on_connect(self, c: mqtt.Client, u: object, f: object, reason: ReasonCode, p: object) -> None:  # fmt: skip
        self.connack = reason
        self._answered.set()

    def _on_disconnect(self, c: mqtt.Client, u: object, f: object, reason: ReasonCode, p: object) -> None:  # fmt: skip
        self.disconnected.set()
        self._answered.set()

    def _on_publish(self, c: mqtt.Client, u: object, mid: int, reason: ReasonCode, p: object) -> None:  # fmt: skip
        with self._lock:
            self.pubacks[mid] = reason

    def _on_message(self, c: mqtt.Client, u: object, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((message.topic, bytes(message.payload)))

    def subscribe(self, *filters: str) -> None:
        done = threading.Event()
        self.client.on_subscribe = lambda *_: done.set()
        self.client.subscribe([(f, 1) for f in filters])
        if not done.wait(10):
            raise AssertionError(f"no SUBACK for {filters}")

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> ReasonCode:
        """Publish with QoS 1 and return the broker's PUBACK reason code."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        deadline = time.monotonic() + 10
        while True:
            with self._lock:
                if info.mid in self.pubacks:
                    return self.pubacks[info.mid]
            if time.monotonic() > deadline:
                raise AssertionError(f"no PUBACK for {topic}")
            time.sleep(0.01)

    def received(self) -> list[tuple[str, bytes]]:
        with self._lock:
            return list(self.messages)

    def wait_for(self, message: tuple[str, bytes], timeout: float = 10) -> list[tuple[str, bytes]]:
        """Wait until ``message`` arrives; return everything received up to then."""
        deadline = time.monotonic() + timeout
        while message not in self.received():
            if time.monotonic() > deadline:
                raise AssertionError(f"{message} did not arrive; got {self.received()}")
            time.sleep(0.02)
        got = self.received()
        return got[: got.index(message) + 1]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
