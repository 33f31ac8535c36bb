"""The synthetic analytic frame: 1,165 rows, one per member of the paper's sample.

``synthesize_analytic(seed)`` is the contract of ``docs/architecture.md``. It draws
the covariates and the outcome noise, then runs the calibration steps of
``analysis.synth.calibration`` in order (``analysis/synth/README.md`` draws the
pipeline):

1. covariates exact to Table 1 (``covariates``);
2. who is reimbursed (``participation``: fixed point; ``flip_polish``);
3. scope / reason exchanges that finish the probit points (``covariate_exchanges``);
4. part-2 membership and missing-amount kinds (``part2_counts``);
5. part-2 amount and cost with the Table 1-2 moments (``money_moments``);
6. amount and ratio moved until the GLMs give Tables 3-4 (``glm_scores``);
7. costs of the other stays, Table 1's cost moments (``other_costs``);
8. reasons for no reimbursement, Figures 1-2 (``reasons``).

Steps 2-3 run for every attempt of the outer loop over draws
(:func:`synthesize_with_attempt`); steps 4-8 only for the draw kept. Conflicts between
published exhibits are resolved in ``resolutions.py`` and logged in
``data/published/inconsistencies.csv``.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from analysis.cleaning import schema
from analysis.synth import outcomes
from analysis.synth.calibration import (
    covariate_exchanges,
    covariates,
    flip_polish,
    glm_scores,
    money_moments,
    other_costs,
    part2_counts,
    participation,
    reasons,
)

FRAME_COLUMNS = (
    "scheme", "education", "scope", "reason", "duration", "facility_level",
    "income_quintile", "noreimb_reason", "female", "married", "has_job", "rural_hukou",
    "urban_area", "reimbursed", "in_part2", "age", "birth_year", "birth_month",
    "arrival_year", "arrival_month", "hh_size", "famincom_m", "income_pc_month",
    "total_expenditure", "reimb_amount", "reimb_ratio", "amount_missing",
)  # fmt: skip


# Outer loop over draws: the probit AME SEs run ~15% under the published ones on every
# design (docs/se_gap.md), so whether enough of them land in their 15% window, and on
# the published side of the star thresholds, depends on the draw. Attempts are tried
# in a fixed order: covariate draw c = 0, 1, ... (c = 0 is the seed's own stream), and
# inside each NOISE_DRAWS outcome-noise draws (o = 0 the covariate stream's own); the
# first whose calibrated probit meets the targets (``participation.verdict``) is
# kept, else the one with the smallest shortfall (first on ties).
COVARIATE_DRAWS = 6
NOISE_DRAWS = 3

logger = logging.getLogger(__name__)


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
    best, met, tried = None, False, 0
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
            stage = participation_steps(frame0.copy(), x0.copy(), params, draws)
            tried += 1
            logger.debug("attempt (%d, %d): %s", c, o, _describe(stage[3]))
            key = (not stage[3]["meets"], stage[3]["shortfall"])
            if best is None or key < best[0]:
                best = (key, (c, o), params, draws, stage)
            met = stage[3]["meets"]
            if met:
                break
        if met:
            break
    _, attempt, params, draws, (frame, x, reimbursed, verdict) = best
    logger.info(
        "analytic members: attempt %s kept, %d of %d tried; %s",
        attempt, tried, COVARIATE_DRAWS * NOISE_DRAWS, _describe(verdict),
    )  # fmt: skip
    frame = outcome_steps(frame, x, params, draws, reimbursed)
    return frame.loc[:, list(FRAME_COLUMNS)].reset_index(drop=True), attempt


def _describe(verdict: dict) -> str:
    """One line of a probit verdict (points, SEs and stars of the 29 targets)."""
    n = len(participation.table_targets("probit"))
    return (
        f"probit points {verdict['points']}/{n}, SEs within 15% {verdict['se_ok']}"
        f"/{n} (need {participation.NEED_SE_OK}), stars {verdict['stars_ok']}/{n} "
        f"(need {participation.NEED_STARS_OK})"
    )


def _attempt_streams(seed: np.random.SeedSequence, c: int):
    """(covariate, outcome) streams of covariate draw ``c`` (0: the seed's own)."""
    base = seed if c == 0 else _child(_child(seed, 2), c)
    return _child(base, 0), _child(base, 1)


def _child(seed: np.random.SeedSequence, k: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(seed.entropy, spawn_key=tuple(seed.spawn_key) + (k,))


def participation_steps(frame, x, params, draws):
    """Steps 2-3: who is reimbursed, then the exchanges that finish the probit points.

    Returns
    -------
    tuple
        ``(frame, x, reimbursed, verdict)``: the frame and design after the scope /
        reason exchanges, the 0/1 outcome, and ``participation.verdict`` of it.
    """
    problem = participation.ProbitProblem(frame, x, draws.probit)
    reimbursed, score = participation.fixed_point(problem, params.probit)
    reimbursed, _ = flip_polish.polish(problem, reimbursed, score)
    frame, x, _ = covariate_exchanges.exchange_covariates(problem, frame, reimbursed)
    return frame, x, reimbursed, participation.verdict(problem, reimbursed)


def outcome_steps(frame, x, params, draws, reimbursed) -> pd.DataFrame:
    """Steps 4-8 on the kept draw: part 2, money outcomes and reasons (exact counts).

    ``frame``, ``x`` and ``reimbursed`` are as :func:`participation_steps` left them.
    """
    frame["reimbursed"] = reimbursed
    frame["in_part2"] = part2_counts.in_part2(frame, draws.part2)
    frame["amount_missing"] = part2_counts.amount_missing(frame, draws.missing_kind)
    ratio0 = outcomes.latent_ratio(x, params, draws)
    cost0 = outcomes.latent_cost(x, params, draws)
    p2 = (frame["in_part2"] == 1).to_numpy()
    part2 = frame.loc[p2].reset_index(drop=True)
    amount, cost_p2 = money_moments.match_part2(part2, ratio0[p2], cost0[p2])
    amount, cost_p2 = glm_scores.calibrate_money(part2, x[p2], amount, cost_p2)
    cost = np.zeros(len(frame), np.int64)
    cost[p2] = cost_p2
    frame["total_expenditure"] = other_costs.match_other_costs(frame, cost, p2, cost0)
    frame["reimb_amount"] = np.nan
    frame.loc[p2, "reimb_amount"] = amount.astype(float)
    frame["reimb_ratio"] = frame["reimb_amount"] / frame["total_expenditure"]
    frame["noreimb_reason"] = reasons.noreimb_reasons(
        frame, draws.answered, draws.reason
    )
    return frame


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
