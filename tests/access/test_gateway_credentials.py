"""``farmtrace gateway``'s broker login without the password on its command line.

- each place a login may come from (``--broker-credentials FILE``, ``GATEWAY_MQTT_USER`` and
  ``GATEWAY_MQTT_PASSWORD``, the URL) alone; the same login in two places; every conflict an
  error naming both places and neither password; every way a credentials file can be unusable
  an error naming the file and what is wrong, the file ``farmtrace broker files`` writes read
  as written;
- ``farmtrace gateway`` stops with exit 2 on those before it writes anything;
- against a password-protected Mosquitto: gateways logging in from the environment and from
  the file, whose ``/proc/PID/cmdline`` and output hold no password (their environment does,
  readable by their user only), and a wrong password refused with a clear exit 2;
- ``farmtrace demo`` moves the password of its ``--broker`` URL into its gateway's environment.
"""

from __future__ import annotations

import os
import secrets
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.mosquitto import MosquittoFactory

from farmtrace.demo.broker import gateway_login
from farmtrace.demo.errors import DemoError
from farmtrace.gateway.broker.credentials import format_gateway_env, load_gateway_env
from farmtrace.gateway.broker.errors import BrokerFilesError
from farmtrace.gateway.broker.files import GATEWAY_ENV_FILE, write_broker_files
from farmtrace.gateway.ingest.broker_login import (
    ENVIRONMENT,
    MAX_CREDENTIALS_BYTES,
    resolve_broker_login,
)
from farmtrace.gateway.ingest.config import BrokerAddress, parse_broker_url
from farmtrace.gateway.ingest.errors import BrokerError

ROOT = Path(__file__).resolve().parents[2]
USER_VAR, PASSWORD_VAR = "GATEWAY_MQTT_USER", "GATEWAY_MQTT_PASSWORD"
BARE = "mqtt://127.0.0.1:1883"


def secret(label: str) -> str:
    return f"{label}-{secrets.token_hex(8)}"


def env_file(path: Path, user: str, password: str, mode: int = 0o600) -> Path:
    path.write_text(format_gateway_env((user, password)), "utf-8")
    path.chmod(mode)
    return path


def resolve(
    url: str = BARE, file: Path | None = None, environ: dict[str, str] | None = None
) -> tuple[BrokerAddress, str | None]:
    broker, login = resolve_broker_login(parse_broker_url(url), file, environ or {}, url)
    return broker, None if login is None else login.source


def refused(url: str = BARE, file: Path | None = None, env: dict[str, str] | None = None) -> str:
    with pytest.raises(BrokerError) as caught:
        resolve(url, file, env)
    return str(caught.value)


# -- where the login comes from ------------------------------------------------------------


def test_each_source_alone(tmp_path: Path) -> None:
    pw = secret("pw")
    file = env_file(tmp_path / "gateway.env", "gw", pw)
    assert resolve() == (parse_broker_url(BARE), None)
    from_file, source = resolve(file=file)
    assert (from_file.username, from_file.password, source) == (
        "gw",
        pw,
        f"--broker-credentials {file}",
    )
    from_env, source = resolve(environ={USER_VAR: "gw", PASSWORD_VAR: pw})
    assert (from_env.username, from_env.password, source) == ("gw", pw, ENVIRONMENT)
    broker, login = resolve_broker_login(parse_broker_url(f"mqtt://gw:{pw}@h:1"), None, {})
    assert login is not None and login.on_command_line and broker.password == pw
    assert (broker.host, broker.port) == ("h", 1)
    # The address keeps where the broker is; only the login changes.
    assert (from_env.host, from_env.port, from_env.tls) == ("127.0.0.1", 1883, False)


def test_sources_that_agree(tmp_path: Path) -> None:
    pw = secret("pw")
    file = env_file(tmp_path / "gateway.env", "gw", pw)
    both, source = resolve(file=file, environ={USER_VAR: "gw", PASSWORD_VAR: pw})
    assert (both.username, both.password, source) == ("gw", pw, f"--broker-credentials {file}")
    named, source = resolve("mqtts://gw@broker:8883", environ={USER_VAR: "gw", PASSWORD_VAR: pw})
    assert (named.username, named.password, named.tls, source) == ("gw", pw, True, ENVIRONMENT)
    # Empty variables count as unset (systemd's Environment=GATEWAY_MQTT_PASSWORD=).
    assert resolve(environ={USER_VAR: "", PASSWORD_VAR: ""}) == (parse_broker_url(BARE), None)
    from_file, _ = resolve(file=file, environ={PASSWORD_VAR: ""})
    assert from_file.password == pw


