"""An event entry whose body escapes a lone surrogate (``"\\ud800"``) has no UTF-8 form: the
decoder refuses it with a named error instead of letting ``UnicodeEncodeError`` escape, so
``farmtrace verify`` fails such a bundle cleanly (the browser verifier says the same words:
tests/js/page_entries.test.mjs)."""

from __future__ import annotations

import struct

import pytest

from farmtrace.api.services.lots import event_entry
from farmtrace.api.services.lots.event_entry import EventEntryError


def _entry(body: bytes) -> bytes:
    signer = b"farmtrace-api.0123456789abcdef"
    return (
        event_entry.EVENT_PREFIX
        + struct.pack(">Qq", 1, 1_718_000_000_000)
        + bytes([len(signer)])
        + signer
        + struct.pack(">I", len(body))
        + body
        + bytes(64)
    )


def test_a_plain_body_decodes() -> None:
    assert event_entry.decode(_entry(b'{"kind":"harvest"}')).body == {"kind": "harvest"}


@pytest.mark.parametrize("body", [b'{"kind":"\\ud800"}', b'{"\\udfff":"x"}'])
def test_a_lone_surrogate_is_refused_by_name(body: bytes) -> None:
    with pytest.raises(EventEntryError, match="no UTF-8 form"):
        event_entry.decode(_entry(body))
