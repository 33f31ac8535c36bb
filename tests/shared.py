"""Inputs that take long to build, built once per test run and read by every worker.

Under ``pytest -n`` each worker is a session of its own, so a session fixture would
still be built once per worker. The first worker to ask builds the value under a file
lock in the run's common temporary folder and pickles it there; the others (and later
asks) unpickle it, which gives an identical object.
"""

from __future__ import annotations

import fcntl
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def built_once(folder: Path | None, name: str, build: Callable[[], T]) -> T:
    """``build()``, or its pickle under ``folder`` if a worker already built it.

    ``folder=None`` (no workers): build in this process.
    """
    if folder is None:
        return build()
    path = folder / f"{name}.pickle"
    with open(folder / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if path.exists():
            return pickle.loads(path.read_bytes())
        value = build()
        partial = path.with_suffix(".partial")
        partial.write_bytes(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        partial.replace(path)
        return value
