"""A real PostgreSQL for tests: an existing server, or a private cluster started for the session.

* If ``FARMTRACE_TEST_PG_URL`` is set (``postgresql://user:pw@host:port/db``), that server is used:
  the URL must let the user create and drop databases.
* Otherwise, if PostgreSQL's server binaries are installed (``/usr/lib/postgresql/*/bin``, the
  Debian ``postgresql`` package), a private cluster is created in a temporary directory and
  started on a free 127.0.0.1 port for the test session (``fsync=off``: test data need not
  survive a power cut), then stopped and removed. When running as root, ``initdb`` and
  ``pg_ctl`` run as the ``postgres`` system user, since PostgreSQL refuses to run as root.
* Without either, PostgreSQL tests are skipped, except under ``CI=true`` where they fail.

Each test gets a fresh database (``CREATE DATABASE`` with a unique name), dropped afterwards.
Use the fixtures by importing them into a ``conftest.py``::

    from support.postgres import pg_url, postgres_server  # noqa: F401
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

__all__ = ["PostgresServer", "db_url", "pg_url", "postgres_server", "require_postgres_binaries"]

ENV_URL = "FARMTRACE_TEST_PG_URL"
START_TIMEOUT_S = 60


@dataclass
class PostgresServer:
    """A running server: ``admin_url`` reaches a maintenance database with CREATEDB rights."""

    admin_url: str
    cluster_dir: Path | None = None
    bin_dir: Path | None = None
    run_as: str | None = None

    def create_database(self) -> str:
        """Create a fresh, uniquely named database; return its SQLAlchemy URL (psycopg 3)."""
        name = f"farmtrace_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(_libpq(self.admin_url), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return _with_database(self.admin_url, name)

    def drop_database(self, url: str) -> None:
        name = make_url(url).database
        with psycopg.connect(_libpq(self.admin_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        if self.cluster_dir is None or self.bin_dir is None:
            return
        _run(
            [
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.cluster_dir / "data"),
                "-m",
                "fast",
                "stop",
            ],
            self.run_as,
            check=False,
        )
        shutil.rmtree(self.cluster_dir, ignore_errors=True)


def require_postgres_binaries() -> Path:
    """The newest installed PostgreSQL ``bin`` directory; skip (fail under CI) if none."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    if not found:
        message = f"PostgreSQL is not installed (apt-get install postgresql) and {ENV_URL} is unset"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return Path(found[-1]).parent


def start_private_cluster() -> PostgresServer:
    """initdb + pg_ctl start on a free 127.0.0.1 port, in a new temporary directory."""
    bin_dir = require_postgres_binaries()
    run_as = "postgres" if os.geteuid() == 0 else None
    cluster = Path(tempfile.mkdtemp(prefix="farmtrace-pg-"))
    if run_as is not None:
        user = pwd.getpwnam(run_as)
        os.chown(cluster, user.pw_uid, user.pw_gid)
    data, sockets = cluster / "data", cluster / "sockets"
    _run(["mkdir", "-m", "0700", str(sockets)], run_as)
    _run(
        [
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ],
        run_as,
    )
    port = _free_port()
    options = (
        f"-c port={port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={sockets} "
        "-c fsync=off -c full_page_writes=off -c max_connections=50"
    )
    server = PostgresServer(
        admin_url=f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres",
        cluster_dir=cluster,
        bin_dir=bin_dir,
        run_as=run_as,
    )
    try:
        _run(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(cluster / "server.log"),
                "-o",
                options,
                "-w",
                "-t",
                str(START_TIMEOUT_S),
                "start",
            ],
            run_as,
        )
    except subprocess.CalledProcessError as exc:
        log = (
            (cluster / "server.log").read_text(errors="replace")
            if (cluster / "server.log").exists()
            else ""
        )
        server.stop()
        stderr = exc.stderr.decode(errors="replace") if exc.stderr else ""
        raise RuntimeError(f"PostgreSQL did not start: {exc}\n{stderr}\n{log[-2000:]}") from None
    return server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server (see the module docstring)."""
    url = os.environ.get(ENV_URL)
    if url:
        yield PostgresServer(admin_url=str(make_url(url).set(drivername="postgresql+psycopg")))
        return
    server = start_private_cluster()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database for one test, as a ``postgresql+psycopg://`` URL."""
    url = postgres_server.create_database()
    try:
        yield url
    finally:
        postgres_server.drop_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database on each backend: an SQLite file in ``tmp_path``, or a new PostgreSQL
    database (through :func:`pg_url`)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'farmtrace.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


def _run(command: list[str], run_as: str | None, check: bool = True) -> None:
    if run_as is not None:
        command = ["runuser", "-u", run_as, "--", *command]
    subprocess.run(command, check=check, capture_output=True, timeout=120)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _libpq(url: str) -> str:
    """A SQLAlchemy URL as a libpq connection string for psycopg."""
    return str(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False))


def _with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)
