"""The provided survey is what the generator writes from the master seed, anywhere.

The calibration takes no discrete decision on bits that BLAS, SIMD or summation order
can change (``analysis/synth/numerics.py``), so regenerating the master seed gives the
provided file byte for byte, under this machine's numerics and under others, and
under other level names: the file holds codes, and no step of the generator may depend
on what the vocabulary calls a level. On a difference, ``compare-raw`` (tested on its
own in ``test_compare_raw.py``) says where.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from numerics import HASWELL_TWO_THREADS, OTHER_NUMERICS
from shared import renamed_levels, run_with_codebook

from analysis import synth
from analysis.config import MASTER_SEED, ROOT
from analysis.synth.compare import sha256

PROVIDED = ROOT / "data" / "raw" / "cmds2014_synthetic.dta"


def test_master_seed_regenerates_the_provided_survey_here(master_draw, tmp_path):
    # This machine's numerics: the members are the run's master-seed synthesis
    # (conftest), so only the rest of the survey is built again here.
    out = tmp_path / "regenerated.dta"
    synth.main(MASTER_SEED, out, tmp_path / "manifest.csv", master_draw[0].copy())
    _same_as_provided(out, "here")


@pytest.mark.parametrize(
    "env", [OTHER_NUMERICS, HASWELL_TWO_THREADS], ids=["other numerics", "haswell"]
)
def test_master_seed_regenerates_the_provided_survey(tmp_path, env):
    # Everything again, by the command line, in a process with other numerics.
    out = tmp_path / "regenerated.dta"
    subprocess.run(
        [sys.executable, "-m", "analysis", "--root", str(tmp_path), "generate",
         "--seed", str(MASTER_SEED), "--out", str(out)],
        check=True,
        cwd=ROOT,
        env={**os.environ, **env},
    )  # fmt: skip
    _same_as_provided(out, env)


def test_other_level_names_regenerate_the_provided_survey(tmp_path):
    # Every level renamed so that sorting by name reverses each factor's order: a
    # level name spelled in the code, or an order taken from the names, shows here.
    codebook, _ = renamed_levels(tmp_path)
    out, manifest = tmp_path / "regenerated.dta", tmp_path / "manifest.csv"
    run_with_codebook(
        codebook,
        "from analysis import synth\n"
        f"synth.main({MASTER_SEED}, pathlib.Path({str(out)!r}), "
        f"pathlib.Path({str(manifest)!r}))\n",
        ROOT,
    )
    _same_as_provided(out, "levels renamed")


def _same_as_provided(out, numerics) -> None:
    if sha256(out) != sha256(PROVIDED):
        # which cells differ, by column (``make synthetic``'s report)
        done = subprocess.run(
            [sys.executable, "-m", "analysis", "compare-raw", str(PROVIDED), str(out)],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        pytest.fail(f"{numerics}: not the provided survey\n{done.stdout}")
