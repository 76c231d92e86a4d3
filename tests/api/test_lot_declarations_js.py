"""Lot declarations in both verifiers on bundles the API serves: a revised lot (two versions,
pending, then anchored), every declared field changed, versions removed, reordered or relinked,
and a broken signature are judged by the Python reference first; ``page/bundle.js`` must reach
the same verdict with the same first failure, word for word
(``tests/js/page_bundle.test.mjs``, run by :func:`test_page_bundle_js.run_node`)."""

from __future__ import annotations

import base64
import copy
import json
import os
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest
from make_declaration_vectors import field_tampers, shown_lot, versions
from support.api import GTIN, LOT, ORIGIN, Served, lot_body
from test_js_verifier import REPO_ROOT, require_node
from test_page_bundle_js import fetch, flip_b64, python_verdict, run_node

from farmtrace.api.services.lots.declaration import (
    DeclarationError,
    decode,
    first_difference,
    sign_declaration,
)
from farmtrace.store.ledger import Ledger

pytestmark = pytest.mark.slow  # runs node

Bundle = dict[str, Any]


def revise(served: Served) -> None:
    body = lot_body([d.device_id for d in served.devices])
    body |= {"origin_region": "Weifang, Shandong", "pack_date": "2024-06-11"}
    body["stages"][0]["place_id"] = "urn:epc:id:sgln:9506000.00001.1"  # type: ignore[index]
    auth = {"Authorization": f"Bearer {served.key}"}
    response = served.client.put(f"/v1/lots/{GTIN}/{LOT}", json=body, headers=auth)
    assert response.status_code == 200, response.text


def chain_cases(served: Served, bundle: Bundle) -> dict[str, Bundle]:
    v1, v2 = bundle["declarations"]
    newest = decode(base64.b64decode(v2["entry"]))
    key = served.client.app.state.farmtrace.lots.key  # type: ignore[attr-defined]
    relinked = dict(newest.body, previous={"version": 1, "entry_sha256": "A" * 43 + "="})
    stray = sign_declaration(newest.seq, newest.time_ms, relinked, key)
    stray_item = {"status": "pending-anchoring", "entry": base64.b64encode(stray.payload).decode()}
    flipped = dict(v2, entry=flip_b64(v2["entry"], -1))
    body_byte = dict(v1, entry=flip_b64(v1["entry"], -80))
    lost = dict(v2, status="lost")
    return {
        "declaration v1 removed": dict(bundle, declarations=[v2]),
        "declaration v2 removed": dict(bundle, declarations=[v1]),
        "declarations reordered": dict(bundle, declarations=[v2, v1]),
        "declaration v2 relinked": dict(bundle, declarations=[v1, stray_item]),
        "declaration signature byte": dict(bundle, declarations=[v1, flipped]),
        "declaration body byte": dict(bundle, declarations=[body_byte, v2]),
        "declaration status": dict(bundle, declarations=[v1, lost]),
        "no declarations": dict(bundle, declarations=[]),
        "declarations missing": {k: v for k, v in bundle.items() if k != "declarations"},
    }


def test_js_and_python_agree_on_lot_declarations(served: Served) -> None:
    revise(served)
    pending = fetch(served)
    with Ledger.open(served.db_url, served.tmp / "gw", ORIGIN) as ledger:
        assert ledger.append_batch([]).block is not None
    anchored = fetch(served)
    assert [d["status"] for d in anchored["declarations"]] == ["anchored", "anchored"]
    bundles: dict[str, Bundle] = {"revised, pending": pending, "revised, anchored": anchored}
    for path, lot, _want in field_tampers(anchored["lot"], 2):
        bundles[f"{path} changed"] = dict(copy.deepcopy(anchored), lot=lot)
    bundles |= chain_cases(served, anchored)
    proof = copy.deepcopy(anchored)
    proof["declarations"][1]["inclusion_proof"][0] = flip_b64(
        proof["declarations"][1]["inclusion_proof"][0], 0
    )
    bundles["declaration inclusion hash"] = proof
    cases = [
        {"name": name, "bundle": bundle, "vkey": served.ledger_vkey}
        for name, bundle in bundles.items()
    ]
    for case in cases:
        case["want"] = python_verdict(case["bundle"], case["vkey"])
    assert cases[0]["want"]["ok"] and cases[0]["want"]["declarations_pending"] == 2
    assert cases[1]["want"]["ok"] and cases[1]["want"]["declarations"] == 2
    failing = [c for c in cases[2:] if c["want"]["ok"]]
    assert not failing, [c["name"] for c in failing]
    named = [c for c in cases if c["name"].startswith("lot.")]
    assert all(c["want"]["first"].startswith(c["name"].split(" ")[0] + " ") for c in named)
    run_node(cases, served.tmp)


