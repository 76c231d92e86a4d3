"""Lots and events: writes need a scoped key, bad identities get 400 with the reason."""

from __future__ import annotations

from support.api import GTIN, LOT, Served, lot_body

EVENT = {
    "kind": "harvest",
    "time": "2024-06-10T14:13:00+08:00",
    "read_point": "urn:epc:id:sgln:9506000.00001.0",
    "actor": "Li Wei",
}


def auth(served: Served) -> dict[str, str]:
    return {"Authorization": f"Bearer {served.key}"}


def test_read_lot_and_errors(served: Served) -> None:
    lot = served.client.get(f"/v1/lots/{GTIN}/{LOT}").json()
    assert lot["farm"] == "Greenacre" and lot["stages"][0]["name"] == "Cold room 1"
    assert lot["digital_link"].endswith(f"/01/{GTIN}/10/{LOT}")
    bad = served.client.get(f"/v1/lots/09506000134353/{LOT}")
    assert bad.status_code == 400
    assert "check digit" in bad.json()["detail"]
    assert served.client.get("/v1/lots/12x/LOT").status_code == 400
    missing = served.client.get(f"/v1/lots/{GTIN}/OTHER")
    assert missing.status_code == 404 and "no lot" in missing.json()["detail"]


def test_writes_need_a_key_with_the_scope(served: Served) -> None:
    body = lot_body([]) | {"lot": "LOT-2"}
    assert served.client.post("/v1/lots", json=body).status_code == 401
    wrong = {"Authorization": "Bearer ftk_not-a-key"}
    assert served.client.post("/v1/lots", json=body, headers=wrong).status_code == 401
    from farmtrace.api.auth import create_key

    reader = create_key(served.client.app.state.farmtrace.database, "ev", ["events:write"])  # type: ignore[attr-defined]
    denied = served.client.post(
        "/v1/lots", json=body, headers={"Authorization": f"Bearer {reader}"}
    )
    assert denied.status_code == 403 and "lots:write" in denied.json()["detail"]
    assert served.client.post("/v1/lots", json=body, headers=auth(served)).status_code == 201
    again = served.client.post("/v1/lots", json=body, headers=auth(served))
    assert again.status_code == 409


def test_bad_lot_bodies_say_what_is_wrong(served: Served) -> None:
    body = lot_body([]) | {"lot": "LOT-3", "gtin": "09506000134353"}
    response = served.client.post("/v1/lots", json=body, headers=auth(served))
    assert response.status_code == 400 and "check digit" in response.json()["detail"]
    body = lot_body([]) | {"lot": "LOT-3", "product_class": "kale"}
    response = served.client.post("/v1/lots", json=body, headers=auth(served))
    assert response.status_code == 400 and "unknown product class" in response.json()["detail"]
    body = lot_body(["bad id with spaces"]) | {"lot": "LOT-3"}
    assert served.client.post("/v1/lots", json=body, headers=auth(served)).status_code == 422


def test_event_is_signed_and_pending_anchoring(served: Served) -> None:
    response = served.client.post(f"/v1/lots/{GTIN}/{LOT}/events", json=EVENT, headers=auth(served))
    assert response.status_code == 201, response.text
    event = response.json()
    assert event["biz_step"] == "commissioning" and event["status"] == "pending-anchoring"
    assert event["time"] == "2024-06-10T06:13:00.000Z" and event["time_zone_offset"] == "+08:00"
    second = served.client.post(
        f"/v1/lots/{GTIN}/{LOT}/events", json=EVENT | {"kind": "cooling"}, headers=auth(served)
    ).json()
    assert second["seq"] == event["seq"] + 1
    lot = served.client.get(f"/v1/lots/{GTIN}/{LOT}").json()
    assert [e["kind"] for e in lot["events"]] == ["harvest", "cooling"]
    naive = EVENT | {"time": "2024-06-10T14:13:00"}
    assert (
        served.client.post(
            f"/v1/lots/{GTIN}/{LOT}/events", json=naive, headers=auth(served)
        ).status_code
        == 422
    )
    not_uri = EVENT | {"read_point": "cold room"}
    assert (
        served.client.post(
            f"/v1/lots/{GTIN}/{LOT}/events", json=not_uri, headers=auth(served)
        ).status_code
        == 422
    )


