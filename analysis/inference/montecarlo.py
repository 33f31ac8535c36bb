"""Monte-Carlo check of the delta-method and bootstrap CIs at the paper's N = 1,165.

Question: at the paper's sample sizes, are the two-part model's estimates unbiased
and do its nominal 95% CIs (delta method, as published; pairs bootstrap, as
:mod:`analysis.inference.bootstrap` offers) cover the truth 95% of the time?

Data-generating process
-----------------------
*Parametric, calibrated to the analytic sample, one per sample.* For each of the
paper's samples (total N = 1,165, NCMS, URBMI+UEBMI) the paper's two models (the
probit shared by both, Gamma-log GLMs for the amount and the ratio) are fitted to
the analytic sample and frozen as the truth; every simulation keeps that sample's
observed covariates (fixed design) and draws

* participation d ~ Bernoulli(Phi(x'b)) from the fitted probit;
* for participants, amount and ratio ~ Gamma with mean exp(x'g) and the fitted
  Pearson dispersion phi (shape 1/phi), independently, from the two fitted GLMs;
* one outcome-missing flag among participants, completely at random at the
  observed rate (the survey loses amount and ratio together: 778 reimbursed,
  663 with both), so part 2's N matches the paper's.

Each sample gets its own DGP because the subsample models are not nested in the
total one (NCMS drops hukou and scheme, and every coefficient differs by
scheme): simulating all three from the total-sample fit would make the subsample
models misspecified, and that would confound the question asked here. Each
model is therefore checked at its own N and its own fitted parameters, correctly
specified. The ratio is not capped at 1 (the model, as fitted, does not cap it).

Truth and estimands
-------------------
Coefficients: the calibrated (b, g). Margins: the ``dydx`` margins of
:class:`analysis.twopart.arrays.MarginPlan` at (b, g) over the fixed design; the
part-2 margins average over participants in expectation (weights P(d=1|x), which
is what averaging over the realised part-2 rows estimates, since the loss is
MCAR).

Estimators
----------
Each simulation runs the paper's fits through
:func:`analysis.inference.bootstrap.problem.build_problem` (the same
:func:`analysis.paper.estimates.fit_one` calls as Tables 3-4: delta-method SEs with
``vce="oim"``, as the paper) and a pairs bootstrap of ``reps`` replications with
:func:`analysis.inference.bootstrap.runner.run_replications` (SEs, percentile and normal
CIs from :func:`analysis.inference.bootstrap.intervals.summarise_draws`).

Failures
--------
A simulation whose fit fails (an error of the package: separation, collinearity,
non-convergence) is *counted* in ``sims_failed`` of that (sample, outcome) and
its error name is kept; it enters no bias or coverage (there is no estimate).
A failed bootstrap replication is NaN, excluded from that simulation's bootstrap
SE and CIs, and counted in ``boot_reps_failed``.

Randomness
----------
Simulation s of sample k uses ``SeedSequence(seed, spawn_key=(STREAM, k, s))``;
its first child draws the data and its second seeds the bootstrap, so every
result depends on (seed, sample, s) only, not on the number of workers or the
order in which simulations finish.

Outputs (``outputs/estimates/``)
--------------------------------
``montecarlo.csv``: one row per quantity (every coefficient and margin of every
fit); ``montecarlo_summary.csv`` and ``.md``: the verdict by (sample, equation)
for the published cells; ``montecarlo_run.csv``: settings, counts and runtime;
``montecarlo_sims.npz``: the per-simulation arrays;
``outputs/figures/montecarlo_coverage.png``: coverage of the published cells
with Monte-Carlo bands.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from joblib import delayed
from scipy.special import ndtr
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from analysis import config, notices
from analysis.cleaning.schema import SUBSAMPLES
from analysis.inference.bootstrap.intervals import summarise_draws
from analysis.inference.bootstrap.problem import CATALOGUE_KEYS, build_problem
from analysis.inference.bootstrap.replicate import REFIT_ERRORS
from analysis.inference.bootstrap.resample import pairs
from analysis.inference.bootstrap.runner import run_parallel, run_replications
from analysis.io import save_table, save_text
from analysis.paper import models
from analysis.paper.estimates import subsample
from analysis.plotting import footnote

Z975 = 1.959963984540054
NOMINAL = 0.95

MC_KEYS = CATALOGUE_KEYS
#: First spawn-key word: keeps these streams apart from the bootstrap stage's (r,).
STREAM = 0x4D43
#: CI name -> column of the per-quantity table.
CIS = {
    "delta": "coverage_delta",
    "boot_percentile": "coverage_boot_percentile",
    "boot_normal": "coverage_boot_normal",
}
#: The published cells (Tables 3-4): (equation, outcome, kind, part, component).
PAPER_CELLS = {
    "probit AME": ("reimb_amount", "margin", "part1", "total"),
    "amount coefficient": ("reimb_amount", "coef", "part2", ""),
    "ratio AME": ("reimb_ratio", "margin", "part2", "total"),
}
SUMMARY_KEYS = ("sample", "equation")


def main(
    analytic_path: Path,
    estimates_dir: Path,
    figures_dir: Path,
    sims: int = config.MONTECARLO_SIMS,
    reps: int = 199,
    samples: tuple[str, ...] = tuple(SUBSAMPLES),
    seed: int = config.MASTER_SEED,
    workers: int = 1,
    progress: bool = True,
    synthetic: bool = True,
    scheduler: str | None = None,
) -> pd.DataFrame:
    """Run the Monte-Carlo check and write its tables and figure.

    Parameters
    ----------
    analytic_path : Path
        The analytic sample (parquet).
    estimates_dir, figures_dir : Path
        Where the tables and the figure go (see the module docstring).
    sims : int
        Simulated data sets per sample.
    reps : int
        Pairs-bootstrap replications per simulated data set (0: delta method only).
    samples : tuple of str
        Samples of :data:`analysis.cleaning.schema.SUBSAMPLES` to check.
    seed : int
        Master seed.
    workers : int
        Local processes (joblib loky); results do not depend on it.
    progress : bool
        Show a progress bar.
    synthetic : bool
        The analytic sample is the synthetic one: the summary and the figure
        carry the synthetic-data notice.
    scheduler : str, optional
        Address of a ``dask.distributed`` scheduler (``tcp://host:8786``): the
        simulations run on its workers instead of local processes; results do not
        depend on where they run.

    Returns
    -------
    DataFrame
        The per-quantity table (``montecarlo.csv``).
    """
    start = time.perf_counter()
    analytic = pd.read_parquet(analytic_path)
    dgps = [calibrate(analytic, s) for s in samples]
    runs = run(dgps, sims, reps, seed, workers, progress, scheduler)
    table = pd.concat(
        [summarise(runs[i], d) for i, d in enumerate(dgps)], ignore_index=True
    )
    verdict = summary(table)
    wall = time.perf_counter() - start
    save_table(table, MC_KEYS, estimates_dir / "montecarlo.csv")
    save_table(verdict, SUMMARY_KEYS, estimates_dir / "montecarlo_summary.csv")
    save_text(
        summary_markdown(verdict, sims, reps, synthetic),
        estimates_dir / "montecarlo_summary.md",
    )
    save_table(
        run_log(dgps, runs, sims, reps, seed, workers, wall),
        ("sample", "outcome"),
        estimates_dir / "montecarlo_run.csv",
    )
    figure(table, figures_dir / "montecarlo_coverage.png", synthetic)
    save_draws(runs, dgps, estimates_dir / "montecarlo_sims.npz")
    return table


def save_draws(runs: list[list[dict]], dgps: list[DGP], path: Path) -> None:
    """Write the per-simulation arrays (``<sample>_<field>``: sims x quantities).

    They let the summaries be recomputed or extended without rerunning.
    """
    arrays = {}
    for d, rs in zip(dgps, runs, strict=True):
        for k in ("estimate", "se_delta", "se_boot", "ci_low", "ci_high"):
            arrays[f"{d.sample}_{k}"] = np.array([r[k] for r in rs])
        arrays[f"{d.sample}_truth"] = d.truth
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)


@dataclass
class DGP:
    """Calibrated two-part DGP of one sample on its fixed design.

    ``catalogue`` lists the quantities of the sample's fits (both outcomes) in
    the order of :func:`build_problem`; ``truth`` holds their true values.
    """

    sample: str
    index: int  # position of the sample in SUBSAMPLES (its seed stream)
    frame: pd.DataFrame  # analytic rows of the sample, in part-1 row order
    p: np.ndarray  # P(d=1|x) per row
    p_missing: float
    mu: dict  # outcome -> E(y|d=1,x) per row
    phi: dict  # outcome -> Pearson dispersion
    catalogue: pd.DataFrame
    truth: np.ndarray


def calibrate(analytic: pd.DataFrame, sample: str) -> DGP:
    """Fit the paper's models of ``sample`` and freeze them as its DGP.

    Raises
    ------
    ValueError
        If a model of the sample cannot be fitted to the analytic sample.
    """
    frame = subsample(analytic, sample)
    problem = build_problem(frame, pairs(len(frame)), samples=(sample,))
    if problem.failed_fits or len(problem.samples) != 1:
        raise ValueError(f"cannot calibrate {sample}: {problem.failed_fits}")
    k = problem.samples[0]
    if k.model1 != "probit":
        raise NotImplementedError("the DGP draws participation from a probit")
    frame = frame.iloc[k.pos].reset_index(drop=True)
    p = ndtr(k.X1 @ k.b1)
    truth = np.empty(problem.n_quantities)
    mu, phi = {}, {}
    for f in k.fits:
        if (f.family, f.link) != ("gamma", "log"):
            raise NotImplementedError("the DGP draws part 2 from a Gamma-log GLM")
        m = f.plan.evaluate(k.b1, f.b2, np.ones(len(p)), p)
        truth[f.q0 : f.q1] = np.concatenate([k.b1, f.b2, m])
        mu[f.outcome] = np.exp(f.plan.X2 @ f.b2)
        phi[f.outcome] = pearson_dispersion(f.y2, np.exp(f.X2 @ f.b2), f.X2.shape[1])
    n2 = problem.nobs[(sample, k.fits[0].outcome)]["part2"]
    return DGP(
        sample,
        list(SUBSAMPLES).index(sample),
        frame,
        p,
        1.0 - n2 / k.d.sum(),
        mu,
        phi,
        problem.catalogue,
        truth,
    )


def pearson_dispersion(y: np.ndarray, mu: np.ndarray, k: int) -> float:
    """Pearson estimate of a Gamma GLM's dispersion (Stata's and statsmodels')."""
    return float(np.sum(((y - mu) / mu) ** 2) / (y.size - k))


def simulate(dgp: DGP, rng: np.random.Generator) -> pd.DataFrame:
    """One data set from the DGP: new participation and outcomes, same covariates."""
    n = len(dgp.frame)
    # every draw is made for all rows, in a fixed order, so each stream's use
    # does not depend on the realised participation
    d = rng.random(n) < dgp.p
    lost = rng.random(n) < dgp.p_missing
    out = dgp.frame.copy()
    out["reimbursed"] = d.astype(out["reimbursed"].dtype)
    for outcome in models.OUTCOMES:
        shape = 1.0 / dgp.phi[outcome]
        y = rng.gamma(shape, dgp.mu[outcome] / shape)
        out[outcome] = np.where(~d, 0.0, np.where(lost, np.nan, y))
    return out


def run(
    dgps: list[DGP],
    sims: int,
    reps: int,
    seed: int,
    workers: int = 1,
    progress: bool = False,
    scheduler: str | None = None,
) -> list[list[dict]]:
    """Simulations 0..sims-1 of every DGP; ``[dgp][sim]`` -> :func:`one_simulation`.

    Each simulation draws from its own ``SeedSequence`` child, so the result is the
    same in one process, on ``workers`` local processes or on a Dask cluster.
    """
    jobs = [(i, s) for i in range(len(dgps)) for s in range(sims)]
    bar = tqdm(total=len(jobs), disable=not progress, desc="montecarlo", unit="sim")
    out: list[list] = [[None] * sims for _ in dgps]
    if workers <= 1 and scheduler is None:
        results = (one_simulation(dgps[i], s, reps, seed) for i, s in jobs)
        for (i, s), r in zip(jobs, results, strict=True):
            out[i][s] = r
            bar.update()
    else:
        tasks = (delayed(_job)(dgps[i], i, s, reps, seed) for i, s in jobs)
        for i, s, r in run_parallel(tasks, workers, scheduler):
            out[i][s] = r
            bar.update()
    bar.close()
    return out


def _job(dgp: DGP, i: int, s: int, reps: int, seed: int) -> tuple[int, int, dict]:
    return i, s, one_simulation(dgp, s, reps, seed)


def one_simulation(dgp: DGP, s: int, reps: int, seed: int) -> dict:
    """Simulate data set ``s``, fit it (delta SEs) and bootstrap it.

    Returns
    -------
    dict
        ``estimate``, ``se_delta``, ``se_boot``, ``ci_low``/``ci_high``
        (percentile): arrays over the DGP's quantities, NaN for a failed fit;
        ``failed``: outcome -> error name of a failed fit; ``boot_failed``:
        outcome -> failed bootstrap replications.
    """
    data_ss, boot_ss = np.random.SeedSequence(
        seed, spawn_key=(STREAM, dgp.index, s)
    ).spawn(2)
    data = simulate(dgp, np.random.default_rng(data_ss))
    q = len(dgp.truth)
    nan = np.full(q, np.nan)
    out = {
        "estimate": nan.copy(),
        "se_delta": nan.copy(),
        "se_boot": nan.copy(),
        "ci_low": nan.copy(),
        "ci_high": nan.copy(),
        "failed": {},
        "boot_failed": dict.fromkeys(models.OUTCOMES, 0),
    }
    with threadpool_limits(1):  # N = 1,165: BLAS threads only cost time
        try:
            problem = build_problem(data, pairs(len(data)), samples=(dgp.sample,))
        except REFIT_ERRORS as error:  # outside a fit: both outcomes fail
            out["failed"] = dict.fromkeys(models.OUTCOMES, type(error).__name__)
            return out
        out["failed"] = {
            o: msg.split(":", 1)[0] for (_, o), msg in problem.failed_fits.items()
        }
        if not problem.samples:
            return out
        cat = problem.catalogue
        rows = _positions(dgp.catalogue, cat)
        out["estimate"][rows] = cat["estimate"].to_numpy()
        out["se_delta"][rows] = cat["se_delta"].to_numpy()
        if reps < 1:
            return out
        # 128 bits of the child's state: the bootstrap's own SeedSequence root
        boot_seed = int.from_bytes(boot_ss.generate_state(4).tobytes(), "little")
        draws, failures = run_replications(problem, reps, boot_seed)
    with warnings.catch_warnings():  # all-failed columns: NaN, counted below
        warnings.simplefilter("ignore", RuntimeWarning)
        stats = summarise_draws(cat["estimate"].to_numpy(), draws)
    out["se_boot"][rows] = stats["se_boot"].to_numpy()
    out["ci_low"][rows] = stats["ci_percentile_low"].to_numpy()
    out["ci_high"][rows] = stats["ci_percentile_high"].to_numpy()
    for outcome, n in failures.groupby("outcome")["rep"].nunique().items():
        out["boot_failed"][outcome] = int(n)
    return out


def _positions(reference: pd.DataFrame, cat: pd.DataFrame) -> np.ndarray:
    """Positions in ``reference`` of the rows of ``cat`` (same quantity keys)."""
    keys = list(MC_KEYS)
    pos = pd.MultiIndex.from_frame(reference[keys]).get_indexer(
        pd.MultiIndex.from_frame(cat[keys])
    )
    if (pos < 0).any():
        raise ValueError("a simulated fit has quantities the calibrated one lacks")
    return pos


def summarise(runs: list[dict], dgp: DGP) -> pd.DataFrame:
    """Bias, SDs, SE ratios and CI coverage per quantity of one DGP.

    Moments are over the simulations whose fit succeeded (``sims_ok``); the
    coverage MC SE is the binomial SE under the nominal 95%.
    """
    est, se_d, se_b, lo, hi = (
        np.array([r[k] for r in runs])
        for k in ("estimate", "se_delta", "se_boot", "ci_low", "ci_high")
    )
    t = dgp.truth
    ok = np.isfinite(est)
    n = ok.sum(axis=0)
    sd = _nan(np.nanstd, est, ddof=1)
    out = dgp.catalogue[list(MC_KEYS)].copy()
    out["truth"] = t
    out["estimate_observed"] = dgp.catalogue["estimate"].to_numpy()
    out["mean_estimate"] = _nan(np.nanmean, est)
    out["bias"] = out["mean_estimate"] - t
    out["bias_mcse"] = sd / np.sqrt(n)
    out["relative_bias"] = out["bias"] / np.abs(t)
    out["sd_estimate"] = sd
    out["mean_se_delta"] = _nan(np.nanmean, se_d)
    out["mean_se_boot"] = _nan(np.nanmean, se_b)
    out["se_ratio_delta"] = out["mean_se_delta"] / sd
    out["se_ratio_boot"] = out["mean_se_boot"] / sd
    with np.errstate(invalid="ignore"):
        cover = {
            "coverage_delta": np.abs(est - t) <= Z975 * se_d,
            "coverage_boot_percentile": (lo <= t) & (t <= hi),
            "coverage_boot_normal": np.abs(est - t) <= Z975 * se_b,
        }
    for col, hit in cover.items():
        valid = ok & np.isfinite(se_b if "boot" in col else se_d)
        m = valid.sum(axis=0)
        out[col] = np.where(m > 0, (hit & valid).sum(axis=0) / np.maximum(m, 1), np.nan)
    out["coverage_mcse"] = np.sqrt(NOMINAL * (1 - NOMINAL) / np.maximum(n, 1))
    out["sims_ok"] = n
    fails = {o: sum(o in r["failed"] for r in runs) for o in models.OUTCOMES}
    boot = {o: sum(r["boot_failed"][o] for r in runs) for o in models.OUTCOMES}
    out["sims_failed"] = out["outcome"].map(fails)
    out["boot_reps_failed"] = out["outcome"].map(boot)
    return out


def _nan(fn, a: np.ndarray, **kw) -> np.ndarray:
    """``fn`` over simulations, NaN (without a warning) where none succeeded."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(a, axis=0, **kw)


def paper_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The published cells of ``table`` (intercepts excluded), with an ``equation``."""
    frames = []
    for name, (outcome, kind, part, component) in PAPER_CELLS.items():
        sel = (
            (table["outcome"] == outcome)
            & (table["kind"] == kind)
            & (table["part"] == part)
            & (table["component"] == component)
            & (table["term"] != "_cons")
        )
        frames.append(table[sel].assign(equation=name))
    return pd.concat(frames, ignore_index=True)


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """The verdict: per (sample, equation) of the published cells.

    ``max_abs_bias_z``: largest |bias| / its MC SE; ``max_abs_bias_sd``: largest
    |bias| / SD of the estimates; coverage columns: mean, min and the number of
    cells whose coverage lies below 0.95 - 1.96 MC SE.
    """
    cells = paper_rows(table)
    rows = []
    for (sample, eq), g in cells.groupby(["sample", "equation"], sort=False):
        row = {
            "sample": sample,
            "equation": eq,
            "cells": len(g),
            "sims_ok": int(g["sims_ok"].min()),
            "sims_failed": int(g["sims_failed"].max()),
            "boot_reps_failed": int(g["boot_reps_failed"].max()),
            "max_abs_bias_z": float((g["bias"] / g["bias_mcse"]).abs().max()),
            "max_abs_bias_sd": float((g["bias"] / g["sd_estimate"]).abs().max()),
            "median_se_ratio_delta": float(g["se_ratio_delta"].median()),
            "min_se_ratio_delta": float(g["se_ratio_delta"].min()),
            "median_se_ratio_boot": float(g["se_ratio_boot"].median()),
        }
        low = NOMINAL - Z975 * g["coverage_mcse"]
        for name, col in CIS.items():
            row[f"mean_{col}"] = float(g[col].mean())
            row[f"min_{col}"] = float(g[col].min())
            row[f"cells_low_{name}"] = int((g[col] < low).sum())
        rows.append(row)
    return pd.DataFrame(rows)


def summary_markdown(
    verdict: pd.DataFrame, sims: int, reps: int, synthetic: bool = True
) -> str:
    """The verdict as a Markdown table (coverage in %, SE ratios to 2 d.p.)."""
    head = (notices.REPORT + "\n\n" if synthetic else "") + (
        "| sample | equation | cells | sims ok (failed) | max abs bias / MC SE"
        " | median SE ratio delta (min) | median SE ratio boot"
        " | coverage delta: mean, min, cells low"
        " | coverage boot percentile | coverage boot normal |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n"
    )
    body = []
    for r in verdict.itertuples(index=False):
        cov = [
            f"{100 * getattr(r, f'mean_coverage_{c}'):.1f}, "
            f"{100 * getattr(r, f'min_coverage_{c}'):.1f}, "
            f"{getattr(r, f'cells_low_{n}')}"
            for n, c in (
                ("delta", "delta"),
                ("boot_percentile", "boot_percentile"),
                ("boot_normal", "boot_normal"),
            )
        ]
        body.append(
            f"| {r.sample} | {r.equation} | {r.cells} | {r.sims_ok} ({r.sims_failed})"
            f" | {r.max_abs_bias_z:.1f} | {r.median_se_ratio_delta:.2f}"
            f" ({r.min_se_ratio_delta:.2f}) | {r.median_se_ratio_boot:.2f}"
            f" | {cov[0]} | {cov[1]} | {cov[2]} |"
        )
    band = 100 * Z975 * np.sqrt(NOMINAL * (1 - NOMINAL) / sims)
    foot = (
        f"\n{sims} simulated data sets per sample, {reps} pairs-bootstrap"
        " replications each. Coverage of nominal 95% CIs in %: mean over the"
        f" cells, lowest cell, and cells below 95 - {band:.1f} (1.96 MC SEs)."
        " SE ratio = mean reported SE / SD of the estimates over simulations.\n"
    )
    return head + "\n".join(body) + "\n" + foot


def run_log(
    dgps: list[DGP],
    runs: list[list[dict]],
    sims: int,
    reps: int,
    seed: int,
    workers: int,
    wall: float,
) -> pd.DataFrame:
    """Settings, DGP constants and failure counts of the run, per (sample, outcome)."""
    rows = []
    for d, rs in zip(dgps, runs, strict=True):
        for o in models.OUTCOMES:
            errors = sorted({r["failed"][o] for r in rs if o in r["failed"]})
            rows.append(
                {
                    "sample": d.sample,
                    "outcome": o,
                    "n": len(d.frame),
                    "expected_part2_n": float(d.p.sum() * (1 - d.p_missing)),
                    "p_missing": d.p_missing,
                    "phi": d.phi[o],
                    "sims": sims,
                    "reps": reps,
                    "seed": seed,
                    "workers": workers,
                    "sims_failed": sum(o in r["failed"] for r in rs),
                    "fit_errors": " ".join(errors),
                    "boot_reps_failed": sum(r["boot_failed"][o] for r in rs),
                    "wall_seconds": round(wall, 1),
                }
            )
    return pd.DataFrame(rows)


def figure(table: pd.DataFrame, path: Path, synthetic: bool = True) -> None:
    """Coverage of the published cells' 95% CIs, one panel per (equation, sample).

    The grey band is 0.95 -/+ 1.96 MC SEs: a CI that covers at the nominal rate
    falls outside it for about 1 cell in 20.
    """
    cells = paper_rows(table)
    samples = [s for s in SUBSAMPLES if s in set(cells["sample"])]
    eqs = list(PAPER_CELLS)
    n_max = cells.groupby(["sample", "equation"]).size().max()
    fig, axes = plt.subplots(
        len(eqs),
        len(samples),
        figsize=(3.6 * len(samples), 0.13 * n_max * len(eqs) + 1.5),
        squeeze=False,
        sharex=True,
    )
    marks = {
        "coverage_delta": ("o", "delta method"),
        "coverage_boot_percentile": ("s", "bootstrap percentile"),
        "coverage_boot_normal": ("^", "bootstrap normal"),
    }
    for i, eq in enumerate(eqs):
        for j, s in enumerate(samples):
            ax = axes[i, j]
            g = cells[(cells["equation"] == eq) & (cells["sample"] == s)]
            y = np.arange(len(g))
            band = Z975 * float(g["coverage_mcse"].max()) if len(g) else 0.0
            ax.axvspan(NOMINAL - band, NOMINAL + band, color="0.88", lw=0)
            ax.axvline(NOMINAL, color="0.5", lw=0.8)
            for col, (mk, lab) in marks.items():
                ax.plot(g[col], y, mk, ms=3, ls="", alpha=0.8, label=lab)
            labels = [
                f"{t}={lv}" if lv else t
                for t, lv in zip(g["term"], g["level"], strict=True)
            ]
            ax.set_yticks(y, labels, fontsize=5)
            ax.set_ylim(n_max - 0.5, -0.5)
            ax.set_title(f"{s}: {eq}", fontsize=8)
            ax.tick_params(axis="x", labelsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("coverage of nominal 95% CIs", fontsize=7)
    axes[0, 0].legend(fontsize=6, loc="lower left")
    fig.suptitle(
        f"Monte-Carlo coverage ({int(cells['sims_ok'].max())} simulations per"
        " sample; band: 0.95 -/+ 1.96 MC SE)",
        fontsize=8,
    )
    footnote(fig, notices.FIGURE if synthetic else "")
    path.parent.mkdir(parents=True, exist_ok=True)
    # no Software stamp: reruns write identical bytes
    fig.savefig(path, dpi=150, metadata={"Software": None})
    plt.close(fig)
