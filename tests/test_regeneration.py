"""The provided survey is what the generator writes from the master seed, anywhere.

The calibration takes no discrete decision on bits that BLAS, SIMD or summation order
can change (``analysis/synth/numerics.py``), so regenerating the master seed gives the
provided file byte for byte, under this machine's numerics and under others. On a
difference, ``compare-raw`` (tested on its own in ``test_compare_raw.py``) says where.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from numerics import HASWELL_TWO_THREADS, OTHER_NUMERICS

from analysis.config import MASTER_SEED, ROOT
from analysis.synth.compare import sha256

PROVIDED = ROOT / "data" / "raw" / "cmds2014_synthetic.dta"


@pytest.mark.parametrize(
    "env",
    [{}, OTHER_NUMERICS, HASWELL_TWO_THREADS],
    ids=["here", "other numerics", "haswell, two threads"],
)
def test_master_seed_regenerates_the_provided_survey(tmp_path, env):
    out = tmp_path / "regenerated.dta"
    subprocess.run(
        [sys.executable, "-m", "analysis", "--root", str(tmp_path), "generate",
         "--seed", str(MASTER_SEED), "--out", str(out)],
        check=True,
        cwd=ROOT,
        env={**os.environ, **env},
    )  # fmt: skip
    if sha256(out) != sha256(PROVIDED):
        # which cells differ, by column (``make synthetic``'s report)
        done = subprocess.run(
            [sys.executable, "-m", "analysis", "compare-raw", str(PROVIDED), str(out)],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        pytest.fail(f"{env}: not the provided survey\n{done.stdout}")
