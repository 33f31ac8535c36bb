"""Run-wide constants: the master seed, the survey's published design, and paths.

The seed below is the only source of randomness in the package; every stochastic stage
derives its generator from it (``numpy.random.SeedSequence(MASTER_SEED)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MASTER_SEED = 20140501  # CMDS 2014 fieldwork month; any integer gives a valid data set

ROOT = Path(__file__).resolve().parent.parent
CODEBOOK_DIR = ROOT / "data" / "codebook"
PUBLISHED_DIR = ROOT / "data" / "published"

# Survey facts from the CMDS 2014 data-book foreword and Wang et al. (2022).
SURVEY_YEAR = 2014
INTERVIEW_MONTH = 5
N_RESPONDENTS = 200_937
N_CITIES = 348
N_PROVINCIAL_UNITS = 32
N_ANALYTIC = 1_165

# Disclosure control of real-data outputs: the smallest count shown (override with
# --min-cell / MIN_CELL=).
MIN_CELL = 10

# Replication targets for Tables 3-4 (analysis.exhibits.report): a point within
# POINT_TOL_SE published SEs; an SE within SE_TOL of the published one for at least
# SHARE_SE_OK of the cells; the same stars for at least SHARE_STARS_OK of them.
POINT_TOL_SE = 0.1
SE_TOL = 0.15
SHARE_SE_OK = 0.85
SHARE_STARS_OK = 0.95

# Inference settings (override on the CLI).
BOOTSTRAP_REPS = 999  # replications per bootstrap run (Stata's default reps() is 50)
MONTECARLO_SIMS = 200  # simulated data sets in the Monte-Carlo check
MONTECARLO_REPS = 199  # bootstrap replications per simulated data set


def _below(parent: str, *parts: str, doc: str) -> property:
    """A path property of :class:`RunPaths`: ``parts`` below its path ``parent``."""
    return property(lambda self: getattr(self, parent).joinpath(*parts), doc=doc)


@dataclass(frozen=True)
class RunPaths:
    """Where one run reads and writes.

    The synthetic run writes under ``data/`` and ``outputs/``; a run on real
    microdata writes under ``real/`` (git-ignored), so restricted files never mix
    with shipped ones.
    """

    root: Path

    raw_dir = _below(
        "root", "data", "raw", doc="Raw survey files (never written after generation)."
    )
    derived_dir = _below("root", "data", "derived", doc="Cleaned, regenerable data.")
    outputs_dir = _below("root", "outputs", doc="Tables, figures, estimates and logs.")
    raw_survey = _below(
        "raw_dir", "cmds2014_synthetic.dta", doc="The synthetic raw survey (.dta)."
    )
    analytic = _below(
        "derived_dir", "analytic.parquet", doc="The analytic sample (parquet)."
    )
    tables_dir = _below("outputs_dir", "tables", doc="Exhibit tables.")
    figures_dir = _below("outputs_dir", "figures", doc="Exhibit figures.")
    estimates_dir = _below("outputs_dir", "estimates", doc="Tidy model estimates.")
    logs_dir = _below("outputs_dir", "logs", doc="Hash manifest and run logs.")


SYNTHETIC = RunPaths(ROOT)
