"""A real Mosquitto per test for the device adapters."""

from tests.services.brokers import mosquitto

__all__ = ["mosquitto"]
