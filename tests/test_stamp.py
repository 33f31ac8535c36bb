"""Runs keyed on content: the inputs stamp (analysis.stamp) and the Makefile using it.

The Makefile tests run ``make data`` in a scratch directory that links the package
(so ``real/`` is created there, not in the repository) on a tiny raw file whose path
holds a space and Chinese characters, and check what is rerun after each change that
file dates do not show: a new file copied with ``cp -p`` (older date), ``MIN_CELL``,
the codebook folder's content, ``ENCODING``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from test_hostile_inputs import valid_raw, write

from analysis import stamp
from analysis.config import CODEBOOK_DIR, ROOT

OLD = 978_307_200  # 2001-01-01, a date older than any output


def test_stamp_rewritten_only_when_content_changes(tmp_path):
    raw = tmp_path / "raw.dta"
    raw.write_bytes(b"a" * 100)
    target = tmp_path / "run" / "outputs" / "logs" / "inputs.stamp"
    first = stamp.main(target, raw, CODEBOOK_DIR, {"min_cell": "10"})
    assert set(first) == {"raw", "codebook", "min_cell"}
    before = target.stat().st_mtime_ns
    assert stamp.main(target, raw, CODEBOOK_DIR, {"min_cell": "10"}) == []
    assert target.stat().st_mtime_ns == before
    assert stamp.main(target, raw, CODEBOOK_DIR, {"min_cell": "20"}) == ["min_cell"]
    # same size, old date, other bytes: still a change
    raw.write_bytes(b"b" * 100)
    os.utime(raw, (OLD, OLD))
    assert stamp.main(target, raw, CODEBOOK_DIR, {"min_cell": "20"}) == ["raw"]
    assert "size=100 sha256=" in target.read_text()


def test_stamp_codebook_content_not_dates(tmp_path):
    folder = Path(shutil.copytree(CODEBOOK_DIR, tmp_path / "cb"))
    target = tmp_path / "inputs.stamp"
    stamp.main(target, None, folder, {})
    moved = Path(shutil.copytree(folder, tmp_path / "cb copy"))
    assert stamp.main(target, None, moved, {}) == []  # same content elsewhere
    with open(moved / "recode.csv", "a") as handle:
        handle.write("sex,1,1\n")
    os.utime(moved / "recode.csv", (OLD, OLD))
    assert stamp.main(target, None, moved, {}) == ["codebook"]
    (moved / "extra.csv").write_text("x\n")
    assert stamp.main(target, None, moved, {}) == ["codebook"]


def test_stamp_clears_previous_outputs_on_change(tmp_path):
    root = tmp_path / "run"
    old = [root / "outputs" / "tables" / "table3.csv",
           root / "data" / "derived" / "analytic.parquet",
           root / "outputs" / "replication_report.md"]  # fmt: skip
    for path in old:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("old")
    target = root / "outputs" / "logs" / "inputs.stamp"
    raw = tmp_path / "raw.csv"
    raw.write_text("x\n")
    stamp.main(target, raw, CODEBOOK_DIR, {}, clear_on_change=True)
    assert not any(p.exists() for p in old)
    for path in old:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("new")
    stamp.main(target, raw, CODEBOOK_DIR, {}, clear_on_change=True)  # unchanged
    assert all(p.read_text() == "new" for p in old)


def test_stamp_hash_cache_not_fooled_by_in_place_copy(tmp_path):
    raw = tmp_path / "raw.dta"
    raw.write_bytes(b"x" * 64)
    os.utime(raw, (OLD, OLD))
    target = tmp_path / "inputs.stamp"
    stamp.main(target, raw, CODEBOOK_DIR, {})
    other = tmp_path / "other.dta"
    other.write_bytes(b"y" * 64)
    os.utime(other, (OLD, OLD))
    subprocess.run(["cp", "-p", str(other), str(raw)], check=True)  # same inode
    assert stamp.main(target, raw, CODEBOOK_DIR, {}) == ["raw"]


# --- the Makefile ---------------------------------------------------------------------


@pytest.fixture
def scratch(tmp_path) -> Path:
    """A directory where ``make`` sees the package but writes real/ locally."""
    if shutil.which("make") is None or not (ROOT / ".venv" / "bin" / "python").exists():
        pytest.skip("needs make and the package's .venv")
    for name in ("analysis", "data", ".venv", "pyproject.toml", "requirements.lock",
                 "Makefile"):  # fmt: skip
        (tmp_path / name).symlink_to(ROOT / name)
    return tmp_path


def make_data(cwd: Path, **variables: str) -> subprocess.CompletedProcess:
    """``make data VAR=value ...`` in ``cwd``."""
    args = ["make", "--no-print-directory", "data"]
    args += [f"{k}={v}" for k, v in variables.items()]
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)


def cleaned(done: subprocess.CompletedProcess) -> bool:
    """True if the run executed the clean stage."""
    return " clean --raw " in done.stdout


def test_make_reruns_on_content_and_only_then(scratch):
    folder = scratch / "my data 数据"
    folder.mkdir()
    data = write(valid_raw(), folder / "survey 2014.dta")
    first = make_data(scratch, DATA=str(data))
    assert first.returncode == 0 and cleaned(first), first.stdout + first.stderr
    flow = scratch / "real" / "outputs" / "tables" / "sample_flow.csv"
    assert flow.exists()
    again = make_data(scratch, DATA=str(data))
    assert again.returncode == 0 and not cleaned(again), again.stdout
    # a different file copied over it with an old date (cp -p, unzip)
    other = write(valid_raw().head(6), scratch / "other.dta")
    os.utime(other, (OLD, OLD))
    subprocess.run(["cp", "-p", str(other), str(data)], check=True)
    changed = make_data(scratch, DATA=str(data))
    assert cleaned(changed) and "inputs changed (raw)" in changed.stderr
    # MIN_CELL, then a codebook copy with the same content, then an edited one
    assert cleaned(make_data(scratch, DATA=str(data), MIN_CELL="20"))
    assert " --min-cell 20" in flow.parent.parent.joinpath(
        "logs", "inputs.stamp").read_text()  # fmt: skip
    codebook = Path(shutil.copytree(CODEBOOK_DIR, scratch / "code book"))
    same = make_data(scratch, DATA=str(data), MIN_CELL="20", CODEBOOK=str(codebook))
    assert not cleaned(same)
    with open(codebook / "recode.csv", "a") as handle:
        handle.write("sex,1,1\n")
    os.utime(codebook / "recode.csv", (OLD, OLD))
    edited = make_data(scratch, DATA=str(data), MIN_CELL="20", CODEBOOK=str(codebook))
    assert cleaned(edited) and "inputs changed (codebook)" in edited.stderr


def test_make_refused_file_leaves_no_stale_outputs(scratch):
    data = write(valid_raw(), scratch / "a.dta")
    assert make_data(scratch, DATA=str(data)).returncode == 0
    flow = scratch / "real" / "outputs" / "tables" / "sample_flow.csv"
    assert flow.exists()
    broken = scratch / "b.dta"
    broken.write_bytes(data.read_bytes()[:500])
    done = make_data(scratch, DATA=str(broken))
    assert done.returncode != 0 and "truncated or corrupt" in done.stderr
    assert "Traceback" not in done.stderr
    assert not flow.exists()
    assert not (scratch / "real" / "data" / "derived" / "analytic.parquet").exists()
