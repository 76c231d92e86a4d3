"""The browser wallet's modules (farmtrace/api/web/static/wallet/) against the Python reference.

``tests/js/wallet_vectors.json`` holds what Python makes: holder statements signed by
``farmtrace.wallet.statements`` (fixed seeds, heads and times; Ed25519 is deterministic, so the
browser must produce the same bytes) with the wallet's refusals word for word, and QR symbols
made by ``farmtrace.qr``'s encoding (segno, level M, no boosting), module for module. This test
regenerates the vectors, requires the committed file to equal them (so node's tests never check
against stale ones), then runs ``node --test tests/js/wallet_*.test.mjs``.

Regenerate the file after a deliberate change: ``.venv/bin/python tests/api/test_wallet_js.py``.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import segno
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from farmtrace.commerce.gcn import coupon_id
from farmtrace.wallet.keyfile import WalletError, address_of
from farmtrace.wallet.statements import CouponHead, encode, sign_redeem, sign_transfer

REPO_ROOT = Path(__file__).resolve().parents[2]
VECTORS = REPO_ROOT / "tests" / "js" / "wallet_vectors.json"
GCN = "0614141000012"  # check digit 2 (GS1 mod 10)
TIME_MS = 1_893_456_000_123


def _key(label: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(label.encode()).digest())


def _state(label: str) -> str:
    return hashlib.sha256(label.encode()).hexdigest()


def _statement_vectors() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    holder = _key("wallet vector holder")
    other = _key("wallet vector other")
    cases: list[tuple[str, dict[str, Any]]] = [
        ("transfer", {"serial": 1, "moves": 1, "to": address_of(other), "price": None}),
        ("transfer", {"serial": 7, "moves": 3, "to": address_of(other), "price": (4800, "CNY")}),
        (
            "transfer",
            {"serial": 999_999_999_999, "moves": 41, "to": address_of(other), "price": (0, "JPY")},
        ),
        ("transfer", {"serial": 12, "moves": 2, "to": address_of(holder), "price": (125, "KWD")}),
        ("redeem", {"serial": 1, "moves": 1}),
        ("redeem", {"serial": 123456, "moves": 9}),
    ]
    for n, (op, case) in enumerate(cases):
        coupon = coupon_id(GCN, case["serial"])
        head = CouponHead(coupon, address_of(holder), _state(f"state {n}"), case["moves"], "active")
        when = TIME_MS + n
        if op == "transfer":
            statement = sign_transfer(head, holder, case["to"], case["price"], time_ms=when)
        else:
            statement = sign_redeem(head, holder, time_ms=when)
        out.append(
            {
                "op": op,
                "seed": holder.private_bytes_raw().hex(),
                "head": {
                    "coupon": head.coupon,
                    "holder": head.holder,
                    "state": head.state,
                    "moves": head.moves,
                    "status": head.status,
                },
                "to": case.get("to"),
                "price": None
                if case.get("price") is None
                else {"amount": case["price"][0], "currency": case["price"][1]},
                "time_ms": when,
                "statement": encode(statement),
                "state": statement.state,
            }
        )
    # Refusals: the wallet's words, which the browser repeats.
    coupon = coupon_id(GCN, 5)
    refusals = [
        ("transfer", CouponHead(coupon, address_of(other), _state("r0"), 1, "active")),
        ("redeem", CouponHead(coupon, address_of(holder), _state("r1"), 2, "redeemed")),
        ("transfer", CouponHead(coupon, address_of(holder), _state("r2"), 2, "void")),
    ]
    for op, head in refusals:
        try:
            if op == "transfer":
                sign_transfer(head, holder, address_of(other), time_ms=TIME_MS)
            else:
                sign_redeem(head, holder, time_ms=TIME_MS)
        except WalletError as exc:
            message = str(exc)
        else:  # pragma: no cover
            raise AssertionError("the wallet signed a statement it must refuse")
        out.append(
            {
                "op": op,
                "seed": holder.private_bytes_raw().hex(),
                "head": {
                    "coupon": head.coupon,
                    "holder": head.holder,
                    "state": head.state,
                    "moves": head.moves,
                    "status": head.status,
                },
                "to": address_of(other) if op == "transfer" else None,
                "price": None,
                "time_ms": TIME_MS,
                "refused": message,
            }
        )
    return out


def _qr_vectors(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    texts = [
        "a",
        address_of(_key("wallet vector holder")),
        "https://id.example/255/06141410000121",
        statements[4]["statement"],  # a redeem statement, as the wallet shows it
        statements[2]["statement"],
        "x" * 17,  # versions 1 and 2 around their limits
        "x" * 14,
        "ab" * 150,
        "z" * 700,  # version 7 and up carry version information
        "q" * 1200,
    ]
    out = []
    for text in texts:
        code = segno.make_qr(text, error="m", boost_error=False)
        assert code.mode == "byte" and code.error == "M", (text, code.mode, code.error)
        out.append(
            {
                "text": text,
                "version": code.version,
                "mask": code.mask,
                "rows": ["".join(str(bit) for bit in row) for row in code.matrix],
            }
        )
    return out


def make_vectors() -> dict[str, Any]:
    statements = _statement_vectors()
    return {
        "comment": "made by tests/api/test_wallet_js.py from farmtrace.wallet and farmtrace.qr",
        "statements": statements,
        "qr": _qr_vectors(statements),
    }


def _dump(vectors: dict[str, Any]) -> str:
    return json.dumps(vectors, indent=1) + "\n"


def test_committed_vectors_are_current() -> None:
    assert VECTORS.read_text() == _dump(make_vectors()), (
        "tests/js/wallet_vectors.json is stale: run .venv/bin/python tests/api/test_wallet_js.py"
    )


@pytest.mark.slow
def test_node_wallet_modules() -> None:
    """node --test on the wallet's JS tests: keys, backups, statements and QR cross-checks."""
    sys.path.insert(0, str(REPO_ROOT / "tests"))
    from test_js_verifier import require_node

    node = require_node()
    files = sorted(str(p) for p in (REPO_ROOT / "tests" / "js").glob("wallet_*.test.mjs"))
    assert len(files) >= 3, files
    result = subprocess.run(
        [node, "--test", *files],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    summary = dict(re.findall(r"^# (pass|fail|skipped|cancelled|todo) (\d+)$", output, re.M))
    assert result.returncode == 0, output[-4000:]
    assert summary.get("fail") == "0", summary
    assert summary.get("skipped") == "0", summary
    assert int(summary.get("pass", "0")) >= 10, summary


if __name__ == "__main__":
    VECTORS.write_text(_dump(make_vectors()))
    print(f"wrote {VECTORS}")
