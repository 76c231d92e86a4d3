"""The demo's parts without the network: broker choice, sample lots, saved state, supervision."""

from __future__ import annotations

import os
import stat
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from farmtrace.api.schemas.lots import EventCreate, LotCreate
from farmtrace.api.services.digital_link import DigitalLink
from farmtrace.demo.broker import EMBEDDED, MOSQUITTO, choose_broker
from farmtrace.demo.errors import DemoError
from farmtrace.demo.lots import sample_lots
from farmtrace.demo.state import DemoState
from farmtrace.demo.summary import read_counts
from farmtrace.demo.supervisor import Supervisor
from farmtrace.sim.scenario import load
from farmtrace.store.database import open_database


def test_broker_url_is_used_as_given() -> None:
    plan = choose_broker("mqtt://10.0.0.5:1883")
    assert (plan.kind, plan.url) == ("external", "mqtt://10.0.0.5:1883")


def test_mosquitto_on_path_comes_before_the_embedded_broker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "mosquitto"
    fake.write_text("#!/bin/sh\n", "utf-8")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert choose_broker("auto").kind == MOSQUITTO
    assert choose_broker("auto").binary == str(fake)
    assert choose_broker("embedded").kind == EMBEDDED


def test_without_mosquitto_the_embedded_broker_is_chosen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert choose_broker("auto").kind == EMBEDDED
    with pytest.raises(DemoError, match="no 'mosquitto' on PATH"):
        choose_broker("mosquitto")


def test_an_unknown_broker_value_is_named() -> None:
    with pytest.raises(DemoError, match="--broker 'rabbit'"):
        choose_broker("rabbit")


def test_sample_lots_are_valid_requests_naming_the_simulators_devices() -> None:
    start = datetime(2026, 6, 29, 6, 0, tzinfo=UTC)
    devices = {d.device_id: d.environment for d in load("small-farm").devices}
    lots = sample_lots(start)
    assert [lot.body["product_class"] for lot in lots] == ["lettuce", "tomatoes"]
    for lot in lots:
        created = LotCreate.model_validate(lot.body)
        DigitalLink(created.gtin, lot=created.lot)  # valid check digit and lot characters
        for stage in created.stages:
            assert stage.device_ids and len({devices[d] for d in stage.device_ids}) == 1
            assert stage.end is not None and start <= stage.start < stage.end
        for event in lot.events:
            EventCreate.model_validate(event)
    lettuce = lots[0]
    assert [s["kind"] for s in lettuce.body["stages"]] == ["field", "room", "truck"]
    assert [e["kind"] for e in lettuce.events] == [
        "harvest",
        "cooling",
        "packing",
        "storing",
        "shipping",
        "receiving",
    ]


def test_state_starts_in_the_morning_and_resumes(tmp_path: Path) -> None:
    state, resumed = DemoState.load_or_new(tmp_path)
    assert not resumed
    now = datetime.now(UTC)
    assert state.start <= now < state.start + timedelta(days=1)
    assert (state.start.hour, state.start.minute) == (6, 0)
    state.sim_elapsed_s = 5400.0
    state.api_key = "ftk_example"
    state.save(tmp_path)
    assert stat.S_IMODE((tmp_path / "demo.json").stat().st_mode) == 0o600
    again, resumed = DemoState.load_or_new(tmp_path)
    assert resumed and again == state
    assert again.resume_at == state.start + timedelta(minutes=90)


def test_unreadable_state_is_named(tmp_path: Path) -> None:
    (tmp_path / "demo.json").write_text("{not json", "utf-8")
    with pytest.raises(DemoError, match=r"demo\.json is unreadable"):
        DemoState.load_or_new(tmp_path)


def test_counts_wait_for_the_gateways_tables(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    assert read_counts(db_url) is None
    open_database(db_url).close()  # the gateway's tables
    counts = read_counts(db_url)
    assert counts is not None
    assert (counts.devices, counts.entries, counts.blocks, counts.checkpoint_size) == (0, 0, 0, 0)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    status = Path(f"/proc/{pid}/stat").read_text().split()
    return status[2] != "Z"


def test_supervisor_stops_in_order_and_leaves_no_process(tmp_path: Path) -> None:
    supervisor = Supervisor(tmp_path / "logs")
    pid_file = tmp_path / "grandchild.pid"
    # A child whose own child ignores SIGTERM: only the group SIGKILL ends it.
    stubborn = (
        f"import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', "
        f"'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)']); "
        f"open({str(pid_file)!r}, 'w').write(str(p.pid)); time.sleep(60)"
    )
    supervisor.start("first", [sys.executable, "-c", stubborn], grace=2.0)
    supervisor.start("second", [sys.executable, "-c", "import time; time.sleep(60)"], grace=2.0)
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    grandchild = int(pid_file.read_text())
    supervisor.check()  # both running
    codes = supervisor.stop_all(order=("first",))
    assert list(codes) == ["first", "second"]
    assert supervisor.survivors() == []
    deadline = time.monotonic() + 10
    while _alive(grandchild):
        assert time.monotonic() < deadline, "the grandchild outlived the stop"
        time.sleep(0.05)


def test_a_child_that_exits_is_reported_with_its_log(tmp_path: Path) -> None:
    supervisor = Supervisor(tmp_path / "logs")
    child = supervisor.start(
        "gateway",
        [sys.executable, "-c", "import sys; print('cannot open the database'); sys.exit(2)"],
    )
    child.process.wait(30)
    with pytest.raises(
        DemoError, match=r"gateway exited with code 2(.|\n)*cannot open the database"
    ):
        supervisor.check()
    supervisor.stop_all()
