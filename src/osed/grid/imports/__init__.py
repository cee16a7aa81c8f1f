"""Importers that turn other tools' grid models into a :class:`osed.grid.network.Network`."""
