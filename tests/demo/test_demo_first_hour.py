"""What a new user meets first: the README's demo commands are the ones the demo prints (same
lot, state paths and port); a taken port or a bad ``--public-url`` is named before anything
starts; the start banner says how to stop and where logs and state are; a closed stdout ends
a command quietly."""

from __future__ import annotations

import io
import os
import re
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from farmtrace.api.services.digital_link import DigitalLink, DigitalLinkError, public_base_url
from farmtrace.api.settings import Settings
from farmtrace.cli import build_parser
from farmtrace.demo.campaign import GCN, STORY_COUPON
from farmtrace.demo.command import _public_address
from farmtrace.demo.lots import sample_lots
from farmtrace.demo.terminal import campaign_commands, follow_up_commands, print_start

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def farmtrace(*argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "farmtrace", *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def readme_commands() -> list[str]:
    """Every line of the README's ``sh`` blocks, comments and continuations as written."""
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text("utf-8"), re.S)
    return [line.strip() for block in blocks for line in block.splitlines()]


def test_readme_shows_the_commands_a_default_demo_prints() -> None:
    defaults = build_parser().parse_args(["demo"])
    lettuce = sample_lots(datetime(2026, 4, 17, 6, tzinfo=UTC))[0]
    # What `make demo` prints when run from the repository: .venv/bin/farmtrace, the default
    # state directory and port.
    printed = follow_up_commands(
        f"http://127.0.0.1:{defaults.port}",
        ROOT / defaults.state,
        lettuce,
        cwd=ROOT,
        farmtrace=".venv/bin/farmtrace",
    )
    assert printed[1].endswith("/v1/lots/04012345000016/LOT-2026-0417/bundle")
    assert "--state farmtrace-demo/gateway" in printed[2]
    lines = readme_commands()
    for command in printed:
        assert command in lines, f"README.md lacks the demo's follow-up command:\n{command}"


def test_readme_shows_the_campaign_commands_and_pages_a_default_demo_prints() -> None:
    defaults = build_parser().parse_args(["demo"])
    api = f"http://127.0.0.1:{defaults.port}"
    printed = campaign_commands(
        api, ROOT / defaults.state, GCN, cwd=ROOT, farmtrace=".venv/bin/farmtrace"
    )
    lines = readme_commands()
    for command in printed:
        assert command in lines, f"README.md lacks the demo's campaign command:\n{command}"
    text = README.read_text("utf-8")
    assert f"`{api}/campaigns/{GCN}`" in text
    assert f"`{api}/255/{STORY_COUPON}`" in text


def test_readme_names_no_lot_or_key_path_nothing_makes() -> None:
    text = "\n".join(readme_commands())
    lots = {lot.lot for lot in sample_lots(datetime(2026, 4, 17, 6, tzinfo=UTC))}
    for gtin, lot in re.findall(r"/v1/lots/(\d{14})/([^/\s]+)/", text):
        assert lot in lots, f"README.md names lot {lot!r}; the demo makes {sorted(lots)}"
        assert gtin.startswith("0401234500")
    # Every `keys show --state DIR` names a gateway state directory a command above it makes.
    for directory in re.findall(r"keys show --state (\S+?)\)", text):
        made = re.search(rf"gateway .*--state {re.escape(directory)}(\s|$)", text)
        assert directory == "farmtrace-demo/gateway" or made, directory


def test_start_banner_says_how_to_stop_and_where_logs_and_state_are(tmp_path: Path) -> None:
    out = io.StringIO()
    print_start(tmp_path / "demo", out)
    text = out.getvalue()
    assert "Ctrl-C" in text
    assert f"{tmp_path / 'demo'}/ (keys, farmtrace.db, demo.json)" in text
    assert (
        f"{tmp_path / 'demo' / 'logs'}/ (broker.log, gateway.log, simulator.log, api.log)" in text
    )


@pytest.mark.slow
def test_a_taken_port_is_named_with_the_option_to_change_it(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = farmtrace("demo", "--state", str(tmp_path / "demo"), "--port", str(port))
    assert done.returncode == 2, done.stderr
    assert f"cannot listen on 127.0.0.1 port {port}" in done.stderr
    assert "choose another with --port" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "demo").exists()  # refused before anything was made


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("192.168.1.20:8000", "must start with http:// or https://"),
        ("ftp://192.168.1.20", "must start with http:// or https://"),
        ("http://", "has no host"),
        ("http://192.168.1.20:8000/farm", "has a path ('/farm')"),
        ("http://192.168.1.20:8000?x=1", "has a query or fragment"),
        ("http://192.168.1.20:8000#top", "has a query or fragment"),
        ("http://me:pw@192.168.1.20:8000", "must not carry a login"),
        ("http://192.168.1.20:99999", "Port out of range"),
        ("http://192.168.1.20 :8000", "space or control character"),
    ],
)
def test_bad_public_urls_are_refused_naming_the_flaw(url: str, words: str, tmp_path: Path) -> None:
    with pytest.raises(DigitalLinkError, match=re.escape(words)):
        public_base_url(url)
    with pytest.raises(ValidationError, match=re.escape(words)):
        Settings(db_url="sqlite://", public_url=url)


