"""Composition root: settings pick concrete backends and wire services."""
