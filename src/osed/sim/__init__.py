"""Scenarios, synthetic data and reports; production code never imports this package."""
