"""A real Mosquitto per test."""

from tests.services.brokers import mosquitto

__all__ = ["mosquitto"]
