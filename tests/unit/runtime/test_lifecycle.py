import asyncio
import json

from osed.runtime.health import HealthServer
from osed.runtime.lifecycle import Runner


class Recorder:
    def __init__(self, name: str, log: list[str], *, ready: bool = True) -> None:
        self.name = name
        self.log = log
        self.is_ready = ready

    async def start(self) -> None:
        self.log.append(f"start {self.name}")

    async def stop(self) -> None:
        self.log.append(f"stop {self.name}")

    def ready(self) -> bool:
        return self.is_ready


async def get(port: int, path: str) -> tuple[int, dict[str, object]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


async def test_services_start_in_order_report_health_and_stop_in_reverse() -> None:
    log: list[str] = []
    bus, agent = Recorder("bus", log), Recorder("market-agent", log, ready=False)
    health = HealthServer("127.0.0.1", 0)
    runner = Runner([bus, agent], health=health)
    task = asyncio.create_task(runner.run())
    while len(log) < 2:
        await asyncio.sleep(0.01)
    port = health.bound_port
    assert await get(port, "/healthz") == (200, {"status": "alive"})
    status, body = await get(port, "/readyz")
    assert (status, body["services"]) == (503, {"bus": True, "market-agent": False})
    agent.is_ready = True
    assert (await get(port, "/readyz"))[0] == 200
    assert (await get(port, "/nope"))[0] == 404
    runner.request_stop()
    await task
    assert log == ["start bus", "start market-agent", "stop market-agent", "stop bus"]
