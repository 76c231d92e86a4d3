"""``farmtrace api-keys create``: the key is printed once and only its hash is stored."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from farmtrace.api.auth import check_key
from farmtrace.api.errors import Forbidden, Unauthorized
from farmtrace.cli import main
from farmtrace.store.database import open_database


def test_create_key_prints_it_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    assert main(["api-keys", "create", "--db", url, "--name", "ops", "--scope", "lots:write"]) == 0
    out = capsys.readouterr()
    key = out.out.strip()
    assert key.startswith("ftk_") and len(key) == 4 + 43
    assert key not in out.err
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT name, token_hash, scopes FROM api_keys")).all()
    engine.dispose()
    assert rows == [("ops", hashlib.sha256(key.encode()).hexdigest(), "lots:write")]
    db = open_database(url)
    assert check_key(db, f"Bearer {key}", "lots:write").name == "ops"
    with pytest.raises(Forbidden):
        check_key(db, f"Bearer {key}", "events:write")
    with pytest.raises(Unauthorized):
        check_key(db, f"Bearer {key[:-1]}{'B' if key.endswith('A') else 'A'}", "lots:write")
    with pytest.raises(Unauthorized):
        check_key(db, None, "lots:write")
    db.close()


def test_unknown_scope_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    assert main(["api-keys", "create", "--db", url, "--name", "x", "--scope", "all"]) == 2
    assert "unknown or missing scopes ['all']" in capsys.readouterr().err
