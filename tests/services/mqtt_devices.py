"""MQTT JSON devices on a real broker, for tests and benchmarks: each publishes its state as JSON,
takes commands carrying an id, applies an id once and acknowledges every copy of it.

Wire format (what ``DEVICE_CONFIG`` tells the gateway):

    devices/<id>/state   {"power_w": 1500, "soc_pct": 52.5, "ts": 1767225600.0}
    devices/<id>/set     {"id": "<command id>", "power_w": 2500}
    devices/<id>/ack     {"command_id": "<command id>", "ok": true}  or  ok false with "error"

A device refuses a power beyond its own limit (``limit_w``) with ``ok: false``. Each device
runs on the project's MQTT link, so it reconnects and subscribes again after a broker restart.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from typing import Any

from osed.bus.mqtt_link import MqttConnection, MqttEndpoint, MqttLink, MqttMessage


def gateway_config(host: str, port: int, device_ids: list[str], **extra: Any) -> dict[str, Any]:
    """The gateway's configuration for these devices (one shared type)."""
    config: dict[str, Any] = {
        "broker": {"host": host, "port": port, "client_id": f"gateway-{port}"},
        "retry_s": 0.5,
        "topics": {
            "measurements": "devices/{device}/state",
            "command": "devices/{device}/set",
            "ack": "devices/{device}/ack",
        },
        "ack": {"id_path": "$.command_id", "ok_path": "$.ok", "detail_path": "$.error"},
        "time_path": "$.ts",
        "types": {
            "battery": {
                "kind": "battery",
                "quantities": {
                    "power_kw": {"path": "$.power_w", "scale": 0.001},
                    "soc": {"path": "$.soc_pct", "scale": 0.01},
                },
                "actions": {
                    "set_power_kw": {
                        "min": -5,
                        "max": 5,
                        "scale": 1000,
                        "payload": {"id": "{command_id}", "power_w": "{value}"},
                    }
                },
            }
        },
        "devices": [{"id": i, "type": "battery"} for i in device_ids],
    }
    config.update(extra)
    return config


class MqttJsonDevice:
    def __init__(self, host: str, port: int, device_id: str, *, limit_w: float = 5000.0) -> None:
        self.device_id = device_id
        self.power_w = 0.0
        self.soc_pct = 50.0
        self.limit_w = limit_w
        self.applications: Counter[str] = Counter()
        self._outcomes: dict[str, dict[str, Any]] = {}
        self._link = MqttLink(
            MqttEndpoint(host, port),
            client_id=f"device-{device_id}",
            persistent_session=False,
            on_connect=self._on_connect,
            on_message=self._on_message,
        )

    async def start(self) -> None:
        await self._link.start()

    async def stop(self) -> None:
        await self._link.stop()

    async def publish_state(self) -> None:
        state = {"power_w": self.power_w, "soc_pct": self.soc_pct, "ts": time.time()}
        await self._link.publish(
            f"devices/{self.device_id}/state", json.dumps(state).encode(), qos=1, timeout=30.0
        )

    async def _on_connect(self, connection: MqttConnection) -> None:
        await connection.subscribe(f"devices/{self.device_id}/set", qos=1)

    async def _on_message(self, connection: MqttConnection, message: MqttMessage) -> None:
        command = json.loads(message.payload)
        command_id = command["id"]
        answer = self._outcomes.get(command_id)
        if answer is None:
            power = float(command["power_w"])
            if abs(power) > self.limit_w:
                answer = {"command_id": command_id, "ok": False, "error": "beyond the inverter"}
            else:
                self.power_w = power
                self.applications[command_id] += 1
                answer = {"command_id": command_id, "ok": True}
            self._outcomes[command_id] = answer
        # Answered from a task: the link hands messages over one at a time, and the publish
        # must not wait inside that hand-over.
        asyncio.get_running_loop().create_task(self._answer(answer))

    async def _answer(self, answer: dict[str, Any]) -> None:
        topic = f"devices/{self.device_id}/ack"
        await self._link.publish(topic, json.dumps(answer).encode(), qos=1, timeout=30.0)
        await self.publish_state()
