"""A device gateway from its configuration document: ``adapter`` picks the adapter, the rest is
that adapter's own document (checked whole, problems with their paths in this document).

    {"adapter": "simulated", "realtime": true, "speedup": 1.0, ...the simulated building}
    {"adapter": "mqtt_json", ...the MQTT JSON devices configuration}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from osed.devices.mqtt_json import MqttJsonGateway
from osed.devices.mqtt_json_config import read_config
from osed.devices.simulated import SimulatedGateway
from osed.devices.simulated_document import read_simulation
from osed.domain.errors import Problem, ValidationError
from osed.domain.time import Clock

ADAPTERS = ("simulated", "mqtt_json")


def configured_gateway(
    document: Any, *, clock: Clock | None = None
) -> SimulatedGateway | MqttJsonGateway:
    """The gateway ``document`` describes (not started)."""
    if not isinstance(document, Mapping) or document.get("adapter") not in ADAPTERS:
        raise ValidationError(
            [Problem("$.adapter", "unknown_adapter", f"one of {', '.join(ADAPTERS)}")],
            subject="device gateway configuration",
        )
    rest = {k: v for k, v in document.items() if k != "adapter"}
    if document["adapter"] == "mqtt_json":
        return MqttJsonGateway(read_config(rest), clock=clock)
    options = {k: rest.pop(k) for k in ("realtime", "speedup") if k in rest}
    problems = []
    realtime = options.get("realtime", False)
    if not isinstance(realtime, bool):
        problems.append(Problem("$.realtime", "not_a_boolean", "true or false"))
    speedup = options.get("speedup", 1.0)
    if isinstance(speedup, bool) or not isinstance(speedup, int | float) or not speedup > 0:
        problems.append(Problem("$.speedup", "not_positive", "a number > 0"))
    try:
        simulation = read_simulation(rest)
    except ValidationError as exc:
        problems += exc.problems
    if problems:
        raise ValidationError(problems, subject="device gateway configuration")
    return simulation.gateway(realtime=realtime, speedup=float(speedup))
