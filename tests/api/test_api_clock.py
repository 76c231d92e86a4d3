"""Readings whose device clock went backwards: one rule (``farmtrace.chain.clock``) for the
audit, the API's reading JSON and bundle, the cold-chain series and the consumer's page."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from support.api import GTIN, LOT, ORIGIN, Served, lot_body
from support.readings import BASE_TIME_MS, SimDevice

from farmtrace.api.services.coldchain import Sample, assess, product_class
from farmtrace.api.services.lots.series import lot_series
from farmtrace.api.services.lots.store import LotRecord, LotStore
from farmtrace.api.services.page.model import (
    ConditionView,
    Localized,
    ProductPage,
    VerificationInfo,
)
from farmtrace.api.services.page.render import render_page
from farmtrace.audit.devices import device_summaries
from farmtrace.chain.clock import CLOCK_TOLERANCE_MS, went_backwards
from farmtrace.store.audit_reads import AuditReads
from farmtrace.store.database import Database
from farmtrace.store.ledger import Ledger
from farmtrace.store.lots import Anchor, LotEntry, Lots, StageRecord
from farmtrace.store.models import Base
from farmtrace.store.records import PendingReading
from farmtrace.wire.protocol import Measurement, Reading, sign

ENTRIES = Base.metadata.tables["entries"]


def signed(dev: SimDevice, seq: int, ts_ms: int, value: float = 4.0) -> PendingReading:
    """``dev``'s reading ``seq`` stamped ``ts_ms`` (whatever its clock says)."""
    reading = Reading(
        dev.device_id,
        seq,
        ts_ms,
        "farm-1/cold-room",
        "LOT-1",
        (Measurement("Temperature", value, "CEL"),),
    )
    return PendingReading(dev.device_id, seq, ts_ms, sign(reading, dev.key), ts_ms / 1000 + 0.05)


def reference(stream: list[tuple[int, int]]) -> set[int]:
    """The rule, plainly: seqs stamped more than 1 s before the previous stored seq's stamp."""
    ordered = sorted(stream)
    return {b[0] for a, b in itertools.pairwise(ordered) if b[1] < a[1] - 1000}


def test_the_rule_and_its_tolerance() -> None:
    assert CLOCK_TOLERANCE_MS == 1000
    assert not went_backwards(None, 0)
    assert not went_backwards(10_000, 9_000)  # exactly the tolerance: jitter
    assert went_backwards(10_000, 8_999)
    assert not went_backwards(10_000, 10_000) and not went_backwards(10_000, 50_000)


# -- the API over a served chain (SQLite and PostgreSQL) ---------------------------------------

# Appended after the fixture's seqs 1-20 (stamped BASE + seq s) of dev-0000..dev-0002.
LATE = {
    0: [(21, 10_500), (22, 22_000)],  # 21 goes back 9.5 s; 22 is later than 21
    1: [(21, 19_000), (22, 17_999)],  # 21 exactly 1 s back (not flagged); 22 1.001 s back
    2: [(23, 5_250)],  # after a gap: compared with seq 20, the previous stored one
}


@pytest.fixture
def skewed(served_on_both: Served) -> tuple[Served, set[tuple[str, int]]]:
    served = served_on_both
    late = [
        signed(served.devices[d], s, BASE_TIME_MS + ms)
        for d, pairs in LATE.items()
        for s, ms in pairs
    ]
    with Ledger.open(served.db_url, served.tmp / "gw", ORIGIN) as ledger:
        ledger.append_batch(late)
    devs = served.devices
    return served, {(devs[0].device_id, 21), (devs[1].device_id, 22), (devs[2].device_id, 23)}


def stored(served: Served) -> dict[int, tuple[str, int]]:
    engine = served.client.app.state.farmtrace.database.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        rows = conn.execute(
            select(ENTRIES.c.global_index, ENTRIES.c.device_id, ENTRIES.c.seq).where(
                ENTRIES.c.kind == "reading"
            )
        )
        return {int(i): (str(d), int(s)) for i, d, s in rows}


