"""The consumer's page in headless Chromium at phone and desktop widths: what fits the first screen.

A lot with a field, a cold room and a truck stage is served by the real API on 127.0.0.1;
``scripts/page_probe.mjs`` loads its page over the DevTools protocol at 390x844 (a phone) and
1280x800, in English and Chinese, waits for the badge's check, and reports the boxes of the
verdict, the badge and the journey, and the points of every chart drawn. The three must lie
inside the first screen and no chart may have fewer than two points. Screenshots go to the
test's temporary directory (or to ``$FARMTRACE_SCREENSHOTS`` to look at them).
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from support.api import GTIN, Served, lot_body
from support.chromium import require_chromium
from test_js_verifier import REPO_ROOT, require_node

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PROBE = REPO_ROOT / "scripts" / "page_probe.mjs"
LOT = "LOT-STAGES"
FIRST_SCREEN = ("#verdict", "#proof .badge", "#journey")
START_TIMEOUT_S = 30


@pytest.fixture
def live(served: Served) -> Iterator[str]:
    """The served app on a free 127.0.0.1 port (uvicorn in a thread), with a three-stage lot."""
    body = lot_body([d.device_id for d in served.devices])
    room = body["stages"][0]  # type: ignore[index]
    # The test readings are 1 s apart from 06:13:21 UTC: split them over three stages.
    body["lot"] = LOT
    body["stages"] = [
        {**room, "kind": "field", "name": "North field", "end": "2024-06-10T06:13:27Z",
         "place_id": "urn:epc:id:sgln:4012345.00001.0"},
        {**room, "kind": "room", "name": "Cold room 1", "start": "2024-06-10T06:13:28Z",
         "end": "2024-06-10T06:13:34Z", "place_id": "urn:epc:id:sgln:4012345.00011.0"},
        {**room, "kind": "truck", "name": "Truck 1", "start": "2024-06-10T06:13:35Z"},
    ]  # fmt: skip
    auth = {"Authorization": f"Bearer {served.key}"}
    answer = served.client.post("/v1/lots", json=body, headers=auth)
    assert answer.status_code == 201, answer.text
    config = uvicorn.Config(
        served.client.app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=START_TIMEOUT_S)


def probe(url: str, width: int, height: int, lang: str, shots: Path) -> dict[str, Any]:
    require_chromium()
    name = f"{width}x{height}-{lang}"
    argv = [
        require_node(), "--experimental-websocket", str(PROBE), url,
        "--width", str(width), "--height", str(height), "--lang", lang,
        "--shot", str(shots / f"{name}.png"), "--full", str(shots / f"{name}-full.png"),
    ]  # fmt: skip
    if width < 600:
        argv.append("--mobile")
    for selector in FIRST_SCREEN:
        argv += ["--select", selector]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize(("width", "height"), [(390, 844), (1280, 800)])
@pytest.mark.parametrize("lang", ["en-US", "zh-CN"])
def test_verdict_badge_and_journey_fit_the_first_screen(
    live: str, served: Served, tmp_path: Path, width: int, height: int, lang: str
) -> None:
    shots = Path(os.environ.get("FARMTRACE_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    page = probe(f"{live}/01/{GTIN}/10/{LOT}", width, height, lang, shots)
    # Creating the lot signed a declaration not yet sealed into a block: pending is honest.
    assert page["state"] in ("verified", "pending"), page["state"]
    assert page["lang"] == ("zh-Hans" if lang.startswith("zh") else "en")
    assert page["viewport"] == {"width": width, "height": height}
    for selector in FIRST_SCREEN:
        box = page["boxes"][selector]
        assert box is not None and box["visible"], selector
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, (selector, box)
        assert box["y"] >= 0 and box["y"] + box["height"] <= height, (selector, box)
    assert page["charts"], "the lot's stages have charts"
    empty = [c for c in page["charts"] if c["points"] < 2]
    assert not empty, empty
    # The page is taller than one screen, but not the 25 screens it used to be.
    assert page["scrollHeight"] > height


def test_no_chart_is_empty_on_the_long_page(live: str, served: Served, tmp_path: Path) -> None:
    # The resolver's original lot: one stage, three sensors, an excursion in the cold room.
    page = probe(f"{live}/01/{GTIN}/10/LOT-1", 390, 844, "en-US", tmp_path)
    assert page["state"] in ("verified", "pending"), page["state"]
    assert len(page["charts"]) >= 1
    assert all(c["points"] >= 2 for c in page["charts"]), page["charts"]