@pytest.mark.slow
def test_demo_and_api_refuse_a_bad_public_url_before_starting(tmp_path: Path) -> None:
    demo = farmtrace("demo", "--state", str(tmp_path / "demo"), "--public-url", "http://h/p")
    assert demo.returncode == 2
    assert "--public-url: public URL 'http://h/p' has a path" in demo.stderr
    assert "Traceback" not in demo.stderr
    assert not (tmp_path / "demo").exists()
    api = farmtrace("api", "--db", f"sqlite:///{tmp_path / 'x.db'}", "--public-url", "h:80")
    assert api.returncode == 2
    assert "--public-url: public URL 'h:80' must start with http:// or https://" in api.stderr
    assert "Traceback" not in api.stderr


def test_the_qr_base_is_the_public_url() -> None:
    settings = Settings(db_url="sqlite://", public_url="HTTP://192.168.1.20:8000/")
    assert settings.link_base == "http://192.168.1.20:8000"
    link = DigitalLink("04012345000016", "LOT-2026-0417")
    assert link.uri_at(settings.link_base) == (
        "http://192.168.1.20:8000/01/04012345000016/10/LOT-2026-0417"
    )
    # Without one: the https Digital Link on --link-domain, as before.
    plain = Settings(db_url="sqlite://", link_domain="farm.example")
    assert link.uri_at(plain.link_base) == link.uri("farm.example")


@pytest.mark.parametrize(
    ("url", "host", "expected"),
    [
        (None, None, ("http://127.0.0.1:8000", "127.0.0.1")),
        (None, "0.0.0.0", ("http://127.0.0.1:8000", "0.0.0.0")),
        ("http://192.168.1.20:8000", None, ("http://192.168.1.20:8000", "0.0.0.0")),
        ("http://farm.local:8000/", None, ("http://farm.local:8000", "0.0.0.0")),
        ("http://localhost:8000", None, ("http://localhost:8000", "127.0.0.1")),
        ("http://192.168.1.20:8000", "192.168.1.20", ("http://192.168.1.20:8000", "192.168.1.20")),
    ],
)
def test_the_api_listens_where_the_public_url_reaches(
    url: str | None, host: str | None, expected: tuple[str, str]
) -> None:
    assert _public_address(url, host, 8000) == expected


def test_a_public_url_on_another_port_is_noted(capsys: pytest.CaptureFixture[str]) -> None:
    assert _public_address("https://farm.example", None, 8000)[0] == "https://farm.example"
    assert "names port 443 but the API listens on --port 8000" in capsys.readouterr().err


def closed_pipe() -> int:
    """A pipe's write end whose reader is already gone (as after ``| head`` exits)."""
    read, write = os.pipe()
    os.close(read)
    return write


@pytest.mark.slow
def test_export_keys_into_a_closed_pipe_exits_0_quietly(tmp_path: Path) -> None:
    sim = [sys.executable, "-m", "farmtrace.sim"]
    made = subprocess.run(
        [*sim, "init", "--state", str(tmp_path)], capture_output=True, check=False
    )
    assert made.returncode == 0, made.stderr
    write = closed_pipe()
    try:
        done = subprocess.run(
            [*sim, "export-keys", "--state", str(tmp_path)],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (0, "")


@pytest.mark.slow
def test_farmtrace_into_a_closed_pipe_exits_0_quietly(tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text('{"urn:epc:id:giai:4012345.T1": "' + "A" * 43 + '="}', "utf-8")
    argv = [sys.executable, "-m", "farmtrace", "devices", "import"]
    argv += ["--db", f"sqlite:///{tmp_path / 'f.db'}", str(keys)]
    write = closed_pipe()
    try:
        done = subprocess.run(
            argv,
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (0, "")
    # It did its work before finding nobody reading: the device is registered.
    again = farmtrace("devices", "import", "--db", f"sqlite:///{tmp_path / 'f.db'}", str(keys))
    assert "1 already registered" in again.stdout, again.stdout + again.stderr
