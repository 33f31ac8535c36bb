"""Inputs that take long to build, built once per test run and read by every worker.

Under ``pytest -n`` each worker is a session of its own, so a session fixture would
still be built once per worker. The first worker to ask builds the value under a file
lock in the run's common temporary folder and pickles it there; the others (and later
asks) unpickle it, which gives an identical object.
"""

from __future__ import annotations

import csv
import fcntl
import pickle
import shutil
import subprocess
import sys
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


def reversing(concept: str, position: int, level: str) -> str:
    """``<letter>renamed_<level>``, letters running backwards (z, y, x, ...) along the
    factor's order, so that sorting the new names reverses that order."""
    return f"{chr(ord('z') - position)}renamed_{level}"


def renamed_levels(
    folder: Path, rename: Callable[[str, int, str], str] = reversing
) -> tuple[Path, dict[str, str]]:
    """A copy of the package's codebook in which every factor level has a new name.

    ``rename(concept, position in the factor, level)`` gives the new name. Returns the
    folder and a map from each new spelling (the level and its design-column name)
    back to the original, longest first.
    """
    from analysis.config import CODEBOOK_DIR
    from analysis.paper.models import dummy_name

    codebook = folder / "codebook"
    shutil.copytree(CODEBOOK_DIR, codebook)
    with open(CODEBOOK_DIR / "levels.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    back: dict[str, str] = {}
    position: dict[str, int] = {}
    for row in rows:
        concept, level = row["concept"], row["level"]
        i = position[concept] = position.get(concept, -1) + 1
        row["level"] = rename(concept, i, level)
        back[dummy_name(concept, row["level"])] = dummy_name(concept, level)
        back[row["level"]] = level
    with open(codebook / "levels.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return codebook, dict(sorted(back.items(), key=lambda kv: -len(kv[0])))


def run_with_codebook(codebook: Path, code: str, cwd: Path) -> str:
    """Run ``code`` in a new interpreter whose package vocabulary is ``codebook``'s.

    Returns what it printed on stdout; its stderr stays the test's, for a failure.
    """
    script = (
        "import pathlib, analysis.config as c\n"
        f"c.CODEBOOK_DIR = pathlib.Path({str(codebook)!r})\n" + code
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        check=True,
        cwd=cwd,
    )
    return done.stdout
