"""Real brokers for the backend tests (each test gets its own, in a temporary folder)."""

from tests.services.brokers import mosquitto, mosquitto_with_password, nats_server
from tests.services.tls import other_ca, tls_mosquitto

__all__ = ["mosquitto", "mosquitto_with_password", "nats_server", "other_ca", "tls_mosquitto"]
