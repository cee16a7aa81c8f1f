"""OSED: Open Source Edge DERMS.

Transactive energy markets, edge coordination of distributed energy resources and DSO grid
analytics, running as one process with embedded defaults or as separate services.
"""

from osed.domain.errors import OsedError, Problem, ValidationError

__all__ = ["OsedError", "Problem", "ValidationError", "__version__"]

__version__ = "0.1.0"
