"""Uniform-price call auction."""
