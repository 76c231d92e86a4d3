"""``farmtrace demo`` end to end, on the embedded broker (no Mosquitto), SQLite and Chromium.

One test, in the order a user would see things: the demo starts from an empty state directory;
the lettuce lot's pack QR code (PNG) decodes to its Digital Link; Chromium opens that page and
the in-browser check passes; the downloaded bundle passes ``farmtrace verify``; SIGTERM stops
every process (none left behind); a second run resumes the same chain without duplicating the
lots or the harvest campaign (tests/demo/test_demo_campaign.py checks the campaign itself);
then one stored reading is altered behind the database's back, ``farmtrace audit`` fails
naming it, and the page (served by ``farmtrace api`` on the same database) shows the failure.

Without Chromium, zxing-cpp or iotcore the test skips, or fails under CI=true.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from support.chromium import dump_dom, require_chromium
from support.tamper import flip_byte, update_row

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(420)]

ROOT = Path(__file__).resolve().parent.parent
GTIN = "04012345000016"  # the demo's lettuce lot (farmtrace/demo/lots.py)
LOT = "LOT-2026-0417"
EVENTS = 6
READY_TIMEOUT_S = 150.0
STOP_TIMEOUT_S = 90.0


def require_module(name: str) -> None:
    try:
        __import__(name)
    except ImportError:
        message = f"{name} is not installed (pip install -e '.[dev]')"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def farmtrace(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "farmtrace", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )


def get(url: str, accept: str = "application/json") -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


def wait_for(predicate: Callable[[], bool], what: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not predicate():
        assert process.poll() is None, f"the demo exited ({process.returncode}) before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes naming ``text`` (the state directory)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(f"{proc.name}: {cmdline}")
    return found


class Demo:
    """One ``farmtrace demo`` process on the embedded broker, stdout to a file.

    It runs in the state directory's parent, as a user runs it beside its ``farmtrace-demo``,
    so the commands it prints are run from there too (and write nothing into the repository).
    """

    def __init__(self, state: Path, port: int, log: Path, duration: str, *extra: str) -> None:
        self.state, self.port, self.log = state, port, log
        self.base = f"http://127.0.0.1:{port}"
        argv = [sys.executable, "-m", "farmtrace", "demo", "--state", str(state)]
        argv += ["--broker", "embedded", "--speed", "120", "--port", str(port)]
        argv += ["--duration", duration, *extra]
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=state.parent,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text("utf-8", errors="replace")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            raise AssertionError(
                f"the demo did not stop on SIGTERM:\n{self.output()[-3000:]}"
            ) from None

    def lot(self) -> dict[str, Any] | None:
        status, body = get(f"{self.base}/v1/lots/{GTIN}/{LOT}")
        return json.loads(body) if status == 200 else None

    def bundle(self) -> dict[str, Any]:
        status, body = get(f"{self.base}/v1/lots/{GTIN}/{LOT}/bundle")
        assert status == 200, body[:500]
        result: dict[str, Any] = json.loads(body)
        return result


@pytest.fixture
def demos(tmp_path: Path) -> Iterator[list[Demo]]:
    """Every demo the test starts is stopped (SIGKILL to its group) at teardown."""
    started: list[Demo] = []
    yield started
    for demo in started:
        if demo.process.poll() is None:
            os.killpg(demo.process.pid, signal.SIGKILL)
            demo.process.wait()


def proof_state(dom: str) -> tuple[str, str, str]:
    """The badge's ``data-state``, ``data-first-failure`` (or '') and its text."""
    match = re.search(r'(<section id="proof"[^>]*>)(.*?)</section>', dom, re.S)
    assert match is not None, dom[:2000]
    tag, body = match.groups()
    state = re.search(r'data-state="([^"]*)"', tag)
    first = re.search(r'data-first-failure="([^"]*)"', tag)
    assert state is not None, tag
    words = unescape(re.sub(r"<[^>]+>", " ", body))
    return state.group(1), unescape(first.group(1)) if first else "", words