def test_conflicts_name_both_sources_and_no_password(tmp_path: Path) -> None:
    pw, other = secret("pw"), secret("other")
    file = env_file(tmp_path / "gateway.env", "gw", pw)
    same_env = {USER_VAR: "gw", PASSWORD_VAR: pw}
    cases = {
        "url+file": (
            refused(f"mqtt://gw:{pw}@h:1", file=file),
            ["'mqtt://gw:***@h:1'", f"--broker-credentials {file}", "remove USER:PASSWORD@"],
        ),
        "url+env": (
            refused(f"mqtt://gw:{pw}@h:1", env=same_env),
            ["'mqtt://gw:***@h:1'", ENVIRONMENT],
        ),
        "url user+file": (
            refused("mqtt://admin@h:1", file=file),
            ["user 'admin'", "user 'gw'", str(file)],
        ),
        "file+env password": (
            refused(file=file, env={USER_VAR: "gw", PASSWORD_VAR: other}),
            [str(file), ENVIRONMENT, "passwords for the same user"],
        ),
        "file+env user": (
            refused(file=file, env={USER_VAR: "gw2", PASSWORD_VAR: pw}),
            [str(file), ENVIRONMENT, "different users"],
        ),
        "env user only": (
            refused(env={USER_VAR: "gw"}),
            [ENVIRONMENT, f"{PASSWORD_VAR} missing or empty"],
        ),
        "env password only": (refused(env={PASSWORD_VAR: pw}), [f"{USER_VAR} missing or empty"]),
        "url password, no user": (
            refused(f"mqtt://:{pw}@h:1"),
            ["'mqtt://:***@h:1'", "no user name"],
        ),
    }
    for name, (message, says) in cases.items():
        for part in says:
            assert part in message, (name, message)
        assert pw not in message and other not in message, (name, message)


@dataclass(frozen=True)
class BadFile:
    content: bytes
    mode: int
    says: str


