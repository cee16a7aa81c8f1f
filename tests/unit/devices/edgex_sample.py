"""One EdgeX configuration the adapter tests share: a battery, a thermostat and a meter."""

from __future__ import annotations

from typing import Any


def sample_config() -> dict[str, Any]:
    return {
        "client_id": "osed-edgex-test",
        "profiles": {
            "Battery": {
                "kind": "battery",
                "readings": {
                    "StateOfCharge": {"quantity": "soc", "scale": 0.01},
                    "Power": {"quantity": "power_kw", "scale": 0.001},
                },
                "commands": {
                    "set_power_kw": {
                        "command": "PowerSetpoint",
                        "resource": "PowerSetpoint",
                        "value_type": "Int32",
                        "scale": 1000,
                        "min": -5,
                        "max": 5,
                    },
                    "turn_off": {"command": "Enable", "resource": "Enable"},
                    "turn_on": {"command": "Enable", "resource": "Enable"},
                },
                "reads": ["Status"],
            },
            "Thermostat": {
                "kind": "heating",
                "readings": {
                    "Temperature": {"quantity": "temperature_c"},
                    "Setpoint": {"quantity": "setpoint_c"},
                    "Heating": {"quantity": "on"},
                },
                "commands": {
                    "set_setpoint_c": {"command": "Setpoint", "min": 5, "max": 30},
                },
                "reads": ["Temperature", "Setpoint"],
            },
            "Meter": {
                "kind": "meter",
                "readings": {"ActivePower": {"quantity": "power_kw", "scale": 0.001}},
            },
        },
        "devices": [
            {
                "id": "battery-1",
                "name": "Battery-01",
                "service": "device-modbus",
                "profile": "Battery",
            },
            {
                "id": "zone-1",
                "name": "Thermostat-Living",
                "service": "device-mqtt",
                "profile": "Thermostat",
            },
        ],
        "discover": [{"service": "device-modbus", "profile": "Meter"}],
    }
