"""The device gateway's adapters: simulated devices, MQTT JSON devices, Home Assistant, EdgeX."""
