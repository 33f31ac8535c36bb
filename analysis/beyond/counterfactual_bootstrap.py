"""Bootstrap SEs and percentile CIs of the policy counterfactuals.

Each replication draws row weights over the analytic sample with the package's
bootstrap (:mod:`analysis.inference.bootstrap.resample`: replication r uses the r-th
``SeedSequence`` child of the master seed, so a replication's draw, hence every
result, is the same for any number of workers; with the same seed and scheme the
draws are those of ``make bootstrap``), refits part 1 (probit) and part 2
(Gamma-log amount) of each sample's published model with the array fits of
:mod:`analysis.twopart.arrays`, starting from the full-sample estimates, and
re-evaluates every (scenario, sample, group, quantity) of
:func:`analysis.beyond.counterfactuals.evaluate` on the same designs and groups
(:func:`analysis.beyond.counterfactuals.prepare`).

Two averages are taken in each replication:

* ``resampled`` (the reported bootstrap): the quantities are means over the
  drawn rows (weighted by the times drawn), as the bootstrap of the margins in
  :mod:`analysis.inference.bootstrap` does; the SE then also carries the sampling
  variation of the covariates;
* ``fixed``: the refitted coefficients are evaluated on the original rows, each
  once, which is what the delta-method SE (covariates held fixed) measures; in
  large samples the two SEs agree (``tests/test_counterfactual_bootstrap.py``).

A refit that fails (a lost category, perfect prediction, non-convergence) leaves
that sample's quantities missing in that replication and is recorded in
``failures``; nothing is redrawn, and every table row carries its number of
failed replications. SEs and intervals come from
:func:`analysis.inference.bootstrap.intervals.summarise_draws` over the successful ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from analysis.beyond import counterfactuals as cf
from analysis.cleaning.schema import SUBSAMPLES
from analysis.inference.bootstrap import resample, runner
from analysis.inference.bootstrap.intervals import summarise_draws
from analysis.inference.bootstrap.problem import PartOneKernel
from analysis.inference.bootstrap.replicate import REFIT_ERRORS
from analysis.twopart.arrays import binary_columns, refit_binary, refit_glm
from analysis.twopart.links import MEANS

OUTCOME = "reimb_amount"
STATS = ("observed", "counterfactual", "change")
MODES = ("resampled", "fixed")
CATALOGUE_KEYS = (*cf.KEYS, "stat")
FAILURE_COLUMNS = ("rep", "sample", "stage", "error", "message")
#: Columns added to the counterfactual table (besides the delta-method ones).
COLUMNS = (
    "observed_se_boot",
    "observed_ci_boot_low",
    "observed_ci_boot_high",
    "counterfactual_se_boot",
    "counterfactual_ci_boot_low",
    "counterfactual_ci_boot_high",
    "change_se_boot",
    "change_ci_boot_low",
    "change_ci_boot_high",
    "change_se_boot_fixed_x",
    "boot_reps",
    "boot_failed",
    "boot_scheme",
)


@dataclass
class ScenarioKernel:
    """One (scenario, sample): counterfactual designs and group masks."""

    scenario: str
    X1c: np.ndarray
    X2c: np.ndarray
    masks: np.ndarray  # (G, n) float 0/1
    q0: int
    q1: int


@dataclass
class SampleKernel(PartOneKernel):
    """One sample's published fit as arrays, with the scenarios evaluated on it."""

    X2: np.ndarray  # part-2 design on every part-1 row (predictions)
    rows2: np.ndarray  # positions of the part-2 estimation rows
    X2r: np.ndarray  # X2 on those rows (the refit's design)
    names2: list[str]  # column names of X2, for failure messages
    y2: np.ndarray
    bin2: np.ndarray
    b2: np.ndarray
    family: str
    link: str
    mean1: str
    mean2: str
    scenarios: list[ScenarioKernel] = field(default_factory=list)


@dataclass
class Problem:
    """Everything a replication needs, and the catalogue of quantities."""

    samples: list[SampleKernel]
    resampler: resample.Resampler
    catalogue: pd.DataFrame  # CATALOGUE_KEYS + estimate, in draw-column order
    n_quantities: int


@dataclass
class BootstrapResult:
    """Summaries (one row per quantity), the draws and the failed refits."""

    quantities: pd.DataFrame
    draws: np.ndarray  # (reps, 2, Q): MODES x quantities
    failures: pd.DataFrame
    scheme: str
    reps: int
    seed: int


def make_resampler(analytic: pd.DataFrame, scheme: str) -> resample.Resampler:
    """The bootstrap stage's resampler: respondents, or PSUs within strata."""
    if scheme == "pairs":
        return resample.pairs(len(analytic))
    if scheme == "cluster":
        return resample.cluster(analytic["stratum"], analytic["psu"])
    raise ValueError(f"scheme={scheme!r} not in {resample.SCHEMES}")


