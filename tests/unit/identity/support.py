"""A local issuer's documents served over real HTTP, and tokens signed by hand.

The server answers ``/.well-known/openid-configuration`` and ``/jwks`` from a
:class:`LocalIssuer` on every request, so a rotation shows at once, and counts what it served.
"""

from __future__ import annotations

import base64
import json
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from osed.identity.local_issuer import LocalIssuer
from osed.identity.local_keys import SigningKey


@dataclass
class IssuerServer:
    url: str
    hits: Counter[str]
    issuer: LocalIssuer | None = None


@contextmanager
def serve_issuer(make_issuer: Any) -> Iterator[IssuerServer]:
    """Serve ``make_issuer(url)``'s documents on a free port of 127.0.0.1."""
    hits: Counter[str] = Counter()
    state = IssuerServer(url="", hits=hits)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits[self.path] += 1
            issuer = state.issuer
            assert issuer is not None
            if self.path == "/.well-known/openid-configuration":
                body = issuer.openid_configuration(state.url + "/jwks")
            elif self.path == "/jwks":
                body = issuer.jwks()
            else:
                self.send_error(404)
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    state.issuer = make_issuer(state.url)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def compact(header: dict[str, Any], claims: dict[str, Any], signature: bytes | None = None) -> str:
    """A JWS of exactly ``header`` and ``claims``, with ``signature`` (empty by default)."""
    head = b64(json.dumps(header).encode())
    body = b64(json.dumps(claims).encode())
    return f"{head}.{body}.{b64(signature or b'')}"


def signed(header: dict[str, Any], claims: dict[str, Any], key: SigningKey) -> str:
    """``header`` and ``claims`` signed with ``key`` (whatever alg the header states)."""
    unsigned = compact(header, claims).rsplit(".", 1)[0]
    signer = (
        ECAlgorithm(ECAlgorithm.SHA256)
        if key.algorithm == "ES256"
        else RSAAlgorithm(RSAAlgorithm.SHA256)
    )
    signature = signer.sign(unsigned.encode("ascii"), key.private_key)  # type: ignore[arg-type]
    return f"{unsigned}.{b64(signature)}"
