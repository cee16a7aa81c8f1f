"""Best-of-N for the benchmarks that time one asynchronous run in a fresh folder."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path


def best_of(repeat: int, run: Callable[[Path], Awaitable[dict[str, float]]]) -> dict[str, float]:
    """Each figure's minimum over ``repeat`` runs, each in a temporary folder of its own."""
    best: dict[str, float] = {}
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as folder:
            figures = asyncio.run(run(Path(folder)))
        for key, value in figures.items():
            best[key] = min(best.get(key, value), value)
    return best