def test_reading_json_flags_and_agrees_with_the_audit(
    skewed: tuple[Served, set[tuple[str, int]]],
) -> None:
    served, expected = skewed
    readings = stored(served)
    assert len(readings) == 65
    flagged = set()
    for index, key in readings.items():
        body = served.client.get(f"/v1/readings/{index}").json()
        assert isinstance(body["clock_backwards"], bool)
        if body["clock_backwards"]:
            flagged.add(key)
    assert flagged == expected
    engine = served.client.app.state.farmtrace.database.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        summaries = device_summaries(AuditReads(conn, served.db_url))
    audit = {(d.device_id, s) for d in summaries for s in d.clock_backwards_at}
    assert audit == expected


def test_bundle_flags_against_the_reading_before_the_window(
    skewed: tuple[Served, set[tuple[str, int]]],
) -> None:
    served, expected = skewed
    readings = stored(served)
    bundle = served.client.get(f"/v1/lots/{GTIN}/{LOT}/bundle").json()
    assert len(bundle["readings"]) == 65
    flags = {readings[r["global_index"]]: r["clock_backwards"] for r in bundle["readings"]}
    assert {k for k, v in flags.items() if v} == expected

    # A lot whose window holds only dev-0000's seq 21: still judged against seq 20 (outside).
    body = lot_body([served.devices[0].device_id])
    body["lot"] = "LOT-2"
    body["stages"][0] |= {"start": "2024-06-10T06:13:30.500Z", "end": "2024-06-10T06:13:30.900Z"}  # type: ignore[index]
    auth = {"Authorization": f"Bearer {served.key}"}
    assert served.client.post("/v1/lots", json=body, headers=auth).status_code == 201
    held = served.client.get(f"/v1/lots/{GTIN}/LOT-2/bundle").json()["readings"]
    # The bundle also holds the readings that bound its series (complete series, bundle.md).
    only = [r for r in held if not r.get("boundary")]
    assert [(readings[r["global_index"]], r["clock_backwards"]) for r in only] == [
        ((served.devices[0].device_id, 21), True)
    ]


def test_page_says_so_in_both_languages(skewed: tuple[Served, set[tuple[str, int]]]) -> None:
    served, _ = skewed
    path = f"/01/{GTIN}/10/{LOT}"
    english = served.client.get(path, headers={"Accept": "text/html"}).text
    assert english.count('<p class="note clock">') == 3
    assert english.count("The sensor&#x27;s clock went backwards at 1 reading.") == 3
    chinese = served.client.get(
        path, headers={"Accept": "text/html", "Accept-Language": "zh-CN"}
    ).text
    assert chinese.count("传感器时钟在 1 条读数处回拨") == 3


# -- the SQL lookup against the plain rule ------------------------------------------------------


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Ledger, LotStore]]:
    tmp: Path = tmp_path_factory.mktemp("clock")
    with Ledger.open(f"sqlite:///{tmp / 'clock.db'}", tmp / "gw", ORIGIN) as opened:
        yield opened, LotStore(Lots(Database(opened.engine)), Ed25519PrivateKey.generate())


_names = itertools.count()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(st.tuples(st.integers(1, 3), st.integers(-2500, 2500)), min_size=1, max_size=15),
    bounds=st.tuples(st.integers(-5, 40), st.integers(0, 40)),
)
def test_lot_flags_and_audit_match_the_plain_rule(
    ledger: tuple[Ledger, LotStore], steps: list[tuple[int, int]], bounds: tuple[int, int]
) -> None:
    chain, store = ledger
    dev = SimDevice.make(f"clock-{next(_names):05d}")
    chain.register_devices({dev.device_id: dev.public_key})
    seq, ts, stream = 0, BASE_TIME_MS, []
    for seq_step, ts_step in steps:
        seq, ts = seq + seq_step, ts + ts_step
        stream.append((seq, ts))
    # Stored out of seq order, across two blocks: the lookup must not depend on either.
    half = len(stream) // 2
    chain.append_batch([signed(dev, s, t) for s, t in stream[half:]])
    if stream[:half]:
        chain.append_batch([signed(dev, s, t) for s, t in stream[:half]])
    expected = reference(stream)

    start = BASE_TIME_MS + bounds[0] * 1000
    end = start + bounds[1] * 1000
    stage = StageRecord("room", "Room", start, end, (dev.device_id,))
    record = LotRecord(1, GTIN, "L", "p", "lettuce", "f", "r", (stage,), ())
    got = {e.seq: e.clock_backwards for e in store.readings(record)}
    assert got == {s: s in expected for s, t in stream if start <= t <= end}

    with chain.engine.connect() as conn:
        summaries = device_summaries(AuditReads(conn, "clock.db"))
    (mine,) = [d for d in summaries if d.device_id == dev.device_id]
    assert mine.clock_backwards_at == sorted(expected)


