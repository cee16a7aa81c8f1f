"""Grid services: the grid engines (``osed.grid``) run as bus services.

:mod:`osed.grid_services.stats_service` aggregates measurement topics into windowed statistics
(docs/grid-stats.md).
"""

from osed.grid_services.stats_service import (
    FIELD_NAMES,
    StatsConfig,
    StatsCounters,
    StatsService,
    stat_unit,
)

__all__ = ["FIELD_NAMES", "StatsConfig", "StatsCounters", "StatsService", "stat_unit"]
