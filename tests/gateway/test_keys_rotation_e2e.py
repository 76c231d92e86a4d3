"""Rotating the checkpoint key of a real gateway, twice: every old checkpoint still verifies.

A ``farmtrace gateway`` process takes readings over Mosquitto into SQLite, is stopped, its key
rotated with ``farmtrace keys rotate``, restarted, fed again, stopped, rotated again, restarted
and fed once more. Then: the audit is clean; each stored checkpoint verifies with exactly the
key that signed it; each hand-over checkpoint carries both signatures and names the new key;
the API keeps serving the old notes; ``farmtrace verify`` accepts the bundle made before a
rotation with the key of its time and the bundle made after with the new key; the page lists
the older keys for its badge, and the browser's verifier (node) agrees with the Python one.
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select
from support.ingest import (
    GATEWAY_BROKER_SETTINGS,
    NOW_MS,
    GatewayProcess,
    Publisher,
    StoredView,
    farmtrace,
    make_device,
    reading_topic,
    signed,
    wait_for,
    write_keys,
)
from support.mosquitto import Mosquitto
from test_js_verifier import REPO_ROOT, require_node

from farmtrace.api.auth import create_key
from farmtrace.api.main import create_app
from farmtrace.api.services.verify import BundleError, verify_bundle
from farmtrace.api.settings import Settings
from farmtrace.chain.rotation import rotation_successor
from farmtrace.store.engine import normalize_url
from farmtrace.store.models import Base
from farmtrace.tlog.checkpoint import open_checkpoint
from farmtrace.tlog.errors import UnverifiedNote
from farmtrace.tlog.note import Note, Signer, Verifier

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ORIGIN = "farmtrace.example/rotating"
GTIN, LOT = "09506000134352", "LOT-ROT"
DEVICES = [make_device(f"ROT-{i}") for i in range(3)]
ROUNDS = 3
PER_ROUND = 12  # readings per device and round, sent in two halves (two blocks or more)
CHECKPOINTS = Base.metadata.tables["checkpoints"]


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def lot_body() -> dict[str, Any]:
    return {
        "gtin": GTIN,
        "lot": LOT,
        "product_name": "Butterhead lettuce",
        "product_class": "lettuce",
        "farm": "Greenacre",
        "origin_region": "Shouguang",
        "stages": [
            {
                "kind": "room",
                "name": "Cold room 1",
                "start": iso(NOW_MS - 120_000),
                "end": iso(NOW_MS + 3_600_000),
                "device_ids": [d.device_id for d in DEVICES],
            }
        ],
    }


def feed(gateway: GatewayProcess, broker: Mosquitto, stored: StoredView, round_: int) -> None:
    """One gateway run: start, two halves of readings each waited for, stop."""
    gateway.start().wait_connected()
    publisher = Publisher(broker.host, broker.port, client_id=f"rot-pub-{round_}")
    try:
        first = round_ * PER_ROUND + 1
        for seqs in (range(first, first + 6), range(first + 6, first + PER_ROUND)):
            publisher.publish([(reading_topic(d), signed(d, s)) for s in seqs for d in DEVICES])
            count = len(DEVICES) * (seqs.stop - 1)
            wait_for(lambda c=count: stored.reading_count() == c, 60, f"{count} readings")
    finally:
        publisher.close()
        assert gateway.stop() == 0, gateway.log()[-3000:]


def stored_notes(db_url: str) -> list[str]:
    engine = create_engine(normalize_url(db_url))
    with engine.connect() as conn:
        rows = conn.execute(select(CHECKPOINTS.c.note).order_by(CHECKPOINTS.c.size)).all()
    engine.dispose()
    return [note for (note,) in rows]


def key_refs(note: str) -> list[str]:
    return [f"{s.name}+{s.key_id:08x}" for s in Note.parse(note).signatures]


def ref(vkey: str) -> str:
    return "+".join(vkey.split("+")[:2])


def verdict(bundle: dict[str, Any], vkeys: list[str]) -> dict[str, Any]:
    try:
        report = verify_bundle(json.dumps(bundle).encode(), vkeys, say=lambda _line: None)
    except BundleError as error:
        return {"ok": False, "first": str(error)}
    return {
        "ok": True,
        "readings": report.readings,
        "events": report.events,
        "pending": report.pending,
        "declarations": report.declarations,
        "declarations_pending": report.declarations_pending,
    }


def test_two_rotations_of_a_running_chain_keep_every_checkpoint_verifiable(
    mosquitto_factory: Any, tmp_path: Path
) -> None:
    broker: Mosquitto = mosquitto_factory(extra=GATEWAY_BROKER_SETTINGS)
    db = f"sqlite:///{tmp_path / 'farmtrace.db'}"
    state = tmp_path / "state"
    keys_file = write_keys(tmp_path / "keys.json", {d.device_id: d.public_key for d in DEVICES})
    farmtrace("devices", "import", str(keys_file), "--db", db)
    gateway = GatewayProcess(
        broker.url, db, state, extra=["--batch-age", "0.1", "--origin", ORIGIN]
    )
    stored = StoredView(db)
    app = create_app(
        Settings(db_url=db, state_dir=tmp_path / "api", rate_per_s=1000, rate_burst=1000)
    )
    api_key = create_key(app.state.farmtrace.database, "rotation-test", ["lots:write"])
    vkeys: list[str] = []
    bundles: list[dict[str, Any]] = []
    sizes: list[int] = []  # chain-log size after each round
    try:
        with TestClient(app) as client:
            for round_ in range(ROUNDS):
                feed(gateway, broker, stored, round_)
                if round_ == 0:
                    vkeys.append(farmtrace("keys", "show", "--state", str(state)).stdout.strip())
                    auth = {"Authorization": f"Bearer {api_key}"}
                    made = client.post("/v1/lots", json=lot_body(), headers=auth)
                    assert made.status_code == 201, made.text
                response = client.get(f"/v1/lots/{GTIN}/{LOT}/bundle")
                assert response.status_code == 200, response.text
                bundles.append(response.json())
                sizes.append(len(stored_notes(db)))
                if round_ < ROUNDS - 1:
                    rotated = farmtrace("keys", "rotate", "--state", str(state)).stdout.split()
                    assert rotated[:2] == ["old", vkeys[-1]] and rotated[2] == "new"
                    vkeys.append(rotated[3])
            # While a gateway runs, the key cannot be rotated under it.
            gateway.start().wait_connected()
            try:
                refused = farmtrace("keys", "rotate", "--state", str(state), check=False)
                assert refused.returncode == 2 and "stop the gateway" in refused.stderr
            finally:
                assert gateway.stop() == 0
            notes = stored_notes(db)
            served = [client.get(f"/v1/checkpoints/{n}").text for n in range(1, len(notes) + 1)]
            latest = client.get("/checkpoint").text
            chains = client.get("/v1/chains").json()
            page = client.get(f"/01/{GTIN}/10/{LOT}", headers={"Accept": "text/html"}).text
    finally:
        stored.close()

    # Every reading stored once; the audit recomputes everything and is clean.
    assert stored.seqs() == {d.device_id: list(range(1, ROUNDS * PER_ROUND + 1)) for d in DEVICES}
    audit = farmtrace("audit", "--db", db, "--state", str(state), "--json")
    assert json.loads(audit.stdout)["checkpoints"] == len(notes) == sizes[-1]

    # Each checkpoint verifies with the key that signed it; the first of each new key is the
    # hand-over, signed by both and naming the new key; the API serves the notes as stored.
    keys = [Verifier.from_vkey(v) for v in vkeys]
    assert served == notes and latest == notes[-1]
    for size, note in enumerate(notes, start=1):
        epoch = sum(size > s for s in sizes[:-1])
        handover = epoch > 0 and size == sizes[epoch - 1] + 1
        want = [ref(vkeys[epoch]), ref(vkeys[epoch - 1])] if handover else [ref(vkeys[epoch])]
        assert key_refs(note) == want, size
        body = open_checkpoint(note, [keys[epoch]], ORIGIN).checkpoint
        successor = rotation_successor(body)
        assert (successor.vkey if successor else None) == (vkeys[epoch] if handover else None)
        if handover:
            assert open_checkpoint(note, [keys[epoch - 1]], ORIGIN).checkpoint == body
        for other in keys:
            if ref(other.vkey) not in want:
                with pytest.raises(UnverifiedNote):
                    open_checkpoint(note, [other], ORIGIN)

    # The API lists every key; the page's badge gets the current one and the older ones.
    assert [c["verifier_keys"] for c in chains] == [vkeys]
    assert f'data-verifier-key="{vkeys[-1]}"' in page
    assert f'data-retired-keys="{" ".join(vkeys[:-1])}"' in page

    # Bundles: the one made before the first rotation verifies with the key of its time and
    # not with the newest; the last one (old readings included) with the newest key, and with
    # the oldest key too, by following the two hand-overs it carries.
    readings = len(DEVICES) * PER_ROUND
    last = bundles[-1]
    assert [c["key_handovers"] for c in last["chains"]] == [[notes[s] for s in sizes[:-1]]]
    assert bundles[0]["chains"][0]["key_handovers"] == []
    for bundle, round_ in ((bundles[0], 0), (last, ROUNDS - 1)):
        assert verdict(bundle, [vkeys[round_]])["readings"] == readings * (round_ + 1)
        path = tmp_path / f"bundle-{round_}.json"
        path.write_text(json.dumps(bundle))
        ok = farmtrace("verify", str(path), "--key", vkeys[round_])
        assert "signature verifies with the given key" in ok.stdout
        both = farmtrace("verify", str(path), "--key", vkeys[0], "--key", vkeys[-1])
        assert both.returncode == 0
    refused = farmtrace("verify", str(tmp_path / "bundle-0.json"), "--key", vkeys[-1], check=False)
    assert refused.returncode != 0 and ref(vkeys[0]) in refused.stderr + refused.stdout
    followed = farmtrace("verify", str(tmp_path / f"bundle-{ROUNDS - 1}.json"), "--key", vkeys[0])
    assert followed.stdout.count("key hand-over of") == 2, followed.stdout

    # The browser's verifier reaches the same verdicts: with the keys the page gives it, with
    # the oldest key through the hand-overs, and on hand-overs that must not be followed.
    def handovers(notes_: Any) -> dict[str, Any]:
        changed = json.loads(json.dumps(last))
        changed["chains"][0]["key_handovers"] = notes_
        return changed

    first = last["chains"][0]["key_handovers"][0]
    text, _, signatures = first.partition("\n\n")
    attacker = Signer.generate(ORIGIN)  # signs an old checkpoint the old key signed too
    forged = notes[0] + attacker.sign(Note.parse(notes[0]).text).line()
    badge_keys = [vkeys[-1], *vkeys[:-1]]
    cases = [
        ("before rotation, page keys", bundles[0], badge_keys, ""),
        ("after rotations, page keys", last, badge_keys, ""),
        ("after rotations, oldest key", last, [vkeys[0]], ""),
        ("after rotations, middle key", last, [vkeys[1]], ""),
        ("before rotation, newest key", bundles[0], [vkeys[-1]], "no signature from a known key"),
        ("no hand-overs, oldest key", handovers([]), [vkeys[0]], "no signature from a known key"),
        (
            "hand-over without the new key's signature",
            handovers([f"{text}\n\n{signatures.split(chr(10), 1)[1]}"]),
            [vkeys[0]],
            "key hand-over 0 of chain farmtrace.example/rotating: not signed by the key it names",
        ),
        (
            "hand-over text altered",
            handovers([first.replace("farmtrace/key-rotation", "farmtrace/key-rotatioN")]),
            [vkeys[0]],
            f"key hand-over 0 of chain {ORIGIN}: invalid signature for key {ref(vkeys[0])}",
        ),
        (
            "old checkpoint with a signature appended",
            handovers([forged]),
            [vkeys[0]],
            f"key hand-over 0 of chain {ORIGIN}: names no successor key",
        ),
        ("hand-overs not a list", handovers("x"), [vkeys[0]], "malformed field 'key_handovers'"),
    ]
    node_cases = []
    for name, bundle, keys_, failure in cases:
        want = verdict(bundle, keys_)
        assert want["ok"] is (failure == "") and failure in want.get("first", ""), (name, want)
        node_cases.append({"name": name, "bundle": bundle, "vkey": keys_, "want": want})
    run_node(node_cases, tmp_path)


def run_node(cases: list[dict[str, Any]], tmp: Path) -> None:
    """``tests/js/page_bundle.test.mjs`` on ``cases`` (see tests/api/test_page_bundle_js.py)."""
    node = require_node()
    path = tmp / "rotation-cases.json"
    path.write_text(json.dumps({"cases": cases}))
    done = subprocess.run(
        [node, "--test", "tests/js/page_bundle.test.mjs"],
        cwd=REPO_ROOT,
        env={**os.environ, "PAGE_BUNDLE_CASES": str(path)},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert f"# pass {len(cases) + 1}" in done.stdout, done.stdout[-3000:]
