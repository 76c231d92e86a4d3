"""Keys have history: every event key that signed something stays with its validity period, an
API refuses to invent a new one, and rotating the event and checkpoint keys keeps every older
bundle verifiable in Python (``farmtrace verify``) and in the browser's verifier (node)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from support.api import GTIN, LOT, ORIGIN, Served, lot_body
from test_page_bundle_js import python_verdict, run_node

from farmtrace.api.auth import create_key
from farmtrace.api.main import create_app
from farmtrace.api.services.verify import BundleError, verify_bundle
from farmtrace.api.settings import Settings
from farmtrace.cli import main
from farmtrace.store.database import open_database
from farmtrace.store.errors import StoreError
from farmtrace.store.ledger import Ledger

# farmtrace.store.key_history is imported inside the tests that use it, so that the defect test
# below runs (and fails as the issue says) on the code from before the key history.

EVENT = {
    "kind": "packing",
    "time": "2024-06-10T14:13:00+08:00",
    "read_point": "urn:epc:id:sgln:9506000.00001.0",
    "actor": "Li Wei",
}
LOTS = f"/v1/lots/{GTIN}"


def _settings(db_url: str, state: Path | None) -> Settings:
    return Settings(db_url=db_url, state_dir=state, rate_per_s=1000, rate_burst=1000)


def _verdict(bundle: dict[str, Any], vkey: str) -> str:
    try:
        verify_bundle(json.dumps(bundle).encode(), [vkey], say=lambda _line: None)
    except BundleError as exc:
        return f"FAIL {exc}"
    return "ok"


def _event(client: TestClient, key: str, lot: str = LOT) -> None:
    done = client.post(
        f"{LOTS}/{lot}/events", json=EVENT, headers={"Authorization": f"Bearer {key}"}
    )
    assert done.status_code == 201, done.text


def _ack(client: TestClient, key: str, which: int) -> None:
    found = client.get(f"{LOTS}/{LOT}/excursions").json()[which]
    body = {
        "device_id": found["device_id"],
        "measurement": "Temperature",
        "start_ms": found["start_ms"],
        "comment": "Door left open during loading; product re-checked.",
    }
    done = client.post(
        f"{LOTS}/{LOT}/excursions/ack", json=body, headers={"Authorization": f"Bearer {key}"}
    )
    assert done.status_code == 201, done.text


def _anchor(served: Served) -> None:
    with Ledger.open(served.db_url, served.tmp / "gw", ORIGIN) as ledger:
        assert ledger.append_batch([]).block is not None


def _bundle(client: TestClient, lot: str = LOT) -> dict[str, Any]:
    response = client.get(f"{LOTS}/{lot}/bundle")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def test_api_without_state_refuses_a_new_event_key(served: Served) -> None:
    """The landed API made up a fresh event key when started without --state and mapped every
    event signer to it, so every bundle with events failed verification."""
    _event(served.client, served.key)
    _anchor(served)
    assert _verdict(_bundle(served.client), served.ledger_vkey) == "ok"
    try:
        app = create_app(_settings(served.db_url, None))
    except StoreError as exc:
        refused = str(exc)
    else:
        with TestClient(app) as client:
            verdict = _verdict(_bundle(client), served.ledger_vkey)
        pytest.fail(f"the API started with a new event key; its bundle: {verdict}")
    assert "without --state" in refused, refused
    assert "--state DIR" in refused and "farmtrace keys rotate-event" in refused, refused
    # A state directory holding another key is refused as well, and nothing was recorded.
    with pytest.raises(StoreError, match="not this database's current event key"):
        state = served.tmp / "other"
        state.mkdir(mode=0o700)
        (state / "event.key").write_text(os.urandom(32).hex() + "\n")
        (state / "event.key").chmod(0o600)
        create_app(_settings(served.db_url, state))
    from farmtrace.store.key_history import key_history

    with open_database(served.db_url) as database:
        assert len(key_history(database, "event")) == 1
    # The command line says the same and exits 2 before serving.
    assert main(["api", "--db", served.db_url, "--port", "1"]) == 2


def test_api_without_state_may_start_again_until_it_signs(tmp_path: Path) -> None:
    from farmtrace.store.key_history import key_history

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    for _ in range(2):  # nothing signed yet: a fresh key replaces the unused one
        with TestClient(create_app(_settings(url, None))):
            pass
    app = create_app(_settings(url, None))
    key = create_key(app.state.farmtrace.database, "t", ["lots:write", "events:write"])
    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {key}"}
        assert client.post("/v1/lots", json=lot_body([]), headers=auth).status_code == 201
        _event(client, key)
    with pytest.raises(StoreError, match="without --state"):
        create_app(_settings(url, None))
    with open_database(url) as database:
        events = key_history(database, "event")
    assert [p.current for p in events] == [False, False, True]
    assert all(p.valid_until is not None and p.valid_until >= p.valid_from for p in events[:2])


def test_rotations_keep_every_bundle_verifiable(
    served: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from farmtrace.store.key_history import key_history

    database = served.client.app.state.farmtrace.database  # type: ignore[attr-defined]
    acker = create_key(database, "qa-lead", ["excursions:ack"])
    _event(served.client, served.key)
    _ack(served.client, acker, 0)
    _anchor(served)
    before = _bundle(served.client)
    old_signer = next(iter(before["event_keys"]))
    served.client.__exit__(None, None, None)  # the API stops before its key is rotated

    state = served.tmp / "api"
    assert main(["keys", "rotate-event", "--state", str(state), "--db", served.db_url]) == 0
    assert main(["keys", "rotate", "--state", str(served.tmp / "gw"), "--db", served.db_url]) == 0
    app = create_app(_settings(served.db_url, state))
    with TestClient(app) as client:
        _event(client, served.key)
        _ack(client, acker, 1)
        second = {**lot_body([d.device_id for d in served.devices]), "lot": "LOT-2"}
        auth = {"Authorization": f"Bearer {served.key}"}
        assert client.post("/v1/lots", json=second, headers=auth).status_code == 201
        _event(client, served.key, "LOT-2")
        _anchor(served)  # the hand-over checkpoint: signed by the old and the new key
        mixed = _bundle(client)
        new_only = _bundle(client, "LOT-2")

    assert old_signer in mixed["event_keys"] and len(mixed["event_keys"]) == 2
    assert mixed["event_keys"][old_signer] == before["event_keys"][old_signer]
    assert len(mixed["chains"][0]["verifier_keys"]) == 2
    assert list(new_only["event_keys"]) != [old_signer]
    with open_database(served.db_url) as db:
        history = key_history(db)
    kinds = [(p.kind, p.current) for p in history]
    assert kinds.count(("event", False)) == 1 and kinds.count(("event", True)) == 1, kinds
    assert kinds.count(("checkpoint", False)) == 1, kinds
    assert kinds.count(("checkpoint", True)) == 1, kinds
    old_event = next(p for p in history if p.kind == "event" and not p.current)
    assert old_event.key_id == old_signer
    capsys.readouterr()  # what the rotations printed
    assert main(["keys", "history", "--db", served.db_url, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(r["kind"], r["key_id"], r["valid_until"]) for r in listed] == [
        (p.kind, p.key_id, p.valid_until) for p in history
    ]

    cases = []
    for name, bundle in (("before", before), ("mixed", mixed), ("new", new_only)):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(bundle))
        # Trusting only the key that signed the chain before the rotation: the hand-over
        # checkpoint carries it to the new one.
        assert main(["verify", str(path), "--key", served.ledger_vkey]) == 0, name
        want = python_verdict(bundle, served.ledger_vkey)
        assert want["ok"], (name, want)
        cases.append({"name": f"after rotations: {name}", "bundle": bundle, "want": want})
        cases[-1]["vkey"] = served.ledger_vkey
    assert cases[1]["want"]["events"] == 2
    run_node(cases, tmp_path)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_key_history_rows_are_never_deleted_and_end_once(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from farmtrace.store.key_history import key_history, record_key

    url = (
        f"sqlite:///{tmp_path / 'keys.db'}"
        if backend == "sqlite"
        else str(request.getfixturevalue("pg_url"))
    )
    with open_database(url) as database:
        assert record_key(database, "watermark", "pk-1", 10.0, scope="o/1") is True
        assert record_key(database, "watermark", "pk-1", 20.0, scope="o/1") is False
        assert record_key(database, "watermark", "pk-2", 30.0, scope="o/1", retire=["pk-1"])
        periods = key_history(database, "watermark", "o/1")
    assert [(p.public_key, p.valid_from, p.valid_until) for p in periods] == [
        ("pk-1", 10.0, 30.0),
        ("pk-2", 30.0, None),
    ]
    engine = create_engine(url)
    try:
        for statement in (
            "DELETE FROM signing_keys",
            "UPDATE signing_keys SET valid_until = 99 WHERE public_key = 'pk-1'",
            "UPDATE signing_keys SET public_key = 'x' WHERE public_key = 'pk-2'",
        ):
            with pytest.raises(DBAPIError, match="signing_keys"), engine.begin() as conn:
                conn.execute(text(statement))
        with engine.begin() as conn:  # ending a current key once is the one change allowed
            conn.execute(text("UPDATE signing_keys SET valid_until = 40 WHERE public_key = 'pk-2'"))
    finally:
        engine.dispose()


def test_revision_0007_copies_the_checkpoint_keys_with_their_periods(tmp_path: Path) -> None:
    from alembic import command

    from farmtrace.store.engine import create_db_engine
    from farmtrace.store.key_history import key_history
    from farmtrace.store.migrate import alembic_config, upgrade

    engine = create_db_engine(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        config = alembic_config()
        with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
            config.attributes["connection"] = conn
            command.upgrade(config, "0006")
        with engine.begin() as conn:
            for origin in ("o/1", "o/2"):
                conn.execute(
                    text("INSERT INTO chains (origin, created_at) VALUES (:o, 1)"), {"o": origin}
                )
            for chain, vkey, added in (
                (1, "o/1+0000000a+AA", 5.0),
                (2, "o/2+0000000c+CC", 6.0),
                (1, "o/1+0000000b+BB", 9.0),
            ):
                conn.execute(
                    text("INSERT INTO chain_keys (chain_id, vkey, added_at) VALUES (:c, :v, :a)"),
                    {"c": chain, "v": vkey, "a": added},
                )
        upgrade(engine)
        periods = key_history(engine, "checkpoint")
    finally:
        engine.dispose()
    assert [(p.scope, p.key_id, p.valid_from, p.valid_until) for p in periods] == [
        ("o/1", "o/1+0000000a", 5.0, 9.0),
        ("o/2", "o/2+0000000c", 6.0, None),
        ("o/1", "o/1+0000000b", 9.0, None),
    ]


def test_a_checkpoint_key_rotated_without_db_ends_at_the_gateways_next_start(
    tmp_path: Path,
) -> None:
    from farmtrace.store.key_history import key_history

    url = f"sqlite:///{tmp_path / 'gw.db'}"
    with Ledger.open(url, tmp_path / "gw", ORIGIN) as ledger:
        old = ledger.verifier_key
    assert main(["keys", "rotate", "--state", str(tmp_path / "gw")]) == 0
    with open_database(url) as database:
        assert [p.current for p in key_history(database, "checkpoint", ORIGIN)] == [True]
    with Ledger.open(url, tmp_path / "gw", ORIGIN) as ledger:
        new = ledger.verifier_key
    with open_database(url) as database:
        periods = key_history(database, "checkpoint", ORIGIN)
    assert [(p.public_key, p.current) for p in periods] == [(old, False), (new, True)]
    assert periods[0].valid_until == periods[1].valid_from
