"""Scenario files shipped with OSED: ``default.yaml`` (the demo) and ``small.yaml``."""