def test_resolver_json_and_linkset(served: Served) -> None:
    path = f"/01/{GTIN}/10/{LOT}"
    as_json = served.client.get(path, headers={"Accept": "application/json"})
    assert as_json.status_code == 200 and as_json.json()["lot"] == LOT
    links = served.client.get(path, params={"linkType": "all"})
    assert links.headers["content-type"].startswith("application/linkset+json")
    item = links.json()["linkset"][0]
    assert item["anchor"] == f"https://id.gs1.org/01/{GTIN}/10/{LOT}"
    assert item["https://gs1.org/voc/epcis"][0]["href"].endswith("/epcis")
    same = served.client.get(path, headers={"Accept": "application/linkset+json"})
    assert same.json() == links.json()
    assert (
        served.client.get(
            f"/01/{GTIN[:-1]}9/10/{LOT}", headers={"Accept": "application/json"}
        ).status_code
        == 400
    )


def test_rate_limit_answers_429_with_retry_after(served: Served) -> None:
    from farmtrace.api.http.ratelimit import RateLimiter

    served.client.app.state.farmtrace.limiter = RateLimiter(rate=0.5, burst=2)  # type: ignore[attr-defined]
    codes = [served.client.get("/checkpoint").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    limited = served.client.get("/checkpoint")
    assert limited.headers["retry-after"] == "2"
    assert limited.json()["error"] == "rate-limited"


def test_rate_limiter_refills() -> None:
    from farmtrace.api.http.ratelimit import RateLimiter

    limiter = RateLimiter(rate=2, burst=1)
    assert limiter.take("a", now=0.0) == 0
    assert limiter.take("a", now=0.1) > 0
    assert limiter.take("b", now=0.1) == 0
    assert limiter.take("a", now=0.6) == 0


def test_resolver_serves_the_page_to_browsers(served: Served) -> None:
    path = f"/01/{GTIN}/10/{LOT}"
    page = served.client.get(path, headers={"Accept": "text/html", "Accept-Language": "zh-CN"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert LOT in page.text and 'lang="zh' in page.text
    assert "<script>" not in page.text  # only external, same-origin module scripts
    english = served.client.get(path, headers={"Accept": "text/html", "Accept-Language": "en"})
    assert 'lang="en' in english.text
    auth = {"Authorization": f"Bearer {served.key}"}
    event = EVENT | {"place_name": "Packhouse 2, Shouguang"}
    assert (
        served.client.post(f"/v1/lots/{GTIN}/{LOT}/events", json=event, headers=auth).status_code
        == 201
    )
    assert "Packhouse 2, Shouguang" in served.client.get(path, headers={"Accept": "text/html"}).text
    script = served.client.get("/static/verify/index.js")
    assert script.status_code == 200


def test_page_shows_the_farm_in_its_time_zone(served: Served) -> None:
    lot = served.client.get(f"/v1/lots/{GTIN}/{LOT}").json()
    assert lot["details"]["time_zone"] == "Asia/Shanghai"
    page = served.client.get(f"/01/{GTIN}/10/{LOT}", headers={"Accept": "text/html"}).text
    assert "Li Wei" in page and "GLOBALG.A.P. 4063061000005" in page and "Greenacre" in page
    body = lot_body([]) | {"lot": "LOT-9", "details": {"time_zone": "Mars/Olympus"}}
    auth = {"Authorization": f"Bearer {served.key}"}
    bad = served.client.post("/v1/lots", json=body, headers=auth)
    assert bad.status_code == 422 and "unknown time zone" in bad.text
