"""Property tests of the market's operations from the OpenAPI schema (schemathesis): no input
makes them answer 5xx, over a campaign with a listing that received an offer."""

from __future__ import annotations

import pytest
import schemathesis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from support.commerce_api import GCN, Shop
from test_api_market import listing_body, offer_body

from farmtrace.api.http.ratelimit import RateLimiter
from farmtrace.commerce.gcn import coupon_id

pytestmark = pytest.mark.slow

MARKET_PATHS = {
    "/v1/campaigns/{gcn}/listings",
    "/v1/coupons/{coupon}/listings",
    "/v1/listings",
    "/v1/listings/{listing}",
    "/v1/listings/{listing}/withdraw",
    "/v1/listings/{listing}/offers",
}


def test_no_server_errors_in_the_market(shop: Shop) -> None:
    alice, bob = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    shop.open_and_issue(alice, 2)
    c1 = coupon_id(GCN, 1)
    made = shop.client.post(f"/v1/coupons/{c1}/listings", json=listing_body(shop, c1, alice))
    assert made.status_code == 201, made.text
    listing = made.json()["id"]
    offered = shop.client.post(
        f"/v1/listings/{listing}/offers", json=offer_body(shop, listing, bob)
    )
    assert offered.status_code == 201, offered.text
    app = shop.client.app
    app.state.farmtrace.limiter = RateLimiter(rate=1e6, burst=1_000_000)  # type: ignore[attr-defined]
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [
        o for o in (r.ok() for r in schema.get_all_operations()) if o.path in MARKET_PATHS
    ]
    assert {o.path for o in operations} == MARKET_PATHS
    failures: list[str] = []

    def fuzz(operation: schemathesis.APIOperation) -> None:
        @given(case=operation.as_strategy())
        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
        def run(case: schemathesis.Case) -> None:
            response = case.call()
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.status_code}")

        run()

    for operation in operations:
        fuzz(operation)
    assert not failures, failures[:10]
    # The seeded listing is still there and answers.
    assert shop.client.get(f"/v1/listings/{listing}").status_code == 200
