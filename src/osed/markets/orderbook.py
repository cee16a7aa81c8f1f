"""Continuous bilateral limit order book."""
