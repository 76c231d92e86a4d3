"""The browser wallet's page, ``GET /wallet``: HTML in the chosen language, under the global
CSP, with the camera allowed to this page only, and the scripting contract's ids in place
(farmtrace/api/services/wallet_page.py)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from support.api import Served

from farmtrace.api.http.headers import SECURITY_HEADERS
from farmtrace.api.services.wallet_page import render_wallet_page

CONTRACT_IDS = (
    "wallet-message", "wallet-select", "wallet-delete", "wallet-address", "create-form",
    "create-name", "create-backup", "create-submit", "backup-form", "backup-passphrase",
    "backup-confirm", "backup-submit", "backup-download", "backup-locked", "backup-new",
    "restore-form", "restore-file", "restore-passphrase", "restore-submit", "receive-address",
    "receive-qr", "receive-copy", "coupons-refresh", "coupon-list", "send-form", "send-coupon",
    "send-to", "send-scan", "send-video", "send-price-amount", "send-price-currency",
    "send-submit", "send-result", "redeem-form", "redeem-coupon", "redeem-submit", "redeem-qr",
    "redeem-text", "redeem-result", "market-panel", "loss-warning",
)  # fmt: skip


class _Controls(HTMLParser):
    """Ids, labels' targets, controls, and anything inline the CSP would refuse."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.labelled: set[str] = set()
        self.controls: list[tuple[str, dict[str, str | None]]] = []
        self.inline: list[str] = []
        self.scripts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.append(str(a["id"]))
        if tag == "label" and a.get("for"):
            self.labelled.add(str(a["for"]))
        if tag in ("input", "select", "textarea"):
            self.controls.append((tag, a))
        if tag == "style" or "style" in a or any(k.startswith("on") for k in a):
            self.inline.append(tag)
        if tag == "script":
            if not a.get("src"):
                self.inline.append("script")
            self.scripts.append(str(a.get("src")))


def parse(html: str) -> _Controls:
    found = _Controls()
    found.feed(html)
    return found


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_page_has_the_contract_ids_labels_and_nothing_inline(lang: str) -> None:
    html = render_wallet_page(lang, {"zh": "/wallet?lang=zh", "en": "/wallet?lang=en"})  # type: ignore[arg-type]
    page = parse(html)
    assert sorted(set(page.ids)) == sorted(page.ids), "duplicate ids"
    for id_ in CONTRACT_IDS:
        assert id_ in page.ids, id_
    for tag, attrs in page.controls:
        assert attrs.get("id") in page.labelled, f"{tag}#{attrs.get('id')} has no label"
    assert page.inline == []
    assert page.scripts == ["/static/wallet/wallet.js"]
    assert 'data-module="/static/market/wallet_panel.js"' in html


def test_route_answers_html_with_csp_and_the_camera_for_this_page_only(served: Served) -> None:
    response = served.client.get("/wallet", headers={"Accept-Language": "en-US,en;q=0.8"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert (
        response.headers["content-security-policy"] == SECURITY_HEADERS["Content-Security-Policy"]
    )
    policy = response.headers["permissions-policy"]
    assert "camera=(self)" in policy and "microphone=()" in policy and "geolocation=()" in policy
    assert response.headers.get_list("permissions-policy") == [policy]  # not doubled by the layer
    assert "Accept-Language" in response.headers["vary"]
    assert '<html lang="en">' in response.text
    assert "Your wallet" in response.text
    assert "lost for good" in response.text
    # Every other page keeps the camera off.
    assert (
        "camera=()"
        in served.client.get("/v1/coupons?holder=" + "0" * 64).headers["permissions-policy"]
    )


def test_language_from_the_browser_or_the_query(served: Served) -> None:
    zh = served.client.get("/wallet", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    assert zh.status_code == 200
    assert '<html lang="zh-Hans">' in zh.text and "我的钱包" in zh.text
    assert zh.headers["content-language"] == "zh-Hans"
    en = served.client.get("/wallet?lang=en", headers={"Accept-Language": "zh-CN"})
    assert '<html lang="en">' in en.text
    assert served.client.get("/wallet?lang=xx").status_code == 200


def test_static_modules_are_served(served: Served) -> None:
    for name in ("wallet.js", "keys.js", "backup.js", "statements.js", "qr.js", "api.js",
                 "text.js", "wallet.css"):  # fmt: skip
        response = served.client.get(f"/static/wallet/{name}")
        assert response.status_code == 200, name
        if name.endswith(".js"):
            assert re.match(r"(text|application)/javascript", response.headers["content-type"])
