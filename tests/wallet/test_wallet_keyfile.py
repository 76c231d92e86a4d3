"""``farmtrace wallet create / address / export / import``: the key file's mode, atomic writes,
refusals that say how to fix them, never a traceback."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from farmtrace.cli import main
from farmtrace.wallet.keyfile import WalletError, address_of, default_path, load_key, save_key


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["wallet", *argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_create_writes_a_0600_key_and_prints_its_address(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "new" / "dir" / "wallet.key"
    code, out, err = run(capsys, "create", "--file", str(path))
    assert code == 0
    address = out.strip()
    assert len(address) == 64 and address == address.lower()
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    seed = path.read_text().strip()
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed))
    assert key.public_key().public_bytes_raw().hex() == address
    assert "mode 0600" in err and "farmtrace wallet export" in err
    assert sorted(p.name for p in path.parent.iterdir()) == ["wallet.key"]  # no temporary left
    assert run(capsys, "address", "--file", str(path))[1].strip() == address


def test_create_never_replaces_a_key_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "wallet.key"
    first = run(capsys, "create", "--file", str(path))[1]
    before = path.read_bytes()
    code, out, err = run(capsys, "create", "--file", str(path))
    assert (code, out) == (2, "")
    assert f"{path} already exists" in err and "--force" in err
    assert path.read_bytes() == before
    code, second, _ = run(capsys, "create", "--file", str(path), "--force")
    assert code == 0 and second != first and mode(path) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wallet.key"]


def test_the_key_file_comes_from_the_environment_then_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FARMTRACE_WALLET", raising=False)
    assert default_path() == tmp_path / "home" / ".farmtrace" / "wallet.key"
    assert run(capsys, "create")[0] == 0
    assert mode(tmp_path / "home" / ".farmtrace" / "wallet.key") == 0o600
    monkeypatch.setenv("FARMTRACE_WALLET", str(tmp_path / "env.key"))
    code, out, _ = run(capsys, "create")
    assert code == 0
    assert address_of(load_key(tmp_path / "env.key")) == out.strip()


@pytest.mark.parametrize("bad_mode", [0o640, 0o604, 0o660, 0o644])
def test_a_key_readable_by_others_is_refused_with_the_remedy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bad_mode: int
) -> None:
    path = tmp_path / "wallet.key"
    run(capsys, "create", "--file", str(path))
    path.chmod(bad_mode)
    code, out, err = run(capsys, "address", "--file", str(path))
    assert (code, out) == (2, "")
    assert f"readable by other users (mode {bad_mode:04o})" in err
    assert f"chmod 600 {path}" in err
    for action in (["export"], ["coupons", "--api", "http://127.0.0.1:9"]):
        assert run(capsys, *action, "--file", str(path))[:2] == (2, "")


def test_missing_malformed_and_odd_key_files_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "none.key"
    code, _, err = run(capsys, "address", "--file", str(missing))
    assert code == 2 and f"no wallet key at {missing}" in err and "wallet create" in err
    for content in (b"", b"zz" * 32, b"ab" * 31, b"\xff\xfe", b"ab" * 33):
        bad = tmp_path / "bad.key"
        bad.write_bytes(content)
        bad.chmod(0o600)
        code, _, err = run(capsys, "address", "--file", str(bad))
        assert code == 2 and "is not a wallet key (expected 64 hex digits" in err
    directory = tmp_path / "dir.key"
    directory.mkdir(mode=0o700)
    code, _, err = run(capsys, "address", "--file", str(directory))
    assert code == 2 and "is not a regular file" in err


def test_export_warns_and_import_restores_with_mode_0600(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "wallet.key"
    address = run(capsys, "create", "--file", str(path))[1].strip()
    code, out, err = run(capsys, "export", "--file", str(path))
    assert code == 0 and out.strip() == path.read_text().strip()
    assert "WARNING" in err and address in err and "owns every coupon" in err

    exported = tmp_path / "backup.txt"
    assert run(capsys, "export", "--file", str(path), "--out", str(exported))[0] == 0
    assert mode(exported) == 0o600
    assert run(capsys, "export", "--file", str(path), "--out", str(exported))[0] == 2

    restored = tmp_path / "other" / "wallet.key"
    code, out, _ = run(capsys, "import", str(exported), "--file", str(restored))
    assert (code, out.strip()) == (0, address)
    assert mode(restored) == 0o600 and restored.read_text() == path.read_text()
    # The same key again is fine; a different key is kept unless --force.
    code, out, err = run(capsys, "import", str(exported), "--file", str(restored))
    assert code == 0 and "already holds this key" in err
    other = Ed25519PrivateKey.generate()
    monkeypatch.setattr("sys.stdin", io.StringIO(other.private_bytes_raw().hex() + "\n"))
    code, _, err = run(capsys, "import", "-", "--file", str(restored))
    assert code == 2 and "already exists" in err
    assert address_of(load_key(restored)) == address
    monkeypatch.setattr("sys.stdin", io.StringIO(other.private_bytes_raw().hex() + "\n"))
    assert run(capsys, "import", "-", "--file", str(restored), "--force")[0] == 0
    assert address_of(load_key(restored)) == address_of(other)
    assert mode(restored) == 0o600


def test_import_refuses_what_is_not_a_key_and_notes_a_shared_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "seed.txt"
    source.write_text("not a key\n")
    code, _, err = run(capsys, "import", str(source), "--file", str(tmp_path / "w.key"))
    assert code == 2 and "is not a wallet key" in err
    assert not (tmp_path / "w.key").exists()
    code, _, err = run(capsys, "import", str(tmp_path / "absent"), "--file", str(tmp_path / "w"))
    assert code == 2 and "cannot read" in err
    source.write_text(Ed25519PrivateKey.generate().private_bytes_raw().hex())
    source.chmod(0o644)
    code, _, err = run(capsys, "import", str(source), "--file", str(tmp_path / "w.key"))
    assert code == 0 and "readable by other users" in err and "Delete it" in err


def test_save_key_is_atomic_and_never_follows_an_existing_name(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("precious\n")
    link = tmp_path / "wallet.key"
    os.symlink(target, link)
    with pytest.raises(WalletError, match="already exists"):
        save_key(link, Ed25519PrivateKey.generate())
    assert target.read_text() == "precious\n"
