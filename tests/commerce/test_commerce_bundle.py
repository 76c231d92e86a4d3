"""Campaign and coupon bundles over a real chain: they verify offline, and every tampering
fails ``farmtrace verify`` naming the item (``docs/commerce.md``, "Bundles")."""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.commerce_chain import (
    Anchored,
    anchor,
    failed_history,
    funded_history,
    seal_pending,
    seed_key,
    store_history,
    verify,
)
from support.fast import examples
from support.tamper import delete_rows, flip_byte, update_row

from farmtrace.api.services.commerce_bundle import (
    assemble_bundle,
    build_campaign_bundle,
    build_coupon_bundle,
)
from farmtrace.api.services.verify import BundleError, verify_bundle
from farmtrace.api.settings import Settings
from farmtrace.api.state import AppState
from farmtrace.cli import main
from farmtrace.commerce.entries import (
    Totals,
    decode_statement,
    farm_signer,
    sign_campaign_entry,
)
from farmtrace.commerce.errors import CommerceError

Bundle = dict[str, Any]


@pytest.fixture(scope="module")
def funded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Anchored]:
    """One chain for the module: each test builds its own bundle from it."""
    tmp_path = tmp_path_factory.mktemp("funded")
    anchored = anchor(funded_history(), f"sqlite:///{tmp_path}/db.sqlite", tmp_path)
    yield anchored
    anchored.state.database.close()


def test_campaign_bundle_verifies_and_recounts_the_caps(funded: Anchored) -> None:
    report = verify(funded.bundle(), funded.vkey)
    summary = report.commerce
    assert summary is not None and summary.coupon is None
    assert (summary.entries, summary.status, summary.transfers) == (6, "funded", 3)
    assert summary.totals == Totals(4, 1, 0)
    assert (summary.cap, summary.harvested, summary.covered) == (10, 20, 4)
    assert (summary.anchored, summary.pending) == (9, 0)
    assert summary.head == funded.history.entries[-1].state
    assert any("an entry 7 may exist beyond it" in line for line in report.lines)
    assert any("caps recounted: issued 4 of cap 10" in line for line in report.lines)


def test_coupon_bundle_names_the_coupon_its_holder_and_its_chain(funded: Anchored) -> None:
    f = funded.history.farm
    bundle = funded.bundle(coupon=f.coupon(1))
    # Coupon 1's two transfers; coupon 3 is still active, so its transfer is left out.
    assert len(bundle["moves"]) == 2
    coupon = verify(bundle, funded.vkey).commerce
    assert coupon is not None and coupon.coupon is not None
    c = coupon.coupon
    assert (c.coupon, c.status, c.moves) == (f.coupon(1), "redeemed", 3)
    assert [kind for kind, _, _ in c.history] == ["issue", "transfer", "transfer", "redeem"]
    assert all(anchored for _, _, anchored in c.history)
    assert c.state == funded.history.entries[-1].state
    bob = funded.history.keys["bob"].public_key().public_bytes_raw()
    assert c.holder == bob.hex()
    moved = verify(funded.bundle(coupon=f.coupon(3)), funded.vkey).commerce
    assert moved is not None and moved.coupon is not None
    carol = funded.history.keys["carol"].public_key().public_bytes_raw()
    assert (moved.coupon.status, moved.coupon.holder) == ("active", carol.hex())


def test_a_coupon_the_bundle_never_issued_is_named(funded: Anchored) -> None:
    bundle = funded.bundle(coupon=funded.history.farm.coupon(9))
    with pytest.raises(BundleError, match="coupon 06141410000129: the bundle holds no entry"):
        verify(bundle, funded.vkey)


def test_pending_entries_are_reported_as_pending_not_proven(tmp_path: Path) -> None:
    anchored = anchor(failed_history(), f"sqlite:///{tmp_path}/db.sqlite", tmp_path, unanchored=2)
    try:
        bundle = anchored.bundle()
        statuses = [item["status"] for item in bundle["entries"]]
        assert statuses == ["anchored"] * 4 + ["pending-anchoring"] * 2
        assert set(bundle["entries"][-1]) == {"status", "entry"}
        summary = verify(bundle, anchored.vkey).commerce
        assert summary is not None
        assert (summary.status, summary.anchored, summary.pending) == ("closed", 4, 2)
        assert summary.totals == Totals(2, 0, 2)
        # A pending item is not proven: one that claims a place must prove it.
        bundle["entries"][-1]["status"] = "anchored"
        with pytest.raises(BundleError, match=r"campaign entry 6 \(closed\).*'origin'"):
            verify(bundle, anchored.vkey)
    finally:
        anchored.state.database.close()


def _entry(bundle: Bundle, i: int) -> bytes:
    return base64.b64decode(bundle["entries"][i]["entry"])


