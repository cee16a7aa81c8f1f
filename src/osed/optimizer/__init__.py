"""The balancer optimizer: community microgrid and battery fleet scheduling (engines only)."""
