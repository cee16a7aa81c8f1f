"""Storage backends implementing the ports (SQLite by default)."""
