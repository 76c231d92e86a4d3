"""farmtrace.sim runs from a fresh virtualenv holding only farmtrace/sim/requirements.txt.

This is the Raspberry Pi install: a copy of ``farmtrace/__init__.py``, ``farmtrace/wire`` and
``farmtrace/sim`` (``make sim-bundle``), ``pip install -r requirements.txt``, nothing else of
farmtrace. (pip's cache may serve the wheels; the install
itself is real.)
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sim_support import ROOT, START, by_device, reading_messages
from support.mosquitto import Mosquitto
from support.mqtt import Capture

from farmtrace.wire.protocol import verify

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _run(command: list[str], cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_runs_from_a_fresh_venv(mosquitto: Mosquitto, tmp_path: Path) -> None:
    venv, app = tmp_path / "venv", tmp_path / "app"
    made = _run([sys.executable, "-m", "venv", str(venv)], tmp_path)
    assert made.returncode == 0, made.stderr
    python = str(venv / "bin" / "python")
    # What `make sim-bundle` packs: the namespace's empty __init__, the wire format, the simulator.
    (app / "farmtrace").mkdir(parents=True)
    shutil.copy(ROOT / "farmtrace" / "__init__.py", app / "farmtrace" / "__init__.py")
    for part in ("wire", "sim"):
        shutil.copytree(
            ROOT / "farmtrace" / part,
            app / "farmtrace" / part,
            ignore=shutil.ignore_patterns("__pycache__", "ruff.toml"),
        )
    installed = _run(
        [python, "-m", "pip", "install", "-q", "-r", str(app / "farmtrace/sim/requirements.txt")],
        app,
    )
    assert installed.returncode == 0, installed.stderr
    packages = _run([python, "-m", "pip", "list", "--format=json"], app)
    names = {p["name"].lower() for p in json.loads(packages.stdout)}
    assert {"paho-mqtt", "cryptography"} <= names
    assert not names & {"sqlalchemy", "fastapi", "farmtrace", "hypothesis", "pytest"}
    where = _run([python, "-c", "import farmtrace.sim; print(farmtrace.sim.__file__)"], app)
    assert where.stdout.strip() == str(app / "farmtrace" / "sim" / "__init__.py")

    capture = Capture(mosquitto.host, mosquitto.port).start()
    state = tmp_path / "state"
    done = _run(
        [python, "-m", "farmtrace.sim", "run", "--broker", mosquitto.url, "--state", str(state),
         "--scenario", "small-farm", "--speed", "600", "--duration", "30m", "--start", START,
         "--report", str(tmp_path / "report.json")],
        app,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["acked"] == report["readings"] > 0
    exported = _run([python, "-m", "farmtrace.sim", "export-keys", "--state", str(state)], app)
    assert exported.returncode == 0, exported.stderr
    keys = {k: base64.b64decode(v) for k, v in json.loads(exported.stdout).items()}
    assert len(keys) == 20
    assert capture.wait_for(lambda m: len(reading_messages(m)) >= report["readings"])
    for device, readings in by_device(capture.messages).items():
        assert all(verify(r, keys[device]) for r in readings)
    capture.stop()
