"""The synthetic analytic frame: 1,165 rows, one per member of the paper's sample.

``synthesize_analytic(seed)`` is the contract of ``docs/architecture.md``: covariates
exact to Table 1 (``covariates.py``), outcomes from a calibratable DGP (``outcomes.py``)
with exact counts by cell and the published Table 1/2 moments imposed on top
(``calibrate_moments.py``), and the Figure 1/2 reasons. Among seed-derived draws the
first whose calibrated probit meets the Tables 3-4 SE and star targets is kept (outer
loop, ``synthesize_with_attempt``). Conflicts between published
exhibits are resolved in ``resolutions.py`` and logged in
``data/published/inconsistencies.csv``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.cleaning import schema
from analysis.synth import (
    calibrate_moments,
    calibrate_probit,
    calibrate_score,
    calibrate_swaps,
    covariates,
    outcomes,
    resolutions,
    targets,
)

FRAME_COLUMNS = (
    "scheme", "education", "scope", "reason", "duration", "facility_level",
    "income_quintile", "noreimb_reason", "female", "married", "has_job", "rural_hukou",
    "urban_area", "reimbursed", "in_part2", "age", "birth_year", "birth_month",
    "arrival_year", "arrival_month", "hh_size", "famincom_m", "income_pc_month",
    "total_expenditure", "reimb_amount", "reimb_ratio", "amount_missing",
)  # fmt: skip


# Outer loop over draws (``synthesize_analytic``): the probit AME SEs run ~15% under the
# published ones on every design (docs/se_gap.md), so whether enough of them land in
# their 15% window, and on the published side of the star thresholds, depends on the
# draw. Attempts are tried in a fixed order: covariate draw c = 0, 1, ... (c = 0 is the
# seed's own stream), and inside each NOISE_DRAWS outcome-noise draws (o = 0 the
# covariate stream's own); the first whose calibrated probit meets the targets
# (``calibrate_probit.verdict``) is kept, else the one with the smallest shortfall
# (first on ties).
COVARIATE_DRAWS = 6
NOISE_DRAWS = 3


def synthesize_analytic(seed: np.random.SeedSequence) -> pd.DataFrame:
    """Return the analytic frame of ``docs/architecture.md``, deterministic in ``seed``.

    The seed is not consumed: children are derived from its entropy and spawn key, so
    calling twice with the same ``SeedSequence`` gives identical frames.
    """
    frame, _ = synthesize_with_attempt(seed)
    return frame


def synthesize_with_attempt(
    seed: np.random.SeedSequence,
) -> tuple[pd.DataFrame, tuple[int, int]]:
    """The analytic frame and the attempt ``(c, o)`` of the outer loop it comes from."""
    best, met = None, False
    for c in range(COVARIATE_DRAWS):
        cov_seed, out_root = _attempt_streams(seed, c)
        frame0 = covariates.synthesize_covariates(np.random.default_rng(cov_seed))
        x0 = outcomes.design_matrix(frame0)
        params = outcomes.initial_params(x0)
        for o in range(NOISE_DRAWS):
            out_seed = out_root if o == 0 else _child(_child(out_root, 0), o)
            draws = outcomes.draw_outcome_noise(
                np.random.default_rng(out_seed), len(frame0)
            )
            stage = probit_stage(frame0.copy(), x0.copy(), params, draws)
            key = (not stage[3]["meets"], stage[3]["shortfall"])
            if best is None or key < best[0]:
                best = (key, (c, o), params, draws, stage)
            met = stage[3]["meets"]
            if met:
                break
        if met:
            break
    _, attempt, params, draws, (frame, x, reimbursed, _) = best
    frame = add_outcomes(frame, x, params, draws, reimbursed)
    return frame.loc[:, list(FRAME_COLUMNS)].reset_index(drop=True), attempt


def _attempt_streams(seed: np.random.SeedSequence, c: int):
    """(covariate, outcome) streams of covariate draw ``c`` (0: the seed's own)."""
    base = seed if c == 0 else _child(_child(seed, 2), c)
    return _child(base, 0), _child(base, 1)


def _child(seed: np.random.SeedSequence, k: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(seed.entropy, spawn_key=tuple(seed.spawn_key) + (k,))


def probit_stage(frame, x, params, draws):
    """Who is reimbursed, and the covariate exchanges that finish the probit points.

    Returns
    -------
    tuple
        ``(frame, x, reimbursed, verdict)``: the frame and design after the scope /
        reason exchanges, the 0/1 outcome, and ``calibrate_probit.verdict`` of it.
    """
    problem = calibrate_probit.ProbitProblem(frame, x, draws.probit)
    reimbursed, _, _, _ = calibrate_probit.calibrate(problem, params.probit)
    # exchanges of scope/reason that keep every published margin finish the points
    frame, x, _ = calibrate_swaps.swap_polish(problem, frame, reimbursed)
    return frame, x, reimbursed, calibrate_probit.verdict(problem, reimbursed)


def add_outcomes(frame, x, params, draws, reimbursed=None) -> pd.DataFrame:
    """Reimbursement, part-2 membership, money outcomes and reasons (exact counts).

    ``reimbursed`` (with ``frame`` and ``x`` as ``probit_stage`` left them) skips the
    probit stage.
    """
    if reimbursed is None:
        frame, x, reimbursed, _ = probit_stage(frame, x, params, draws)
    cells = frame["column"].astype(str) + "|" + frame["scope"].astype(str)
    frame["reimbursed"] = reimbursed
    reimb_counts = {
        cell: int(frame.loc[cells == cell, "reimbursed"].sum())
        for cell in sorted(set(cells))
    }
    part2_counts = part2_cell_counts(reimb_counts)
    score = np.where(frame["reimbursed"] == 1, draws.part2, -np.inf)
    frame["in_part2"] = _top_n_by_cell(score, cells, part2_counts)
    frame["amount_missing"] = _amount_missing(frame, draws.missing_kind)
    _add_money(frame, x, params, draws)
    frame["noreimb_reason"] = _noreimb_reasons(frame, draws)
    return frame


def reimbursed_cell_counts(frame: pd.DataFrame) -> dict[str, int]:
    """Reimbursed counts by (column, scope): IPF of the cell sizes to both margins."""
    scopes = schema.FACTORS["scope"]
    sizes = pd.crosstab(frame["column"], frame["scope"]).loc[
        list(targets.COLUMNS), scopes
    ]
    rows = np.array(
        [targets.t1_counts("reimbursed", c)["yes"] for c in targets.COLUMNS]
    )
    pct = {s: m for s, (m, _) in targets.t2_moments("reimbursed_pct").items()}
    cols = np.array([round(pct[s] * sizes[s].sum() / 100) for s in scopes])
    table = resolutions.ipf_2x3(sizes.to_numpy(), rows, cols)
    return _as_cell_dict(table)


def part2_cell_counts(reimb_counts: dict[str, int]) -> dict[str, int]:
    """Part-2 counts by (column, scope): IPF of reimbursed cells to C06/C07 margins."""
    scopes = schema.FACTORS["scope"]
    seed = np.array(
        [[reimb_counts[f"{c}|{s}"] for s in scopes] for c in targets.COLUMNS]
    )
    rows = np.array([resolutions.PART2_BY_COLUMN[c] for c in targets.COLUMNS])
    cols = np.array([resolutions.PART2_BY_SCOPE[s] for s in scopes])
    table = resolutions.ipf_2x3(seed, rows, cols)
    if np.any(table > seed):
        raise ValueError("part-2 cell exceeds its reimbursed cell")
    return _as_cell_dict(table)


def _as_cell_dict(table: np.ndarray) -> dict[str, int]:
    scopes = schema.FACTORS["scope"]
    return {
        f"{c}|{s}": int(table[i, j])
        for i, c in enumerate(targets.COLUMNS)
        for j, s in enumerate(scopes)
    }


def _top_n_by_cell(score, cells: pd.Series, counts: dict[str, int]) -> np.ndarray:
    out = np.zeros(len(score), np.int8)
    for cell, n in counts.items():
        rows = np.flatnonzero((cells == cell).to_numpy())
        top = rows[np.argsort(-score[rows], kind="stable")[:n]]
        out[top] = 1
    return out


def _amount_missing(frame: pd.DataFrame, u: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero((frame["reimbursed"] == 1) & (frame["in_part2"] == 0))
    out = np.full(len(frame), np.nan, dtype=object)
    n_dk = int(round(resolutions.DONT_KNOW_SHARE * len(rows)))
    order = rows[np.argsort(u[rows], kind="stable")]
    out[order[:n_dk]] = "dont_know"
    out[order[n_dk:]] = "refused"
    return out


def _add_money(frame, x, params, draws) -> None:
    ratio0 = outcomes.latent_ratio(x, params, draws)
    cost0 = outcomes.latent_cost(x, params, draws)
    p2 = (frame["in_part2"] == 1).to_numpy()
    part2 = frame.loc[p2].reset_index(drop=True)
    amount, cost_p2 = calibrate_moments.match_part2(part2, ratio0[p2], cost0[p2])
    amount, cost_p2, _ = calibrate_score.calibrate_money(part2, x[p2], amount, cost_p2)
    cost = np.zeros(len(frame), np.int64)
    cost[p2] = cost_p2
    other = calibrate_moments.match_other_costs(frame, cost, p2, cost0)
    frame["total_expenditure"] = other
    frame["reimb_amount"] = np.nan
    frame.loc[p2, "reimb_amount"] = amount.astype(float)
    frame["reimb_ratio"] = frame["reimb_amount"] / frame["total_expenditure"]


def _noreimb_reasons(frame: pd.DataFrame, draws) -> np.ndarray:
    """Reasons of the non-reimbursed who were asked (C09), exact by scope (C11)."""
    levels = schema.FACTORS["noreimb_reason"]
    out = np.full(len(frame), np.nan, dtype=object)
    for scope, n_answered in resolutions.ANSWERED_BY_SCOPE.items():
        rows = np.flatnonzero((frame["reimbursed"] == 0) & (frame["scope"] == scope))
        asked = rows[np.argsort(draws.answered[rows], kind="stable")[:n_answered]]
        asked = asked[np.argsort(draws.reason[asked], kind="stable")]
        counts = resolutions.REASON_BY_SCOPE[scope]
        out[asked] = np.repeat(levels, counts)
    return out


def model_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The columns the models use, typed as the cleaned analytic sample types them.

    ``clean(encode(frame))`` returns the same values (the round trip is tested); this
    shortcut lets calibration code and tests fit the paper's models on a synthesized
    frame without writing and cleaning the whole survey.
    """
    out = frame.copy()
    out["age"] = out["age"].astype(float)
    out["age_sq"] = out["age"] ** 2
    for factor, levels in schema.FACTORS.items():
        if factor in out:
            out[factor] = pd.Categorical(out[factor], categories=levels)
    return out
