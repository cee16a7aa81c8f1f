"""Real brokers for tests and benchmarks: Mosquitto and NATS JetStream in temporary folders.

Each broker listens on a free 127.0.0.1 port, keeps its data in its own folder and can be
killed with SIGKILL and restarted on the same port and folder (fault tests). The brokers the
machine already runs (1883, 4222) are never touched. A missing binary fails the test with the
Debian package to install; it is never a skip.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import pytest

MOSQUITTO = "/usr/sbin/mosquitto"
NATS_SERVER = "/usr/sbin/nats-server"
READY_TIMEOUT_S = 15.0


class BrokerError(RuntimeError):
    """A broker could not be found, started or stopped."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _binary(path: str, package: str) -> str:
    found = path if os.access(path, os.X_OK) else shutil.which(Path(path).name)
    if found is None:
        raise BrokerError(
            f"{Path(path).name} is not installed: apt-get install -y {package} "
            "(the test command installs it)"
        )
    return found


@dataclass
class Broker:
    """One broker process; ``kill()`` is SIGKILL, ``restart()`` reuses port and folder."""

    name: str
    command: list[str]
    folder: Path
    port: int
    host: str = "127.0.0.1"
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def log(self) -> Path:
        return self.folder / f"{self.name}.log"

    def start(self) -> None:
        if self.process is not None and self.process.poll() is None:
            raise BrokerError(f"{self.name} is already running")
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, cwd=self.folder
            )
        self._wait_until_accepting()

    def kill(self) -> None:
        """SIGKILL: no shutdown work, as in a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=READY_TIMEOUT_S)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not exit in time."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=READY_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()

    def restart(self, *, hard: bool = True) -> None:
        self.kill() if hard else self.stop()
        self.start()

    def _wait_until_accepting(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise BrokerError(f"{self.name} exited at start:\n{self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.02)  # polling a port that is not open yet; nothing to await
        self.kill()
        raise BrokerError(f"{self.name} did not accept connections on {self.port}")


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


def _mosquitto_password_line(credentials: Credentials) -> str:
    # Mosquitto 2.0's PBKDF2-SHA512 format, as written by mosquitto_passwd.
    salt = secrets.token_bytes(12)
    iterations = 101
    digest = hashlib.pbkdf2_hmac("sha512", credentials.password.encode(), salt, iterations)
    encoded = f"{base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
    return f"{credentials.username}:$7${iterations}${encoded}\n"


def mosquitto_broker(
    folder: Path, *, credentials: Credentials | None = None, extra_config: str = ""
) -> Broker:
    """A Mosquitto configured in ``folder`` (not started): persistence on, QoS 1 queues large
    enough for tests (the default max_queued_messages of 1000 would drop the rest), and no cap
    on QoS 1 messages in flight to a subscriber (the default 20 would make the bridge's raw
    batches, acknowledged only once written, close at 20 messages)."""
    binary = _binary(MOSQUITTO, "mosquitto")
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    lines = [
        f"listener {port} 127.0.0.1",
        "persistence true",
        f"persistence_location {folder}/",
        # As root Mosquitto drops to user "mosquitto" and then cannot write the folder.
        f"user {getpass.getuser()}",
        "max_queued_messages 0",
        "max_inflight_messages 0",
        "log_type error",
        "log_type warning",
        "log_type notice",
    ]
    if credentials is None:
        lines.append("allow_anonymous true")
    else:
        password_file = folder / "passwords"
        password_file.write_text(_mosquitto_password_line(credentials))
        password_file.chmod(0o600)
        lines += ["allow_anonymous false", f"password_file {password_file}"]
    config = folder / "mosquitto.conf"
    config.write_text("\n".join(lines) + "\n" + extra_config)
    return Broker("mosquitto", [binary, "-c", str(config)], folder, port)


SHIPPED_MOSQUITTO_CONF = Path(__file__).resolve().parents[2] / "examples/mosquitto/mosquitto.conf"
_PLACED_BY_TESTS = ("listener", "persistence_location", "user", "log_dest", "pid_file")


def shipped_mosquitto_broker(folder: Path) -> Broker:
    """A Mosquitto (not started) with the settings OSED ships in
    ``examples/mosquitto/mosquitto.conf``, verbatim but for where it listens and keeps its
    files: a free port and ``folder``."""
    binary = _binary(MOSQUITTO, "mosquitto")
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    shipped = [
        line
        for line in SHIPPED_MOSQUITTO_CONF.read_text().splitlines()
        if line.split(" ", 1)[0] not in _PLACED_BY_TESTS
    ]
    placed = [
        f"listener {port} 127.0.0.1",
        f"persistence_location {folder}/",
        f"user {getpass.getuser()}",
    ]
    config = folder / "mosquitto.conf"
    config.write_text("\n".join(placed + shipped) + "\n")
    return Broker("mosquitto", [binary, "-c", str(config)], folder, port)


def nats_broker(folder: Path) -> Broker:
    """A nats-server with JetStream storing in ``folder`` (not started)."""
    binary = _binary(NATS_SERVER, "nats-server")
    store = folder / "jetstream"
    store.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [binary, "-js", "-sd", str(store), "-a", "127.0.0.1", "-p", str(port)]
    return Broker("nats-server", command, folder, port)


@contextmanager
def running(broker: Broker) -> Iterator[Broker]:
    """Start ``broker``; always stop it, whatever the body did to it."""
    try:
        broker.start()
        yield broker
    finally:
        broker.kill()


def _failing(exc: BrokerError) -> NoReturn:
    pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Broker]:
    try:
        broker = mosquitto_broker(tmp_path / "mosquitto")
    except BrokerError as exc:
        _failing(exc)
    with running(broker):
        yield broker


BROKER_USER = Credentials("osed-test", "s3cret-for-tests")


@pytest.fixture
def mosquitto_with_password(tmp_path: Path) -> Iterator[Broker]:
    """Anonymous clients refused; ``BROKER_USER`` accepted."""
    try:
        broker = mosquitto_broker(tmp_path / "mosquitto-auth", credentials=BROKER_USER)
    except BrokerError as exc:
        _failing(exc)
    with running(broker):
        yield broker


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[Broker]:
    try:
        broker = nats_broker(tmp_path / "nats")
    except BrokerError as exc:
        _failing(exc)
    with running(broker):
        yield broker