def _set_entry(bundle: Bundle, i: int, payload: bytes, key: str = "entries") -> None:
    bundle[key][i]["entry"] = base64.b64encode(payload).decode()


def _flip_signature(bundle: Bundle, _: Anchored | None = None) -> None:
    payload = bytearray(_entry(bundle, 1))
    payload[-1] ^= 0x01
    _set_entry(bundle, 1, bytes(payload))


def _resign_more_coupons(bundle: Bundle, anchored: Anchored) -> None:
    """The farm rewrites issue entry 2 with a larger count and signs it again."""
    entry = anchored.history.entries[1]
    body = copy.deepcopy(entry.body)
    body["count"] = 3
    body["totals"]["issued"] = 3
    forged = sign_campaign_entry(entry.seq, entry.time_ms, body, anchored.history.farm.key)
    _set_entry(bundle, 1, forged.payload)


def _drop(bundle: Bundle, _: Anchored | None = None) -> None:
    del bundle["entries"][3]


def _reorder(bundle: Bundle, _: Anchored | None = None) -> None:
    entries = bundle["entries"]
    entries[1], entries[2] = entries[2], entries[1]


def _other_farm_key(bundle: Bundle, _: Anchored | None = None) -> None:
    other = seed_key(42).public_key().public_bytes_raw()
    bundle["farm_keys"] = {farm_signer(other): base64.b64encode(other).decode()}


def _wrong_key_under_the_signer(bundle: Bundle, _: Anchored | None = None) -> None:
    other = seed_key(42).public_key().public_bytes_raw()
    (signer,) = bundle["farm_keys"]
    bundle["farm_keys"] = {signer: base64.b64encode(other).decode()}


def _transfer_signature(bundle: Bundle, _: Anchored | None = None) -> None:
    payload = bytearray(base64.b64decode(bundle["moves"][0]["entry"]))
    payload[-1] ^= 0x01
    _set_entry(bundle, 0, bytes(payload), "moves")


def _drop_transfer(bundle: Bundle, _: Anchored | None = None) -> None:
    del bundle["moves"][0]


def _other_campaign(bundle: Bundle, _: Anchored | None = None) -> None:
    bundle["campaign"] = "0614141000029"


def _checkpoint(bundle: Bundle, _: Anchored | None = None) -> None:
    chain = bundle["chains"][0]
    chain["checkpoint"] = chain["checkpoint"].replace("\n3\n", "\n4\n", 1)


