"""Many clients spend one coupon state at once through a two-worker API: exactly one wins.

The API runs as a real ``farmtrace api --workers 2`` process (two processes, no shared memory)
over SQLite and over PostgreSQL. Sixteen clients post, at the same moment, transfers of one
coupon state, each correctly signed by the holder and naming a different new holder. The
database's spend-once constraint decides: one 201, fifteen 409s naming the winner's state, and
the coupon's history holds exactly that one move. Three rounds spend successive states.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.api import GTIN, LOT, lot_body
from support.commerce import address
from support.tiles_serving import api_process

from farmtrace.api.schemas.lots import LotCreate
from farmtrace.api.settings import Settings
from farmtrace.api.state import AppState
from farmtrace.commerce.entries import sign_statement
from farmtrace.commerce.gcn import check_digit, coupon_id

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CLIENTS = 16
ROUNDS = 3
GCN = "950600099999" + check_digit("950600099999")
DAY_MS = 86_400_000


def _prepare(db_url: str, state: Path, holder: Ed25519PrivateKey) -> None:
    """A declared lot, an open campaign and one confirmed coupon for ``holder``."""
    app = AppState.open(Settings(db_url=db_url, state_dir=state))
    try:
        assert app.lots.create(LotCreate.model_validate(lot_body(["dev-1"])), GTIN)
        now = int(time.time() * 1000)
        app.campaigns.create(
            {
                "campaign": GCN, "farm": "greenacre", "gtin": GTIN, "lot": LOT,
                "per_coupon": {"quantity": 1, "unit": "KGM"},
                "price": {"amount": 100, "currency": "EUR"}, "target": 1, "cap": 5,
                "opens_ms": now - DAY_MS, "deadline_ms": now + DAY_MS,
                "delivery": {"from_ms": now + 2 * DAY_MS, "until_ms": now + 3 * DAY_MS},
                "text": {"zh": "一公斤。", "en": "One kilogram."},
            }
        )  # fmt: skip
        pledge = app.campaigns.pledge(GCN, address(holder), 1, None, None)
        app.campaigns.confirm(GCN, pledge.id, "ref")
    finally:
        app.close()


def _get(base: str, path: str) -> dict[str, object]:
    with urllib.request.urlopen(base + path, timeout=30) as answer:
        found: dict[str, object] = json.loads(answer.read())
        return found


def _post(base: str, path: str, body: dict[str, object]) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _race(
    base: str, path: str, bodies: list[dict[str, object]]
) -> list[tuple[int, dict[str, object]]]:
    """Post every body at once (one thread each, released together); the answers in order."""
    start = threading.Barrier(len(bodies))
    results: list[tuple[int, dict[str, object]]] = [(0, {})] * len(bodies)

    def spend(i: int) -> None:
        start.wait()
        results[i] = _post(base, path, bodies[i])

    threads = [threading.Thread(target=spend, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_one_spend_of_a_state_wins(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    db_url = (
        f"sqlite:///{tmp_path / 'race.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    holder = Ed25519PrivateKey.generate()
    _prepare(db_url, tmp_path / "api", holder)
    coupon = coupon_id(GCN, 1)
    with api_process(db_url, tmp_path / "api", workers=2, rate=100_000) as base:
        for round_ in range(ROUNDS):
            view = _get(base, f"/v1/coupons/{coupon}")
            state, moves = str(view["state"]), int(view["moves"])  # type: ignore[call-overload]
            recipients = [Ed25519PrivateKey.generate() for _ in range(CLIENTS)]
            bodies = [
                {
                    "statement": base64.b64encode(
                        sign_statement(
                            moves + 1, int(time.time() * 1000), "transfer", coupon, state,
                            holder, to=address(to),
                        ).payload
                    ).decode()
                }
                for to in recipients
            ]  # fmt: skip
            results = _race(base, f"/v1/coupons/{coupon}/transfers", bodies)
            codes = sorted(code for code, _ in results)
            assert codes == [201] + [409] * (CLIENTS - 1), (round_, results)
            winner = next(i for i, (code, _) in enumerate(results) if code == 201)
            after = _get(base, f"/v1/coupons/{coupon}")
            assert after["holder"] == address(recipients[winner])
            assert after["moves"] == moves + 1
            for code, body in results:
                if code == 409:
                    assert str(after["state"]) in json.dumps(body), body
            holder = recipients[winner]
        history = _get(base, f"/v1/coupons/{coupon}")["history"]
        assert [h["kind"] for h in history] == ["issue"] + ["transfer"] * ROUNDS  # type: ignore[union-attr,index]
