"""Helpers of the bridge tests: envelopes, payloads, and the example data."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from osed.domain.envelope import Envelope

DATA = Path(__file__).parents[2] / "data" / "bridge"
T0 = datetime(2023, 6, 29, 10, 0, tzinfo=UTC)


def example_measurement() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((DATA / "sogno_measurement.json").read_text())
    return document


def example_yaml() -> str:
    return (DATA / "pipelines.yaml").read_text()


def envelope(payload: bytes, seq: int = 1, topic: str = "bal/raw/pmu1") -> Envelope:
    return Envelope(topic, "raw.bal.raw.pmu1", seq, payload, T0)


def sogno_payload(device: str = "pmu1", value: float = 230.0, second: int = 0) -> bytes:
    return json.dumps(
        {
            "device": device,
            "timestamp": f"2023-06-29T10:00:{second:02d}.000000+00:00",
            "readings": [
                {"component": "n1", "measurand": "voltmagnitude", "phase": "A", "data": value},
                {"component": "n1", "measurand": "frequency", "phase": "A", "data": 50.0},
            ],
        }
    ).encode()