# -- cold chain: series stay in time order, durations add up ------------------------------------


def entries(stream: list[tuple[int, int, float]], flagged: set[int]) -> list[LotEntry]:
    """Lot entries of one device as :meth:`LotStore.readings` orders them."""
    dev = SimDevice.make("dev-cold")
    found = [
        LotEntry(
            Anchor(ORIGIN, seq),
            dev.device_id,
            ts,
            signed(dev, seq, ts, v).payload,
            "Room",
            seq,
            seq in flagged,
        )
        for seq, ts, v in stream
    ]
    return sorted(found, key=lambda e: (e.timestamp_ms, e.device_id, e.seq))


def test_a_clock_going_back_never_makes_a_negative_duration() -> None:
    minute = 60_000
    # Every minute; at seq 6 the clock goes back 3.5 minutes (into an excursion) and stays off.
    values = [2.0, 2.0, 9.0, 9.0, 9.0, 2.0, 2.0, 9.0, 2.0, 2.0]
    times = [i * minute for i in range(5)] + [(i - 3.5) * minute for i in range(5, 10)]
    stream = [(i + 1, int(t), v) for i, (t, v) in enumerate(zip(times, values, strict=True))]
    assert reference([(s, t) for s, t, _ in stream]) == {6}
    (series,) = lot_series(entries(stream, {6}))
    assert series.clock_backwards == 1
    samples = series.samples
    assert all(a.time_ms < b.time_ms for a, b in itertools.pairwise(samples))
    assert sorted((s.time_ms, s.value) for s in samples) == sorted((t, v) for _, t, v in stream)
    rule = product_class("lettuce").require("Temperature")
    judged = assess(samples, rule)
    assert all(e.duration_ms >= 0 for e in judged.excursions)
    assert all(g.duration_ms >= 0 for g in judged.gaps)
    assert judged.span_ms == samples[-1].time_ms - samples[0].time_ms
    assert judged.outside_ms == sum(e.duration_ms for e in judged.excursions) > 0
    assert judged.gap_ms == sum(g.duration_ms for g in judged.gaps)
    assert judged.in_band_ms > 0


def test_a_repeated_time_keeps_the_earlier_seq() -> None:
    # Seq 4 goes back onto seq 2's time: seq 2's value stands; seq 4 is not shown, not counted.
    stream = [(1, 0, 2.0), (2, 60_000, 3.0), (3, 120_000, 2.5), (4, 60_000, 9.0)]
    (series,) = lot_series(entries(stream, {4}))
    assert series.samples == (Sample(0, 2.0), Sample(60_000, 3.0), Sample(120_000, 2.5))
    assert series.clock_backwards == 0


# -- the page's note ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "lang", "text"),
    [
        (0, "en", None),
        (1, "en", "The sensor&#x27;s clock went backwards at 1 reading. It is shown as signed"),
        (3, "en", "The sensor&#x27;s clock went backwards at 3 readings. They are shown as signed"),
        (2, "zh", "传感器时钟在 2 条读数处回拨"),
    ],
)
def test_page_note(count: int, lang: str, text: str | None) -> None:
    samples = [Sample(i * 60_000, 2.0) for i in range(5)]
    rule = product_class("lettuce").require("Temperature")
    cond = ConditionView.build("Temperature", "CEL", samples, rule, clock_backwards=count)
    page = ProductPage(
        name=Localized("Lettuce"),
        gtin=GTIN,
        lot="L1",
        digital_link=f"https://id.gs1.org/01/{GTIN}/10/L1",
        verification=VerificationInfo("/b", "k+1+A", "/checkpoint"),
        conditions=(cond,),
    )
    html = render_page(page, "zh" if lang == "zh" else "en")
    if text is None:
        assert 'class="note clock"' not in html
    else:
        assert html.count('<p class="note clock">') == 1 and text in html
        assert "<script>" not in html
