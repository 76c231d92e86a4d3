"""Errors of the ingest layer (``farmtrace.gateway.ingest``).

::

    IngestError(Exception)     the gateway cannot run as configured; the message says why
    └── BrokerError            the MQTT broker refused us or cannot be used as configured

Storage problems keep their own type (:class:`farmtrace.store.errors.StoreError`): the ingest
retries a :class:`~farmtrace.store.errors.DatabaseError` during commits and stops on any other.
"""

from __future__ import annotations

__all__ = ["BrokerError", "IngestError"]


class IngestError(Exception):
    """A configuration or runtime problem that stops the gateway."""


class BrokerError(IngestError):
    """The broker cannot be used: bad URL, refused credentials, refused subscription."""
