"""Outcome data-generating process of the analytic sample (before moment matching).

Every random draw is fixed, so the calibration steps (``analysis.synth.calibration``)
move parameters or outcomes, never the draws:

* participation: reimbursed = top-n of ``X b + e`` inside each cell of (insurance column
  x migration scope), ``e ~ N(0, 1)`` fixed; the cell counts are exact (both Table 1 and
  Table 2 margins), so ``b`` shapes who is reimbursed *within* cells;
* ratio: ``BetaPPF(u; mu k, (1 - mu) k)`` with ``mu = logistic(X a)``, ``u`` fixed;
* cost: ``exp(X c) * G / s`` with ``G = GammaPPF(v; s)``, ``v`` fixed (all 1,165 rows);
* amount = ratio x cost.

``X`` is the Table 3 design (intercept + the 26 published terms, age and age squared as
separate columns). Starting parameters come from Table 3 itself: probit AMEs divided by
the mean normal density, ratio AMEs divided by the mean logistic density, and the amount
column's log-scale effects less the ratio's log effect for the cost index.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special, stats

from analysis.cleaning import schema
from analysis.paper import published
from analysis.synth import numerics

# Densities that turn published AMEs into index coefficients (starting values only):
# mean phi(Xb) of a probit with P = 0.668, mean mu (1 - mu) of a ratio with mean 0.468.
PROBIT_DENSITY = 0.36
RATIO_DENSITY = 0.23
RATIO_MEAN = 0.4677
# Shapes of the latent outcomes: the Beta precision at which the Gamma-log ratio AMEs'
# SEs come closest to the published ones on an uncalibrated frame, and the Gamma shape
# of cost at which the amount's SEs do. They only set the starting distributions: the
# money and GLM steps reshape both outcomes.
RATIO_PRECISION = 6.1
COST_SHAPE = 1.68


def design_terms() -> tuple[str, ...]:
    """Names of the design columns.

    Returns
    -------
    tuple of str
        ``"const"``, then Table 3's terms in published order.
    """
    terms = ["const"]
    for factor in ("scheme",):
        terms += [f"{factor}:{lev}" for lev in schema.FACTORS[factor][1:]]
    terms += ["age", "age_sq", "female", "married"]
    for factor in ("education", "income_quintile"):
        terms += [f"{factor}:{lev}" for lev in schema.FACTORS[factor][1:]]
    terms += ["has_job", "rural_hukou", "urban_area"]
    for factor in ("scope", "reason", "duration", "facility_level"):
        terms += [f"{factor}:{lev}" for lev in schema.FACTORS[factor][1:]]
    return tuple(terms)


def design_matrix(frame: pd.DataFrame) -> np.ndarray:
    """The Table 3 design with an intercept; dummies 0/1, age in years, age squared."""
    cols = []
    for term in design_terms():
        if term == "const":
            cols.append(np.ones(len(frame)))
        elif ":" in term:
            factor, level = term.split(":")
            cols.append((frame[factor] == level).to_numpy(float))
        elif term == "age_sq":
            cols.append(frame["age"].to_numpy(float) ** 2)
        else:
            cols.append(frame[term].to_numpy(float))
    return np.column_stack(cols)


@dataclass(frozen=True)
class OutcomeParams:
    """Index coefficients (aligned with :func:`design_terms`) and two shapes."""

    probit: np.ndarray
    ratio: np.ndarray
    cost: np.ndarray
    ratio_precision: float = RATIO_PRECISION
    cost_shape: float = COST_SHAPE


@dataclass(frozen=True)
class OutcomeDraws:
    """Fixed random draws, one per row; the calibration never redraws them."""

    probit: np.ndarray  # N(0, 1)
    ratio: np.ndarray  # U(0, 1), Beta quantile
    cost: np.ndarray  # U(0, 1), Gamma quantile
    part2: np.ndarray  # U(0, 1), who among the reimbursed reports a usable amount
    missing_kind: np.ndarray  # U(0, 1), dont_know vs refused
    answered: np.ndarray  # U(0, 1), who among the non-reimbursed gave a reason
    reason: np.ndarray  # U(0, 1), which reason


def draw_outcome_noise(rng: np.random.Generator, n: int) -> OutcomeDraws:
    """All outcome draws, in a fixed order."""
    e = rng.standard_normal(n)
    u = rng.random((6, n))
    return OutcomeDraws(e, *u)


def published_table3() -> pd.DataFrame:
    """Table 3 indexed by design term name."""
    t = published.read("table3")
    t = t[t["term_group"] != "n"].copy()
    names = []
    for g, term in zip(t["term_group"], t["term"], strict=True):
        factor = published.GROUP_FACTOR.get(g, g)
        names.append(f"{factor}:{term}" if factor in schema.FACTORS else term)
    return t.assign(name=names).set_index("name")


def initial_params(x: np.ndarray) -> OutcomeParams:
    """Index coefficients implied by the published Table 3 (see module docstring)."""
    t3 = published_table3()
    terms = design_terms()
    probit, ratio, cost = (np.zeros(len(terms)) for _ in range(3))
    for k, term in enumerate(terms[1:], start=1):
        probit[k] = t3.loc[term, "probit_me"] / PROBIT_DENSITY
        ratio[k] = t3.loc[term, "ratio_me"] / RATIO_DENSITY
        cost[k] = t3.loc[term, "amount_me"] - t3.loc[term, "ratio_me"] / RATIO_MEAN
    ratio[0] = special.logit(RATIO_MEAN) - np.mean(numerics.matmul(x[:, 1:], ratio[1:]))
    cost[0] = np.log(10_000.0) - np.mean(numerics.matmul(x[:, 1:], cost[1:]))
    return OutcomeParams(probit, ratio, cost)


def latent_ratio(
    x: np.ndarray, params: OutcomeParams, draws: OutcomeDraws
) -> np.ndarray:
    """Reimbursement ratio from the Beta DGP, in (0, 1)."""
    mu = special.expit(numerics.matmul(x, params.ratio))
    k = params.ratio_precision
    r = stats.beta.ppf(draws.ratio, mu * k, (1.0 - mu) * k)
    return np.clip(r, 1e-4, 1.0 - 1e-4)


def latent_cost(
    x: np.ndarray, params: OutcomeParams, draws: OutcomeDraws
) -> np.ndarray:
    """Cost of the stay (yuan, continuous) from the Gamma-log DGP, mean exp(X c)."""
    s = params.cost_shape
    return (
        numerics.exp(numerics.matmul(x, params.cost))
        * stats.gamma.ppf(draws.cost, s)
        / s
    )
