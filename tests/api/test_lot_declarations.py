"""Lot declarations end to end: creating a lot signs version 1, ``PUT`` signs the next version,
the bundle carries every version, and ``farmtrace verify`` fails on any changed fact (naming the
field), a removed, reordered or relinked version, or a broken signature."""

from __future__ import annotations

import base64
import copy
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from make_declaration_vectors import field_tampers
from support.api import GTIN, LOT, ORIGIN, Served, lot_body

from farmtrace.api.auth import create_key
from farmtrace.api.main import create_app
from farmtrace.api.schemas.lots import LotCreate
from farmtrace.api.services.lots.declaration import (
    chain_problem,
    decode,
    entry_sha256,
    sign_declaration,
)
from farmtrace.api.services.lots.store import LotStore
from farmtrace.api.services.verify import BundleError, verify_bundle
from farmtrace.api.settings import Settings
from farmtrace.cli import main
from farmtrace.store.database import open_database
from farmtrace.store.ledger import Ledger
from farmtrace.store.lots import Lots, NewLot, StageRecord

Bundle = dict[str, Any]
URL = f"/v1/lots/{GTIN}/{LOT}"


@pytest.fixture
def served(served_on_both: Served) -> Served:
    """These tests run on SQLite and on PostgreSQL."""
    return served_on_both


def auth(served: Served) -> dict[str, str]:
    return {"Authorization": f"Bearer {served.key}"}


def revised_body(served: Served) -> dict[str, Any]:
    body = lot_body([d.device_id for d in served.devices])
    body["origin_region"] = "Weifang, Shandong"
    body["harvest_date"] = "2024-06-10"
    body["stages"][0]["end"] = "2024-06-10T06:13:30Z"
    body["stages"][0]["place_id"] = "urn:epc:id:sgln:9506000.00001.1"
    return body


def bundle_of(served: Served) -> Bundle:
    response = served.client.get(f"{URL}/bundle")
    assert response.status_code == 200, response.text
    bundle: Bundle = response.json()
    return bundle


def verdict(served: Served, bundle: Bundle) -> str | None:
    """``None`` if the bundle verifies, else the first failure."""
    try:
        verify_bundle(json.dumps(bundle).encode(), [served.ledger_vkey], say=lambda _: None)
    except BundleError as exc:
        return str(exc)
    return None


def revise(served: Served) -> None:
    response = served.client.put(URL, json=revised_body(served), headers=auth(served))
    assert response.status_code == 200, response.text


def test_creating_a_lot_signs_version_1(served: Served) -> None:
    bundle = bundle_of(served)
    [item] = bundle["declarations"]
    assert item["status"] == "pending-anchoring"
    entry = decode(base64.b64decode(item["entry"]))
    assert entry.version == 1 and entry.previous is None
    assert entry.signer in bundle["event_keys"]
    assert entry.lot["origin_region"] == "Shouguang, Shandong"
    assert entry.lot["stages"][0]["start"] == "2024-06-10T06:13:20.000Z"
    assert verdict(served, bundle) is None


