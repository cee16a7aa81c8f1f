"""Agents: the Market Agent and Transactive Energy User Agents."""
