"""Databus backends implementing osed.ports.bus: in-memory (default), MQTT, NATS JetStream."""
