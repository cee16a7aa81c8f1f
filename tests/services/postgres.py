"""A throw-away PostgreSQL cluster for tests and benchmarks: never the machine's own server.

``PostgresCluster.create()`` runs ``initdb`` in a fresh folder under the system temp dir (owned
by the ``postgres`` user when we run as root, since initdb and the server refuse root), starts
the server with ``fsync = on`` on a free port with its unix socket in that folder, and creates
a database. ``kill_postmaster`` and ``start`` simulate a crash and the restart after it.

The ``postgres_cluster`` fixture shares one cluster per test session; ``postgres_schema`` gives
each test a fresh schema in it.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

DATABASE = "osed_test"
_SERVER_USER = "postgres"
_BIN_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found in "
    "$OSED_PG_BIN, /usr/lib/postgresql/*/bin or PATH. Install them (Debian: "
    "apt-get install postgresql; `scripts/test` does it) or set OSED_PG_BIN."
)


def find_bin_dir() -> Path:
    """The folder holding initdb and pg_ctl: $OSED_PG_BIN, the newest Debian one, or PATH."""
    candidates = [os.environ.get("OSED_PG_BIN", "")]
    candidates += sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
    )[::-1]
    on_path = shutil.which("pg_ctl")
    candidates += [str(Path(on_path).parent)] if on_path else []
    for candidate in candidates:
        if candidate and all((Path(candidate) / tool).exists() for tool in ("initdb", "pg_ctl")):
            return Path(candidate)
    raise RuntimeError(_BIN_HINT)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class PostgresCluster:
    bin_dir: Path
    folder: Path
    port: int

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    @property
    def socket_dir(self) -> Path:
        return self.folder / "socket"

    @property
    def log_file(self) -> Path:
        return self.folder / "server.log"

    @classmethod
    def create(cls, *, database: str = DATABASE) -> PostgresCluster:
        """Initialise, start and create ``database``; raises RuntimeError with the reason."""
        bin_dir = find_bin_dir()
        folder = Path(tempfile.mkdtemp(prefix="osed-pg-"))
        cluster = cls(bin_dir, folder, free_port())
        cluster.socket_dir.mkdir()
        if os.geteuid() == 0:
            entry = pwd.getpwnam(_SERVER_USER)
            for path in (folder, cluster.socket_dir):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        cluster._run(
            "initdb", "-D", str(cluster.data_dir), "-U", "postgres", "--auth=trust",
            "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        cluster.start()
        with psycopg.connect(cluster.conninfo("postgres"), autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        return cluster

    def conninfo(self, database: str = DATABASE) -> str:
        return f"host={self.socket_dir} port={self.port} user=postgres dbname={database}"

    def start(self) -> None:
        """Start the server (after a crash, this runs crash recovery) and wait until it serves."""
        options = (
            f"-p {self.port} -k {self.socket_dir} -c listen_addresses='' "
            "-c fsync=on -c synchronous_commit=on -c full_page_writes=on "
            "-c max_wal_size=2GB -c shared_buffers=128MB"
        )
        self._run(
            "pg_ctl", "start", "-D", str(self.data_dir), "-l", str(self.log_file),
            "-w", "-t", "60", "-o", options,
        )  # fmt: skip

    def stop(self) -> None:
        self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "fast", "-w", check=False)

    def postmaster_pid(self) -> int:
        return int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])

    def kill_postmaster(self, *, timeout_s: float = 30.0) -> None:
        """``kill -9`` the postmaster, as a crash would, and wait until its backends are gone
        (they exit on their own when they notice; a restart needs their shared memory free)."""
        pid = self.postmaster_pid()
        processes = [pid, *_children_of(pid)]
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + timeout_s
        while running := [p for p in processes if _state(p) not in (None, "Z")]:
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL processes {running} did not exit after SIGKILL")
            time.sleep(0.02)
        # Until its new parent reaps it, the dead postmaster's pid still exists, and the server
        # would take its lock file for a running postmaster's; a crash would have freed it.
        while _state(pid) == "Z" and time.monotonic() < deadline:
            time.sleep(0.02)
        if _state(pid) == "Z":
            (self.data_dir / "postmaster.pid").unlink()

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _run(self, tool: str, *arguments: str, check: bool = True) -> None:
        command = [str(self.bin_dir / tool), *arguments]
        if os.geteuid() == 0:
            command = ["runuser", "-u", _SERVER_USER, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if check and done.returncode != 0:
            log = self.log_file.read_text() if self.log_file.exists() else ""
            raise RuntimeError(
                f"{tool} failed ({done.returncode}): {done.stderr.strip()}\n{log[-2000:]}"
            )


def _children_of(pid: int) -> list[int]:
    children = []
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(status.parent.name))
    return children


def _state(pid: int) -> str | None:
    """The process state letter (``Z`` for a zombie), None once the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


# -------------------------------------------------------------------------- fixtures
_shared: list[PostgresCluster] = []
_active_users = [0]


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """One cluster for the whole session, however many conftest modules import this fixture;
    a missing PostgreSQL fails the test with the reason, never skips it."""
    if not _shared:
        try:
            _shared.append(PostgresCluster.create())
        except RuntimeError as exc:
            pytest.fail(f"cannot start a test PostgreSQL: {exc}", pytrace=False)
    _active_users[0] += 1
    yield _shared[0]
    _active_users[0] -= 1
    if not _active_users[0]:
        _shared.pop().destroy()


@pytest.fixture(scope="session")
def postgres_conninfo(postgres_cluster: PostgresCluster) -> str:
    return postgres_cluster.conninfo()


_schema_numbers = itertools.count(1)


@pytest.fixture
def postgres_schema(postgres_conninfo: str) -> Iterator[str]:
    """A schema name no other test uses; the store creates it, the fixture drops it after."""
    name = new_schema_name()
    yield name
    drop_schema(postgres_conninfo, name)


def new_schema_name() -> str:
    return f"test_{os.getpid()}_{next(_schema_numbers)}"


def drop_schema(conninfo: str, name: str) -> None:
    try:
        with psycopg.connect(conninfo, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
    except psycopg.OperationalError:
        pass  # the cluster is down (a crash test failed); it is removed at session end anyway
