"""EdgeX events through the adapter without a broker: mapping, sender checks, fuzzing."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osed.bus.mqtt_link import MqttEndpoint, MqttMessage
from osed.devices.edgex import INTERNAL_ERROR, EdgexGateway
from osed.devices.edgex_commands import request_id
from osed.devices.edgex_config import load_config
from osed.domain.devices import Action, Command, Measurement, Outcome, Quantity
from tests.unit.devices.edgex_sample import sample_config

ORIGIN = 1_796_644_800_000_000_000  # 2026-12-07 12:00 UTC in nanoseconds
AT = datetime(2026, 12, 7, 12, tzinfo=UTC)


def reading(resource: str, value: str, value_type: str = "Float64", **extra: Any) -> dict[str, Any]:
    return {
        "origin": ORIGIN,
        "resourceName": resource,
        "valueType": value_type,
        "value": value,
    } | extra


def event(device: str, profile: str, source: str, readings: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "v3",
        "id": "e5b5c8d4-0c09-4e5c-9a57-8c4ad2c8c3a1",
        "deviceName": device,
        "profileName": profile,
        "sourceName": source,
        "origin": ORIGIN,
        "readings": readings,
    }


def message(topic: str, event_: dict[str, Any], *, inline: bool = False) -> MqttMessage:
    request = {"apiVersion": "v3", "requestId": "r", "event": event_}
    payload: Any = request if inline else base64.b64encode(json.dumps(request).encode()).decode()
    envelope = {
        "apiVersion": "v3",
        "receivedTopic": "",
        "correlationID": "c",
        "requestID": "",
        "errorCode": 0,
        "payload": payload,
        "contentType": "application/json",
    }
    return MqttMessage(topic, json.dumps(envelope).encode(), 0, 0, False)


def topic(service: str, profile: str, device: str, source: str) -> str:
    return f"edgex/events/device/{service}/{profile}/{device}/{source}"


BATTERY_TOPIC = topic("device-modbus", "Battery", "Battery-01", "Status")


class Gateway:
    """The adapter, unconnected, and what it delivered."""

    def __init__(self) -> None:
        self.adapter = EdgexGateway(load_config(sample_config()), MqttEndpoint("127.0.0.1", 1))
        self.delivered: list[Measurement] = []
        self.adapter.on_measurements(self._take)

    async def _take(self, batch: Sequence[Measurement]) -> None:
        self.delivered += batch

    async def feed(self, *messages: MqttMessage) -> None:
        await self.adapter.receive(list(messages))

    @property
    def reasons(self) -> list[str]:
        return [r.reason for r in self.adapter.refusals()]


def battery_status(**names: str) -> dict[str, Any]:
    readings = [
        reading("StateOfCharge", "5.5e+01", **names),
        reading("Power", "-1500", "Int32", **names),
        reading("Voltage", "4.01e+02", **names),  # not mapped: ignored
    ]
    return event("Battery-01", "Battery", "Status", readings)


@pytest.mark.parametrize("inline", [False, True])
async def test_a_battery_event_becomes_scaled_measurements(inline: bool) -> None:
    gateway = Gateway()
    await gateway.feed(message(BATTERY_TOPIC, battery_status(), inline=inline))
    assert gateway.reasons == []
    got = {(m.device_id, m.quantity): m.value for m in gateway.delivered}
    assert got == {
        ("battery-1", Quantity.SOC): pytest.approx(0.55),
        ("battery-1", Quantity.POWER_KW): pytest.approx(-1.5),
    }
    assert {m.at for m in gateway.delivered} == {AT}
    assert [(x.device_id, x.online) for x in gateway.adapter.liveness()] == [
        ("battery-1", True),
        ("zone-1", False),
    ]


async def test_an_optimised_event_takes_names_and_time_from_the_event() -> None:
    gateway = Gateway()
    lean = {"valueType": "Float64", "value": "2.15e+01"}  # EdgeX 4.1 EDGEX_OPTIMIZE_EVENT_PAYLOAD
    thermostat = event("Thermostat-Living", "Thermostat", "Temperature", [lean])
    await gateway.feed(
        message(topic("device-mqtt", "Thermostat", "Thermostat-Living", "Temperature"), thermostat)
    )
    assert [(m.device_id, m.quantity, m.value, m.at) for m in gateway.delivered] == [
        ("zone-1", Quantity.TEMPERATURE_C, pytest.approx(21.5), AT)
    ]


async def test_a_bool_reading_is_one_or_zero() -> None:
    gateway = Gateway()
    heating = event(
        "Thermostat-Living", "Thermostat", "Heating", [reading("Heating", "true", "Bool")]
    )
    await gateway.feed(
        message(topic("device-mqtt", "Thermostat", "Thermostat-Living", "Heating"), heating)
    )
    assert [m.value for m in gateway.delivered] == [1.0]


@pytest.mark.parametrize(
    ("where", "body", "reason"),
    [
        # A thermostat publishing on the battery's topic.
        (
            BATTERY_TOPIC,
            event("Thermostat-Living", "Battery", "Status", [reading("StateOfCharge", "10")]),
            "deviceName",
        ),
        # The battery's readings inside another device's event.
        (BATTERY_TOPIC, battery_status(deviceName="Battery-02"), "deviceName"),
        # The right names on a topic of another device service.
        (
            topic("device-rogue", "Battery", "Battery-01", "Status"),
            battery_status(),
            "belongs to service",
        ),
        # Another profile in the topic than the device has.
        (
            topic("device-modbus", "Meter", "Battery-01", "Status"),
            battery_status(),
            "belongs to service",
        ),
        (BATTERY_TOPIC, battery_status() | {"profileName": "Meter"}, "profileName"),
        (BATTERY_TOPIC, battery_status() | {"sourceName": "Other"}, "sourceName"),
    ],
)
async def test_a_device_publishing_on_another_devices_topic_is_refused(
    where: str, body: dict[str, Any], reason: str
) -> None:
    gateway = Gateway()
    await gateway.feed(message(where, body))
    assert gateway.delivered == []
    [refusal] = gateway.adapter.refusals()
    assert reason in refusal.reason
    assert refusal.impersonation
    assert refusal.topic == where


async def test_unknown_devices_are_refused_and_discoverable_ones_taken_in() -> None:
    gateway = Gateway()
    stranger = event("Pump-7", "Pump", "Flow", [reading("Flow", "1")])
    meter = event("Meter-Main", "Meter", "ActivePower", [reading("ActivePower", "2300")])
    await gateway.feed(
        message(topic("device-bacnet", "Pump", "Pump-7", "Flow"), stranger),
        message(topic("device-modbus", "Meter", "Meter-Main", "ActivePower"), meter),
    )
    assert len(gateway.reasons) == 1
    assert "unknown device 'Pump-7'" in gateway.reasons[0]
    assert [(m.device_id, m.value) for m in gateway.delivered] == [
        ("Meter-Main", pytest.approx(2.3))
    ]
    found = {d.device_id: d for d in await gateway.adapter.discover()}
    assert set(found) == {"battery-1", "zone-1", "Meter-Main"}
    assert found["Meter-Main"].quantities == {Quantity.POWER_KW}
    assert found["battery-1"].name == "Battery-01"


@pytest.mark.parametrize(
    ("readings", "reason"),
    [
        ([reading("StateOfCharge", "lots")], "not a number"),
        ([reading("StateOfCharge", "inf")], "not a number"),
        ([reading("StateOfCharge", "1e999")], "out of range"),
        ([reading("StateOfCharge", "5", "String")], "not a number"),
        ([reading("StateOfCharge", "5", origin=1_700_000)], "nanoseconds"),
        (["not an object"], "not an object"),
    ],
)
async def test_unusable_readings_refuse_the_event(readings: list[Any], reason: str) -> None:
    gateway = Gateway()
    await gateway.feed(message(BATTERY_TOPIC, event("Battery-01", "Battery", "Status", readings)))
    assert gateway.delivered == []
    assert len(gateway.reasons) == 1
    assert reason in gateway.reasons[0]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
reading_like = st.fixed_dictionaries(
    {},
    optional={
        "resourceName": st.sampled_from(["StateOfCharge", "Power"]) | json_values,
        "valueType": st.sampled_from(["Float64", "Int32", "Bool", "String"]) | json_values,
        "value": st.text(max_size=12) | json_values,
        "origin": st.integers() | json_values,
        "deviceName": st.just("Battery-01") | json_values,
    },
)
event_like = st.fixed_dictionaries(
    {
        "deviceName": st.just("Battery-01") | json_values,
        "readings": st.lists(reading_like, max_size=3) | json_values,
    },
    optional={
        "profileName": st.just("Battery") | json_values,
        "origin": st.integers(),
        "sourceName": json_values,
    },
)
topics = st.sampled_from(
    [BATTERY_TOPIC, "edgex/events/device/a/b", "edgex/response/device-modbus/x", "other/topic"]
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(topics, event_like | json_values, st.booleans(), st.binary(max_size=64))
async def test_no_message_breaks_the_adapter(
    where: str, body: Any, inline: bool, noise: bytes
) -> None:
    gateway = Gateway()
    await gateway.feed(
        message(where, body, inline=inline)
        if isinstance(body, dict)
        else MqttMessage(where, noise, 0, 0, False)
    )
    assert not any(INTERNAL_ERROR in r for r in gateway.reasons)
    assert len(gateway.reasons) + bool(gateway.delivered) <= 1
    for m in gateway.delivered:
        assert m.device_id == "battery-1"


def response(service: str, rid: str, *, error: str | None = None) -> MqttMessage:
    envelope = {
        "apiVersion": "v3",
        "correlationID": "c",
        "requestID": rid,
        "errorCode": 1 if error else 0,
        "payload": error,
        "contentType": "text/plain" if error else "application/json",
    }
    return MqttMessage(
        f"edgex/response/{service}/{rid}", json.dumps(envelope).encode(), 0, 0, False
    )


async def test_a_response_counts_only_from_the_service_the_request_went_to() -> None:
    gateway = Gateway()
    setpoint = Command("c-9", "battery-1", Action.SET_POWER_KW, 2.0, AT)
    pending = await gateway.adapter.send(setpoint, timeout_s=0.05)  # no broker: not sent yet
    assert pending.outcome is Outcome.PENDING
    rid = request_id("c-9")
    await gateway.feed(response("device-mqtt", rid))
    assert "from service 'device-mqtt'" in gateway.reasons[0]
    assert (await gateway.adapter.send(setpoint, timeout_s=0)).outcome is Outcome.PENDING
    await gateway.feed(response("device-modbus", rid, error="PowerSetpoint: out of range"))
    refused = await gateway.adapter.send(setpoint, timeout_s=0)
    assert refused.outcome is Outcome.REJECTED
    assert "PowerSetpoint: out of range" in refused.detail
    await gateway.feed(response("device-modbus", rid))  # a late duplicate changes nothing
    assert (await gateway.adapter.send(setpoint, timeout_s=0)).outcome is Outcome.REJECTED


response_like = st.fixed_dictionaries(
    {},
    optional={
        "apiVersion": st.just("v3") | json_values,
        "requestID": st.just(request_id("c-fuzz")) | json_values,
        "errorCode": st.sampled_from([0, 1]) | json_values,
        "payload": json_values,
        "contentType": st.sampled_from(["application/json", "text/plain"]) | json_values,
    },
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["device-modbus", "device-mqtt", "device-modbus/extra"]),
    response_like.map(lambda v: json.dumps(v).encode()) | st.binary(max_size=64),
)
async def test_no_response_breaks_a_pending_command(service: str, payload: bytes) -> None:
    gateway = Gateway()
    setpoint = Command("c-fuzz", "battery-1", Action.SET_POWER_KW, 1.0, AT)
    assert (await gateway.adapter.send(setpoint, timeout_s=0)).outcome is Outcome.PENDING
    topic = f"edgex/response/{service}/{request_id('c-fuzz')}"
    await gateway.feed(MqttMessage(topic, payload, 0, 0, False))
    assert not any(INTERNAL_ERROR in r for r in gateway.reasons)
    after = await gateway.adapter.send(setpoint, timeout_s=0)
    if after.outcome is not Outcome.PENDING:  # settled only by its own service, in the open
        assert service == "device-modbus"
        assert gateway.reasons == []
