"""Real brokers for the contract runs on MQTT and NATS (one per test, in a temporary folder)."""

from tests.services.brokers import mosquitto, nats_server

__all__ = ["mosquitto", "nats_server"]
