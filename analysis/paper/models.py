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

Two semantics for the marginal effects (``Semantics``):

* ``"columnwise"`` (the default, the paper's reading): every regressor is a column of
  its own, as when a Stata 12 user builds 0/1 dummies and ``age_sq`` by hand and runs
  ``margins, dydx(*)``; each effect is then a derivative (mean density x coefficient),
  ``age_sq`` does not move with ``age``. The evidence that the published SEs follow
  this reading rather than discrete changes is in ``docs/se_gap.md``.
* ``"factor"``: every factor enters with ``i.``, so its effects are discrete 0 -> 1
  changes against the published reference group (what ``margins`` reports for
  ``i.`` factors; a robustness view).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from analysis.cleaning.schema import FACTORS, SUBSAMPLES
from analysis.twopart import TwoPartResults, twopm

Equation = Literal["probit", "amount", "ratio"]
Reported = Literal["ame", "coef"]
Semantics = Literal["columnwise", "factor"]
SEMANTICS = ("columnwise", "factor")

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
#: The published columns, in the order of Tables 3-4.
EQUATION_NAMES = tuple(e.name for e in EQUATIONS)
#: The two-part fit that gives each published column.
OUTCOME_OF = {e.name: e.outcome for e in EQUATIONS}
#: The fits per sample: the probit column comes from the amount fit's first part.
OUTCOMES = tuple(dict.fromkeys(e.outcome for e in EQUATIONS))

#: The paper's two-part options (Stata: ``twopm y x, firstpart(probit)
#: secondpart(glm, family(gamma) link(log))`` on the respondents with a usable outcome).
PAPER_OPTIONS = {
    "participation": "reimbursed",
    "model1": "probit",
    "model2": "glm",
    "family": "gamma",
    "link": "log",
    "missing": "drop",
}


def fit(
    data: pd.DataFrame,
    sample: str,
    outcome: str,
    semantics: Semantics = "columnwise",
    part1: str | None = None,
    **options,
) -> TwoPartResults:
    """Fit one model of the paper's set on ``data`` (a :func:`design_frame`).

    ``part1`` replaces the regressor list of ``sample`` (for example where some do
    not vary in the data); ``options`` override :data:`PAPER_OPTIONS` or add to them
    (``part2``, ``vce``, ``cluster``, an alternative ``model1`` or ``family``).
    """
    rhs = part1 or regressors(sample, semantics, data)
    return twopm(data, outcome, part1=rhs, **{**PAPER_OPTIONS, **options})


def regressors(
    sample: str, semantics: Semantics = "columnwise", data: pd.DataFrame | None = None
) -> str:
    """Return the Stata-style regressor list of the models fitted on ``sample``.

    With ``semantics="columnwise"`` every factor level present in ``data`` (other than
    the base, the first level present) becomes a hand-built dummy column named by
    :func:`dummy_name`, as in :func:`design_frame`.
    """
    if sample not in SUBSAMPLES:
        raise ValueError(f"sample={sample!r} is not one of {tuple(SUBSAMPLES)}")
    if semantics not in SEMANTICS:
        raise ValueError(f"semantics={semantics!r} is not one of {SEMANTICS}")
    kept = [r for r in TABLE3_REGRESSORS if r not in DROPPED_IN_SUBSAMPLE[sample]]
    if semantics == "factor":
        return " ".join(kept)
    if data is None:
        raise ValueError("semantics='columnwise' needs the data to list the dummies")
    tokens = []
    for token in kept:
        variable = token.split(".", 1)[1]
        if variable in FACTORS:
            levels = present_levels(data, variable)
            tokens += [f"c.{dummy_name(variable, lv)}" for lv in levels[1:]]
        else:
            tokens.append(f"c.{variable}")
    return " ".join(tokens)


def present_levels(data: pd.DataFrame, variable: str) -> list[str]:
    """Levels of ``variable`` that occur in ``data``, in the published order."""
    seen = set(data[variable].dropna().astype(str))
    return [lv for lv in FACTORS[variable] if lv in seen]


def dummy_name(variable: str, level: str) -> str:
    """A valid column name for the dummy of ``variable == level`` (1-5 -> 1_5)."""
    token = re.sub(r"\W", "_", level.replace("+", "plus"))
    return f"{variable}__{token}"


def design_frame(data: pd.DataFrame) -> pd.DataFrame:
    """``data`` plus one float 0/1 column per factor level, for column-wise models."""
    dummies = {
        dummy_name(variable, level): (data[variable] == level).astype(float)
        for variable in FACTORS
        if variable in data
        for level in FACTORS[variable]
    }
    return pd.concat([data, pd.DataFrame(dummies, index=data.index)], axis=1)


def published_term(term: str, level: object = None) -> str:
    """The published row key of an estimator term, in any of its spellings.

    A design column of the column-wise models (``scope__across_provinces``), the
    coefficient of a factor (``scope=across_provinces``), a factor's margin
    (``term="scope", level="across_provinces"``) and a continuous regressor
    (``age``) all map to the published key (``across_provinces``, ``age``).
    """
    if level is not None and term in FACTORS:
        return str(level)
    if "=" in term:
        return published_term(*term.split("=", 1))
    if "__" in term:
        variable, _ = term.split("__", 1)
        for lv in FACTORS.get(variable, ()):
            if dummy_name(variable, lv) == term:
                return lv
    return term