_TIME_PARTS = (
    ["0000", "0001", "1969", "1970", "2024", "9999"],
    ["00", "01", "02", "06", "12", "13"],
    ["00", "01", "10", "28", "29", "30", "31", "32"],
    ["00", "06", "23", "24"],
    ["00", "13", "59", "60"],
    ["00", "20", "59", "60"],
    ["", ".", ".5", ".000", ".123", ".1234", ".123000", ".123001", ".1230000"],
    ["Z", "z", "+00:00", "-00:00", "+08:00", "-03:30", "+23:59", "+24:00", "+0800", ""],
)
_VALUES: list[Any] = [None, 0, 1, True, "", "x", [], ["a"], {}, {"a": 1}, 1.5]


def _time(rng: random.Random) -> str:
    y, mo, d, h, mi, s, frac, tz = (rng.choice(part) for part in _TIME_PARTS)
    sep = rng.choice(["T", "T", "T", "t", " "])
    return f"{y}-{mo}-{d}{sep}{h}:{mi}:{s}{frac}{tz}"


def _shifted(value: str, rng: random.Random) -> str:
    """The same instant as the declared ``value`` in another offset's spelling."""
    from datetime import datetime, timedelta, timezone

    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    offset = timedelta(minutes=rng.choice([-720, -210, 0, 60, 480, 845]))
    return moment.astimezone(timezone(offset)).isoformat()


def comparison_cases(rng: random.Random, count: int) -> tuple[str, list[dict[str, Any]]]:
    """The hex of a declaration and bundle ``lot`` objects with random values, each with the
    reference's verdict."""
    declaration = versions()[1]
    base = shown_lot(declaration.lot)
    cases = []
    for n in range(count):
        lot = copy.deepcopy(base)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(declaration.lot["stages"]))
            declared_stage = declaration.lot["stages"][i]
            stages = lot["stages"]
            ok = isinstance(stages, list) and i < len(stages) and isinstance(stages[i], dict)
            stage = stages[i] if ok else None
            where = rng.choice(
                ["start", "end", "start-same", "end-same", "value", "details", "key"]
            )
            if where in ("start", "end") and stage is not None:
                stage[where] = _time(rng)
            elif where.endswith("-same") and stage is not None:
                key = where.removesuffix("-same")
                if declared_stage[key] is not None:
                    stage[key] = _shifted(declared_stage[key], rng)
            elif where == "value":
                key = rng.choice(["gtin", "farm", "harvest_date", "pack_date", "stages"])
                lot[key] = rng.choice(_VALUES)
            elif where == "details":
                key = rng.choice(list(lot["details"]))
                lot["details"][key] = rng.choice([*_VALUES, lot["details"][key]])
            elif where == "key":
                lot[rng.choice(["organic", "details_extra"])] = "x"
        cases.append({"name": f"case {n}", "lot": lot, "want": first_difference(lot, declaration)})
    return declaration.payload.hex(), cases


def entry_cases() -> list[dict[str, Any]]:
    """Every byte of a declaration entry changed to a few values, and whether it decodes."""
    payload = versions()[0].payload
    cases = []
    for i in range(len(payload)):
        for value in {payload[i] ^ 0x01, payload[i] ^ 0x20, 0x00, 0x22, 0x5C, 0x7F, 0xFF}:
            changed = payload[:i] + bytes([value]) + payload[i + 1 :]
            try:
                decode(changed)
                ok = True
            except DeclarationError:
                ok = False
            cases.append({"name": f"byte {i} = {value:#04x}", "hex": changed.hex(), "ok": ok})
    return cases


def test_js_and_python_agree_on_fresh_declaration_cases(tmp_path: Path) -> None:
    node = require_node()
    declaration_hex, comparisons = comparison_cases(random.Random(12), 3000)
    entries = entry_cases()
    wants = {c["want"] is None for c in comparisons}
    assert wants == {True, False}, "the cases hold equal and differing lots"
    assert {c["ok"] for c in entries} == {True, False}
    path = tmp_path / "declaration-cases.json"
    data = {"declaration_hex": declaration_hex, "comparisons": comparisons, "entries": entries}
    path.write_text(json.dumps(data))
    done = subprocess.run(
        [node, "--test", "tests/js/declaration_cross.test.mjs"],
        cwd=REPO_ROOT,
        env={**os.environ, "DECLARATION_CASES": str(path)},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "# pass 2" in done.stdout and "# skipped 0" in done.stdout, done.stdout[-2000:]
