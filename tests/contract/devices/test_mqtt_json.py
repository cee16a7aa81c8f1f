"""The device gateway contract on MQTT JSON devices over a real Mosquitto; the link is cut by
killing the broker (SIGKILL) and restored by starting it again on the same port."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from osed.devices.mqtt_json import MqttJsonGateway
from osed.devices.mqtt_json_config import read_config
from osed.domain.devices import Action
from tests.contract.devices.contract import (
    DeviceGatewayContract,
    GatewayHarness,
    HarnessFactory,
    SetpointCase,
)
from tests.services.brokers import Broker
from tests.services.mqtt_devices import MqttJsonDevice, gateway_config


class MqttJsonHarness:
    def __init__(self, gateway: MqttJsonGateway, device: MqttJsonDevice, broker: Broker) -> None:
        self.gateway = gateway
        self.device = device
        self.broker = broker
        self.case = SetpointCase(device.device_id, Action.SET_POWER_KW, 2.5, -1.5, 9.0)

    async def produce(self) -> None:
        await self.device.publish_state()

    async def interrupt(self) -> None:
        self.broker.kill()

    async def restore(self) -> None:
        self.broker.start()

    async def device_value(self) -> float | None:
        return self.device.power_w / 1000.0

    def applications(self, command_id: str) -> int | None:
        return self.device.applications[command_id]


@pytest.fixture
async def harness_factory(mosquitto: Broker) -> AsyncIterator[HarnessFactory]:
    made: list[MqttJsonGateway | MqttJsonDevice] = []

    async def make() -> GatewayHarness:
        device = MqttJsonDevice(mosquitto.host, mosquitto.port, f"bat-{uuid.uuid4().hex[:8]}")
        await device.start()
        made.append(device)
        config = read_config(gateway_config(mosquitto.host, mosquitto.port, [device.device_id]))
        gateway = MqttJsonGateway(config)
        await gateway.start()
        made.append(gateway)
        return MqttJsonHarness(gateway, device, mosquitto)

    yield make
    for part in reversed(made):
        await (part.close() if isinstance(part, MqttJsonGateway) else part.stop())


class TestMqttJsonGateway(DeviceGatewayContract):
    pass
