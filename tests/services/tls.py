"""Throwaway certificates (made with the ``openssl`` command) and Mosquitto with a TLS listener.

A CA and a server certificate for 127.0.0.1 and localhost live in a temporary folder for one
test; nothing is trusted beyond it. A missing ``openssl`` fails the test with the Debian package
to install, as a missing broker does.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.services.brokers import (
    BROKER_USER,
    Broker,
    BrokerError,
    Credentials,
    mosquitto_broker,
    running,
)

SERVER_NAMES = ("IP:127.0.0.1", "DNS:localhost")
DAYS = "2"


@dataclass(frozen=True)
class CertificateAuthority:
    cert: Path
    key: Path

    def context(self) -> ssl.SSLContext:
        """A client context trusting only this CA (chain and host name verified)."""
        return ssl.create_default_context(cafile=str(self.cert))


@dataclass(frozen=True)
class ServerCertificate:
    ca: CertificateAuthority
    cert: Path
    key: Path


def _openssl(*args: str, cwd: Path) -> None:
    binary = shutil.which("openssl")
    if binary is None:
        raise BrokerError(
            "openssl is not installed: apt-get install -y openssl (the test command installs it)"
        )
    try:
        subprocess.run([binary, *args], check=True, cwd=cwd, capture_output=True)
    except subprocess.CalledProcessError as exc:
        raise BrokerError(f"openssl {args[0]} failed:\n{exc.stderr.decode()}") from exc


def _ec_key_options() -> list[str]:
    # P-256 keys: generated in milliseconds, unlike RSA.
    return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def make_ca(folder: Path, name: str = "OSED test CA") -> CertificateAuthority:
    folder.mkdir(parents=True, exist_ok=True)
    authority = CertificateAuthority(folder / "ca.pem", folder / "ca.key")
    _openssl(
        "req", "-x509", *_ec_key_options(),
        "-keyout", str(authority.key), "-out", str(authority.cert),
        "-days", DAYS, "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=folder,
    )  # fmt: skip
    return authority


def make_server_certificate(
    authority: CertificateAuthority, folder: Path, names: tuple[str, ...] = SERVER_NAMES
) -> ServerCertificate:
    """A server certificate signed by ``authority`` for ``names`` (subjectAltName entries)."""
    folder.mkdir(parents=True, exist_ok=True)
    server = ServerCertificate(authority, folder / "server.pem", folder / "server.key")
    request = folder / "server.csr"
    extensions = folder / "server.ext"
    # Python verifies the host name against subjectAltName only, never the common name.
    extensions.write_text(
        f"subjectAltName={','.join(names)}\n"
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid\n"
    )
    _openssl(
        "req", "-new", *_ec_key_options(),
        "-keyout", str(server.key), "-out", str(request), "-subj", "/CN=osed-test-broker",
        cwd=folder,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", str(request),
        "-CA", str(authority.cert), "-CAkey", str(authority.key), "-set_serial", "2",
        "-days", DAYS, "-extfile", str(extensions), "-out", str(server.cert),
        cwd=folder,
    )  # fmt: skip
    return server


def tls_mosquitto_broker(
    folder: Path, server: ServerCertificate, *, credentials: Credentials | None = BROKER_USER
) -> Broker:
    """A Mosquitto (not started) whose only listener speaks TLS 1.2 or newer with ``server``'s
    certificate, and that accepts ``credentials`` only."""
    # Certificate options apply to the listener above them: the one mosquitto_broker writes.
    listener = (
        f"cafile {server.ca.cert}\n"
        f"certfile {server.cert}\n"
        f"keyfile {server.key}\n"
        "tls_version tlsv1.2\n"
    )
    return mosquitto_broker(folder, credentials=credentials, extra_config=listener)


@dataclass(frozen=True)
class TlsBroker:
    broker: Broker
    server: ServerCertificate

    @property
    def ca(self) -> Path:
        return self.server.ca.cert


@pytest.fixture
def tls_mosquitto(tmp_path: Path) -> Iterator[TlsBroker]:
    """Mosquitto on TLS with a throwaway CA; ``BROKER_USER`` accepted, anonymous refused."""
    try:
        authority = make_ca(tmp_path / "pki" / "ca")
        server = make_server_certificate(authority, tmp_path / "pki" / "server")
        broker = tls_mosquitto_broker(tmp_path / "mosquitto-tls", server)
    except BrokerError as exc:
        pytest.fail(str(exc), pytrace=False)
    with running(broker):
        yield TlsBroker(broker, server)


@pytest.fixture
def other_ca(tmp_path: Path) -> CertificateAuthority:
    """A second throwaway CA that signed nothing the brokers use."""
    try:
        return make_ca(tmp_path / "pki" / "other-ca", "Some other CA")
    except BrokerError as exc:
        pytest.fail(str(exc), pytrace=False)