BAD_FILES = {
    "group-readable": BadFile(
        b"GATEWAY_MQTT_USER=gw\nGATEWAY_MQTT_PASSWORD=PW\n",
        0o640,
        "open to group or others (mode 0640); run: chmod 600",
    ),
    "world-readable": BadFile(
        b"GATEWAY_MQTT_USER=gw\nGATEWAY_MQTT_PASSWORD=PW\n", 0o604, "(mode 0604)"
    ),
    "group-writable": BadFile(
        b"GATEWAY_MQTT_USER=gw\nGATEWAY_MQTT_PASSWORD=PW\n", 0o620, "(mode 0620)"
    ),
    "not KEY=VALUE": BadFile(
        b"# made by hand\nGATEWAY_MQTT_USER gw\n", 0o600, ":2: expected KEY=VALUE"
    ),
    "key twice": BadFile(
        b"GATEWAY_MQTT_USER=gw\nGATEWAY_MQTT_PASSWORD=PW\nGATEWAY_MQTT_PASSWORD=x\n",
        0o600,
        ":3: GATEWAY_MQTT_PASSWORD is given twice",
    ),
    "no password": BadFile(
        b"GATEWAY_MQTT_USER=gw\n", 0o600, "GATEWAY_MQTT_PASSWORD missing or empty"
    ),
    "empty password": BadFile(
        b"GATEWAY_MQTT_USER=gw\nGATEWAY_MQTT_PASSWORD=\n",
        0o600,
        "GATEWAY_MQTT_PASSWORD missing or empty",
    ),
    "empty file": BadFile(b"", 0o600, "GATEWAY_MQTT_USER and GATEWAY_MQTT_PASSWORD missing"),
    "not UTF-8": BadFile(
        b"GATEWAY_MQTT_USER=g\xffw\nGATEWAY_MQTT_PASSWORD=PW\n", 0o600, "not UTF-8 text"
    ),
    "too large": BadFile(b"#" * (MAX_CREDENTIALS_BYTES + 1), 0o600, "not a gateway.env"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_unusable_credentials_file(tmp_path: Path, case: str) -> None:
    bad, pw = BAD_FILES[case], secret("pw")
    path = tmp_path / "gateway.env"
    path.write_bytes(bad.content.replace(b"PW", pw.encode()))
    path.chmod(bad.mode)
    message = refused(file=path)
    assert message.startswith(f"--broker-credentials {path}"), message
    assert bad.says in message and pw not in message, message


def test_missing_or_unreadable_credentials_file(tmp_path: Path) -> None:
    assert (
        refused(file=tmp_path / "nope.env")
        == f"--broker-credentials {tmp_path / 'nope.env'}: no such file"
    )
    assert (
        refused(file=tmp_path) == f"--broker-credentials {tmp_path}: cannot read it: Is a directory"
    )


def test_reads_the_file_farmtrace_broker_files_writes(tmp_path: Path) -> None:
    out = tmp_path / "broker"
    write_broker_files([], out, gateway_user="farm-gw")
    written = load_gateway_env(out / GATEWAY_ENV_FILE)
    assert written is not None and written[0] == "farm-gw"
    assert stat.S_IMODE((out / GATEWAY_ENV_FILE).stat().st_mode) == 0o600  # usable as written
    broker, _ = resolve(file=out / GATEWAY_ENV_FILE)
    assert (broker.username, broker.password) == written
    # ... and `broker files` still reads its own file with its own advice on errors.
    (out / GATEWAY_ENV_FILE).write_text("GATEWAY_MQTT_USER=farm-gw\n")
    with pytest.raises(
        BrokerFilesError, match="GATEWAY_MQTT_PASSWORD missing or empty\\); fix or remove it"
    ):
        load_gateway_env(out / GATEWAY_ENV_FILE)


def test_no_password_in_the_address_repr() -> None:
    pw = secret("pw")
    broker = parse_broker_url(f"mqtt://gw:{pw}@h:1")
    assert broker.password == pw and pw not in repr(broker) and "gw" in repr(broker)
    _, login = resolve_broker_login(broker, None, {})
    assert login is not None and pw not in repr(login)


# -- the command -----------------------------------------------------------------------------


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any gateway login, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in (USER_VAR, PASSWORD_VAR)}
    return env | extra


@pytest.mark.slow
@pytest.mark.parametrize("case", ["url and environment", "group-readable file", "missing file"])
def test_gateway_refuses_to_start(tmp_path: Path, case: str) -> None:
    pw = secret("pw")
    file = env_file(
        tmp_path / "gateway.env", "gw", pw, 0o640 if case == "group-readable file" else 0o600
    )
    state = tmp_path / "state"
    argv = [sys.executable, "-m", "farmtrace", "gateway", "--state", str(state)]
    env = clean_env()
    if case == "url and environment":
        argv += ["--broker", f"mqtt://gw:{pw}@127.0.0.1:1"]
        env |= {USER_VAR: "gw", PASSWORD_VAR: pw}
        says = (
            "the broker password is given twice: in the broker URL "
            f"'mqtt://gw:***@127.0.0.1:1' and in {ENVIRONMENT}"
        )
    elif case == "group-readable file":
        argv += ["--broker", "mqtt://127.0.0.1:1", "--broker-credentials", str(file)]
        says = f"--broker-credentials {file}: the file is open to group or others (mode 0640)"
    else:
        argv += ["--broker", "mqtt://127.0.0.1:1", "--broker-credentials", str(tmp_path / "x")]
        says = f"--broker-credentials {tmp_path / 'x'}: no such file"
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"farmtrace gateway: {says}"), done.stderr
    assert pw not in done.stdout + done.stderr
    assert not state.exists()  # refused before anything was written


# -- against Mosquitto -------------------------------------------------------------------------


