"""An EDC on a real Mosquitto: the building gets the function's request, its answer with its
token reaches the function, a forged one is dead-lettered, and destroying the EDC sends the
restoration."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from osed.bus.mqtt import MqttBus
from osed.domain.envelope import Envelope
from osed.domain.time import SystemClock
from osed.edge.manager import EdcManager
from osed.storage.edc_sqlite import SqliteEdcStateStore
from tests.integration.bus.support import Collector
from tests.services.brokers import Broker
from tests.unit.edge import probe
from tests.unit.edge.conftest import eventually


def answer(seq: int, token: str, kw: float) -> Envelope:
    body = {"building": "b1", "token": token, "type": "response", "body": {"kw": kw}}
    payload = json.dumps(body).encode()
    return Envelope("edc/mv-1/probe/in", "b1", seq, payload, SystemClock().now())


async def test_an_edc_talks_to_a_building_through_mosquitto(
    mosquitto: Broker, tmp_path: Path
) -> None:
    clock = SystemClock()
    edc_bus = MqttBus(mosquitto.host, mosquitto.port, client_id="edc", clock=clock)
    building = MqttBus(mosquitto.host, mosquitto.port, client_id="b1", clock=clock)
    await edc_bus.start()
    await building.start()
    store = SqliteEdcStateStore(tmp_path / "edc.sqlite")
    manager = EdcManager(
        edc_bus,
        store,
        control_cycle=timedelta(hours=1),
        load_function=probe.load_function,
        function_names=probe.function_names,
    )
    try:
        await manager.start()
        requests, letters = Collector(), Collector()
        await building.subscribe("edc/mv-1/probe/out/b1", requests)
        await building.subscribe("dead-letter/edc/#", letters)
        edc, _ = await manager.create("mv-1", "trafo0", idempotency_key="k")
        token = await edc.enrol("b1", None)
        await edc.assign("probe", {"limit_kw": 12})
        got = await requests.wait_for(1)
        assert json.loads(got[0].payload)["body"] == {"limit_kw": 12.0}

        await building.publish(answer(1, "forged", 99.0))
        await building.publish(answer(2, token, 3.5))
        await letters.wait_for(1)
        assert json.loads(letters.got[0].payload)["problems"][0]["code"] == "wrong_token"
        await eventually(
            lambda: edc.function_status("probe")["status"]["responses"] == {"b1": 3.5},
            timeout=15,
        )

        await manager.destroy("mv-1")
        got = await requests.wait_for(2)
        assert json.loads(got[1].payload)["type"] == "restore"
        assert manager.resources()["subscriptions"] == 0
    finally:
        await manager.stop()
        await building.stop()
        await edc_bus.stop()
        store.close()
