"""Progress of a long command on standard error: a bar with the time left on a terminal,
a plain line every tenth of the work otherwise (logs, CI). Standard output is untouched."""

from __future__ import annotations

import sys
import time
from typing import TextIO

BAR_WIDTH = 30
REDRAW_S = 0.1  # a terminal is redrawn at most ten times a second


class ProgressReport:
    def __init__(self, label: str, *, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.terminal = self.stream.isatty()
        self.started = time.monotonic()
        self._drawn_at = 0.0
        self._tenth = -1
        self._open_line = False

    def __call__(self, done: int, total: int) -> None:
        fraction = done / total if total else 1.0
        now = time.monotonic()
        elapsed = now - self.started
        left = elapsed * (1.0 - fraction) / fraction if fraction > 0 else None
        if self.terminal:
            if now - self._drawn_at < REDRAW_S and done < total:
                return
            self._drawn_at = now
            filled = round(BAR_WIDTH * fraction)
            bar = "#" * filled + "." * (BAR_WIDTH - filled)
            self.stream.write(
                f"\r{self.label} [{bar}] {fraction:4.0%}  {_clock(elapsed)} elapsed, "
                f"ETA {_clock(left)} "
            )
            self._open_line = True
        else:
            tenth = int(fraction * 10)
            if tenth == self._tenth:
                return
            self._tenth = tenth
            self.stream.write(
                f"{self.label}: {fraction:.0%} ({done}/{total}), {_clock(elapsed)} elapsed, "
                f"about {_clock(left)} left\n"
            )
        self.stream.flush()

    def finish(self) -> None:
        """End the bar's line, so what follows starts on a line of its own."""
        if self._open_line:
            self.stream.write("\n")
            self.stream.flush()
            self._open_line = False


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}:{rest:02d}"
