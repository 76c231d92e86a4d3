"""``farmtrace broker files``: Mosquitto's own hash format, the ACL a device gets, credentials
kept across runs, revoked devices left out, and clear errors for bad input."""

from __future__ import annotations

import base64
import json
import os
import pwd
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from support.ingest import make_device, write_keys
from support.mosquitto import require_mosquitto

from farmtrace.cli import main
from farmtrace.gateway.broker.acl import acl_text, device_user
from farmtrace.gateway.broker.errors import BrokerFilesError
from farmtrace.gateway.broker.files import write_broker_files
from farmtrace.gateway.broker.passwords import ITERATIONS, hash_password, verify_password
from farmtrace.store.records import Device

FILES = ("passwd", "acl", "device-passwords.json", "gateway.env")


Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """``cli(*ARGS)``: run ``farmtrace ARGS`` in this process; ``(exit code, stdout, stderr)``."""

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def ok(cli: Cli, *args: str) -> str:
    code, out, err = cli(*args)
    assert code == 0, (args, out, err)
    return out


def fails(cli: Cli, *args: str) -> str:
    """Run ``farmtrace broker files ARGS``, expect exit 2; return the message."""
    code, _, err = cli("broker", "files", *args)
    assert code == 2, err
    return err


def test_hash_is_mosquitto_passwds_own(tmp_path: Path) -> None:
    binary = Path(require_mosquitto()).with_name("mosquitto_passwd")
    passwd = shutil.which("mosquitto_passwd") or str(binary)
    path = tmp_path / "passwd"
    subprocess.run([passwd, "-c", "-b", str(path), "alice", "s3cret pw"], check=True, capture_output=True)  # fmt: skip
    user, encoded = path.read_text().strip().split(":", 1)
    _, kind, iterations, salt, _ = encoded.split("$")
    assert (user, kind, int(iterations)) == ("alice", "7", ITERATIONS)
    assert hash_password("s3cret pw", base64.b64decode(salt)) == encoded
    assert verify_password("s3cret pw", encoded)
    assert not verify_password("s3cret pw!", encoded)
    assert not verify_password("s3cret pw", "$6$abc$def")


def test_acl_names_each_device_topic_under_its_user() -> None:
    device = "urn:epc:id:giai:4012345.SIM-000001"
    assert device_user(device) == "4012345.SIM-000001"
    text = acl_text("gw", {"4012345.SIM-000001": device})
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines == [
        "user gw",
        "topic read farm/+/+/reading",
        "topic read farm/+/+/status",
        "topic read farm/+/+/dropped",
        "topic readwrite farm/+/+/committed",
        "user 4012345.SIM-000001",
        f"topic write farm/+/{device}/reading",
        f"topic write farm/+/{device}/status",
        f"topic write farm/+/{device}/dropped",
        f"topic read farm/+/{device}/committed",
    ]
    assert "pattern" not in text and "%c" not in text


@pytest.mark.parametrize(
    ("ids", "words"),
    [
        (["urn:example:"], "asset of device 'urn:example:'"),
        (["urn:a:SIM-1", "urn:b:SIM-1"], "would both log in as 'SIM-1'"),
        (["urn:x:gw"], "the gateway user"),
        (["farm/+/#"], "cannot be written into the broker's ACL"),
    ],
)
def test_devices_the_files_cannot_express_are_refused(
    tmp_path: Path, ids: list[str], words: str
) -> None:
    devices = [Device(d, bytes(32), 0.0) for d in ids]
    with pytest.raises(BrokerFilesError, match=words.replace("+", r"\+")):
        write_broker_files(devices, tmp_path / "out", gateway_user="gw")
    assert not (tmp_path / "out").exists()  # nothing written


def _registry(cli: Cli, tmp_path: Path, names: list[str]) -> str:
    db = f"sqlite:///{tmp_path / 'registry.db'}"
    keys = {make_device(n).device_id: make_device(n).public_key for n in names}
    ok(cli, "devices", "import", "--db", db, str(write_keys(tmp_path / "keys.json", keys)))
    return db


def _read(out: Path) -> tuple[dict[str, str], str, str, str]:
    passwords = json.loads((out / "device-passwords.json").read_text())
    return passwords, (out / "gateway.env").read_text(), (out / "passwd").read_text(), (out / "acl").read_text()  # fmt: skip


