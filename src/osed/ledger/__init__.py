"""Ledger engine: verification of the hash chain and the Market Position Manager."""
