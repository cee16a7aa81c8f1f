"""A real Mosquitto for the contract run of the MQTT JSON adapter (one per test)."""

from tests.services.brokers import mosquitto

__all__ = ["mosquitto"]
