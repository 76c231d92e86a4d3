"""A campaign service over a real SQLite database with one declared lot and a shipping event."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support.api import GTIN, LOT, lot_body
from support.commerce import DAY, NOW_MS, Clock

from farmtrace.api.schemas.lots import EventCreate, LotCreate
from farmtrace.api.services.campaigns import CampaignService
from farmtrace.api.settings import Settings
from farmtrace.api.state import AppState


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[CampaignService, Clock]]:
    state = AppState.open(
        Settings(db_url=f"sqlite:///{tmp_path / 'c.db'}", state_dir=tmp_path / "api")
    )
    try:
        assert state.lots.create(LotCreate.model_validate(lot_body(["dev-1"])), GTIN)
        record = state.lots.get(GTIN, LOT)
        assert record is not None
        shipped = EventCreate(
            kind="shipping",
            time=datetime.fromtimestamp((NOW_MS + 20 * DAY) / 1000, UTC),
            read_point="urn:epc:id:sgln:9506000.13435.0",
            actor="Greenacre packhouse",
        )
        state.lots.add_event(record.id, GTIN, LOT, shipped)
        clock = Clock()
        svc = CampaignService(
            state.campaigns.campaigns, state.campaigns.farm_keys, state.lots, clock
        )
        yield svc, clock
    finally:
        state.close()