@dataclass
class Running:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text("utf-8", "replace")

    def wait_for_log(self, words: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while words not in self.text():
            assert self.process.poll() is None, f"{self.name} exited:\n{self.text()[-3000:]}"
            assert time.monotonic() < deadline, f"{self.name}: no {words!r}:\n{self.text()}"
            time.sleep(0.1)


@pytest.fixture
def started(tmp_path: Path) -> Iterator[dict[str, Running]]:
    runs: dict[str, Running] = {}
    yield runs
    for run in runs.values():
        if run.process.poll() is None:
            run.process.kill()
            run.process.wait()


@pytest.mark.integration
def test_gateway_logs_in_without_its_password_on_the_command_line(
    tmp_path: Path, mosquitto_factory: MosquittoFactory, started: dict[str, Running]
) -> None:
    out = tmp_path / "broker-files"
    write_broker_files([], out)  # the gateway.env a deployment has
    written = load_gateway_env(out / GATEWAY_ENV_FILE)
    assert written is not None
    user, pw = written
    wrong = secret("wrong")
    broker = mosquitto_factory(users={user: pw})  # anonymous clients refused
    bare = f"mqtt://127.0.0.1:{broker.port}"
    wrong_file = env_file(tmp_path / "wrong.env", user, wrong)
    gateway = [
        sys.executable,
        "-m",
        "farmtrace",
        "gateway",
        "--broker",
        bare,
        "--log-level",
        "DEBUG",
    ]
    runs = {
        "environment": ([], clean_env(**{USER_VAR: user, PASSWORD_VAR: pw})),
        "file": (["--broker-credentials", str(out / GATEWAY_ENV_FILE)], clean_env()),
        "wrong-password": (["--broker-credentials", str(wrong_file)], clean_env()),
    }
    for name, (more, env) in runs.items():
        argv = [
            *gateway,
            *more,
            "--state",
            str(tmp_path / name),
            "--report",
            str(tmp_path / f"{name}.json"),
        ]
        log = tmp_path / f"{name}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                argv, stdout=sink, stderr=subprocess.STDOUT, env=env, cwd=ROOT
            )
        started[name] = Running(name, process, log)

    for name in ("environment", "file"):
        run = started[name]
        run.wait_for_log("subscribed to farm/+/+/reading")
        proc = Path(f"/proc/{run.process.pid}")
        cmdline = (proc / "cmdline").read_bytes().decode().split("\0")
        assert bare in cmdline and not any(pw in arg for arg in cmdline), cmdline
        # The password is in the environment only when it came from there, and that file is
        # its owner's alone.
        assert (pw.encode() in (proc / "environ").read_bytes()) == (name == "environment")
        assert stat.S_IMODE((proc / "environ").stat().st_mode) == 0o400
        assert (proc / "environ").stat().st_uid == os.getuid()
        source = (
            ENVIRONMENT
            if name == "environment"
            else f"--broker-credentials {out / GATEWAY_ENV_FILE}"
        )
        assert f"broker login: user {user!r} from {source}" in run.text()
        run.process.send_signal(signal.SIGTERM)
    codes = {name: run.process.wait(timeout=60) for name, run in started.items()}

    assert codes == {"environment": 0, "file": 0, "wrong-password": 2}, codes
    refusal = started["wrong-password"].text()
    assert f"broker {bare} refused the connection: Not authorized" in refusal, refusal
    # Mosquitto saw both gateways log in as the gateway user.
    logins = [line for line in broker.log().splitlines() if f"u'{user}')" in line]
    assert len(logins) == 2 and all("New client connected" in line for line in logins), logins
    for path in sorted(tmp_path.rglob("*")):
        if (
            path.is_file()
            and out not in path.parents
            and path != wrong_file
            and broker.workdir not in path.parents
        ):
            text = path.read_bytes().decode("latin-1")
            assert pw not in text and wrong not in text, f"a password in {path}"


# -- farmtrace demo --------------------------------------------------------------------------


def test_demo_hands_its_gateway_the_password_in_the_environment() -> None:
    pw = "p@ss:w/rd%"
    url = "mqtt://demo:p%40ss%3Aw%2Frd%25@127.0.0.1:1883"
    bare, env = gateway_login(url, {"PATH": "/bin"})
    assert bare == "mqtt://127.0.0.1:1883"
    assert env == {"PATH": "/bin", USER_VAR: "demo", PASSWORD_VAR: pw}
    assert gateway_login("mqtts://[::1]:8883", {}) == ("mqtts://[::1]:8883", None)
    assert gateway_login("mqtt://demo@h:1", {}) == ("mqtt://demo@h:1", None)  # no secret
    assert gateway_login(url, {USER_VAR: "demo", PASSWORD_VAR: pw})[0] == bare  # the same login
    for inherited in ({USER_VAR: "other"}, {PASSWORD_VAR: "other"}):
        with pytest.raises(DemoError, match="carries a login and the environment sets") as caught:
            gateway_login(url, inherited)
        assert pw not in str(caught.value) and "p%40ss" not in str(caught.value)
    with pytest.raises(DemoError, match="a password but no user name"):
        gateway_login("mqtt://:pw@h:1", {})
