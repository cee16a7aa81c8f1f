"""HiGHS instances that never write to standard output.

HiGHS prints its banner on standard output when a process makes its first instance, before any
option can be set, so ``osed optimize FILE | json.tool`` would read the banner first. The first
construction in a process therefore runs with the file descriptor of standard output pointed at
standard error; later instances are made with their log switched off at once.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import threading

import highspy

_first_made = False
_lock = threading.Lock()


def quiet_highs() -> highspy.Highs:
    """A new ``highspy.Highs`` with its log off; its banner, if any, goes to standard error."""
    global _first_made  # noqa: PLW0603 - once per process, as HiGHS prints its banner
    if not _first_made:
        with _lock:
            if not _first_made:
                highs = _made_with_stdout_on_stderr()
                _first_made = True
                return highs
    return _silenced(highspy.Highs())  # type: ignore[no-untyped-call]


def _silenced(highs: highspy.Highs) -> highspy.Highs:
    highs.setOptionValue("output_flag", False)
    return highs


def _made_with_stdout_on_stderr() -> highspy.Highs:
    try:
        stdout_fd, stderr_fd = sys.__stdout__.fileno(), sys.__stderr__.fileno()  # type: ignore[union-attr]
        saved = os.dup(stdout_fd)
    except (AttributeError, OSError, ValueError):  # no real standard output: nothing to protect
        return _silenced(highspy.Highs())  # type: ignore[no-untyped-call]
    sys.stdout.flush()
    try:
        os.dup2(stderr_fd, stdout_fd)
        highs = _silenced(highspy.Highs())  # type: ignore[no-untyped-call]
        _flush_c_stdio()
    finally:
        os.dup2(saved, stdout_fd)
        os.close(saved)
    return highs


def _flush_c_stdio() -> None:
    """The banner is written through C's buffered stdio: flush it while it still goes to stderr."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).fflush(None)
