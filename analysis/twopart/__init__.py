"""Two-part models with Stata-convention marginal effects (``twopm`` + ``margins``).

Part 1 is a probit or logit for P(y > 0); part 2 a GLM of any statsmodels family
and link, or OLS on ln(y) with Duan or normal smearing, on the positives. Both
are fitted with statsmodels; the margins, the extensive/intensive split and all
variances (OIM, robust, cluster-robust with Stata's G/(G-1), survey
linearisation, block or stacked joint covariance) are computed in O(N K).
A dask DataFrame or a partitioned parquet path is fitted out of core, on
Dask's local scheduler or a ``dask.distributed`` cluster (:mod:`.outofcore`).

Example:
-------
>>> from analysis.twopart import twopm
>>> res = twopm(
...     df, "reimb_amount",
...     part1="i.scheme i.education c.age c.age#c.age i.female",
...     family="gamma", link="log",
...     vce="cluster", cluster="city",
...     participation="reimbursed", missing="drop",
... )
>>> print(res.summary())                        # Stata-like tables
>>> res.coef_table("part2")                     # tidy coefficients
>>> res.margins(parts=("part1", "combined"))    # AMEs, extensive/intensive split
>>> res.margins(["age"], effect="eydx", at={"scheme": "UEBMI"}, over="female")
>>> res.cov                                      # joint covariance of both parts

Column-wise (Stata 12) semantics: write ``c.age c.age_sq`` with a precomputed
``age_sq`` column; then age_sq does not move with age in the margins.
"""

from .errors import (
    ClusterError,
    CollinearityError,
    ConvergenceError,
    EmptySampleError,
    MissingDataError,
    OutcomeError,
    PerfectPredictionError,
    SeparationError,
    TwoPartError,
)
from .model import TwoPartModel, twopm
from .partresults import PartResults
from .results import TwoPartResults
from .separation import Omitted
from .spec import Part1Spec, Part2Spec, TwoPartSpec, VceSpec

__all__ = [
    "ClusterError",
    "CollinearityError",
    "ConvergenceError",
    "EmptySampleError",
    "MissingDataError",
    "Omitted",
    "OutcomeError",
    "Part1Spec",
    "Part2Spec",
    "PartResults",
    "PerfectPredictionError",
    "SeparationError",
    "TwoPartError",
    "TwoPartModel",
    "TwoPartResults",
    "TwoPartSpec",
    "VceSpec",
    "twopm",
]
