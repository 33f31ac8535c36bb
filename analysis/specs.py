"""The paper's model set: three equations fitted on three samples (Tables 3-4).

Wang et al. (2022) fit, in Stata 12, a probit for P(any social reimbursement) on all
1,165 respondents, and GLMs among the reimbursed with a usable amount (663) for the
reimbursement amount (log scale) and the reimbursement ratio. Each published column is
read on the scale the evidence supports (``docs/model_choices.md``):

* ``probit``: average marginal effects on P(reimbursed), Stata ``margins, dydx(*)``;
* ``amount``: Gamma GLM with log link on the amount; the column is the coefficient
  (a log-scale effect: 0.334 is read in the text as "33.4% higher");
* ``ratio``: Gamma GLM with log link on the ratio; the column is the average marginal
  effect on E[ratio | reimbursed] in proportion units.

Every factor enters with ``i.`` (Stata factor-variable notation), so its effects are
discrete changes against the published reference group; ``age`` and ``age_sq`` are
separate columns, as Stata 12 users of ``margins`` wrote them, so ``age_sq`` does not
move with ``age``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from analysis.schema import SUBSAMPLES

Equation = Literal["probit", "amount", "ratio"]
Reported = Literal["ame", "coef"]

# Table 3's regressors, in published row order.
TABLE3_REGRESSORS = (
    "i.scheme",
    "c.age",
    "c.age_sq",
    "i.female",
    "i.married",
    "i.education",
    "i.income_quintile",
    "i.has_job",
    "i.rural_hukou",
    "i.urban_area",
    "i.scope",
    "i.reason",
    "i.duration",
    "i.facility_level",
)

# Regressors that are constant (or a single scheme) inside a Table 4 subsample.
DROPPED_IN_SUBSAMPLE = {"total": (), "ncms": ("i.scheme", "i.rural_hukou"), "urban": ()}


@dataclass(frozen=True)
class EquationSpec:
    """One published column: which fit, which outcome, which scale is reported."""

    name: Equation
    outcome: str
    part: Literal["part1", "part2"]
    reported: Reported
    family: str = "gamma"
    link: str = "log"


EQUATIONS = (
    EquationSpec("probit", "reimb_amount", "part1", "ame"),
    EquationSpec("amount", "reimb_amount", "part2", "coef"),
    EquationSpec("ratio", "reimb_ratio", "part2", "ame"),
)


def regressors(sample: str) -> str:
    """Return the Stata-style regressor list of the models fitted on ``sample``."""
    if sample not in SUBSAMPLES:
        raise ValueError(f"sample={sample!r} is not one of {tuple(SUBSAMPLES)}")
    dropped = DROPPED_IN_SUBSAMPLE[sample]
    return " ".join(r for r in TABLE3_REGRESSORS if r not in dropped)