def test_a_revision_names_the_version_before_and_becomes_the_lots_facts(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    revise(served)
    lot = served.client.get(URL).json()
    assert lot["origin_region"] == "Weifang, Shandong" and lot["harvest_date"] == "2024-06-10"
    assert lot["stages"][0]["place_id"] == "urn:epc:id:sgln:9506000.00001.1"
    bundle = bundle_of(served)
    v1, v2 = (decode(base64.b64decode(d["entry"])) for d in bundle["declarations"])
    assert v2.version == 2
    assert v2.previous == {"version": 1, "entry_sha256": entry_sha256(v1.payload)}
    assert v2.seq > v1.seq  # one counter per signer, shared with its events
    # The narrower window holds fewer readings: the lot's readings follow its newest facts.
    assert 0 < len([r for r in bundle["readings"] if not r.get("boundary")]) < 60
    path = served.tmp / "revised.json"
    path.write_text(json.dumps(bundle))
    assert main(["verify", str(path), "--key", served.ledger_vkey]) == 0
    assert "lot declaration v2" in capsys.readouterr().out


def test_declarations_are_anchored_by_the_next_block(served: Served) -> None:
    revise(served)
    with Ledger.open(served.db_url, served.tmp / "gw", ORIGIN) as ledger:
        assert ledger.append_batch([]).block is not None
    bundle = bundle_of(served)
    assert [d["status"] for d in bundle["declarations"]] == ["anchored", "anchored"]
    assert all(d["inclusion_proof"] is not None for d in bundle["declarations"])
    assert verdict(served, bundle) is None
    entry = served.client.get(f"/v1/readings/{bundle['declarations'][0]['global_index']}").json()
    assert entry["kind"] == "lot-declaration"
    assert main(["audit", "--db", served.db_url, "--state", str(served.tmp / "gw")]) == 0
    # An anchored version's proof is checked: a wrong hash in it fails its inclusion.
    broken = copy.deepcopy(bundle)
    proof = broken["declarations"][1]["inclusion_proof"]
    proof[0] = base64.b64encode(bytes(32)).decode()
    assert "batch inclusion proof does not match" in str(verdict(served, broken))


def test_every_declared_field_changed_in_the_bundle_is_named(served: Served) -> None:
    revise(served)
    bundle = bundle_of(served)
    assert verdict(served, bundle) is None
    tampers = list(field_tampers(bundle["lot"], 2))
    # 8 facts of the lot, 5 of its details, 6 of each stage.
    assert len(tampers) == 8 + 5 + 6 * len(bundle["lot"]["stages"])
    for path, lot, want in tampers:
        changed = dict(bundle, lot=lot)
        assert verdict(served, changed) == want, path


def test_removed_reordered_and_relinked_versions_fail(served: Served) -> None:
    revise(served)
    bundle = bundle_of(served)
    v1, v2 = bundle["declarations"]
    chain = "lot declaration: "
    cases = {
        "v1 removed": ([v2], f"{chain}declaration 0 is version 2, expected version 1"),
        "reordered": ([v2, v1], f"{chain}declaration 0 is version 2, expected version 1"),
        "v2 removed": ([v1], "lot.origin_region differs from declaration v1"),
        "none": ([], "bundle: no lot declaration (the lot's facts are not signed)"),
    }
    key = served.client.app.state.farmtrace.lots.key  # type: ignore[attr-defined]
    newest = decode(base64.b64decode(v2["entry"]))
    other = dict(newest.body, previous={"version": 1, "entry_sha256": entry_sha256(b"another")})
    relinked = sign_declaration(newest.seq, newest.time_ms, other, key)
    cases["relinked"] = (
        [v1, {"status": "pending-anchoring", "entry": base64.b64encode(relinked.payload).decode()}],
        "lot declaration: declaration v2 does not name v1 as its previous",
    )
    for name, (versions, want) in cases.items():
        assert verdict(served, dict(bundle, declarations=versions)) == want, name


def test_a_broken_declaration_signature_is_named(served: Served) -> None:
    bundle = bundle_of(served)
    raw = bytearray(base64.b64decode(bundle["declarations"][0]["entry"]))
    raw[-1] ^= 0x01
    bundle["declarations"][0]["entry"] = base64.b64encode(bytes(raw)).decode()
    failure = str(verdict(served, bundle))
    assert failure.startswith("declaration 0 (v1 by farmtrace-api.")
    assert failure.endswith("signature does not verify with the bundle's event key")
    # A changed byte in the body breaks the signature (or the canonical form) too.
    raw[-1] ^= 0x01
    raw[-70] ^= 0x01
    bundle["declarations"][0]["entry"] = base64.b64encode(bytes(raw)).decode()
    assert str(verdict(served, bundle)).startswith("declaration 0")


def test_revising_needs_the_lots_write_scope_and_a_matching_body(served: Served) -> None:
    body = revised_body(served)
    assert served.client.put(URL, json=body).status_code == 401
    events_only = create_key(served.client.app.state.farmtrace.database, "ev", ["events:write"])  # type: ignore[attr-defined]
    denied = served.client.put(URL, json=body, headers={"Authorization": f"Bearer {events_only}"})
    assert denied.status_code == 403 and "lots:write" in denied.json()["detail"]
    other = served.client.put(f"/v1/lots/{GTIN}/LOT-9", json=body, headers=auth(served))
    assert other.status_code == 400 and "must be the lot's in the path" in other.json()["detail"]
    missing = served.client.put(
        f"/v1/lots/{GTIN}/LOT-9", json=body | {"lot": "LOT-9"}, headers=auth(served)
    )
    assert missing.status_code == 404
    unknown = served.client.put(URL, json=body | {"product_class": "kale"}, headers=auth(served))
    assert unknown.status_code == 400 and "unknown product class" in unknown.json()["detail"]
    # Nothing was changed or signed by the refused requests.
    assert served.client.get(URL).json()["origin_region"] == "Shouguang, Shandong"
    assert len(bundle_of(served)["declarations"]) == 1


def test_a_declaration_too_large_to_sign_stores_nothing(served: Served) -> None:
    device = "urn:epc:id:giai:4012345." + "D" * 80
    body = lot_body([f"{device}{i:02d}" for i in range(64)]) | {"lot": "LOT-BIG"}
    body["stages"] = [dict(body["stages"][0], name=f"Room {i}") for i in range(64)]  # type: ignore[index]
    response = served.client.post("/v1/lots", json=body, headers=auth(served))
    assert response.status_code == 400 and "more than 65536" in response.json()["detail"]
    assert served.client.get(f"/v1/lots/{GTIN}/LOT-BIG").status_code == 404
    # The next declaration still gets the signer's next number (no hole, nothing half-stored).
    served.client.put(URL, json=revised_body(served), headers=auth(served))
    v1, v2 = (decode(base64.b64decode(d["entry"])) for d in bundle_of(served)["declarations"])
    assert v2.seq == v1.seq + 1


def test_a_lot_from_before_declarations_gets_version_1_when_revised(
    served: Served, tmp_path: Path
) -> None:
    database = open_database(served.db_url)
    try:
        Lots(database).create(
            NewLot(
                GTIN,
                "OLD-1",
                "Lettuce",
                "lettuce",
                "Greenacre",
                "Shouguang",
                "{}",
                (StageRecord("room", "Cold room 1", 1718000000000, None, ()),),
            )
        )
    finally:
        database.close()
    old = f"/v1/lots/{GTIN}/OLD-1"
    bundle = served.client.get(f"{old}/bundle").json()
    assert bundle["declarations"] == []
    assert verdict(served, bundle) == "bundle: no lot declaration (the lot's facts are not signed)"
    body = lot_body([]) | {"lot": "OLD-1"}
    assert served.client.put(old, json=body, headers=auth(served)).status_code == 200
    bundle = served.client.get(f"{old}/bundle").json()
    assert [decode(base64.b64decode(d["entry"])).version for d in bundle["declarations"]] == [1]
    assert verdict(served, bundle) is None


def test_the_page_says_what_is_checked_and_when_facts_were_revised(served: Served) -> None:
    page = f"/01/{GTIN}/10/{LOT}"
    before = served.client.get(page, headers={"Accept": "text/html"}).text
    assert "Weifang" not in before and "Details revised" not in before
    assert "signed it and anchored it on the chain" in before
    assert "not changed later" not in before
    revise(served)
    after = served.client.get(page, headers={"Accept": "text/html"}).text
    assert "Weifang, Shandong" in after and "Details revised on" in after
    zh = served.client.get(f"{page}?lang=zh", headers={"Accept": "text/html"}).text
    assert "信息修订于" in zh and "新的签名版本" in zh and "录入后未被修改" not in zh


def test_a_repeated_revision_signs_nothing_new(served: Served) -> None:
    revise(served)
    revise(served)
    assert len(bundle_of(served)["declarations"]) == 2


@pytest.mark.parametrize("writers", [2])
def test_concurrent_revisions_from_separate_processes_form_one_chain(
    served: Served, writers: int
) -> None:
    """Each writer has its own store (as separate API processes would): the lot's row lock,
    taken first, orders their revisions, so every version names the one before."""
    key = served.client.app.state.farmtrace.lots.key  # type: ignore[attr-defined]
    databases = [open_database(served.db_url) for _ in range(writers)]
    stores = [LotStore(Lots(db), key) for db in databases]
    errors: list[BaseException] = []

    def write(store: LotStore, name: str) -> None:
        try:
            for i in range(4):
                body = LotCreate.model_validate(lot_body([]) | {"farm": f"{name} {i}"})
                assert store.revise(body, GTIN) is not None
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [
        threading.Thread(target=write, args=(store, f"writer {n}"))
        for n, store in enumerate(stores)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    record = stores[0].get(GTIN, LOT)
    for db in databases:
        db.close()
    assert not errors, errors
    assert record is not None
    versions = [d.entry for d in record.declarations]
    assert [v.version for v in versions] == list(range(1, 2 + 4 * writers))
    assert chain_problem(versions) is None
    assert len({v.seq for v in versions}) == len(versions)
    assert verdict(served, bundle_of(served)) is None


def test_a_revision_after_the_event_key_rotated_names_the_older_version(served: Served) -> None:
    """Version 1 signed by the retired key, version 2 by the new one: the bundle carries each
    signer's key (the key history, as for events) and the chain holds across the rotation."""
    served.client.__exit__(None, None, None)  # the API stops before its key is rotated
    state = served.tmp / "api"
    assert main(["keys", "rotate-event", "--state", str(state), "--db", served.db_url]) == 0
    settings = Settings(db_url=served.db_url, state_dir=state, rate_per_s=1000, rate_burst=1000)
    with TestClient(create_app(settings)) as client:
        body = revised_body(served)
        response = client.put(URL, json=body, headers=auth(served))
        assert response.status_code == 200, response.text
        bundle: Bundle = client.get(f"{URL}/bundle").json()
    v1, v2 = (decode(base64.b64decode(d["entry"])) for d in bundle["declarations"])
    assert v1.signer != v2.signer and set(bundle["event_keys"]) == {v1.signer, v2.signer}
    assert v2.previous == {"version": 1, "entry_sha256": entry_sha256(v1.payload)}
    assert verdict(served, bundle) is None
