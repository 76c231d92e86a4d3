"""The resolver's pages over the real API: rules per stage, ?lang=, the unknown-lot page, CSP."""

from __future__ import annotations

import re
from typing import Any

from support.api import GTIN, LOT, Served, lot_body

PAGE = f"/01/{GTIN}/10/{LOT}"
UNKNOWN = f"/01/{GTIN}/10/NO-SUCH-LOT"
HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def alarms(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        report
        for event in document["epcisBody"]["eventList"]
        for element in event.get("sensorElementList", ())
        for report in element["sensorReport"]
        if report.get("exception") == "ALARM_CONDITION"
    ]


def verdict(html: str) -> tuple[str, str]:
    match = re.search(r'<p class="verdict (\w+)" id="verdict">([^<]*)</p>', html)
    assert match is not None, html[:1500]
    return match.group(1), match.group(2)


def test_an_excursion_in_a_cold_stage_shows_and_alarms(served: Served) -> None:
    # The test readings hold 4.0 °C in "Cold room 1" (a room stage) against lettuce's 3 °C.
    document = served.client.get(f"/v1/lots/{GTIN}/{LOT}/epcis").json()
    assert len(alarms(document)) == 3
    html = served.client.get(PAGE, headers=HTML).text
    # Three sensors saw one episode: one excursion on the stage's line, in amber.
    assert (
        '<li class="warn">Temperature: 4.0 to 4.0\u00a0°C; allowed -0.5 to 3\u00a0°C; 1 excursion'
        in html
    )
    status, text = verdict(html)
    assert status == "warn"
    assert text == (
        "Out of its range once: up to 4.0 °C for 19 seconds in Cold room 1 (allowed -0.5 to 3 °C)"
    )
    excursions = served.client.get(f"/v1/lots/{GTIN}/{LOT}/excursions").json()
    assert len(excursions) == 3


def test_the_same_readings_in_a_field_stage_are_weather_not_excursions(served: Served) -> None:
    body = lot_body([d.device_id for d in served.devices])
    body["lot"] = "FIELD-1"
    body["stages"][0] = {**body["stages"][0], "kind": "field", "name": "North field"}  # type: ignore[index]
    auth = {"Authorization": f"Bearer {served.key}"}
    assert served.client.post("/v1/lots", json=body, headers=auth).status_code == 201
    document = served.client.get(f"/v1/lots/{GTIN}/FIELD-1/epcis").json()
    assert alarms(document) == []  # 4 °C air in a field is inside the lettuce field rule (0-30 °C)
    assert served.client.get(f"/v1/lots/{GTIN}/FIELD-1/excursions").json() == []
    html = served.client.get(f"/01/{GTIN}/10/FIELD-1", headers=HTML).text
    assert verdict(html) == ("none", "No cold-chain records yet: only its time in the field")
    assert 'class="warn"' not in html and 'class="breach"' not in html
    assert "allowed 0–30\u00a0°C; no excursions" in html  # noqa: RUF001  (the band's en dash)


def test_lang_query_wins_over_the_browser_language(served: Served) -> None:
    zh_browser = {**HTML, "Accept-Language": "zh-CN,zh;q=0.9"}
    html = served.client.get(PAGE, headers=zh_browser).text
    assert '<html lang="zh-Hans">' in html
    html = served.client.get(PAGE + "?lang=en", headers=zh_browser).text
    assert '<html lang="en">' in html
    assert '<a href="?lang=zh" hreflang="zh-Hans" lang="zh-Hans">中文</a>' in html
    assert '<a href="?lang=en" lang="en" aria-current="page">English</a>' in html
    html = served.client.get(PAGE + "?lang=zh", headers=HTML).text
    assert '<html lang="zh-Hans">' in html and "曾 1 次超出范围" in html
    # An unknown ?lang= is ignored, not an error: the browser's language holds.
    response = served.client.get(PAGE + "?lang=fr", headers=zh_browser)
    assert response.status_code == 200 and '<html lang="zh-Hans">' in response.text


def test_unknown_lot_gets_a_small_page_in_the_visitors_language(served: Served) -> None:
    response = served.client.get(UNKNOWN, headers=HTML)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert '<html lang="en">' in response.text
    assert "know this product code" in response.text
    assert "NO-SUCH-LOT" in response.text and "<script" not in response.text
    zh = served.client.get(UNKNOWN, headers={**HTML, "Accept-Language": "zh-CN"})
    assert (
        zh.status_code == 404 and '<html lang="zh-Hans">' in zh.text and "未找到此商品码" in zh.text
    )
    en = served.client.get(UNKNOWN + "?lang=en", headers={**HTML, "Accept-Language": "zh-CN"})
    assert '<html lang="en">' in en.text and 'aria-current="page">English<' in en.text
    # No Accept header at all (a plain link follower) is a browser, too.
    assert (
        served.client.get(UNKNOWN, headers={"Accept": "*/*"})
        .headers["content-type"]
        .startswith("text/html")
    )


def test_unknown_lot_is_json_for_json_clients(served: Served) -> None:
    for accept in ("application/json", "application/linkset+json"):
        response = served.client.get(UNKNOWN, headers={"Accept": accept})
        assert response.status_code == 404
        assert response.json()["error"] == "not-found"
    response = served.client.get(UNKNOWN + "?linkType=all", headers=HTML)
    assert response.status_code == 404 and response.json()["error"] == "not-found"


def test_pages_keep_the_content_security_policy(served: Served) -> None:
    for path in (PAGE, PAGE + "?lang=zh", UNKNOWN, UNKNOWN + "?lang=zh"):
        response = served.client.get(path, headers=HTML)
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp
        html = response.text
        tags = re.findall(r"<[a-z][^>]*>", html)
        assert "<style" not in html and not [t for t in tags if re.search(r"\s(style|on\w+)=", t)]
        scripts = re.findall(r"<script[^>]*>", html)
        assert all('src="/static/' in tag for tag in scripts), scripts
