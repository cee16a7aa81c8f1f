"""One running solve that the worker pool can wait for and stop.

In a process of its own (forked from a server that has already imported the optimizer, so
a start costs milliseconds), a solve can be stopped at once: the process is killed with the
processes it started (it leads a process group of its own), its memory and its core are free
again. In a thread (for tests and small set-ups) it cannot be
stopped; it runs to the end of its budget and its result is dropped.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from multiprocessing import forkserver
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext
from typing import Protocol

Run = Callable[[bytes], bytes]


class SolveFailedError(Exception):
    """The solve raised, or its process ended without a result; the message says why."""


class RunningSolve(Protocol):
    def wait(self, timeout: float) -> bool:
        """Whether the solve has ended (waiting up to ``timeout`` seconds)."""

    def result(self) -> bytes:
        """The result of an ended solve; :class:`SolveFailedError` if it has none."""

    def stop(self) -> None:
        """Stop the solve now where possible."""


def _child(run: Run, payload: bytes, send: Connection) -> None:
    # A group of its own: stopping the solve stops whatever processes it started too.
    os.setpgid(0, 0)
    try:
        outcome: tuple[bool, bytes | str] = (True, run(payload))
    except BaseException as exc:
        outcome = (False, "".join(traceback.format_exception_only(exc)).strip())
    send.send(outcome)
    send.close()


class ProcessSolve:
    def __init__(self, context: ForkServerContext, run: Run, payload: bytes) -> None:
        self._receive, send = context.Pipe(duplex=False)
        self._process = context.Process(target=_child, args=(run, payload, send), daemon=True)
        self._process.start()
        send.close()  # the child holds the only writer: its end means end of file here

    def wait(self, timeout: float) -> bool:
        return bool(self._receive.poll(timeout))

    def result(self) -> bytes:
        try:
            ok, value = self._receive.recv()
        except EOFError:
            self._process.join(1.0)
            raise SolveFailedError(
                f"the process ended without a result (exit code {self._process.exitcode})"
            ) from None
        finally:
            self._receive.close()
        self._process.join()
        if not ok:
            raise SolveFailedError(str(value))
        assert isinstance(value, bytes)
        return value

    def stop(self) -> None:
        pid = self._process.pid
        try:
            if pid is not None:
                os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass  # not yet its own group leader, or ended: the process alone
        self._process.kill()
        self._process.join()
        self._receive.close()


class ThreadSolve:
    def __init__(self, executor: ThreadPoolExecutor, run: Run, payload: bytes) -> None:
        self._future: Future[bytes] = executor.submit(run, payload)

    def wait(self, timeout: float) -> bool:
        try:
            self._future.exception(timeout=timeout)
        except TimeoutError:
            return False
        return True

    def result(self) -> bytes:
        try:
            return self._future.result()
        except Exception as exc:
            raise SolveFailedError("".join(traceback.format_exception_only(exc)).strip()) from exc

    def stop(self) -> None:
        self._future.cancel()  # a running thread cannot be stopped: its result is dropped


def solver_processes(preload: list[str]) -> ForkServerContext:
    """Processes forked from a server that has imported ``preload`` once."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(preload)
    forkserver.ensure_running()  # now, rather than when the first job waits for it
    return context