def test_regenerating_keeps_passwords_adds_new_devices_and_drops_revoked(
    cli: Cli, tmp_path: Path
) -> None:
    db, out = _registry(cli, tmp_path, ["GEN-1", "GEN-2"]), tmp_path / "access"
    first = ok(cli, "broker", "files", "--db", db, "--out", str(out))
    assert "2 devices (2 new)" in first
    for name in FILES:
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o600, name
    passwords, env, passwd, acl = _read(out)
    one, two = (make_device(n).device_id for n in ("GEN-1", "GEN-2"))
    assert set(passwords) == {one, two} and len(set(passwords.values())) == 2
    users = dict(line.split(":", 1) for line in passwd.splitlines())
    assert set(users) == {"farmtrace-gateway", "4012345.GEN-1", "4012345.GEN-2"}
    assert verify_password(passwords[one], users["4012345.GEN-1"])
    gw_password = env.split("GATEWAY_MQTT_PASSWORD=")[1].strip()
    assert verify_password(gw_password, users["farmtrace-gateway"])

    # Nothing changed: the same bytes (kept hashes, sorted ACL).
    ok(cli, "broker", "files", "--db", db, "--out", str(out))
    assert _read(out) == (passwords, env, passwd, acl)

    ok(cli, "devices", "import", "--db", db, str(write_keys(tmp_path / "more.json", {make_device("GEN-3").device_id: make_device("GEN-3").public_key})))  # fmt: skip
    ok(cli, "devices", "revoke", "--db", db, one)
    again = ok(cli, "broker", "files", "--db", db, "--out", str(out))
    assert "2 devices (1 new), 1 revoked left out, 1 passwords removed" in again
    passwords2, env2, passwd2, acl2 = _read(out)
    three = make_device("GEN-3").device_id
    assert set(passwords2) == {two, three} and passwords2[two] == passwords[two]
    assert env2 == env
    assert "4012345.GEN-1" not in passwd2 and one not in acl2 and three in acl2


def test_owner_gets_the_broker_files(cli: Cli, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("handing files to another user needs root")
    try:
        mosquitto = pwd.getpwnam("mosquitto")
    except KeyError:
        pytest.skip("no mosquitto user here")
    db, out = _registry(cli, tmp_path, ["OWN-1"]), tmp_path / "access"
    ok(cli, "broker", "files", "--db", db, "--out", str(out), "--owner", "mosquitto")
    assert (out / "passwd").stat().st_uid == (out / "acl").stat().st_uid == mosquitto.pw_uid
    assert (out / "device-passwords.json").stat().st_uid == 0


def test_bad_input_is_named(cli: Cli, tmp_path: Path) -> None:
    out = str(tmp_path / "access")
    missing = tmp_path / "nope.db"
    assert f"{missing} is not a file" in fails(cli, "--db", f"sqlite:///{missing}", "--out", out)
    assert not missing.exists()  # not created as an empty registry
    (tmp_path / "empty.db").write_bytes(b"")
    assert "holds no farmtrace schema" in fails(cli, "--db", f"sqlite:///{tmp_path / 'empty.db'}", "--out", out)  # fmt: skip
    (tmp_path / "junk.db").write_bytes(b"not a database at all" * 100)
    assert "junk.db" in fails(cli, "--db", f"sqlite:///{tmp_path / 'junk.db'}", "--out", out)
    assert "unsupported database 'mysql+nothing'" in fails(
        cli, "--db", "mysql+nothing://x", "--out", out
    )

    db = _registry(cli, tmp_path, ["BAD-1"])
    (tmp_path / "file").write_text("")
    assert "exists and is not a directory" in fails(cli, "--db", db, "--out", str(tmp_path / "file"))  # fmt: skip
    assert "cannot make the output directory" in fails(cli, "--db", db, "--out", str(tmp_path / "file" / "x"))  # fmt: skip
    assert "no such user" in fails(cli, "--db", db, "--out", out, "--owner", "no-such-user-here")
    assert "gateway user 'a:b' cannot be" in fails(
        cli, "--db", db, "--out", out, "--gateway-user", "a:b"
    )

    os.makedirs(out, exist_ok=True)
    Path(out, "device-passwords.json").write_text("{not json")
    assert "device-passwords.json is not JSON" in fails(cli, "--db", db, "--out", out)
    assert Path(out, "device-passwords.json").read_text() == "{not json"  # untouched
    assert not Path(out, "passwd").exists()


def test_unwritable_output_directory_is_named(cli: Cli, tmp_path: Path) -> None:
    db, out = _registry(cli, tmp_path, ["RO-1"]), tmp_path / "access"
    out.mkdir()
    if os.geteuid() == 0:
        try:  # root writes anywhere except into an immutable directory
            subprocess.run(["chattr", "+i", str(out)], check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError):
            pytest.skip("chattr +i is not available here")
    else:
        out.chmod(0o500)
    try:
        message = fails(cli, "--db", db, "--out", str(out))
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(out)], check=True, capture_output=True)
        out.chmod(0o755)
    assert f"cannot write {out / 'device-passwords.json'}" in message
    assert list(out.iterdir()) == []
