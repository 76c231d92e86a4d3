"""The API's event-signing key: ``<state>/event.key`` (an Ed25519 seed, hex, mode 0600).

The file, the key history and the rules for which key the API may sign with live in the store
(:mod:`farmtrace.store.event_key`): the API refuses to start with a key that is not the
database's current event key while that one signed records, and ``farmtrace keys
rotate-event`` changes the key explicitly, keeping the old one valid for what it signed.
"""

from __future__ import annotations

from farmtrace.store.event_key import EVENT_KEY_FILE, EventKeyError, event_keys, open_event_key

__all__ = ["EVENT_KEY_FILE", "EventKeyError", "event_keys", "open_event_key"]
