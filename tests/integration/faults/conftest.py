"""A real Mosquitto for the bridge fault tests (its own folder and free port per test)."""

from tests.services.brokers import mosquitto

__all__ = ["mosquitto"]
