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


@dataclass(frozen=True)
class RunPaths:
    """Where one run reads and writes.

    The synthetic run writes under ``data/`` and ``outputs/``; a run on real
    microdata writes under ``real/`` (git-ignored), so restricted files never mix
    with shipped ones.
    """

    root: Path

    @property
    def raw_dir(self) -> Path:
        """Raw survey files (never written after generation)."""
        return self.root / "data" / "raw"

    @property
    def derived_dir(self) -> Path:
        """Cleaned, regenerable data."""
        return self.root / "data" / "derived"

    @property
    def outputs_dir(self) -> Path:
        """Tables, figures, estimates and logs."""
        return self.root / "outputs"

    @property
    def raw_survey(self) -> Path:
        """The synthetic raw survey (.dta)."""
        return self.raw_dir / "cmds2014_synthetic.dta"

    @property
    def analytic(self) -> Path:
        """The analytic sample (parquet)."""
        return self.derived_dir / "analytic.parquet"

    @property
    def tables_dir(self) -> Path:
        """Exhibit tables."""
        return self.outputs_dir / "tables"

    @property
    def figures_dir(self) -> Path:
        """Exhibit figures."""
        return self.outputs_dir / "figures"

    @property
    def estimates_dir(self) -> Path:
        """Tidy model estimates."""
        return self.outputs_dir / "estimates"

    @property
    def logs_dir(self) -> Path:
        """Hash manifest and run logs."""
        return self.outputs_dir / "logs"


SYNTHETIC = RunPaths(ROOT)
