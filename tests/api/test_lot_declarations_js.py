"""Lot declarations in both verifiers on bundles the API serves: a revised lot (two versions,
pending, then anchored), every declared field changed, versions removed, reordered or relinked,
and a broken signature are judged by the Python reference first; ``page/bundle.js`` must reach
the same verdict with the same first failure, word for word
(``tests/js/page_bundle.test.mjs``, run by :func:`test_page_bundle_js.run_node`)."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest
from make_declaration_vectors import field_tampers
from support.api import GTIN, LOT, ORIGIN, Served, lot_body
from test_page_bundle_js import fetch, flip_b64, python_verdict, run_node

from farmtrace.api.services.lots.declaration import decode, sign_declaration
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
