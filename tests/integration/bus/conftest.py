"""Real brokers for the backend tests (each test gets its own, in a temporary folder)."""

from tests.services.brokers import mosquitto, mosquitto_with_password, nats_server

__all__ = ["mosquitto", "mosquitto_with_password", "nats_server"]
