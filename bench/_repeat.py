"""Repeats of a benchmark: best-of-N of an asynchronous run in a fresh folder, and the min and
median that every benchmark prints of its repeats."""

from __future__ import annotations

import asyncio
import statistics
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


def min_median(values: list[float], digits: int | None = None) -> dict[str, float]:
    """The min and median of repeated figures, rounded to ``digits`` (None: to an integer)."""
    return {"min": round(min(values), digits), "median": round(statistics.median(values), digits)}