CASES: list[tuple[str, Callable[[Bundle, Anchored], None], str]] = [
        ("entry signature altered", _flip_signature,
         r"^campaign entry 2 \(issue\) at entries\[1\]: signature does not verify"),
        ("entry rewritten and signed again", _resign_more_coupons,
         r"^campaign entry 2 \(issue\) at entries\[1\]: not in block 0"),
        ("entry dropped", _drop,
         r"^campaign entry 5 \(harvested\): expected campaign entry 4 next"),
        ("entries reordered", _reorder,
         r"^campaign entry 3 \(issue\): expected campaign entry 2 next"),
        ("farm key swapped", _other_farm_key,
         r"^campaign entry 1 \(open\) at entries\[0\]: the bundle has no farm key for its signer"),
        ("farm key swapped under the farm's signer", _wrong_key_under_the_signer,
         r"^farm key of farm\.[0-9a-f]{16}: not the key that signer names"),
        ("transfer signature altered", _transfer_signature,
         r"^transfer of coupon 06141410000121 move 1 at moves\[0\]: not in block"),
        ("transfer left out", _drop_transfer,
         r"^campaign entry 6 \(redeem\): spends state [0-9a-f]{64} of coupon 06141410000121, "
         r"not its head"),
        ("other campaign named", _other_campaign,
         r"^campaign entry 1 \(open\): opens campaign 0614141000012, not 0614141000029"
         r"|^bundle: coupon 06141410000121 is not of campaign 0614141000029"),
        ("checkpoint altered", _checkpoint, r"^checkpoint of chain farmtrace\.example/commerce-test"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "tamper", "want"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("coupon", [None, 1], ids=["campaign", "coupon"])
def test_tampering_fails_naming_the_item(
    funded: Anchored,
    name: str,
    tamper: Callable[[Bundle, Anchored], None],
    want: str,
    coupon: int | None,
) -> None:
    bundle = funded.bundle(None if coupon is None else funded.history.farm.coupon(coupon))
    verify(bundle, funded.vkey)
    tamper(bundle, funded)
    with pytest.raises(BundleError, match=want):
        verify(bundle, funded.vkey)


def test_a_forged_transfer_on_the_chain_is_named(tmp_path: Path) -> None:
    """The chain orders whatever it is given: a transfer signed by someone other than the
    holder, anchored, fails the replay."""
    anchored = anchor(funded_history(forged=True), f"sqlite:///{tmp_path}/db.sqlite", tmp_path)
    try:
        with pytest.raises(
            BundleError,
            match=r"^transfer of coupon 06141410000122 move 1: not signed by the holder of coupon",
        ):
            verify(anchored.bundle(), anchored.vkey)
    finally:
        anchored.state.database.close()


def test_an_over_cap_issue_on_the_chain_is_named(tmp_path: Path) -> None:
    anchored = anchor(funded_history(over_cap=True), f"sqlite:///{tmp_path}/db.sqlite", tmp_path)
    try:
        for coupon in (None, anchored.history.farm.coupon(1)):
            with pytest.raises(
                BundleError,
                match=r"^campaign entry 5 \(issue\): issues coupons past the cap: 11 > 10",
            ):
                verify(anchored.bundle(coupon), anchored.vkey)
    finally:
        anchored.state.database.close()


def test_a_bundle_without_its_open_entry_is_named(funded: Anchored) -> None:
    bundle = funded.bundle()
    del bundle["entries"][0]
    with pytest.raises(BundleError, match=r"must start with campaign entry 1 \(open\)"):
        verify(bundle, funded.vkey)
    bundle["entries"] = []
    with pytest.raises(BundleError, match="no campaign entries"):
        verify(bundle, funded.vkey)


def test_a_stored_entry_that_does_not_decode_reaches_the_verifier(funded: Anchored) -> None:
    h = funded.history
    held = [funded.held(e) for e in h.entries]
    broken = held[2].payload[:-70] + held[2].payload[-64:]
    held[2] = type(held[2])(broken, None)
    bundle = assemble_bundle(funded.state, h.farm.terms.campaign, held, [])
    with pytest.raises(BundleError, match=r"^entries\[2\]: campaign entry does not decode"):
        verify(bundle, funded.vkey)


@pytest.mark.slow
@pytest.mark.parametrize("coupon", [None, 1], ids=["campaign", "coupon"])
def test_farmtrace_verify_command(
    funded: Anchored, tmp_path: Path, capsys: pytest.CaptureFixture[str], coupon: int | None
) -> None:
    named = None if coupon is None else funded.history.farm.coupon(coupon)
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(funded.bundle(named)))
    assert main(["verify", str(path), "--key", funded.vkey]) == 0
    out = capsys.readouterr().out
    kind = "campaign" if coupon is None else "coupon"
    assert f"{kind} bundle verifies: campaign 0614141000012 funded, entries 1..6" in out
    assert "issued 4/10, redeemed 1, voided 0, outstanding 3" in out
    if named is not None:
        assert f"coupon {named} redeemed, holder " in out
    bundle = json.loads(path.read_text())
    _drop(bundle)
    path.write_text(json.dumps(bundle))
    assert main(["verify", str(path), "--key", funded.vkey]) == 1
    assert "FAIL  campaign entry 5 (harvested): expected campaign entry 4 next" in (
        capsys.readouterr().out
    )


@pytest.mark.slow
def test_bundles_built_from_the_store(tmp_path: Path) -> None:
    """What the API serves: the store's campaign written as the API writes it, pending until a
    gateway seals it, then anchored; both bundles verify, and unknown names are refused."""
    db_url = f"sqlite:///{tmp_path}/db.sqlite"
    history = funded_history()
    f = history.farm
    state = AppState.open(Settings(db_url=db_url, state_dir=tmp_path / "api"))
    try:
        store_history(history, state.database)
        pending = build_campaign_bundle(state, f.terms.campaign)
        assert (pending["chains"], pending["blocks"]) == ([], [])
        assert {i["status"] for i in pending["entries"] + pending["moves"]} == {"pending-anchoring"}
        vkey = seal_pending(db_url, tmp_path)
        summary = verify(pending, vkey).commerce
        assert summary is not None and (summary.anchored, summary.pending) == (0, 9)
        bundle = build_campaign_bundle(state, f.terms.campaign)
        assert [base64.b64decode(i["entry"]) for i in bundle["entries"]] == [
            e.payload for e in history.entries
        ]
        summary = verify(bundle, vkey).commerce
        assert summary is not None
        assert (summary.entries, summary.anchored, summary.pending) == (6, 9, 0)
        assert summary.totals == Totals(4, 1, 0)
        coupon = build_coupon_bundle(state, f.coupon(1))
        assert len(coupon["moves"]) == 2
        found = verify(coupon, vkey).commerce
        assert found is not None and found.coupon is not None
        assert (found.coupon.status, found.coupon.moves) == ("redeemed", 3)
        for call, name, kind in (
            (build_campaign_bundle, "0614141000029", "not-found"),
            (build_campaign_bundle, "0614141000013", "invalid"),
            (build_coupon_bundle, f.coupon(11), "not-found"),
            (build_coupon_bundle, "06141410000290", "invalid"),
            (build_coupon_bundle, "06141410000291", "not-found"),
        ):
            with pytest.raises(CommerceError) as caught:
                call(state, name)
            assert caught.value.kind == kind, name
    finally:
        state.database.close()


@pytest.mark.slow
def test_rows_altered_in_the_database_reach_the_verifier(tmp_path: Path) -> None:
    """Someone with write access to the database: a campaign entry's stored chain bytes altered,
    a transfer deleted. A bundle built by an API process started after the change serves what is
    stored, and the verifier names the item. (A process that already proved an entry keeps the
    bytes it checked against the sealed root: it goes on serving the true entry.)"""
    db_url = f"sqlite:///{tmp_path}/db.sqlite"
    history = funded_history()
    gcn = history.farm.terms.campaign

    def bundle_now() -> Bundle:
        state = AppState.open(Settings(db_url=db_url, state_dir=tmp_path / "api"))
        try:
            return build_campaign_bundle(state, gcn)
        finally:
            state.database.close()

    state = AppState.open(Settings(db_url=db_url, state_dir=tmp_path / "api"))
    try:
        store_history(history, state.database)
    finally:
        state.database.close()
    vkey = seal_pending(db_url, tmp_path)
    verify(bundle_now(), vkey)
    index = bundle_now()["entries"][2]["global_index"]
    altered = flip_byte(history.entries[2].payload, len(history.entries[2].payload) - 1)
    assert update_row(db_url, "entries", {"global_index": index}, {"payload": altered}) == 1
    with pytest.raises(
        BundleError,
        match=r"^campaign entry 3 \(issue\) at entries\[2\]: signature does not verify",
    ):
        verify(bundle_now(), vkey)
    restored = {"payload": history.entries[2].payload}
    assert update_row(db_url, "entries", {"global_index": index}, restored) == 1
    verify(bundle_now(), vkey)
    where = "serial = 1 AND move = 1"
    assert delete_rows(db_url, "coupon_moves", where, {}) == 1
    with pytest.raises(
        BundleError, match=r"^campaign entry 6 \(redeem\): spends state [0-9a-f]{64} of coupon"
    ):
        verify(bundle_now(), vkey)


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _leaves(v, (*path, k))] + [path]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _leaves(v, (*path, i))] + [path]
    return [path]


