"""The EdgeX adapter's configuration: read whole, every problem with its path."""

from __future__ import annotations

import pytest

from osed.devices.edgex import EdgexGateway
from osed.devices.edgex_config import BrokerConfig, load_config
from osed.domain.devices import Action, DeviceKind, Quantity, Range
from osed.domain.errors import ValidationError
from tests.unit.devices.edgex_sample import sample_config


def test_the_sample_reads_with_its_defaults() -> None:
    config = load_config(sample_config())
    assert config.base_topic == "edgex"
    assert config.api_version == "v3"
    assert config.base64_payload is True
    battery = config.profiles["Battery"]
    assert battery.kind is DeviceKind.BATTERY
    assert battery.readings["StateOfCharge"].quantity is Quantity.SOC
    assert battery.readings["StateOfCharge"].scale == pytest.approx(0.01)
    power = battery.commands[Action.SET_POWER_KW]
    assert (power.command, power.value_type, power.range) == (
        "PowerSetpoint",
        "Int32",
        Range(-5, 5),
    )
    assert battery.commands[Action.TURN_ON].fixed == "true"
    assert battery.commands[Action.TURN_OFF].fixed == "false"
    assert config.profiles["Thermostat"].commands[Action.SET_SETPOINT_C].resource == "Setpoint"
    assert config.by_name["Battery-01"].device_id == "battery-1"
    assert config.services == {"device-modbus", "device-mqtt"}
    assert config.discover == {("device-modbus", "Meter")}


def test_every_problem_is_named_with_its_path() -> None:
    document = sample_config()
    document["qos"] = 3
    document["broker"] = {"host": "mqtt.local", "port": 0, "password": 5}
    document["colour"] = "blue"
    battery = document["profiles"]["Battery"]
    battery["kind"] = "boat"
    battery["readings"]["Power"]["quantity"] = "watts"
    battery["commands"]["set_power_kw"].update(min=5, max=-5, value_type="String")
    battery["commands"]["jump"] = {"command": "Jump"}
    battery["commands"]["turn_on"]["min"] = 0
    document["devices"].append(
        {"id": "battery-1", "name": "A/B", "service": "s", "profile": "Nope"}
    )
    document["discover"].append({"service": "s+", "profile": "Meter"})
    with pytest.raises(ValidationError) as caught:
        load_config(document)
    found = {(p.path, p.code) for p in caught.value.problems}
    assert found == {
        ("$.qos", "bad_qos"),
        ("$.broker.port", "bad_port"),
        ("$.broker.password", "not_string"),
        ("$.colour", "unknown_field"),
        ("$.profiles.Battery.kind", "unknown_value"),
        ("$.profiles.Battery.readings.Power.quantity", "unknown_value"),
        ("$.profiles.Battery.commands.set_power_kw.value_type", "not_numeric"),
        ("$.profiles.Battery.commands.set_power_kw.max", "below_min"),
        ("$.profiles.Battery.commands.jump", "unknown_value"),
        ("$.profiles.Battery.commands.turn_on.min", "unexpected"),
        ("$.devices[2].id", "duplicate"),
        ("$.devices[2].name", "bad_character"),
        ("$.devices[2].profile", "unknown_profile"),
        ("$.discover[1].service", "bad_character"),
    }


def test_names_may_hold_a_slash_only_when_escaped() -> None:
    document = sample_config()
    document["devices"][0]["name"] = "Floor/Battery"
    with pytest.raises(ValidationError):
        load_config(document)
    document["name_field_escape"] = True
    assert load_config(document).by_name["Floor/Battery"].device_id == "battery-1"


@pytest.mark.parametrize("document", [None, [], "edgex", {"profiles": {}}])
def test_a_document_without_profiles_is_refused(document: object) -> None:
    with pytest.raises(ValidationError) as caught:
        load_config(document)
    assert caught.value.problems[0].path in {"$", "$.profiles"}


def test_the_gateway_is_built_from_one_document_broker_included() -> None:
    document = sample_config() | {"broker": {"host": "10.0.0.5", "port": 1884, "username": "osed"}}
    gateway = EdgexGateway.from_document(document)
    assert gateway.config.broker == BrokerConfig("10.0.0.5", 1884, "osed", None, 30)
    assert load_config(sample_config()).broker == BrokerConfig()
