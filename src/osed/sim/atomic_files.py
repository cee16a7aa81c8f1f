"""Files that appear whole or not at all: written to a temporary file, then renamed.

A reader never sees a half-written file, and a run interrupted mid-write (an exception, Ctrl-C)
leaves the previous file, if any, and no temporary file behind.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterable
from pathlib import Path


def write_atomic(path: Path, chunks: Iterable[bytes]) -> Path:
    """Write ``chunks`` to ``path`` through a temporary file in the same folder and a rename.

    ``chunks`` may be a generator that produces the content as it is written; whatever it
    raises leaves ``path`` as it was.
    """
    temporary = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp"
    try:
        # os.open rather than mkstemp: the file gets the permissions the umask allows, like any
        # other file the user writes, not mkstemp's owner-only 0600. Inside the try: a Ctrl-C
        # is raised as soon as os.open returns, before its result is stored.
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(handle, "wb") as file:
            for chunk in chunks:
                file.write(chunk)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return path
