"""The platform API's read path under load over loopback, printing JSON.

A server process runs what ``osed serve`` runs with ``services: [market-agent, api]``
(uvicorn, one worker, in the runtime's event loop) on the CIGRE MV network, with the default
identity settings: OSED's local issuer, a real ES256 JWT on every request. It holds a few
hundred trades of the participant the benchmark reads for (put through the API first) and the
network's power-flow state published on its bus as the estimation service publishes an
estimate. A load generator in another process (asyncio, keep-alive connections, HTTP/1.1
written and parsed by hand so that the client costs less than the server) keeps
``--connections`` requests in flight for ``--seconds`` per endpoint after a warm-up:

- ``positions``: ``GET /api/v1/markets/m1/positions`` with a participant's token (its rows)
- ``estimate``: ``GET /api/v1/network/estimate`` with a viewer's token

Figures per endpoint: requests per second, p50 and p99 latency in ms, answers other than 200
(must be 0), and the bytes of one answer. Targets: >= 1,000 requests/s on one worker, p99 <=
50 ms.

    .venv/bin/python bench/bench_api.py [--seconds 5] [--connections 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from importlib.util import find_spec
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[1]
NETWORK = ROOT / "examples" / "grid" / "cigre-mv.json"
PARTY = "p-17"
TRADES = 96  # one per quarter hour of tomorrow, each a buy of PARTY against another party


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# ---------------------------------------------------------------- the server process


async def serve(config: Path, state_dir: Path) -> None:
    """The runtime's services from ``config``, an estimate on the bus, until SIGTERM."""
    from osed.runtime.container import BusService, build_services
    from osed.runtime.settings import load_settings

    settings = load_settings(config)
    services = build_services(settings, list(settings.services), state_dir=state_dir)
    for service in services:
        await service.start()
    bus = next(s for s in services if isinstance(s, BusService)).bus
    await publish_estimate(bus, settings.estimation.output_prefix)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    await stop.wait()
    for service in reversed(services):
        await service.stop()


async def publish_estimate(bus: Any, prefix: str) -> None:
    """The network's power-flow state, encoded and published as an estimate is."""
    from osed.domain.envelope import Envelope
    from osed.grid.imports.files import load_network
    from osed.grid.network import BRANCHES
    from osed.grid.powerflow import power_flow
    from osed.grid_services.estimation_output import StateEncoder

    network = load_network(str(NETWORK))
    state = power_flow(network)
    at = datetime.now(UTC).replace(microsecond=0)
    stamp = at.isoformat()
    instant = int(at.timestamp() * 1e9)
    encoder = StateEncoder(
        name="bench",
        prefix=prefix,
        node_ids=network.ids("node"),
        branch_ids=[b for kind in BRANCHES for b in network.ids(kind)],
        store=False,
    )
    outputs = encoder.state(state, at, stamp, instant)
    outputs.append(encoder.summary({"timestamp": stamp, "status": "ok"}, instant))
    for seq, output in enumerate(outputs, start=1):
        await bus.publish(Envelope(output.topic, "bench", seq, output.payload, at))


# ---------------------------------------------------------------- the load generator