def build_problem(
    analytic: pd.DataFrame,
    fits: dict,
    frames: dict,
    resampler: resample.Resampler,
    plan=cf.PLAN,
    by: str | None = "scope",
) -> Problem:
    """Kernels of the ``plan``'s scenarios on the published fits.

    Parameters
    ----------
    analytic : pandas.DataFrame
        The analytic sample the resampler draws over.
    fits : dict
        ``{(sample, outcome): TwoPartResults or Exception}`` (as
        :func:`analysis.beyond.stage.fit_published`); a failed fit or a scenario
        that does not apply to a model is left out (the delta-method table
        already records why).
    frames : dict
        ``{sample: design frame}`` the fits were made on.
    resampler : Resampler
        From :func:`make_resampler`.
    plan : sequence of (Counterfactual, sample)
        Scenarios and the sample each is evaluated on.
    by : str, optional
        Grouping column (as :func:`analysis.beyond.counterfactuals.evaluate`).
    """
    kernels: dict[str, SampleKernel] = {}
    frames_cat, q = [], 0
    for scenario, sample in plan:
        res = fits.get((sample, OUTCOME))
        if res is None or isinstance(res, Exception):
            continue
        try:
            setup = cf.prepare(res, scenario, frames[sample], by)
        except ValueError:
            continue
        if sample not in kernels:
            kernels[sample] = _sample_kernel(analytic, sample, res)
        k = kernels[sample]
        size = len(setup.labels) * len(cf.QUANTITIES) * len(STATS)
        sk = ScenarioKernel(
            scenario.name, setup.X1c, setup.X2c, setup.masks.astype(float), q, q + size
        )
        k.scenarios.append(sk)
        frames_cat.append(_catalogue(scenario.name, sample, setup.labels))
        q += size
    samples = list(kernels.values())
    catalogue = (
        pd.concat(frames_cat, ignore_index=True)
        if frames_cat
        else pd.DataFrame(columns=list(CATALOGUE_KEYS))
    )
    estimate = np.full(q, np.nan)
    for k in samples:
        _evaluate(k, k.b1, k.b2, None, None, estimate)
    catalogue["estimate"] = estimate
    return Problem(samples, resampler, catalogue, q)


def _sample_kernel(analytic: pd.DataFrame, sample: str, res) -> SampleKernel:
    p1, p2 = res.spec.part1, res.spec.part2
    if p2.model != "glm":
        raise NotImplementedError("the counterfactual bootstrap refits GLM part 2 only")
    members = np.flatnonzero(analytic["scheme"].isin(SUBSAMPLES[sample]).to_numpy())
    X1, X2 = res.designs[0].X, res.designs[1].X
    rows2 = np.flatnonzero(res.sample.rows2)
    X2r = np.ascontiguousarray(X2[rows2])
    return SampleKernel(
        name=sample,
        pos=members[res.sample.data.index.to_numpy()],
        X1=X1,
        names1=list(res.designs[0].names),
        d=res.sample.d,
        bin1=binary_columns(X1),
        b1=res.fits[0].params.copy(),
        model1=p1.model,
        X2=X2,
        rows2=rows2,
        X2r=X2r,
        names2=list(res.designs[1].names),
        y2=res.sample.y[rows2],
        bin2=binary_columns(X2r),
        b2=res.fits[1].params.copy(),
        family=p2.family,
        link=p2.link,
        mean1=res.fits[0].mean.name,
        mean2=res.fits[1].mean.name,
    )


def _catalogue(scenario: str, sample: str, labels: list[str]) -> pd.DataFrame:
    """Keys of one scenario's quantities in the order :func:`_evaluate` writes them."""
    rows = [
        (scenario, sample, g, qty, stat)
        for g in labels
        for qty in cf.QUANTITIES
        for stat in STATS
    ]
    return pd.DataFrame(rows, columns=list(CATALOGUE_KEYS))


def _evaluate(k: SampleKernel, b1, b2, w, out_resampled, out_fixed) -> None:
    """Write every scenario's quantities of sample ``k`` at (b1, b2).

    ``w`` weights the rows for the ``resampled`` average (skipped when
    ``out_resampled`` is None); ``out_fixed`` gets the average over the
    original rows.
    """
    H1, H2 = MEANS[k.mean1].h, MEANS[k.mean2].h
    F0, h0 = H1(k.X1 @ b1), H2(k.X2 @ b2)
    for sc in k.scenarios:
        F1, h1 = H1(sc.X1c @ b1), H2(sc.X2c @ b2)
        V = np.column_stack([F0, h0, F0 * h0, F1, h1, F1 * h1])
        for out, ww in ((out_resampled, w), (out_fixed, None)):
            if out is None:
                continue
            M = sc.masks if ww is None else sc.masks * ww
            with np.errstate(invalid="ignore", divide="ignore"):
                means = (M @ V) / M.sum(axis=1)[:, None]
            obs, cnt = means[:, :3], means[:, 3:]
            out[sc.q0 : sc.q1] = np.stack([obs, cnt, cnt - obs], axis=-1).ravel()


