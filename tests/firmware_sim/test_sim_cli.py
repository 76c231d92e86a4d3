"""The command line: clear messages and exit codes for bad arguments, a refused or missing
broker and a busy state directory; export-keys; credentials and per-device ACLs; TLS."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import fcntl
import ipaddress
import json
import os
import pty
import signal
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sim_support import (
    ROOT,
    START,
    assert_every_seq_once,
    by_device,
    first_arrivals,
    load_report,
    reading_messages,
    run_sim,
    sim_command,
    start_sim,
)
from support.mosquitto import Mosquitto, MosquittoFactory, free_port
from support.mqtt import Capture, Message

from farmtrace.sim.errors import EXIT_BROKER, EXIT_CONFIG, EXIT_STATE
from farmtrace.sim.link import BrokerConfig
from farmtrace.sim.options import RunOptions
from farmtrace.sim.runner import Simulator
from farmtrace.sim.scenario import fleet
from farmtrace.wire.protocol import verify


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["run", "--state", "s"], "--broker"),
        (["run", "--broker", "mqtt://h", "--state", "s", "--speed", "-1"], "must be positive"),
        (["run", "--broker", "mqtt://h", "--state", "s", "--duration", "soon"], "duration"),
        (["run", "--broker", "http://h", "--state", "s"], "expected mqtt://HOST:PORT"),
        (["run", "--broker", "mqtt://h", "--state", "s", "--fault", "meltdown"], "unknown fault"),
        (["run", "--broker", "mqtt://h", "--state", "s", "--fault", "spike:rate=2"], "between 0 and 1"),
        (["run", "--broker", "mqtt://h", "--state", "s", "--fault", "stuck:factor=2"], "not 'factor'"),
        (["run", "--broker", "mqtt://h", "--state", "s", "--attack", "replay:match=nobody"], "selects no device"),
        (["run", "--broker", "mqtt://h", "--state", "s", "--scenario", "no-such"], "no scenario"),
        (["run", "--broker", "mqtt://h", "--state", "s", "--start", "2026-01-01T00:00"], "time zone"),
        (["run", "--broker", "mqtt://h", "--state", "s", "--devices", "0"], "must be positive"),
    ],
)  # fmt: skip
def test_bad_arguments_exit_2(args: list[str], words: str, tmp_path: Path) -> None:
    args = [str(tmp_path / a) if a == "s" else a for a in args]
    done = run_sim(*args)
    assert done.returncode == EXIT_CONFIG
    assert words in done.stderr
    assert "Traceback" not in done.stderr


def test_bad_scenario_file_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "farm.json"
    path.write_text(json.dumps({"farm": "x", "environments": [
        {"name": "f", "type": "field", "devices": [{"kind": "coldroom-air"}]}]}))  # fmt: skip
    done = run_sim("run", "--broker", "mqtt://h", "--state", str(tmp_path), "--scenario", str(path))
    assert done.returncode == EXIT_CONFIG
    assert "a coldroom-air belongs in a coldroom, not a field" in done.stderr


def test_no_broker_exit_3(tmp_path: Path) -> None:
    url = f"mqtt://127.0.0.1:{free_port()}"
    done = run_sim("run", "--broker", url, "--state", str(tmp_path / "s"), "--devices", "2")
    assert done.returncode == EXIT_BROKER
    assert f"cannot connect to {url}" in done.stderr and "refused" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.integration
def test_refused_credentials_exit_3(mosquitto_factory: MosquittoFactory, tmp_path: Path) -> None:
    broker = mosquitto_factory(users={"farm": "secret"})
    done = run_sim(
        "run", "--broker", broker.url, "--state", str(tmp_path / "s"), "--devices", "2",
        "--username", "farm", "--password", "wrong",
    )  # fmt: skip
    assert done.returncode == EXIT_BROKER
    assert "refused the connection" in done.stderr
    assert "Bad user name or password" in done.stderr or "Not authorized" in done.stderr


def test_busy_state_directory_exit_4(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    with open(state / "lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        done = run_sim("run", "--broker", "mqtt://127.0.0.1:1", "--state", str(state))
    assert done.returncode == EXIT_STATE
    assert "in use by another run" in done.stderr


@pytest.mark.integration
def test_keys_are_private_and_exported(mosquitto: Mosquitto, tmp_path: Path) -> None:
    state = tmp_path / "state"
    done = run_sim("run", "--broker", mosquitto.url, "--state", str(state), "--devices", "3",
                   "--duration", "1")  # fmt: skip
    assert done.returncode == 0, done.stderr
    keys = sorted((state / "keys").iterdir())
    assert len(keys) == 3
    assert stat.S_IMODE((state / "keys").stat().st_mode) == 0o700
    assert all(stat.S_IMODE(k.stat().st_mode) == 0o600 for k in keys)
    exported = json.loads(run_sim("export-keys", "--state", str(state)).stdout)
    assert sorted(exported) == [f"urn:epc:id:giai:4012345.SIM-00000{n}" for n in (1, 2, 3)]
    assert all(len(base64.b64decode(v)) == 32 for v in exported.values())
    # A key others can read is refused, as ssh refuses one.
    keys[0].chmod(0o644)
    again = run_sim("run", "--broker", mosquitto.url, "--state", str(state), "--devices", "3",
                    "--duration", "1")  # fmt: skip
    assert again.returncode == EXIT_STATE
    assert "chmod 600" in again.stderr


@pytest.mark.integration
def test_per_device_credentials_and_acls(
    mosquitto_factory: MosquittoFactory, tmp_path: Path
) -> None:
    devices = [f"urn:epc:id:giai:4012345.SIM-00000{n}" for n in (1, 2)]
    passwords = {d: f"pw-{n}" for n, d in enumerate(devices)}
    # Mosquitto user names cannot hold ':', so devices log in as their asset reference; the
    # ACL names each user's own topics in full, as the shipped one does (a %c pattern would
    # trust whatever client ID a device sends; docs/broker.md).
    users = {d.rsplit(":", 1)[-1]: p for d, p in passwords.items()}
    lines = ["user test", "topic read farm/#"]
    for device in devices:
        lines += [
            f"user {device.rsplit(':', 1)[-1]}",
            *(f"topic write farm/+/{device}/{leaf}" for leaf in ("reading", "status", "dropped")),
            f"topic read farm/+/{device}/committed",
        ]
    acl = "\n".join(lines) + "\n"
    broker = mosquitto_factory(users={**users, "test": "test"}, acl=acl)
    capture = Capture(broker.host, broker.port)
    capture.client.username_pw_set("test", "test")
    capture.start()
    password_file = tmp_path / "passwords.json"
    password_file.write_text(json.dumps(passwords))
    report_path = tmp_path / "report.json"
    done = run_sim(
        "run", "--broker", broker.url, "--state", str(tmp_path / "s"), "--devices", "2",
        "--interval", "1", "--speed", "10", "--duration", "20", "--username", "{asset}",
        "--password-file", str(password_file), "--attack", "unknown-device:every=2",
        "--report", str(report_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = load_report(report_path)
    assert capture.wait_for(lambda m: len(reading_messages(m)) >= report["readings"])
    readings = by_device(capture.messages)
    assert set(readings) == set(devices)  # the ACL kept the rogue device's topic closed
    assert report["attacks"]["unknown-device"] > 0
    capture.stop()


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1, written as PEM files."""

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder().subject_name(name("test CA")).issuer_name(name("test CA"))
        .public_key(ca_key.public_key()).serial_number(1)
        .not_valid_before(now - dt.timedelta(minutes=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder().subject_name(name("127.0.0.1")).issuer_name(ca.subject)
        .public_key(key.public_key()).serial_number(2)
        .not_valid_before(now - dt.timedelta(minutes=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ))  # fmt: skip
    return paths


@pytest.mark.integration
def test_tls(mosquitto_factory: MosquittoFactory, tmp_path: Path) -> None:
    ca, cert, key = _certificates(tmp_path)
    broker = mosquitto_factory(extra=[f"cafile {ca}", f"certfile {cert}", f"keyfile {key}"])
    url = f"mqtts://127.0.0.1:{broker.port}"
    state, report_path = tmp_path / "s", tmp_path / "report.json"
    untrusted = run_sim("run", "--broker", url, "--state", str(state), "--devices", "1")
    assert untrusted.returncode == EXIT_BROKER
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr
    done = run_sim(
        "run", "--broker", url, "--ca-file", str(ca), "--state", str(state), "--devices", "2",
        "--interval", "1", "--speed", "10", "--duration", "10", "--start", START,
        "--report", str(report_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = load_report(report_path)
    assert report["acked"] == report["readings"] > 0


def test_scenarios_command() -> None:
    listed = run_sim("scenarios")
    assert listed.returncode == 0 and "small-farm" in listed.stdout.split()
    shown = json.loads(run_sim("scenarios", "--show", "small-farm").stdout)
    assert shown["farm"] == "greenacre"
    assert sum(g["count"] for e in shown["environments"] for g in e["devices"]) == 20


def test_export_keys_of_an_empty_state_is_empty(tmp_path: Path) -> None:
    done = run_sim("export-keys", "--state", str(tmp_path))
    assert done.returncode == 0 and json.loads(done.stdout) == {}


@pytest.mark.integration
def test_verify_helper_used_by_the_gateway_matches_exported_keys(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    capture = Capture(mosquitto.host, mosquitto.port).start()
    state = tmp_path / "s"
    done = run_sim("run", "--broker", mosquitto.url, "--state", str(state), "--devices", "2",
                   "--interval", "1", "--speed", "10", "--duration", "5")  # fmt: skip
    assert done.returncode == 0, done.stderr
    keys = {
        k: base64.b64decode(v)
        for k, v in json.loads(run_sim("export-keys", "--state", str(state)).stdout).items()
    }
    assert capture.wait_for(lambda m: len(reading_messages(m)) >= 8)
    for device, readings in by_device(capture.messages).items():
        assert all(verify(r, keys[device]) for r in readings)
    capture.stop()


@pytest.mark.integration
def test_sigint_stops_cleanly(mosquitto: Mosquitto, tmp_path: Path) -> None:
    capture = Capture(mosquitto.host, mosquitto.port).start()
    report_path = tmp_path / "report.json"
    process = start_sim(
        "run", "--broker", mosquitto.url, "--state", str(tmp_path / "s"), "--devices", "3",
        "--interval", "1", "--report", str(report_path), log=tmp_path / "sim.log",
    )  # fmt: skip
    try:
        assert capture.wait_for(lambda m: len(reading_messages(m)) >= 6, timeout=20)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0, (tmp_path / "sim.log").read_text()
    finally:
        process.kill()
    report = load_report(report_path)
    assert report["readings"] >= 6

    def last_statuses(messages: list[Message]) -> dict[str, bytes]:
        return {x.topic: x.payload for x in messages if x.topic.endswith("/status")}

    # Each device's last word is "offline" (counting them would also count a last will a busy
    # machine's reconnect published earlier).
    assert capture.wait_for(lambda m: list(last_statuses(m).values()) == [b"offline"] * 3), (
        last_statuses(capture.messages)
    )
    capture.stop()


@pytest.mark.integration
def test_status_line_only_on_a_terminal(mosquitto: Mosquitto, tmp_path: Path) -> None:
    main, child = pty.openpty()
    process = subprocess.Popen(
        sim_command("run", "--broker", mosquitto.url, "--state", str(tmp_path / "s"),
                    "--devices", "2", "--interval", "1", "--duration", "3"),
        cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=child,
    )  # fmt: skip
    os.close(child)
    output = b""
    with contextlib.suppress(OSError):  # EIO once the child closes the terminal
        while chunk := os.read(main, 4096):
            output += chunk
    os.close(main)
    assert process.wait(timeout=30) == 0
    text = output.decode()
    assert "\r" in text and "online 2/2" in text and "acked " in text and "rate " in text
    assert "2 devices, " in text  # the closing summary on a terminal


@pytest.mark.integration
def test_progress_lines_without_a_terminal_none_with_quiet(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """Not on a terminal (a log file, a pipe): a plain progress line every --progress-interval
    seconds without -v, and the closing summary; -q prints neither."""
    args = ("run", "--broker", mosquitto.url, "--devices", "2", "--interval", "1",
            "--duration", "4", "--progress-interval", "1")  # fmt: skip
    done = run_sim(*args, "--state", str(tmp_path / "loud"))
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if " sim " in line]
    assert len(lines) >= 2, done.stderr
    for word in ("online 2/2", "readings ", "acked ", "pending ", "failed 0", "dropped 0"):
        assert word in lines[-1], lines[-1]
    assert "\r" not in done.stderr and "\x1b" not in done.stderr
    assert "2 devices, " in done.stderr  # the closing summary
    quiet = run_sim(*args, "-q", "--state", str(tmp_path / "quiet"))
    assert (quiet.returncode, quiet.stderr) == (0, "")


@pytest.mark.integration
def test_mqtt_311(mosquitto: Mosquitto, tmp_path: Path) -> None:
    capture = Capture(mosquitto.host, mosquitto.port).start()
    report_path = tmp_path / "report.json"
    done = run_sim(
        "run", "--broker", mosquitto.url, "--state", str(tmp_path / "s"), "--devices", "2",
        "--interval", "1", "--speed", "10", "--duration", "60", "--mqtt", "3.1.1",
        "--fault", "link-down:devices=1,at=10s,for=20s", "--report", str(report_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = load_report(report_path)
    assert capture.wait_for(lambda m: len(reading_messages(m)) >= report["readings"])
    readings = by_device(capture.messages)
    # QoS 1 is at least once: the reading in flight when the link dropped may arrive twice
    # (byte for byte); first arrivals are every seq, in order.
    assert assert_every_seq_once(readings, report["last_seq"]) <= report["resent"]
    for device, last in report["last_seq"].items():
        firsts = [r.seq for r in first_arrivals(readings[device])]
        assert firsts == list(range(1, last + 1)), device
    wills = [m for m in capture.messages if m.topic.endswith("SIM-000001/status")]
    assert [m.payload for m in wills][:3] == [b"online", b"offline", b"online"]
    capture.stop()


def test_backoff_is_exponential_with_jitter(tmp_path: Path) -> None:
    options = RunOptions(
        state_dir=tmp_path, broker=BrokerConfig("127.0.0.1", 1), scenario=fleet(1, 1.0),
        backoff_min=0.5, backoff_max=8.0,
    )  # fmt: skip
    simulator = Simulator(options)
    for failures, full in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (9, 8.0)]:
        delays = [simulator._backoff(failures) for _ in range(200)]
        assert all(full / 2 <= d <= full for d in delays)
        assert max(delays) - min(delays) > full / 4  # jittered, not fixed


@pytest.mark.slow
def test_init_makes_keys_without_a_broker(tmp_path: Path) -> None:
    done = run_sim("init", "--state", str(tmp_path), "--scenario", "small-farm")
    assert done.returncode == 0 and "20 device keys" in done.stderr
    exported = json.loads(run_sim("export-keys", "--state", str(tmp_path)).stdout)
    assert len(exported) == 20
    again = run_sim("init", "--state", str(tmp_path), "--devices", "2")
    assert again.returncode == 0
    assert len(json.loads(run_sim("export-keys", "--state", str(tmp_path)).stdout)) == 22
