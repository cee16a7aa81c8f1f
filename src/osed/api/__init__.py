"""The platform API: one FastAPI application under ``/api/v1`` (docs/api.md)."""
