"""The MQTT JSON devices configuration: every problem with its path; paths and templates."""

from __future__ import annotations

import json
from typing import Any

import pytest

from osed.devices.json_paths import MISSING, parse_path, render, walk
from osed.devices.mqtt_json_config import read_config
from osed.domain.devices import Action, DeviceKind, Quantity, Range
from osed.domain.errors import ValidationError
from tests.services.mqtt_devices import gateway_config


def test_a_shared_type_gives_each_device_its_topics_readings_and_ranges() -> None:
    config = read_config(gateway_config("localhost", 1883, ["a", "b"]))
    a, b = config.devices
    assert a.info.kind is DeviceKind.BATTERY
    assert a.info.quantities == {Quantity.POWER_KW, Quantity.SOC}
    assert a.info.ranges == {Action.SET_POWER_KW: Range(-5.0, 5.0)}
    assert (b.measurements_topic, b.command_topic, b.ack_topic) == (
        "devices/b/state",
        "devices/b/set",
        "devices/b/ack",
    )
    assert config.retry_s == 0.5


def test_every_problem_is_reported_with_its_path() -> None:
    doc: dict[str, Any] = gateway_config("localhost", 1883, ["a"])
    doc["broker"]["port"] = 70000
    doc["qos"] = 3
    doc["topics"]["command"] = "devices/{name}/set"
    doc["ack"]["id_path"] = "command_id"
    doc["colour"] = "blue"
    doc["types"]["battery"]["quantities"]["soc"]["path"] = "$..soc"
    doc["types"]["battery"]["actions"]["set_power_kw"]["payload"] = {"p": "{value}"}
    doc["devices"] += [
        {"id": "a", "kind": "battery"},
        {"id": "x/y", "kind": "toaster", "quantities": {"speed": {"path": "$.v"}}},
        {"id": "z", "type": "fridge"},
        {
            "id": "w",
            "kind": "switch",
            "actions": {"turn_on": {"payload": {"id": "{command_id}", "v": "{value}"}}},
        },
    ]
    with pytest.raises(ValidationError) as caught:
        read_config(doc)
    paths = {p.path for p in caught.value.problems}
    assert paths == {
        "$.broker.port",
        "$.qos",
        "$.topics.command",
        "$.ack.id_path",
        "$.colour",
        "$.types.battery.quantities.soc.path",
        "$.types.battery.actions.set_power_kw.payload",
        "$.devices[1].id",
        "$.devices[1].topics.command",
        "$.devices[2].id",
        "$.devices[2].kind",
        "$.devices[2].quantities.speed",
        "$.devices[3].type",
        "$.devices[4].actions.turn_on.payload",
    }


def test_paths_walk_names_quoted_names_and_indices() -> None:
    document = {"a": {"b": [1, {"power (W)": 5}]}}
    path = parse_path("$.a.b[1]['power (W)']")
    assert path == ("a", "b", 1, "power (W)")
    assert walk(document, path) == 5
    assert walk(document, ("a", "c")) is MISSING
    assert walk(document, ("a", "b", 7)) is MISSING
    assert parse_path("$.a..b") is None
    assert parse_path("a.b") is None


def test_templates_put_numbers_where_the_value_stands_alone() -> None:
    template = {"id": "{command_id}", "set": {"w": "{value}"}, "note": "{action} on {device}"}
    payload = render(
        template, {"value": 2500.0, "command_id": "c1", "device": "d", "action": "set_power_kw"}
    )
    assert json.loads(payload) == {
        "id": "c1",
        "set": {"w": 2500.0},
        "note": "set_power_kw on d",
    }
