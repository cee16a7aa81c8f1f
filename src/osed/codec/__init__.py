"""JSON ↔ domain codecs with validation that names every problem and its path."""
