"""``farmtrace wallet coupons / transfer / redeem`` against an API stand-in that judges with the
reference replay (no network), the HTTP client's error mapping, and the QR codes it prints."""

from __future__ import annotations

import base64
import email.message
import io
import json
import re
import stat
import urllib.error
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image
from support.commerce import DAY, T0, Farm, address

from farmtrace.cli import main
from farmtrace.commerce.entries import (
    decode_campaign_entry,
    decode_statement,
    verify_signature,
)
from farmtrace.commerce.errors import CommerceError
from farmtrace.commerce.replay import CampaignReplay
from farmtrace.qr import qr_terminal
from farmtrace.wallet import client as client_module
from farmtrace.wallet.client import ApiClient, ApiRefused, check_api_url
from farmtrace.wallet.keyfile import WalletError, save_key

API = "http://127.0.0.1:8000"


class ReplayApi:
    """The coupon endpoints the wallet calls, answered by replaying the farm's history with the
    accepted transfers, as the API does (its 409 names the current head)."""

    def __init__(self, farm: Farm) -> None:
        self.farm = farm
        self.transfers: list[bytes] = []
        self.calls: list[tuple[str, str]] = []
        self.before_post: Any = None  # another holder's spend arriving first

    def replay(self, transfers: list[bytes]) -> CampaignReplay:
        replay = CampaignReplay(self.farm.public_key)
        for payload in transfers:
            replay.add_transfer(decode_statement(payload))
        for entry in self.farm.entries:
            replay.apply(decode_campaign_entry(entry.payload))
        replay.finish()
        return replay

    def view(self, serial: int) -> dict[str, Any]:
        c = self.replay(self.transfers).coupons[serial]
        return {
            "coupon": c.coupon, "campaign": self.farm.terms.campaign, "serial": c.serial,
            "holder": c.holder, "fingerprint": "0" * 16, "status": c.status, "state": c.state,
            "moves": c.moves, "history": [],
        }  # fmt: skip

    def serial(self, coupon: str) -> int:
        if not coupon.startswith(self.farm.terms.campaign):
            raise ApiRefused(404, f"unknown coupon {coupon}")
        return int(coupon[13:])

    def get(self, path: str, **query: str) -> Any:
        self.calls.append(("GET", path))
        if path == "/v1/coupons":
            replay = self.replay(self.transfers)
            return [self.view(s) for s, c in replay.coupons.items() if c.holder == query["holder"]]
        return self.view(self.serial(path.split("/")[3]))

    def post(self, path: str, body: dict[str, Any]) -> Any:
        self.calls.append(("POST", path))
        hook, self.before_post = self.before_post, None
        if hook is not None:
            hook()
        payload = base64.b64decode(body["statement"], validate=True)
        statement = decode_statement(payload)
        serial = self.serial(path.split("/")[3])
        current = self.view(serial)
        if statement.prev != current["state"]:
            raise ApiRefused(
                409, f"stale state: coupon {statement.coupon} is at {current['state']}"
            )
        if not verify_signature(
            bytes.fromhex(current["holder"]), statement.signed_bytes, statement.signature
        ):
            raise ApiRefused(422, "statement: not signed by the coupon's holder")
        try:
            self.replay([*self.transfers, payload])
        except CommerceError as exc:
            raise ApiRefused(409, str(exc)) from None
        self.transfers.append(payload)
        return {"state": statement.state, "moves": statement.move}


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    farm = Farm()
    alice, bob = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    farm.open()
    farm.issue(alice, 2)
    farm.issue(bob, 1)
    farm.sign("funded", at=T0 + DAY)
    api = ReplayApi(farm)
    monkeypatch.setattr("farmtrace.wallet.command.ApiClient", lambda base: api)
    monkeypatch.delenv("FARMTRACE_API", raising=False)
    wallets = {}
    for name, key in (("alice", alice), ("bob", bob)):
        save_key(tmp_path / f"{name}.key", key)
        wallets[name] = str(tmp_path / f"{name}.key")

    class World:
        pass

    w = World()
    w.farm, w.api, w.alice, w.bob, w.files, w.tmp = farm, api, alice, bob, wallets, tmp_path  # type: ignore[attr-defined]
    return w


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["wallet", *argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_coupons_lists_what_the_address_holds(
    world: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "coupons", "--file", world.files["alice"], "--api", API)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["COUPON", "STATUS", "MOVES", "STATE"]
    assert [line.split() for line in lines[1:]] == [
        [world.farm.coupon(s), "active", "0", world.farm.entries[1].state] for s in (1, 2)
    ]
    carol = world.tmp / "carol.key"
    save_key(carol, Ed25519PrivateKey.generate())
    code, out, err = run(capsys, "coupons", "--file", str(carol), "--api", API)
    assert (code, out) == (0, "") and "no coupons held by" in err


def test_transfer_signs_from_the_head_and_prints_the_new_state(
    world: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    coupon = world.farm.coupon(1)
    monkeypatch.setenv("FARMTRACE_API", API)  # --api from the environment
    code, out, err = run(
        capsys, "transfer", coupon, "--to", address(world.bob).upper(), "--price", "4800", "CNY",
        "--file", world.files["alice"],
    )  # fmt: skip
    assert code == 0, err
    assert world.api.calls == [
        ("GET", f"/v1/coupons/{coupon}"),
        ("POST", f"/v1/coupons/{coupon}/transfers"),
    ]
    statement = decode_statement(world.api.transfers[0])
    assert (statement.move, statement.to, statement.price) == (1, address(world.bob), (4800, "CNY"))
    assert out.splitlines() == [
        f"coupon {coupon} now held by {address(world.bob)}",
        f"state: {statement.state}",
        "moves: 1",
    ]
    # Alice no longer holds it: the wallet says so and signs nothing (exit 1).
    code, out, err = run(
        capsys, "transfer", coupon, "--to", address(world.bob), "--file", world.files["alice"]
    )
    assert (code, out) == (1, "") and "not by this wallet" in err
    assert len(world.api.transfers) == 1


def test_a_stale_state_prints_the_servers_message_and_exits_1(
    world: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    coupon = world.farm.coupon(2)
    head = world.farm.entries[1].state

    def alice_elsewhere() -> None:  # the same key spends the state first, from another device
        code = main(
            [
                "wallet",
                "transfer",
                coupon,
                "--to",
                address(world.bob),
                "--file",
                world.files["alice"],
                "--api",
                API,
            ]
        )
        assert code == 0

    world.api.before_post = alice_elsewhere
    carol = address(Ed25519PrivateKey.generate())
    code, _, err = run(
        capsys, "transfer", coupon, "--to", carol, "--file", world.files["alice"], "--api", API
    )
    assert code == 1
    new_head = decode_statement(world.api.transfers[0]).state
    assert (
        f"the API refused the transfer (HTTP 409): stale state: coupon {coupon} is at {new_head}"
        in err
    )
    assert new_head != head and len(world.api.transfers) == 1


def test_an_unknown_coupon_and_bad_arguments_are_named(
    world: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys,
        "transfer",
        "06141410000297",
        "--to",
        address(world.bob),
        "--file",
        world.files["alice"],
        "--api",
        API,
    )
    assert code == 1 and "coupon 06141410000297: unknown coupon" in err
    for argv, message in [
        (["transfer", "0614141000012", "--to", address(world.bob)], "COUPON '0614141000012'"),
        (["transfer", world.farm.coupon(1), "--to", "ab" * 31], "--to: expected 64"),
        (["transfer", world.farm.coupon(1), "--to", "g" * 64], "--to: expected 64"),
        (
            ["transfer", world.farm.coupon(1), "--to", address(world.bob), "--price", "-1", "CNY"],
            "--price: amount '-1'",
        ),
        (
            ["transfer", world.farm.coupon(1), "--to", address(world.bob), "--price", "1", "cny"],
            "--price: currency",
        ),
        (["redeem", "x"], "COUPON 'x'"),
    ]:
        code, out, err = run(capsys, *argv, "--file", world.files["alice"], "--api", API)
        assert (code, out) == (2, ""), argv
        assert message in err, (argv, err)
    code, _, err = run(capsys, "coupons", "--file", world.files["alice"])
    assert code == 2 and "--api URL is required" in err
    code, _, err = run(capsys, "coupons", "--file", world.files["alice"], "--api", "ftp://x")
    assert code == 2 and "not an http:// or https:// URL" in err


def terminal_symbol_text(text: str) -> str:
    """Decode a QR code printed by :func:`qr_terminal` (two module rows a character; a full
    block is two light modules) by redrawing it as an image and scanning that."""
    lines = [line for line in text.splitlines() if line]
    light = {"█": (1, 1), "▀": (1, 0), "▄": (0, 1), " ": (0, 0)}
    rows: list[list[int]] = []
    for line in lines:
        pairs = [light[ch] for ch in line]
        rows.append([p[0] for p in pairs])
        rows.append([p[1] for p in pairs])
    scale = 6
    image = Image.new("L", (len(rows[0]) * scale + 40, len(rows) * scale + 40), 255)
    for y, row in enumerate(rows):
        for x, on in enumerate(row):
            if not on:
                image.paste(
                    0, (20 + x * scale, 20 + y * scale, 20 + (x + 1) * scale, 20 + (y + 1) * scale)
                )
    found = zxingcpp.read_barcodes(image)
    assert len(found) == 1, "the terminal QR code does not scan"
    return str(found[0].text)


def test_redeem_prints_a_signed_statement_as_text_and_a_qr_code_that_scans(
    world: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    coupon = world.farm.coupon(1)
    code, out, err = run(
        capsys, "redeem", coupon, "--qr", "--file", world.files["alice"], "--api", API
    )
    assert code == 0
    text, symbol = out.split("\n", 1)
    statement = decode_statement(base64.b64decode(text, validate=True))
    assert (statement.op, statement.coupon, statement.move) == ("redeem", coupon, 1)
    assert statement.prev == world.farm.entries[1].state
    assert verify_signature(address_bytes(world.alice), statement.signed_bytes, statement.signature)
    assert terminal_symbol_text(symbol) == text
    assert f"valid while coupon {coupon} stays at state {statement.prev}" in err
    assert world.api.transfers == []  # nothing was sent: the farm posts it at pickup
    # The farm's redeem entry carrying it replays.
    world.farm.sign("harvested", at=T0 + 20 * DAY, quantity=50)
    world.farm.redeem(1, statement)
    assert world.api.replay([]).coupons[1].status == "redeemed"
    # Bob cannot redeem Alice's coupon.
    code, out, err = run(capsys, "redeem", coupon, "--file", world.files["bob"], "--api", API)
    assert (code, out) == (1, "") and "not by this wallet" in err


def address_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes_raw()


@pytest.mark.parametrize("name", ["redeem.png", "redeem.svg", "redeem.txt"])
def test_redeem_out_writes_the_statement_or_its_code_with_mode_0600(
    world: Any, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    out_file = world.tmp / name
    argv = [
        "redeem",
        world.farm.coupon(2),
        "--out",
        str(out_file),
        "--file",
        world.files["alice"],
        "--api",
        API,
    ]
    code, out, err = run(capsys, *argv)
    assert (code, out) == (0, "") and "mode 0600" in err
    assert stat.S_IMODE(out_file.stat().st_mode) == 0o600
    if name.endswith(".png"):
        (found,) = zxingcpp.read_barcodes(Image.open(out_file))
        text = found.text
    elif name.endswith(".svg"):
        assert out_file.read_text().startswith("<svg")
        return
    else:
        text = out_file.read_text().strip()
    statement = decode_statement(base64.b64decode(text, validate=True))
    assert (statement.op, statement.coupon) == ("redeem", world.farm.coupon(2))
    code, _, err = run(capsys, *argv)
    assert code == 2 and "already exists" in err and "--force" in err
    assert run(capsys, *argv, "--force")[0] == 0


def test_the_address_qr_code_scans_to_the_address(
    world: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "address", "--qr", "--file", world.files["bob"])
    text, symbol = out.split("\n", 1)
    assert code == 0 and text == address(world.bob)
    assert terminal_symbol_text(symbol) == address(world.bob)
    buffer = io.StringIO()
    qr_terminal(address(world.bob), buffer)
    assert buffer.getvalue() == symbol  # the one encoding farmtrace.qr makes


def test_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["wallet", "--help"], ["wallet", "transfer", "--help"]):
        with pytest.raises(SystemExit) as done:
            main(argv)
        assert done.value.code == 0
        out = capsys.readouterr().out
        assert "exit codes:" in out and "409" in out and "could not run" in out


# -- the HTTP client -----------------------------------------------------------------------------


class Answer(io.BytesIO):
    def __enter__(self) -> Answer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def http_error(status: int, body: bytes) -> urllib.error.HTTPError:
    return urllib.error.HTTPError(API, status, "x", email.message.Message(), io.BytesIO(body))


@pytest.mark.parametrize(
    ("status", "body", "code", "message"),
    [
        (
            409,
            b'{"detail": "stale state: current head is ' + b"ab" * 32 + b'"}',
            1,
            "current head is abab",
        ),
        (404, b'{"detail": "unknown coupon"}', 1, "unknown coupon"),
        (
            422,
            json.dumps(
                {"detail": [{"loc": ["body", "statement"], "msg": "not valid base64"}]}
            ).encode(),
            1,
            "statement: not valid base64",
        ),
        (413, b"too large", 1, "too large"),
        (500, b'{"detail": "boom"}', 2, "the API failed (HTTP 500): boom"),
    ],
)
def test_the_client_maps_answers_to_exit_codes_with_the_servers_words(
    monkeypatch: pytest.MonkeyPatch, status: int, body: bytes, code: int, message: str
) -> None:
    def urlopen(request: Any, timeout: float) -> Any:
        raise http_error(status, body)

    monkeypatch.setattr(client_module.urllib.request, "urlopen", urlopen)
    with pytest.raises(WalletError) as caught:
        ApiClient(API).post("/v1/coupons/1/transfers", {"statement": ""})
    assert caught.value.code == code and message in str(caught.value)
    if code == 1:
        assert isinstance(caught.value, ApiRefused) and caught.value.status == status


def test_the_client_refuses_what_is_not_the_api(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    def urlopen(request: Any, timeout: float) -> Any:
        seen.append(request.full_url)
        return Answer(b"<html>hello</html>")

    monkeypatch.setattr(client_module.urllib.request, "urlopen", urlopen)
    with pytest.raises(WalletError, match=re.escape(f"is not JSON; is {API} the API")) as caught:
        ApiClient(API).get("/v1/coupons", holder="ab")
    assert caught.value.code == 2 and seen == [f"{API}/v1/coupons?holder=ab"]

    def unreachable(request: Any, timeout: float) -> Any:
        raise urllib.error.URLError("Connection refused")

    monkeypatch.setattr(client_module.urllib.request, "urlopen", unreachable)
    with pytest.raises(
        WalletError, match=re.escape(f"cannot reach the API at {API}: Connection refused")
    ):
        ApiClient(API).get("/v1/coupons/1")


@pytest.mark.parametrize(
    "url", ["127.0.0.1:8000", "ftp://h", "http://", "http://h/?a=1", "http://h#x"]
)
def test_an_api_url_must_be_a_base_url(url: str) -> None:
    with pytest.raises(WalletError, match="--api"):
        check_api_url(url)


def test_an_api_url_loses_its_trailing_slash() -> None:
    assert check_api_url("http://h:1/base/") == "http://h:1/base"


@pytest.mark.parametrize(
    "answer", [{"coupons": []}, [{"coupon": "1", "status": "active", "moves": 0}], [None]]
)
def test_a_coupon_list_that_is_not_the_apis_is_refused(
    world: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, answer: Any
) -> None:
    monkeypatch.setattr(world.api, "get", lambda path, **query: answer)
    code, out, err = run(capsys, "coupons", "--file", world.files["alice"], "--api", API)
    assert (code, out) == (2, "") and "the API" in err and "list" in err
