"""The inputs stamp: a run is keyed on the content of its inputs, not on file dates.

Purpose
    Make compares modification times, and a raw file copied with ``cp -p`` or
    unzipped keeps an old date; a codebook folder or ``MIN_CELL`` is not a file date
    at all. The Makefile therefore runs ``python -m analysis stamp`` before every
    build (a FORCE prerequisite): it hashes the raw file (size and SHA-256,
    streamed), every file of the codebook folder and the run's parameters
    (``MIN_CELL``, ``SEED``, ``ENCODING``, real-data mode) and rewrites
    ``<run>/outputs/logs/inputs.stamp`` only when that content changed. Every
    data-dependent target depends on the stamp, so a changed input reruns what
    depends on it and an unchanged rerun does nothing. With ``--clear-on-change``
    (real-data and other-seed runs) a change first removes the run's previous
    derived data and outputs, so no output of the old inputs survives a stage that
    then fails or refuses the new ones.
Inputs
    The raw file, the codebook folder and ``key=value`` parameters.
Outputs
    ``inputs.stamp`` (text, one line per input) and ``inputs.stamp.cache`` (the
    SHA-256 of the raw file keyed on its size, device, inode, mtime and ctime, so an
    untouched multi-gigabyte file is not hashed again).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

HEADER = "# inputs of this run; rewritten only when one of them changes"
BLOCK = 1 << 20
# Outputs of a run removed when its inputs change (never the stamp or logs).
RUN_OUTPUTS = (
    "data/derived",
    "outputs/tables",
    "outputs/figures",
    "outputs/estimates",
    "outputs/replication_report.md",
    "outputs/replication_report.html",
    "outputs/logs/manifest.csv",
    "outputs/logs/omissions.csv",
)


def main(
    stamp: Path,
    raw: Path | None,
    codebook: Path,
    params: dict[str, str],
    clear_on_change: bool = False,
) -> list[str]:
    """Rewrite ``stamp`` if the inputs changed; return the names of those that did.

    Parameters
    ----------
    stamp : Path
        The stamp file, ``<run>/outputs/logs/inputs.stamp``.
    raw : Path or None
        The raw survey file.
    codebook : Path
        The codebook folder.
    params : dict
        Run parameters that change outputs (``min_cell``, ``seed``, ...).
    clear_on_change : bool
        On a change, delete the run's previous outputs (``RUN_OUTPUTS`` under the
        run root, two levels above ``stamp``) before rewriting the stamp.

    Returns
    -------
    list of str
        Inputs whose line changed (all of them on a first run); empty if none.
    """
    stamp = Path(stamp)
    cache = stamp.with_name(stamp.name + ".cache")
    lines = {"raw": describe_file(raw, cache) if raw else "none"}
    lines["codebook"] = describe_folder(Path(codebook).expanduser())
    lines |= {key: str(value) for key, value in sorted(params.items())}
    text = HEADER + "\n" + "".join(f"{k} {v}\n" for k, v in lines.items())
    old = read_lines(stamp)
    changed = [k for k in lines if old.get(k) != lines[k]]
    changed += [k for k in old if k not in lines]
    if not changed:
        return []
    if clear_on_change:
        clear_run(stamp.parent.parent.parent)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(text, encoding="utf-8")
    return changed


def read_lines(stamp: Path) -> dict[str, str]:
    """``{input: description}`` of an existing stamp (empty if none)."""
    if not stamp.exists():
        return {}
    out = {}
    for line in stamp.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            out[key] = value
    return out


def describe_file(path: Path, cache: Path) -> str:
    """``size=<bytes> sha256=<hex>`` of a file, or why it cannot be hashed."""
    path = Path(path).expanduser()
    try:
        st = path.stat()
    except OSError as error:
        return f"unreadable ({type(error).__name__})"
    if not path.is_file():
        return "not a file"
    key = f"{path.resolve()}|{st.st_size}|{st.st_dev}|{st.st_ino}"
    key += f"|{st.st_mtime_ns}|{st.st_ctime_ns}"
    known = read_cache(cache)
    digest = known.get(key) or sha256(path)
    if known.get(key) != digest:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps({key: digest}), encoding="utf-8")
    return f"size={st.st_size} sha256={digest}"


def read_cache(cache: Path) -> dict[str, str]:
    """The cached digest of the last raw file hashed (empty if none or unreadable)."""
    try:
        return json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def describe_folder(folder: Path) -> str:
    """One SHA-256 over the names and bytes of every file in ``folder`` (recursive)."""
    if not folder.is_dir():
        return "missing"
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode("utf-8") + b"\0")
        digest.update(sha256(path).encode("ascii"))
    return f"sha256={digest.hexdigest()}"


def clear_run(root: Path) -> None:
    """Remove the derived data and outputs of the run under ``root``."""
    for name in RUN_OUTPUTS:
        target = root / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            os.remove(target)
