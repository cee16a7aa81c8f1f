"""Markets behind one Market Modular Interface (see :mod:`osed.markets.protocol`)."""