async def load(
    port: int, path: str, token: str, *, connections: int, seconds: float, warmup: float
) -> dict[str, Any]:
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\nAccept: application/json\r\n\r\n"
    ).encode()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    size = 0
    measuring_from = time.perf_counter() + warmup
    until = measuring_from + seconds

    async def connection() -> None:
        nonlocal size
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while (start := time.perf_counter()) < until:
                writer.write(request)
                status, body = await _answer(reader)
                end = time.perf_counter()
                if start >= measuring_from:
                    latencies.append(end - start)
                    statuses[status] = statuses.get(status, 0) + 1
                    size = len(body)
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(connections)))
    latencies.sort()
    count = len(latencies)
    return {
        "requests_per_s": round(count / seconds),
        "p50_ms": round(latencies[count // 2] * 1000, 2),
        "p99_ms": round(latencies[min(count - 1, int(count * 0.99))] * 1000, 2),
        "requests": count,
        "not_200": sum(n for status, n in statuses.items() if status != 200),
        "answer_bytes": size,
    }


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if not chunked:
        return status, await reader.readexactly(length)
    body = b""
    while True:
        size = int((await reader.readline()).strip(), 16)
        chunk = await reader.readexactly(size + 2)
        if size == 0:
            return status, body
        body += chunk[:-2]


def generate(argv: list[str]) -> None:
    """The load generator's process: figures of one endpoint as JSON on standard output."""
    port, path, token, connections, seconds, warmup = argv
    figures = asyncio.run(
        load(
            int(port),
            path,
            token,
            connections=int(connections),
            seconds=float(seconds),
            warmup=float(warmup),
        )
    )
    print(json.dumps(figures))


# ---------------------------------------------------------------- the benchmark


def call(url: str, token: str, body: Any = None, key: str | None = None) -> Any:
    request = urllib.request.Request(
        url,
        method="GET" if body is None else "POST",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    if key is not None:
        request.add_header("Idempotency-Key", key)
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def tender(tender_id: str, side: str, price: int, start: datetime) -> dict[str, Any]:
    interval = {"dtStart": start.strftime("%Y-%m-%dT%H:%M:%SZ"), "duration": "PT15M"}
    return {
        "tenderId": tender_id,
        "side": side,
        "tenderDetail": {"interval": {"interval": interval, "price": price, "quantity": 1000}},
        "priceScale": 4,
        "quantityScale": 3,
        "currency": "USD",
    }


def trade(url: str, operator: str) -> None:
    """``TRADES`` fills of PARTY (a buy against another party's sell), one per quarter hour."""
    tomorrow = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    tomorrow += timedelta(days=1)
    for k in range(TRADES):
        start = tomorrow + k * timedelta(minutes=15)
        for side, party, price in (("SELL", "other", 1000), ("BUY", PARTY, 2000)):
            body = {"tender": tender(f"{side}-{k}", side, price, start), "partyId": party}
            call(f"{url}/api/v1/markets/m1/tenders", operator, body, key=f"{side}-{k}")


def token(config: Path, state_dir: Path, *args: str) -> str:
    printed = subprocess.run(
        [sys.executable, "-m", "osed.cli", "token", "create", *args, "--config", str(config),
         "--state-dir", str(state_dir), "--ttl", "3600", "--json"],
        capture_output=True, check=True, env={**os.environ, "OSED_CONFIG": ""},
    )  # fmt: skip
    return str(json.loads(printed.stdout)["access_token"])


def measure(folder: Path, seconds: float, connections: int, warmup: float) -> dict[str, Any]:
    import yaml

    port = free_port()
    config = folder / "osed.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "services": ["market-agent", "api"],
                "storage": {"sqlite_path": str(folder / "osed.sqlite")},
                "market": {"market_id": "m1", "mechanism": "bilateral"},
                "edc": {"network": str(NETWORK)},
                "api": {"port": port, "idempotency_path": str(folder / "keys.sqlite")},
                "log": {"level": "WARNING"},
            }
        )
    )
    state_dir = folder / "state"
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(config), str(state_dir)],
        stdout=subprocess.PIPE,
        env={**os.environ, "OSED_CONFIG": ""},
    )
    try:
        assert server.stdout is not None
        if server.stdout.readline().strip() != b"ready":
            raise SystemExit("the API did not start")
        url = f"http://127.0.0.1:{port}"
        participant = token(config, state_dir, "--role", "participant", "--subject", "p",
                            "--party", PARTY)  # fmt: skip
        viewer = token(config, state_dir, "--role", "viewer", "--subject", "v")
        trade(url, token(config, state_dir, "--role", "operator", "--subject", "ops"))
        positions = call(f"{url}/api/v1/markets/m1/positions?limit=1000", participant)
        assert len(positions["items"]) == TRADES, positions
        estimate = call(f"{url}/api/v1/network/estimate", viewer)
        assert estimate["nodes"], estimate
        endpoints = {
            "positions": ("/api/v1/markets/m1/positions?limit=100", participant),
            "estimate": ("/api/v1/network/estimate", viewer),
        }
        figures: dict[str, Any] = {}
        for name, (path, bearer) in endpoints.items():
            generator = subprocess.run(
                [sys.executable, __file__, "--generate", str(port), path, bearer,
                 str(connections), str(seconds), str(warmup)],
                capture_output=True, check=True,
            )  # fmt: skip
            figures[name] = json.loads(generator.stdout)
        return figures
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def main() -> None:
    if sys.argv[1:2] == ["--serve"]:
        asyncio.run(serve(Path(sys.argv[2]), Path(sys.argv[3])))
        return
    if sys.argv[1:2] == ["--generate"]:
        generate(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measured per endpoint")
    parser.add_argument("--connections", type=int, default=16, help="requests in flight")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds not measured")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        figures = measure(Path(folder), args.seconds, args.connections, args.warmup)
    import fastapi
    import uvicorn

    print(
        json.dumps(
            {
                "cpus": os.cpu_count(),
                "python": sys.version.split()[0],
                "fastapi": fastapi.__version__,
                "uvicorn": uvicorn.__version__,
                "workers": 1,
                "http_parser": "httptools" if find_spec("httptools") else "h11",
                "connections": args.connections,
                "seconds": args.seconds,
                "token": "ES256 JWT of the local issuer",
                **figures,
            }
        )
    )


if __name__ == "__main__":
    main()
