"""Monte-Carlo check of the delta-method and bootstrap CIs at the paper's N = 1,165.

Data-generating process: *parametric, calibrated to the analytic sample* (the
calibrated generator :mod:`analysis.synth` is being recalibrated, so this module
does not depend on it). The two-part model of one (sample, outcome) is fitted to
the analytic sample; every simulation keeps the observed covariates (fixed design)
and draws

* participation d ~ Bernoulli(Phi(x'b)) from the fitted probit;
* for participants, y ~ Gamma with mean exp(x'g) and the fitted Pearson
  dispersion phi (shape 1/phi), from the fitted Gamma-log GLM;
* a missing outcome among participants completely at random, at the observed
  rate (the paper: 778 reimbursed, 663 with an amount), so part 2's N matches.

True AMEs: the margins of :class:`analysis.twopart.arrays.MarginPlan` at the
calibrated (b, g) over the fixed design; part-2 AMEs average over participants
in expectation (weights P(y>0|x)). Each simulation refits with
:func:`analysis.twopart.twopm` (delta-method SEs, ``vce="oim"`` as the paper) and
runs a pairs bootstrap of ``reps`` replications (the array refits of
:mod:`analysis.bootstrap`). Reported per AME: bias (with its MC SE), SD of the
estimates against the mean delta and bootstrap SEs, and coverage of the nominal
95% delta, bootstrap-percentile and bootstrap-normal CIs (MC SE
sqrt(0.95 x 0.05 / sims)). Simulation s draws from SeedSequence(seed, spawn_key=(s,
0)) and its bootstrap replication r from spawn_key (s, 1, r): results are the same
for any number of workers.

Outputs: ``outputs/estimates/montecarlo_<sample>_<outcome>.csv`` (table) and
``outputs/figures/montecarlo_<sample>_<outcome>.png`` (coverage by AME).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import ndtr

from analysis import config, specs
from analysis.bootstrap.problem import _fit
from analysis.estimates import subsample
from analysis.io import save_table
from analysis.twopart.arrays import MarginPlan, fit_binary, fit_glm

Z975 = 1.959963984540054
MC_KEYS = ("part", "component", "term", "level")


def main(
    analytic_path: Path,
    estimates_dir: Path,
    figures_dir: Path,
    sims: int = 200,
    reps: int = 199,
    sample: str = "total",
    outcome: str = "reimb_amount",
    seed: int = config.MASTER_SEED,
    workers: int = 1,
    progress: bool = True,
) -> pd.DataFrame:
    """Run the Monte-Carlo check and write its table and figure (module doc).

    CLI: ``python -m analysis montecarlo --sims S --reps B --workers K``.
    """
    analytic = pd.read_parquet(analytic_path)
    dgp = calibrate(analytic, sample, outcome)
    table = summarise(run(dgp, sims, reps, seed, workers, progress), dgp)
    stem = f"montecarlo_{sample}_{outcome}"
    save_table(table, MC_KEYS, estimates_dir / f"{stem}.csv")
    figure(table, sims, figures_dir / f"{stem}.png")
    return table


@dataclass
class DGP:
    """Calibrated two-part DGP on a fixed design, with its fitted template."""

    frame: pd.DataFrame  # design frame of the sample (covariates fixed)
    sample: str
    outcome: str
    b: np.ndarray
    g: np.ndarray
    phi: float
    p_missing: float
    X1: np.ndarray
    X2: np.ndarray  # part-2 design on all rows
    truth: np.ndarray
    labels: list


def calibrate(analytic: pd.DataFrame, sample: str, outcome: str) -> DGP:
    """Fit the paper's model of (sample, outcome) and freeze it as the DGP."""
    frame = specs.design_frame(subsample(analytic, sample))
    res = _fit(frame, sample, outcome, "columnwise", "oim", None)
    frame = frame.loc[res.sample.data.index].reset_index(drop=True)
    b, g = res.fits[0].params, res.fits[1].params
    plan = MarginPlan.from_results(res)
    X1, X2 = res.designs[0].X, res.designs[1].X
    p = ndtr(X1 @ b)
    d = res.sample.d
    p_missing = 1.0 - res.nobs["part2"] / d.sum()
    truth = plan.evaluate(b, g, np.ones(len(p)), p)
    return DGP(
        frame,
        sample,
        outcome,
        b,
        g,
        res.fits[1].scale,
        p_missing,
        X1,
        X2,
        truth,
        plan.labels,
    )


def simulate(dgp: DGP, rng: np.random.Generator) -> pd.DataFrame:
    """One data set from the DGP: new participation and outcomes, same covariates."""
    n = len(dgp.frame)
    d = (rng.random(n) < ndtr(dgp.X1 @ dgp.b)).astype(np.int8)
    mu = np.exp(dgp.X2 @ dgp.g)
    y = rng.gamma(1.0 / dgp.phi, mu * dgp.phi)
    missing = rng.random(n) < dgp.p_missing
    out = dgp.frame.copy()
    out["reimbursed"] = d
    out[dgp.outcome] = np.where(d == 0, 0.0, np.where(missing, np.nan, y))
    return out