def replicate_chunk(problem: Problem, seed: int, reps: range):
    """Replications ``reps``: (reps, draws (len(reps), 2, Q), failure rows)."""
    out = np.full((len(reps), len(MODES), problem.n_quantities), np.nan)
    failures: list[tuple] = []
    with threadpool_limits(1):  # small designs: BLAS threads only cost time
        for i, r in enumerate(reps):
            w = problem.resampler.weights(resample.child_rng(seed, r))
            for k in problem.samples:
                _replicate_sample(k, w[k.pos], out[i], failures, r)
    return reps, out, failures


def _replicate_sample(k: SampleKernel, w, row, failures, r) -> None:
    stage = "part1"
    try:
        b1 = refit_binary(k.d, k.X1, k.model1, w, k.b1, k.bin1, k.names1)
        stage = "part2"
        w2 = w[k.rows2]
        b2 = refit_glm(k.y2, k.X2r, k.family, k.link, w2, k.b2, k.bin2, k.names2)
        resampled, fixed = np.full_like(row[0], np.nan), np.full_like(row[1], np.nan)
        _evaluate(k, b1, b2, w, resampled, fixed)
        span = np.concatenate([np.arange(sc.q0, sc.q1) for sc in k.scenarios])
        if not np.all(np.isfinite(fixed[span])):
            stage = "evaluate"
            raise FloatingPointError("non-finite counterfactual quantities")
    except REFIT_ERRORS as error:
        failures.append((r, k.name, stage, type(error).__name__, str(error)[:200]))
        return
    # a group that drew no rows leaves its resampled means NaN (counted per row)
    row[0, span] = resampled[span]
    row[1, span] = fixed[span]


#: Counterfactual replications: a resampled and a fixed-covariate draw per quantity.
COUNTERFACTUALS = runner.Replication(
    replicate_chunk,
    lambda problem: (len(MODES), problem.n_quantities),
    FAILURE_COLUMNS,
    ("rep", "sample"),
    "counterfactuals",
)

#: :func:`analysis.inference.bootstrap.runner.run_replications` of the counterfactual
#: quantities: draws ``(reps, len(MODES), Q)``, the same for any workers or chunks.
run_replications = partial(runner.run_replications, replication=COUNTERFACTUALS)


def bootstrap(
    analytic: pd.DataFrame,
    fits: dict,
    frames: dict,
    reps: int,
    seed: int,
    scheme: str = "pairs",
    workers: int = 1,
    plan=cf.PLAN,
    by: str | None = "scope",
    progress: bool = False,
) -> BootstrapResult:
    """Build, replicate and summarise (pure: no file I/O).

    Returns
    -------
    BootstrapResult
        ``quantities``: the catalogue with ``n_ok``, ``n_failed``, ``se_boot``,
        ``bias`` and CIs (``summarise_draws``) of the resampled average, and
        ``se_boot_fixed_x`` of the fixed-covariate one.
    """
    problem = build_problem(
        analytic, fits, frames, make_resampler(analytic, scheme), plan, by
    )
    draws, failures = run_replications(problem, reps, seed, workers, progress=progress)
    est = problem.catalogue["estimate"].to_numpy()
    stats = summarise_draws(est, draws[:, 0, :])
    fixed = summarise_draws(est, draws[:, 1, :])
    quantities = pd.concat([problem.catalogue, stats], axis=1).assign(
        se_boot_fixed_x=fixed["se_boot"].to_numpy(), reps=reps
    )
    return BootstrapResult(quantities, draws, failures, scheme, reps, seed)


def table_columns(result: BootstrapResult) -> pd.DataFrame:
    """One row per (scenario, sample, group, quantity) with :data:`COLUMNS`.

    ``boot_failed`` counts the replications without a value for the change
    (a failed refit, or no drawn row in the group).
    """
    q = result.quantities
    wide = q.pivot(index=list(cf.KEYS), columns="stat")
    out = pd.DataFrame(index=wide.index)
    for stat in STATS:
        out[f"{stat}_se_boot"] = wide["se_boot", stat]
        out[f"{stat}_ci_boot_low"] = wide["ci_percentile_low", stat]
        out[f"{stat}_ci_boot_high"] = wide["ci_percentile_high", stat]
    out["change_se_boot_fixed_x"] = wide["se_boot_fixed_x", "change"]
    out["boot_reps"] = result.reps
    out["boot_failed"] = wide["n_failed", "change"].astype(int)
    out["boot_scheme"] = result.scheme
    return out[list(COLUMNS)].reset_index()


def failure_summary(result: BootstrapResult) -> pd.DataFrame:
    """Failed replications per sample and error type (zero rows: none failed)."""
    f = result.failures
    if f.empty:
        return pd.DataFrame(columns=["sample", "stage", "error", "replications"])
    return (
        f.groupby(["sample", "stage", "error"], sort=True)
        .size()
        .rename("replications")
        .reset_index()
    )