def test_demo_end_to_end(tmp_path: Path, demos: list[Demo]) -> None:
    require_chromium()  # skip (or fail under CI) before starting anything
    for module in ("zxingcpp", "PIL", "iotcore"):
        require_module(module)

    state = tmp_path / "demo"
    db_url = f"sqlite:///{state / 'farmtrace.db'}"

    # First run: from nothing to a lot whose stages have readings.
    first = Demo(state, free_port(), tmp_path / "demo-1.log", "300")
    demos.append(first)

    def lot_ready() -> bool:
        lot = first.lot()
        if lot is None or len(lot["events"]) < EVENTS:
            return False
        bundle = first.bundle()
        stages = {r.get("stage") for r in bundle["readings"]}
        cold = {s["name"] for s in lot["stages"] if s["kind"] in ("room", "truck", "display")}
        anchored = all(e["status"] == "anchored" for e in bundle["events"])
        # The page's verdict speaks of the cold chain: wait until a cold stage has readings
        # and the page has temperatures to judge (a lot still in the field has none).
        if not (len(stages) >= 2 and bool(stages & cold) and anchored):
            return False
        _, html = get(f"{first.base}/01/{GTIN}/10/{LOT}", "text/html")
        return b'<p class="verdict none"' not in html

    wait_for(
        lot_ready,
        "the lettuce lot: readings in two stages, one of them cold, events anchored",
        first.process,
    )
    # The demo prints its links after the campaign's story, which may end after the lot is ready.
    wait_for(lambda: "Live summary:" in first.output(), "the demo's links", first.process)
    output = first.output()
    assert "the embedded broker" in output, output
    assert f"{first.base}/01/{GTIN}/10/{LOT}" in output
    # Before anything else: how to stop it, where its state and logs are.
    assert "  stop:  Ctrl-C" in output, output
    assert "  state: demo/ (keys, farmtrace.db, demo.json)" in output, output
    assert "  logs:  demo/logs/ (broker.log, gateway.log, simulator.log, api.log)" in output

    # The pack's QR code holds the lot's Digital Link on the demo's public URL (by default
    # its own http address on 127.0.0.1, a secure context for the browser's WebCrypto).
    decoded = qr_text(f"{first.base}/v1/lots/{GTIN}/{LOT}/qr.png")
    assert decoded == f"http://127.0.0.1:{first.port}/01/{GTIN}/10/{LOT}", decoded
    page_url = decoded

    bundle = first.bundle()
    dom = dump_dom(page_url, tmp_path / "profile")
    state_attr, failure, words = proof_state(dom)
    assert state_attr == "verified", words
    # A normal run is a normal lot: the field is judged by field rules, the cold room and the
    # truck by the lettuce band, so the page shows no excursion and EPCIS no alarm.
    verdict = re.search(r'<p class="(verdict[^"]*)" id="verdict">([^<]*)', dom)
    assert verdict is not None, dom[:3000]
    assert verdict.group(1) == "verdict ok", verdict.groups()
    assert 'class="warn"' not in dom and 'class="breach"' not in dom
    status, epcis = get(f"{first.base}/v1/lots/{GTIN}/{LOT}/epcis", "application/ld+json")
    assert status == 200 and b"ALARM_CONDITION" not in epcis
    assert "Verified on this device" in words
    assert failure == "", words
    assert re.search(r'data-check="signatures"[^>]*data-result="ok"', dom), words

    bundle_file = tmp_path / "bundle.json"
    bundle_file.write_text(json.dumps(bundle), "utf-8")
    vkey = farmtrace("keys", "show", "--state", str(state / "gateway"))
    assert vkey.returncode == 0, vkey.stderr
    key = vkey.stdout.strip()
    verified = farmtrace("verify", "--key", key, str(bundle_file))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "bundle verifies" in verified.stdout

    # The commands the demo prints (and README.md shows) work as printed, from where it runs.
    printed = re.search(r"try it, from another terminal in .*?:\n((?:  .*\n)+)", output)
    assert printed is not None, output
    commands = [line.strip() for line in printed.group(1).splitlines()]
    assert commands[1].endswith(f"/v1/lots/{GTIN}/{LOT}/bundle"), commands
    tried = subprocess.run(
        ["bash", "-e", "-c", "\n".join(commands)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert tried.returncode == 0, tried.stdout + tried.stderr
    assert tried.stdout.startswith("farmtrace.example/"), tried.stdout  # the checkpoint's origin
    assert "bundle verifies" in tried.stdout, tried.stdout

    # SIGTERM stops everything: exit 0, no process left that names the state directory.
    assert first.stop() == 0, first.output()[-3000:]
    assert "stopped: simulator ok, gateway ok" in first.output()
    assert processes_mentioning(str(state)) == []
    origin = json.loads((state / "gateway" / "gateway.json").read_text("utf-8"))
    entries_before = count(db_url, "SELECT COUNT(*) FROM entries")
    lots_before = count(db_url, "SELECT COUNT(*) FROM lots")
    events_before = count(db_url, "SELECT COUNT(*) FROM lot_events")
    # lot_events holds both signed kinds: 10 supply-chain events (FE: the two sample lots' 8,
    # the campaign lot's harvest and retail selling) and one lot declaration (FL, version 1)
    # per lot.
    declarations = count(
        db_url, "SELECT COUNT(*) FROM lot_events WHERE hex(substr(payload, 1, 2)) = '464C'"
    )
    assert (lots_before, events_before - declarations, declarations) == (3, 10, 3)
    # The harvest campaign: 7 entries (open, 3 issues, funded, harvested, redeem), 2 transfers.
    campaign_before = count(db_url, "SELECT COUNT(*) FROM campaign_entries")
    moves_before = count(db_url, "SELECT COUNT(*) FROM coupon_moves")
    assert campaign_before == 7

    # Second run: resumes the same chain, adds readings, creates no lot or event twice.
    # It names the public URL it is given in its QR codes (localhost: still this machine).
    port = free_port()
    public = f"http://localhost:{port}"
    second = Demo(state, port, tmp_path / "demo-2.log", "20", "--public-url", public)
    demos.append(second)
    wait_for(lambda: second.lot() is not None, "the second run's API", second.process)
    assert qr_text(f"{second.base}/v1/lots/{GTIN}/{LOT}/qr.png") == f"{public}/01/{GTIN}/10/{LOT}"
    assert second.process.wait(READY_TIMEOUT_S) == 0, second.output()[-3000:]
    assert f"{public}/01/{GTIN}/10/{LOT}" in second.output()
    assert "resuming" in second.output()
    assert json.loads((state / "gateway" / "gateway.json").read_text("utf-8")) == origin
    assert count(db_url, "SELECT COUNT(*) FROM entries") > entries_before
    assert count(db_url, "SELECT COUNT(*) FROM lots") == lots_before
    assert count(db_url, "SELECT COUNT(*) FROM lot_events") == events_before
    assert count(db_url, "SELECT COUNT(*) FROM campaign_entries") == campaign_before
    assert count(db_url, "SELECT COUNT(*) FROM coupon_moves") == moves_before
    assert processes_mentioning(str(state)) == []
    audit = farmtrace("audit", "--db", db_url, "--state", str(state / "gateway"))
    assert audit.returncode == 0, audit.stdout + audit.stderr

    # Alter one reading of the lot behind the database's back.
    reading = bundle["readings"][len(bundle["readings"]) // 2]
    index = int(reading["global_index"])
    payload = query_one(db_url, f"SELECT payload FROM entries WHERE global_index = {index}")
    altered = flip_byte(bytes(payload), len(payload) - 65)
    assert update_row(db_url, "entries", {"global_index": index}, {"payload": altered}) == 1

    audit = farmtrace("audit", "--db", db_url, "--state", str(state / "gateway"), "--json")
    assert audit.returncode == 1, audit.stdout + audit.stderr
    failure_item = json.loads(audit.stdout)["failure"]["item"]
    assert failure_item.startswith(f"reading {index} (device "), failure_item

    # The page, served by the API alone on the altered database, names the altered reading.
    port = free_port()
    with (tmp_path / "api.log").open("wb") as api_log:
        api = subprocess.Popen(
            # The demo's event key: an API may not sign with a key of its own once events are.
            [
                *(sys.executable, "-m", "farmtrace", "api", "--db", db_url, "--port", str(port)),
                *("--state", str(state / "api")),
            ],
            stdout=subprocess.DEVNULL,
            stderr=api_log,
            cwd=ROOT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while get(f"http://127.0.0.1:{port}/checkpoint", accept="text/plain")[0] != 200:
            assert api.poll() is None, (tmp_path / "api.log").read_text()
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.2)
        dom = dump_dom(f"http://127.0.0.1:{port}/01/{GTIN}/10/{LOT}", tmp_path / "p2")
    finally:
        os.killpg(api.pid, signal.SIGTERM)
        api.wait(30)
    state_attr, failure, words = proof_state(dom)
    assert state_attr == "failed", words
    assert failure.startswith(f"reading {index} (device "), failure
    assert "Verification failed" in words and failure in words


def qr_text(url: str) -> str:
    """The text of the one QR code in the PNG at ``url``."""
    import zxingcpp
    from PIL import Image

    status, png = get(url, accept="image/png")
    assert status == 200, png[:200]
    decoded = [code.text for code in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]
    assert len(decoded) == 1, decoded
    return decoded[0]


def count(db_url: str, sql: str) -> int:
    return int(query_one(db_url, sql))


def query_one(db_url: str, sql: str) -> Any:
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar_one()
    finally:
        engine.dispose()
