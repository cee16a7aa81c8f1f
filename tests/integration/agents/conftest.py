"""A real Mosquitto for the Market Agent fault tests."""

from tests.services.brokers import mosquitto

__all__ = ["mosquitto"]