def _set(bundle: Bundle, path: tuple[Any, ...], value: Any) -> None:
    target: Any = bundle
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)


@pytest.mark.slow
@settings(max_examples=examples(300), deadline=None)
@given(data=st.data())
def test_any_mutation_fails_as_a_bundle_error_or_passes(
    funded: Anchored, data: st.DataObject
) -> None:
    """Whatever is changed, ``farmtrace verify`` answers with a verdict, never a crash."""
    coupon = data.draw(st.sampled_from([None, funded.history.farm.coupon(1)]))
    bundle = funded.bundle(coupon)
    if data.draw(st.booleans()):
        key = data.draw(st.sampled_from(["entries", "moves"]))
        i = data.draw(st.integers(0, len(bundle[key]) - 1))
        payload = bytearray(base64.b64decode(bundle[key][i]["entry"]))
        at = data.draw(st.integers(0, len(payload) - 1))
        payload[at] ^= data.draw(st.integers(1, 255))
        _set_entry(bundle, i, bytes(payload), key)
    else:
        paths = [p for p in _leaves(bundle) if p]
        _set(bundle, data.draw(st.sampled_from(paths)), data.draw(JSON_VALUES))
    with contextlib.suppress(BundleError):
        verify(bundle, funded.vkey)


def test_a_deeply_nested_body_is_a_bundle_error(funded: Anchored) -> None:
    bundle = funded.bundle()
    entry = funded.history.entries[1]
    nested = b"[" * 100_000 + b"]" * 100_000
    head = entry.signed_bytes[: 3 + 16 + 1 + len(entry.signer)]
    signed = head + struct.pack(">I", len(nested)) + nested
    _set_entry(bundle, 1, signed + funded.history.farm.key.sign(signed))
    with pytest.raises(BundleError, match=r"^entries\[1\]: campaign entry does not decode"):
        verify(bundle, funded.vkey)
    with pytest.raises(BundleError, match="bundle is not JSON"):
        verify_bundle(b"[" * 100_000, [funded.vkey])
    # The same framing serves holder statements the API decodes from anyone: a refusal, not a crash.
    move = funded.history.moves[0]
    head = move.signed_bytes[: 3 + 16 + 1 + len("coupon.") + len(move.coupon)]
    signed = head + struct.pack(">I", len(nested)) + nested
    with pytest.raises(CommerceError, match="not valid ASCII/JSON"):
        decode_statement(signed + bytes(64))
