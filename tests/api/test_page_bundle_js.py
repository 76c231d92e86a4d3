"""The page's bundle verifier (farmtrace/api/web/static/page/bundle.js) against bundles the API serves.

Bundles come from the real code path (a ledger with signed readings, a lot, its events, the
bundle route); mutations of them are judged by the Python reference ``farmtrace.api.services.verify`` first, and
``node --test tests/js/page_bundle.test.mjs`` must reach the same verdict and report the same
first failure, word for word.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.api import GTIN, LOT, Served
from support.tamper import alter_reading_value
from test_js_verifier import REPO_ROOT, require_node

from farmtrace.api.services.verify import BundleError, verify_bundle
from farmtrace.tlog.note import Signer

pytestmark = pytest.mark.slow  # runs node

EVENT = {
    "kind": "harvest",
    "time": "2024-06-10T14:13:00+08:00",
    "read_point": "urn:epc:id:sgln:9506000.00001.0",
    "actor": "Li Wei",
}
Bundle = dict[str, Any]


def fetch(served: Served) -> Bundle:
    response = served.client.get(f"/v1/lots/{GTIN}/{LOT}/bundle")
    assert response.status_code == 200, response.text
    bundle: Bundle = response.json()
    return bundle


def flip_b64(value: str, index: int) -> str:
    raw = bytearray(base64.b64decode(value))
    raw[index % len(raw)] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def python_verdict(bundle: Bundle | str, vkey: str) -> dict[str, Any]:
    data = bundle.encode() if isinstance(bundle, str) else json.dumps(bundle).encode()
    try:
        report = verify_bundle(data, [vkey], say=lambda _line: None)
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


def mutations(served: Served) -> dict[str, Callable[[Bundle], Bundle | str]]:
    def change(fn: Callable[[Bundle], None]) -> Callable[[Bundle], Bundle]:
        def apply(bundle: Bundle) -> Bundle:
            copied = copy.deepcopy(bundle)
            fn(copied)
            return copied

        return apply

    def swap(b: Bundle) -> None:
        r = b["readings"]
        r[0]["entry"], r[1]["entry"] = r[1]["entry"], r[0]["entry"]

    def set_(path: list[Any], value: Any) -> Callable[[Bundle], None]:
        def fn(b: Bundle) -> None:
            target = b
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value

        return fn

    def edit(path: list[Any], how: Callable[[Any], Any]) -> Callable[[Bundle], None]:
        def fn(b: Bundle) -> None:
            target = b
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = how(target[path[-1]])

        return fn

    device = sorted(fetch(served)["device_keys"])[0]
    return {
        "swapped entries": change(swap),
        "reading signature byte": change(edit(["readings", 7, "entry"], lambda v: flip_b64(v, -1))),
        "reading value byte": change(edit(["readings", 3, "entry"], lambda v: flip_b64(v, -65))),
        "reading not base64": change(set_(["readings", 2, "entry"], "%%%")),
        "reading truncated": change(
            edit(
                ["readings", 2, "entry"],
                lambda v: base64.b64encode(base64.b64decode(v)[:40]).decode(),
            )
        ),
        "inclusion hash": change(
            edit(["readings", 5, "inclusion_proof", 0], lambda v: flip_b64(v, 0))
        ),
        "inclusion proof shortened": change(
            edit(["readings", 5, "inclusion_proof"], lambda v: v[:-1])
        ),
        "index in block": change(edit(["readings", 4, "index_in_block"], lambda v: v + 1)),
        "global index": change(edit(["readings", 4, "global_index"], lambda v: v + 1)),
        "block height claim": change(edit(["readings", 4, "block_height"], lambda v: v + 7)),
        "device key": change(set_(["device_keys", device], base64.b64encode(bytes(32)).decode())),
        "device key missing": change(
            edit(["device_keys"], lambda v: {k: x for k, x in v.items() if k != device})
        ),
        "block time": change(
            edit(["blocks", 1, "header"], lambda v: v.replace("time 1", "time 2", 1))
        ),
        "block header malformed": change(
            edit(["blocks", 1, "header"], lambda v: v.replace("size ", "size 0", 1))
        ),
        "block height": change(edit(["blocks", 1, "height"], lambda v: v + 1)),
        "tlog proof hash": change(
            edit(
                ["blocks", 0, "tlog_proof"],
                lambda v: v.replace("index 0\n", "index 0\n" + "A" * 43 + "=\n", 1),
            )
        ),
        "tlog proof index": change(
            edit(["blocks", 2, "tlog_proof"], lambda v: v.replace("index 2\n", "index 1\n", 1))
        ),
        "checkpoint root": change(
            edit(["chains", 0, "checkpoint"], lambda v: v.replace("\n", "\n ", 1))
        ),
        "checkpoint signature": change(
            edit(
                ["chains", 0, "checkpoint"],
                lambda v: v[:-6] + ("A" if v[-6] != "A" else "B") + v[-5:],
            )
        ),
        "format unknown": change(set_(["format"], "farmtrace-bundle/v9")),
        "format v1, before declarations and series": change(
            set_(["format"], "farmtrace-bundle/v1")
        ),
        "event byte": change(edit(["events", 0, "entry"], lambda v: flip_b64(v, 30))),
        "event status": change(set_(["events", 0, "status"], "lost")),
        "event key": change(
            edit(["event_keys"], lambda v: {k: base64.b64encode(bytes(32)).decode() for k in v})
        ),
        "no readings": change(set_(["readings"], [])),
        "not json": lambda b: json.dumps(b)[:-1],
    }


def run_node(cases: list[dict[str, Any]], tmp: Path) -> None:
    node = require_node()
    path = tmp / "page-bundle-cases.json"
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


def test_js_and_python_agree_on_served_bundles(served: Served) -> None:
    auth = {"Authorization": f"Bearer {served.key}"}
    plain = fetch(served)
    assert (
        served.client.post(f"/v1/lots/{GTIN}/{LOT}/events", json=EVENT, headers=auth).status_code
        == 201
    )
    with_event = fetch(served)
    other_key = Signer.generate("farmtrace.example/api-test").verifier.vkey
    cases: list[dict[str, Any]] = [
        {"name": "good, no events", "bundle": plain, "vkey": served.ledger_vkey},
        {"name": "good, one event pending", "bundle": with_event, "vkey": served.ledger_vkey},
        {"name": "another key", "bundle": with_event, "vkey": other_key},
    ]
    for name, mutate in mutations(served).items():
        cases.append({"name": name, "bundle": mutate(with_event), "vkey": served.ledger_vkey})
    for case in cases:
        case["want"] = python_verdict(case["bundle"], case["vkey"])
    assert cases[0]["want"] == {
        "ok": True,
        "readings": 60,
        "events": 0,
        "pending": 0,
        "declarations": 0,
        "declarations_pending": 1,
    }
    assert cases[1]["want"]["pending"] == 1
    by_name = {c["name"]: c["want"] for c in cases}
    assert by_name["format v1, before declarations and series"]["first"].endswith(
        "it proves neither the lot's facts nor complete series; download the lot's bundle again"
    )
    # Every mutation fails, "no readings" too: the bundle no longer proves its series complete.
    assert sum(not c["want"]["ok"] for c in cases) == len(cases) - 2, [
        c["name"] for c in cases[3:] if c["want"]["ok"]
    ]
    run_node(cases, served.tmp)


def test_altered_stored_reading_is_named_by_js(served: Served) -> None:
    alter_reading_value(served.db_url, 25)
    bundle = fetch(served)
    want = python_verdict(bundle, served.ledger_vkey)
    assert not want["ok"] and want["first"].startswith("reading 25 (device ")
    run_node(
        [
            {
                "name": "altered in the database",
                "bundle": bundle,
                "vkey": served.ledger_vkey,
                "want": want,
            }
        ],
        served.tmp,
    )
