"""A sample lot for previews and render tests: ``python -m farmtrace.api.services.page.sample OUT.html [en|zh]``.

The series are generated from a fixed seed (a cold room's compressor sawtooth, door openings, a
defrost cycle that overshoots, a dropout), not measured; the API never shows this data.
"""

from __future__ import annotations

import math
import random
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from farmtrace.api.services.coldchain import Sample, product_class
from farmtrace.api.services.page.model import (
    Anchoring,
    ConditionView,
    EventKind,
    Farm,
    Lang,
    Localized,
    ProductPage,
    ScanPlace,
    ScanStats,
    StageView,
    TimelineEvent,
    VerificationInfo,
)
from farmtrace.api.services.page.render import render_page

__all__ = ["sample_page"]

START = datetime(2026, 11, 18, 22, 0, tzinfo=UTC)
STEP_MS = 120_000
VKEY = "farmtrace.example/gw-1+1a2b3c4d+AT1AF8PoQ4lakrcKp00bfrycmCzPLsSWjMDNVfEq9GYM"


def _series(hours: int, seed: int) -> tuple[list[Sample], list[Sample]]:
    rng = random.Random(seed)
    t0 = round(START.timestamp() * 1000)
    temps: list[Sample] = []
    hums: list[Sample] = []
    for i in range(hours * 3600_000 // STEP_MS):
        minute = i * STEP_MS / 60_000
        if 1800 <= minute < 1890:
            continue  # a 90-minute dropout of the uplink
        temp = 1.2 + 0.5 * ((minute % 24) / 24 - 0.5) + rng.gauss(0, 0.08)
        for door in (610.0, 1330.0, 2150.0):
            if 0 <= minute - door < 14:
                temp += 2.6 * math.exp(-(minute - door) / 5)
        if 0 <= minute - 960 < 40:  # a defrost cycle that overshoots past the limit
            temp += 3.8 * math.sin(math.pi * (minute - 960) / 40)
        hum = 96.0 - 1.5 * math.sin(minute / 180) + rng.gauss(0, 0.4)
        if 0 <= minute - 960 < 40:
            hum -= 5
        ms = t0 + i * STEP_MS
        temps.append(Sample(ms, round(temp, 2)))
        hums.append(Sample(ms, round(min(hum, 100.0), 1)))
    return temps, hums


def sample_page(*, hostile: str | None = None) -> ProductPage:
    """A lettuce lot kept 46 h in a cold room; ``hostile`` replaces the free-text fields."""
    lettuce = product_class("lettuce")
    temps, hums = _series(46, seed=7)
    room = hostile or "Cold room 2, Shouguang packhouse"
    conditions = (
        ConditionView.build(
            "Temperature", "CEL", temps, lettuce.require("Temperature"), place=room
        ),
        ConditionView.build(
            "RelativeHumidity", "P1", hums, lettuce.require("RelativeHumidity"), place=room
        ),
    )

    def at(hours: float) -> datetime:
        return START + timedelta(hours=hours)

    actor = hostile or "Greenfield Co-operative"
    events = (
        TimelineEvent(EventKind.HARVEST, at(-3), "Field 4, Greenfield farm", actor, Anchoring.ANCHORED),
        TimelineEvent(EventKind.COOLING, at(-1.5), "Vacuum cooler, packhouse", actor, Anchoring.ANCHORED,
                      detail="Core temperature 22 °C to 2 °C in 25 minutes"),
        TimelineEvent(EventKind.PACKING, at(-0.5), "Packhouse line 1", actor, Anchoring.ANCHORED),
        TimelineEvent(EventKind.STORAGE, at(0), room, actor, Anchoring.ANCHORED),
        TimelineEvent(EventKind.SHIPPING, at(46), "Reefer truck 鲁B-12345", "Cold Express Logistics",
                      Anchoring.ANCHORED),
        TimelineEvent(EventKind.RECEIVING, at(53), "FreshMart DC, Qingdao", "FreshMart",
                      Anchoring.PENDING),
    )  # fmt: skip
    return ProductPage(
        name=Localized(hostile or "Butterhead lettuce", None if hostile else "奶油生菜"),
        gtin="06901234567892",
        lot=hostile or "LOT-2026-1119",
        digital_link="https://id.farmtrace.example/01/06901234567892/10/LOT-2026-1119",
        verification=VerificationInfo(
            bundle_url="/v1/lots/06901234567892/LOT-2026-1119/bundle",
            verifier_key=VKEY,
            checkpoint_url="/checkpoint",
            readings=len(temps),
            events=len(events),
            pending=1,
        ),
        product_class="lettuce",
        harvest_date=date(2026, 11, 19),
        pack_date=date(2026, 11, 19),
        expiry_date=date(2026, 11, 28),
        origin=hostile or "Shouguang, Shandong, China",
        farm=Farm(
            name=hostile or "Greenfield farm",
            grower=hostile or "Wang Li and family",
            method=hostile or "Open field, drip irrigation, integrated pest management",
            certifications=(hostile or "China GAP", "GLOBALG.A.P."),
            location="Shouguang, Shandong",
        ),
        events=events,
        conditions=conditions,
        stages=(StageView("room", room, at(0), at(46)),),
        scans=ScanStats(
            total=3,
            first_scan=at(60),
            places=(ScanPlace(hostile or "Qingdao", 2), ScanPlace("Jinan", 1)),
        ),
        generated_at=at(62),
        display_tz="Asia/Shanghai",
    )


def main(argv: list[str]) -> int:
    """Write the sample page to ``argv[0]`` in language ``argv[1]`` (default en)."""
    if not argv or len(argv) > 2 or (len(argv) == 2 and argv[1] not in ("en", "zh")):
        print(
            "usage: python -m farmtrace.api.services.page.sample OUT.html [en|zh]", file=sys.stderr
        )
        return 2
    lang: Lang = "zh" if len(argv) == 2 and argv[1] == "zh" else "en"
    links = {"en": "en.html", "zh": "zh.html"}
    Path(argv[0]).write_text(render_page(sample_page(), lang, lang_hrefs=links), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
