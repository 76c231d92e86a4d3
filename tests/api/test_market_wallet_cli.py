"""``farmtrace wallet list / offer / offers / sell / withdraw`` against the API (its routes
through the test client): a holder lists a coupon, a buyer offers, the seller sees the offer
and sells, and the listing ends as sold; refusals print the server's words and exit 1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.commerce_api import GCN, Shop

from farmtrace.cli import main
from farmtrace.commerce.gcn import coupon_id
from farmtrace.wallet.client import ApiRefused
from farmtrace.wallet.keyfile import address_of, save_key

API = "http://127.0.0.1:9"


def route_to(shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    """The wallet's HTTP client, answered by the app in-process."""

    class Client:
        def __init__(self, base: str) -> None:
            self.base = base

        def _answer(self, response: Any) -> Any:
            if 400 <= response.status_code < 500:
                raise ApiRefused(response.status_code, str(response.json().get("detail")))
            assert response.status_code < 500, response.text
            return response.json()

        def get(self, path: str, **query: str) -> Any:
            return self._answer(shop.client.get(path, params=query))

        def post(self, path: str, body: dict[str, Any]) -> Any:
            return self._answer(shop.client.post(path, json=body))

    monkeypatch.setattr("farmtrace.wallet.command.ApiClient", Client)


def test_list_offer_sell_from_the_command_line(
    shop: Shop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    route_to(shop, monkeypatch)
    alice, bob = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    alice_file, bob_file = tmp_path / "alice.key", tmp_path / "bob.key"
    save_key(alice_file, alice)
    save_key(bob_file, bob)
    shop.open_and_issue(alice, 2)
    c1 = coupon_id(GCN, 1)

    def wallet(*argv: str, key: Path) -> tuple[int, str, str]:
        code = main(["wallet", *argv, "--file", str(key), "--api", API])
        out, err = capsys.readouterr()
        return code, out, err

    code, out, err = wallet("list", c1, "--price", "5000", "CNY", key=alice_file)
    assert code == 0, err
    listing = out.split()[1]
    assert len(listing) == 32

    # Bob cannot list Alice's coupon; Alice cannot sell to someone who did not offer.
    code, _, err = wallet("list", c1, "--price", "5000", "CNY", key=bob_file)
    assert code == 1 and "held by" in err
    code, _, err = wallet("sell", listing, "--to", address_of(bob), key=alice_file)
    assert code == 1 and "has not offered" in err

    code, out, err = wallet("offer", listing, key=bob_file)
    assert code == 0, err
    code, out, err = wallet("offers", key=alice_file)
    assert code == 0 and f"offer from {address_of(bob)}" in out
    code, out, err = wallet("sell", listing, "--to", address_of(bob), key=alice_file)
    assert code == 0, err
    assert shop.client.get(f"/v1/listings/{listing}").json()["ended"] == "sold"
    assert shop.client.get(f"/v1/coupons/{c1}").json()["holder"] == address_of(bob)

    # A second coupon listed, then withdrawn; withdrawing again is refused (exit 1).
    code, out, err = wallet("list", coupon_id(GCN, 2), "--price", "4500", "CNY", key=alice_file)
    second = out.split()[1]
    assert wallet("withdraw", second, key=alice_file)[0] == 0
    code, _, err = wallet("withdraw", second, key=alice_file)
    assert code == 1 and "withdrawn" in err
    code, _, err = wallet("offer", "nope", key=bob_file)
    assert code == 2 and "LISTING" in err
