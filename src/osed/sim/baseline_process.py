"""The baseline run in a process of its own, beside the managed run.

The parent starts ``python -m osed.sim.baseline_process``, writes the pickled study to its
standard input and reads from its standard output one line per step played (``step N``), then
``result`` and the pickled run. Nothing of the parent (its threads, its ``__main__``) is carried
over, so this works from a script, a notebook or the command line alike. Logs go to standard
error, as in the parent.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import threading
from typing import IO, Any

from osed.sim.results import RunResult
from osed.sim.study import Study


class BaselineProcess:
    def __init__(self, study: Study) -> None:
        self.steps_done = 0
        self._result: RunResult | None = None
        self._error: str | None = None
        self._process = subprocess.Popen(
            [sys.executable, "-m", "osed.sim.baseline_process"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        stdin, stdout = self._process.stdin, self._process.stdout
        if stdin is None or stdout is None:
            raise RuntimeError("the baseline process has no pipes")
        stdin.write(pickle.dumps(study, protocol=pickle.HIGHEST_PROTOCOL))
        stdin.close()
        self._reader = threading.Thread(target=self._read, args=(stdout,), daemon=True)
        self._reader.start()

    def _read(self, stream: IO[bytes]) -> None:
        for line in iter(stream.readline, b""):
            if line.startswith(b"step "):
                self.steps_done = int(line.split()[1])
            elif line.strip() == b"result":
                self._result = pickle.loads(stream.read())  # our own child's run
                return

    def result(self) -> RunResult:
        self._reader.join()
        code = self._process.wait()
        if self._result is None:
            raise RuntimeError(f"the baseline run failed (exit status {code}); see its log above")
        return self._result

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()


def main() -> None:
    from osed.sim.runner import play_run  # noqa: PLC0415 - the child's own import

    out = sys.stdout.buffer
    study: Study = pickle.loads(sys.stdin.buffer.read())  # from our parent

    def report(done: int, total: int) -> None:
        out.write(f"step {done}\n".encode())
        out.flush()

    result: Any = play_run(study, "baseline", report)
    out.write(b"result\n")
    out.write(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
    out.flush()


if __name__ == "__main__":
    main()
