"""Redirects never name the host the request claimed (issue 13): the trailing-slash redirect's
``Location`` is relative, or on ``--public-url`` when one is configured."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from farmtrace.api.main import create_app
from farmtrace.api.settings import Settings

FORGED = {"Host": "attacker.example"}


@pytest.mark.parametrize("public_url", [None, "https://trace.farm.example"])
def test_trailing_slash_redirect_ignores_a_forged_host(
    tmp_path: Path, public_url: str | None
) -> None:
    app = create_app(Settings(db_url=f"sqlite:///{tmp_path / 'r.db'}", public_url=public_url))
    with TestClient(app) as client:
        for path, target in (
            ("/checkpoint/", "/checkpoint"),
            ("/v1/chains/?x=1", "/v1/chains?x=1"),
            ("/v1/lots/09506000134352/L1/bundle/", "/v1/lots/09506000134352/L1/bundle"),
        ):
            answer = client.get(path, headers=FORGED, follow_redirects=False)
            assert answer.status_code == 307, (path, answer.status_code)
            location = answer.headers["location"]
            assert "attacker.example" not in location
            assert location == (public_url or "") + target, location


def test_own_location_keeps_relative_ones_and_drops_any_host() -> None:
    from farmtrace.api.http.redirects import own_location

    assert own_location("/a?b=1", None) == "/a?b=1"
    assert own_location("http://evil.example//x.example/p", None) == "/x.example/p"
    assert own_location("https://h.example", "https://farm.example") == "https://farm.example/"