def run(
    dgp: DGP, sims: int, reps: int, seed: int, workers: int = 1, progress: bool = False
) -> list:
    """Per simulation: (estimate, delta SE, bootstrap SE, percentile CI) arrays."""
    from joblib import Parallel, delayed, parallel_config
    from tqdm import tqdm

    tasks = (delayed(one_simulation)(dgp, s, reps, seed) for s in range(sims))
    if workers <= 1:
        it = (one_simulation(dgp, s, reps, seed) for s in range(sims))
        return list(tqdm(it, total=sims, disable=not progress, desc="montecarlo"))
    with parallel_config(backend="loky", inner_max_num_threads=1):
        out = Parallel(n_jobs=workers, return_as="generator")(tasks)
        return list(tqdm(out, total=sims, disable=not progress, desc="montecarlo"))


def one_simulation(dgp: DGP, s: int, reps: int, seed: int) -> dict:
    """Simulate, fit (delta SEs) and bootstrap once; failures are reported."""
    from threadpoolctl import threadpool_limits

    from analysis.bootstrap.intervals import summarise_draws

    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(s, 0)))
    data = simulate(dgp, rng)
    with threadpool_limits(1):
        try:
            res = _fit(data, dgp.sample, dgp.outcome, "columnwise", "oim", None)
            m = res.margins()
        except ValueError as error:
            return {"sim": s, "failed": type(error).__name__}
        est, se = m["estimate"].to_numpy(), m["se"].to_numpy()
        draws = _bootstrap(res, reps, seed, s)
    stats = summarise_draws(est, draws)
    return {
        "sim": s,
        "failed": "",
        "estimate": est,
        "se_delta": se,
        "se_boot": stats["se_boot"].to_numpy(),
        "pct": stats[["ci_percentile_low", "ci_percentile_high"]].to_numpy(),
        "boot_failed": int(np.isnan(draws).any(axis=1).sum()),
    }


def _bootstrap(res, reps: int, seed: int, s: int) -> np.ndarray:
    plan = MarginPlan.from_results(res)
    X1, d = res.designs[0].X, res.sample.d
    r2 = np.flatnonzero(res.sample.rows2)
    X2, y2 = np.ascontiguousarray(res.designs[1].X[r2]), res.sample.y[r2]
    b0, g0 = res.fits[0].params, res.fits[1].params
    out = np.full((reps, len(plan.labels)), np.nan)
    n = len(d)
    for r in range(reps):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(s, 1, r)))
        w = np.bincount(rng.integers(0, n, n), minlength=n).astype(float)
        try:
            b = fit_binary(d, X1, "probit", w, start=b0)
            g = fit_glm(y2, X2, "gamma", "log", w[r2], start=g0)
            out[r] = plan.evaluate(b, g, w)
        except (ValueError, np.linalg.LinAlgError, FloatingPointError):
            continue
    return out


def summarise(runs: list, dgp: DGP) -> pd.DataFrame:
    """Bias, SDs and coverage per AME over the successful simulations."""
    ok = [r for r in runs if not r["failed"]]
    if not ok:
        raise ValueError("every simulation failed")
    est = np.array([r["estimate"] for r in ok])
    se_d = np.array([r["se_delta"] for r in ok])
    se_b = np.array([r["se_boot"] for r in ok])
    pct = np.array([r["pct"] for r in ok])
    t = dgp.truth
    cover = {
        "coverage_delta": np.abs(est - t) <= Z975 * se_d,
        "coverage_boot_percentile": (pct[:, :, 0] <= t) & (t <= pct[:, :, 1]),
        "coverage_boot_normal": np.abs(est - t) <= Z975 * se_b,
    }
    s = len(ok)
    out = pd.DataFrame(dgp.labels, columns=list(MC_KEYS))
    out["truth"] = t
    out["mean_estimate"] = est.mean(axis=0)
    out["bias"] = out["mean_estimate"] - t
    out["bias_mcse"] = est.std(axis=0, ddof=1) / np.sqrt(s)
    out["sd_estimate"] = est.std(axis=0, ddof=1)
    out["mean_se_delta"] = se_d.mean(axis=0)
    out["mean_se_boot"] = np.nanmean(se_b, axis=0)
    for k, v in cover.items():
        out[k] = v.mean(axis=0)
    out["coverage_mcse"] = np.sqrt(0.95 * 0.05 / s)
    out["sims_ok"] = s
    out["sims_failed"] = len(runs) - s
    out["boot_reps_failed"] = sum(r["boot_failed"] for r in ok)
    return out


def figure(table: pd.DataFrame, sims: int, path: Path) -> None:
    """Coverage of the three 95% CIs by AME, with the MC band around 0.95."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lab = (
        table["part"]
        + ":"
        + table["component"].str[:3]
        + ":"
        + table["term"]
        + table["level"].map(lambda v: f"={v}" if v else "")
    )
    y = np.arange(len(table))
    fig, ax = plt.subplots(figsize=(7, 0.14 * len(table) + 1.5))
    band = Z975 * np.sqrt(0.95 * 0.05 / sims)
    ax.axvspan(0.95 - band, 0.95 + band, color="0.9")
    ax.axvline(0.95, color="0.5", lw=0.8)
    for col, mk in (
        ("coverage_delta", "o"),
        ("coverage_boot_percentile", "s"),
        ("coverage_boot_normal", "^"),
    ):
        ax.plot(table[col], y, mk, ms=3, ls="", label=col.replace("coverage_", ""))
    ax.set_yticks(y, lab, fontsize=5)
    ax.invert_yaxis()
    ax.set_xlabel(f"coverage of nominal 95% CIs ({sims} simulations)")
    ax.legend(fontsize=6, loc="lower left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    plt.close(fig)
