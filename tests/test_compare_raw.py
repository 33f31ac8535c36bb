"""``compare-raw``: how a regenerated survey differs from the provided one."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pyreadstat

from analysis.config import ROOT
from analysis.synth.compare import compare


def write(frame: pd.DataFrame, path) -> None:
    pyreadstat.write_dta(frame, str(path), version=15)


def survey(**changes) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "syn_id": [1, 2, 3, 4],
            "syn_hosp_any": [1, 2, 1, 2],
            "syn_hosp_cost": [100.0, float("nan"), 250.0, float("nan")],
            "gender_1": [1, 2, 2, 1],
        }
    )
    for column, (row, value) in changes.items():
        frame.loc[row, column] = value
    return frame


def test_identical_files_are_reported_identical(tmp_path):
    write(survey(), tmp_path / "a.dta")
    (tmp_path / "b.dta").write_bytes((tmp_path / "a.dta").read_bytes())
    identical, lines = compare(tmp_path / "a.dta", tmp_path / "b.dta")
    assert identical
    assert lines[-1].startswith("identical")


def test_differing_cells_are_counted_by_column_and_hospitalised_rows(tmp_path):
    write(survey(), tmp_path / "a.dta")
    write(survey(syn_hosp_cost=(2, 251.0), gender_1=(1, 1)), tmp_path / "b.dta")
    identical, lines = compare(tmp_path / "a.dta", tmp_path / "b.dta")
    assert not identical
    assert "2 columns differ:" in lines
    assert "  syn_hosp_cost: 1 rows (1 hospitalised)" in lines
    assert "  gender_1: 1 rows (0 hospitalised)" in lines


def compare_raw_cli(cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "analysis", "compare-raw", "a.dta", "b.dta"],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": ""},
    )


def test_cli_exits_nonzero_when_the_regeneration_differs(tmp_path):
    write(survey(), tmp_path / "a.dta")
    write(survey(gender_1=(0, 2)), tmp_path / "b.dta")
    done = compare_raw_cli(tmp_path)
    assert done.returncode == 1
    assert "gender_1: 1 rows" in done.stdout


def test_cli_exits_zero_when_the_regeneration_is_identical(tmp_path):
    # what ``make synthetic`` relies on after regenerating the master seed
    write(survey(), tmp_path / "a.dta")
    (tmp_path / "b.dta").write_bytes((tmp_path / "a.dta").read_bytes())
    done = compare_raw_cli(tmp_path)
    assert done.returncode == 0, done.stdout
    assert "identical" in done.stdout.splitlines()[-1]
