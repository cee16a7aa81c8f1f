"""Ports: the protocols engines and services see; backends implement them."""
