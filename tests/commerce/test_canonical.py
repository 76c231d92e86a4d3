"""Canonical JSON refuses, by name, every value it cannot encode: an object key with no UTF-8
form (a lone surrogate from a ``\\u`` escape) is named like a string value, never an uncaught
UnicodeEncodeError from ``json.dumps`` (the browser verifier words it the same:
``tests/commerce/test_commerce_js.py``)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from farmtrace.chain.entry import CAMPAIGN_PREFIX
from farmtrace.chain.signed_entry import frame
from farmtrace.commerce.canonical import canonical_json, check_value
from farmtrace.commerce.entries import decode_campaign_entry
from farmtrace.commerce.errors import CommerceError


def test_a_key_with_no_utf8_form_is_named() -> None:
    with pytest.raises(CommerceError, match=r"^body\.a: an object key with no UTF-8 form$"):
        check_value({"a": {"\ud800": 1}})
    with pytest.raises(CommerceError, match="text with no UTF-8 form"):
        canonical_json({"a": "\udc00"})
    assert canonical_json({"é": ["ü", 1]}) == '{"é":["ü",1]}'.encode()


def test_a_campaign_entry_holding_one_is_refused_not_crashing() -> None:
    key = Ed25519PrivateKey.from_private_bytes(bytes(32))
    signed = frame(CAMPAIGN_PREFIX, 1, 0, "farm.0123456789abcdef", b'{"\\ud800":1,"op":"open"}')
    with pytest.raises(CommerceError, match=r"^campaign entry: an object key with no UTF-8 form$"):
        decode_campaign_entry(signed + key.sign(signed))
