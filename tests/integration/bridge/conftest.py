"""Real brokers for the bridge tests (each test gets its own, in a temporary folder)."""

from tests.services.brokers import mosquitto, mosquitto_with_password

__all__ = ["mosquitto", "mosquitto_with_password"]
