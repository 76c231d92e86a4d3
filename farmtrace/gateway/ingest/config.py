"""The gateway's settings, validated once, and the broker URL they start from."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from farmtrace.gateway.ingest.errors import BrokerError, IngestError
from farmtrace.gateway.ingest.quarantine_bounds import QuarantineLimits
from farmtrace.redact import redact_url

__all__ = ["MAX_RECEIVE_MAXIMUM", "BrokerAddress", "IngestConfig", "parse_broker_url"]

MAX_RECEIVE_MAXIMUM = 65535
"""MQTT 5 Receive Maximum is a two-byte integer."""


@dataclass(frozen=True)
class BrokerAddress:
    """Where the broker is: ``mqtt://[user[:password]@]host[:port]`` or ``mqtts://...``, and
    the login to use (:mod:`farmtrace.gateway.ingest.broker_login` says where it may come from). The
    password is left out of ``repr``, so no message or traceback can show it."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The URL without credentials, for messages."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_broker_url(url: str) -> BrokerAddress:
    """Parse a broker URL; raise :class:`BrokerError` naming what is wrong with it (the URL
    quoted with its password hidden)."""
    shown = redact_url(url)
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise BrokerError(f"broker URL {shown!r}: expected mqtt://HOST:PORT or mqtts://HOST:PORT")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise BrokerError(f"broker URL {shown!r}: a broker URL has no path, query or fragment")
    tls = parts.scheme == "mqtts"
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError as exc:
        raise BrokerError(f"broker URL {shown!r}: {exc}") from None
    return BrokerAddress(
        parts.hostname,
        port,
        tls,
        unquote(parts.username) if parts.username else None,
        unquote(parts.password) if parts.password else None,
    )


@dataclass(frozen=True)
class IngestConfig:
    """Everything the ingest pipeline needs to know; see ``farmtrace gateway --help``.

    Times are seconds. ``receive_maximum`` is the MQTT 5 Receive Maximum sent at connect: the
    broker never has more unacknowledged readings out to us than that, which bounds the
    gateway's memory; it must exceed ``batch_size`` or a batch could never fill.
    """

    broker: BrokerAddress
    client_id: str
    share_group: str | None = None
    ca_file: Path | None = None
    batch_size: int = 5000
    batch_age: float = 1.0
    receive_maximum: int | None = None
    session_expiry: int = 7 * 86400
    keepalive: int = 30
    max_future: float = 600.0
    max_age: float = 7 * 86400.0
    replay_grace: float = 30.0
    silence_factor: float = 3.0
    silence_min: float = 5.0
    registry_refresh: float = 2.0
    verify_threads: int | None = None
    quarantine: QuarantineLimits = field(default_factory=QuarantineLimits)

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size < MAX_RECEIVE_MAXIMUM:
            raise IngestError(f"batch size {self.batch_size}: must be 1..{MAX_RECEIVE_MAXIMUM - 1}")
        if self.receive_maximum is not None and not (
            self.batch_size < self.receive_maximum <= MAX_RECEIVE_MAXIMUM
        ):
            raise IngestError(
                f"receive maximum {self.receive_maximum}: must exceed the batch size "
                f"({self.batch_size}) and be at most {MAX_RECEIVE_MAXIMUM}, or the broker "
                "would stop sending before a batch is full"
            )
        for name in ("batch_age", "max_future", "max_age", "silence_factor", "registry_refresh"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise IngestError(f"{name.replace('_', ' ')} {value!r}: must be positive")
        for name in ("replay_grace", "silence_min"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise IngestError(f"{name.replace('_', ' ')} {value!r}: must not be negative")
        if self.session_expiry < 1 or self.keepalive < 5:
            raise IngestError("session expiry must be positive and keepalive at least 5 s")
        if self.verify_threads is not None and self.verify_threads < 1:
            raise IngestError("verify threads must be at least 1")
        if self.share_group is not None and (
            not self.share_group or any(c in self.share_group for c in "/+#")
        ):
            raise IngestError(f"share group {self.share_group!r}: must be non-empty, no / + #")

    @property
    def window(self) -> int:
        """The Receive Maximum actually requested: given, or two batches plus slack."""
        if self.receive_maximum is not None:
            return self.receive_maximum
        return min(MAX_RECEIVE_MAXIMUM, max(2 * self.batch_size, self.batch_size + 1000))

    @property
    def signature_threads(self) -> int | None:
        """Threads for the bulk signature check: as given, else every core (``None``).

        The batcher thread does everything else of a reading's admission, so checking on it
        alone capped the gateway near 20 k readings/s. Two threads cost about the CPU of one
        now that a check costs ~20 µs (keys cached, AVX-512 IFMA where present; docs/ed25519.md):
        once ~51 µs on one thread against ~59 on two, which is why two-core machines used one.
        """
        return self.verify_threads

    @property
    def reading_filter(self) -> str:
        """The subscription filter for readings (shared when a share group is set)."""
        base = "farm/+/+/reading"
        return base if self.share_group is None else f"$share/{self.share_group}/{base}"
