"""The Home Assistant configuration: every problem at once with its path, never the token."""

from __future__ import annotations

import pytest

from osed.devices.homeassistant import HomeAssistantConfig, parse_config
from osed.domain.devices import DeviceKind
from osed.domain.errors import ValidationError


def test_a_full_configuration_is_read() -> None:
    config = parse_config(
        {
            "url": "https://ha.example:8123/",
            "token": "secret-token",
            "timeout_s": 5,
            "devices": {
                "ev-1": {
                    "kind": "ev",
                    "name": "Car",
                    "entities": {
                        "number.ev_charge_limit": "set_power_limit_kw",
                        "switch.ev_charger": None,
                        "binary_sensor.ev_plugged": "connected",
                        "sensor.ev_power": "power_kw",
                    },
                }
            },
        }
    )
    assert config.websocket_url == "wss://ha.example:8123/api/websocket"
    assert config.rest_url == "https://ha.example:8123/api/"
    assert config.timeout_s == pytest.approx(5.0)
    (device,) = config.devices
    assert device.kind is DeviceKind.EV
    assert device.entities["number.ev_charge_limit"] == "set_power_limit_kw"
    assert device.entities["switch.ev_charger"] is None


def test_the_token_never_shows_in_repr() -> None:
    config = HomeAssistantConfig(url="http://h:8123", token="very-secret")
    assert "very-secret" not in repr(config)


def test_every_problem_is_named_with_its_path() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_config(
            {
                "url": "ftp://nowhere",
                "timeout_s": 0,
                "colour": "blue",
                "devices": {
                    "bat": {"kind": "rocket", "entities": {"sensor.soc": "set_power_kw"}},
                    "heat": {"kind": "heating", "entities": {"climate.room": "power_kw"}},
                    "ev": {"kind": "ev", "entities": {"number.limit": "soc", "Bad Id": None}},
                    "twice": {"kind": "load", "entities": {"sensor.soc": None}},
                    "light": {"kind": "switch", "entities": {"light.kitchen": None}},
                },
            }
        )
    paths = {(p.path, p.code) for p in caught.value.problems}
    assert paths == {
        ("$.url", "bad_url"),
        ("$.token", "missing"),
        ("$.timeout_s", "not_positive"),
        ("$.colour", "unknown_field"),
        ("$.devices.bat.kind", "bad_kind"),
        ("$.devices.bat.entities.sensor.soc", "bad_role"),
        ("$.devices.heat.entities.climate.room", "bad_role"),
        ("$.devices.ev.entities.number.limit", "bad_role"),
        ("$.devices.ev.entities.Bad Id", "bad_entity_id"),
        ("$.devices.light.entities.light.kitchen", "bad_role"),
    }


def test_an_entity_belongs_to_one_device_only() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_config(
            {
                "url": "http://h:8123",
                "token": "t",
                "devices": {
                    "a": {"kind": "load", "entities": {"sensor.power": "power_kw"}},
                    "b": {"kind": "pv", "entities": {"sensor.power": "power_kw"}},
                },
            }
        )
    (problem,) = caught.value.problems
    assert (problem.path, problem.code) == ("$.devices.b.entities.sensor.power", "duplicate_entity")


def test_a_document_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_config(["http://h"], path="$.gateway")
    assert [(p.path, p.code) for p in caught.value.problems] == [("$.gateway", "not_object")]
