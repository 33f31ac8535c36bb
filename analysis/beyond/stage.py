"""Beyond the paper: specification checks, robustness, policy counterfactuals.

Inputs: the analytic sample (``data/derived/analytic.parquet``).
Outputs:

* ``outputs/tables/diagnostics_{probit,amount,ratio}.csv``: the specification checks
  of each Table 3-4 equation on the total, NCMS and URBMI+UEBMI samples, key
  ``sample, check, item`` (:mod:`analysis.beyond.diagnostics`);
* ``outputs/tables/robustness_table3.csv``: Tables 3-4 under alternative
  specifications on each sample, with changed conclusions flagged, key
  ``sample, variant, equation, term`` (:mod:`analysis.beyond.robustness`);
* ``outputs/tables/counterfactuals.csv``: cross-region settlement (each sample)
  and scheme equalisation (total sample), by migration scope, with delta-method
  and bootstrap SEs and 95% CIs, and bounds of the settlement's change in
  expected reimbursement under selection of claims on their amount
  (:mod:`analysis.beyond.counterfactuals`,
  :mod:`analysis.beyond.counterfactual_bootstrap`,
  :mod:`analysis.beyond.selection_bound`);
* ``outputs/tables/counterfactuals_bootstrap_failures.csv``: one row per failed
  bootstrap refit (replication, sample, stage, error);
* ``outputs/figures/figure_counterfactuals.{png,pdf}``.

:func:`report_section` returns the replication report's section on these files.
Method notes and the limits of the counterfactuals: ``docs/beyond_the_paper.md``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from analysis import notices  # noqa: E402
from analysis.beyond import counterfactual_bootstrap as cfb  # noqa: E402
from analysis.beyond import counterfactuals as cf  # noqa: E402
from analysis.beyond import diagnostics, robustness
from analysis.beyond import selection_bound as sb
from analysis.beyond.summary import FAILURES, FIGURE
from analysis.cleaning.schema import FACTORS, SUBSAMPLES  # noqa: E402
from analysis.config import MASTER_SEED, MIN_CELL  # noqa: E402
from analysis.io import TABLE_DIGITS, save_table  # noqa: E402
from analysis.paper import models  # noqa: E402
from analysis.paper.estimates import subsample  # noqa: E402
from analysis.plotting import footnote, save, tick_label  # noqa: E402
from analysis.twopart import TwoPartError  # noqa: E402

log = logging.getLogger(__name__)
DIAGNOSTIC_KEYS = ("sample", "check", "item")
#: Pairs-bootstrap replications of the counterfactuals in ``make reproduce``.
#: Fewer than the bootstrap stage's BOOTSTRAP_REPS (999): 999 took 10-19 s on
#: one core of the shared 2-core machine, which with the subsample diagnostics
#: would have grown ``make reproduce`` by more than 15 s; 499 keeps 12 draws
#: beyond each 2.5% percentile (docs/beyond_the_paper.md, Runtime).
COUNTERFACTUAL_BOOT_REPS = 499


def main(
    analytic_path: Path,
    out_dir: Path,
    figures_dir: Path,
    synthetic: bool = True,
    reps: int = COUNTERFACTUAL_BOOT_REPS,
    seed: int = MASTER_SEED,
    workers: int = 1,
    min_cell: int = MIN_CELL,
    progress: bool = True,
) -> None:
    """Write the diagnostics, robustness and counterfactual tables and the figure.

    ``reps`` pairs-bootstrap replications of the counterfactuals, replication
    r from the r-th ``SeedSequence`` child of ``seed`` (the draws of ``make
    bootstrap``); ``workers`` local processes (the result does not depend on
    it); ``reps=0`` skips the bootstrap (its columns are left empty). In a real-data
    run (``synthetic=False``) counterfactual cells of fewer than ``min_cell``
    respondents are blanked.
    """
    clear_outputs(out_dir, figures_dir)
    analytic = pd.read_parquet(analytic_path)
    frames = {s: models.design_frame(subsample(analytic, s)) for s in SUBSAMPLES}
    fits = fit_published(frames)
    log.info("beyond: specification checks of the published fits")
    for eq in models.EQUATION_NAMES:
        table = diagnostics_table(fits, eq)
        path = out_dir / f"diagnostics_{eq}.csv"
        save_table(
            table, DIAGNOSTIC_KEYS, path, sort=False, digits=TABLE_DIGITS,
            synthetic=synthetic,
        )  # fmt: skip
    log.info("beyond: robustness variants of Tables 3-4")
    rob = robustness.robustness_tables(frames)
    save_table(
        rob,
        robustness.KEYS,
        out_dir / "robustness_table3.csv",
        sort=False,
        digits=TABLE_DIGITS,
        synthetic=synthetic,
    )
    log.info("beyond: policy counterfactuals and their %d-replication bootstrap", reps)
    cfs = counterfactual_table(fits, frames)
    boot = None
    if reps > 0:
        boot = cfb.bootstrap(
            analytic, fits, frames, reps, seed, workers=workers, progress=progress
        )
        # a sample's refit fails at most once per replication: (rep, sample) is a key
        save_table(
            boot.failures, ("rep", "sample"), out_dir / FAILURES,
            digits=TABLE_DIGITS, synthetic=synthetic,
        )  # fmt: skip
    cfs = add_bootstrap(cfs, boot)
    if not synthetic:
        cfs = suppress_small(cfs, min_cell)
    save_table(
        cfs, cf.KEYS, out_dir / "counterfactuals.csv", sort=False,
        digits=TABLE_DIGITS, synthetic=synthetic,
    )  # fmt: skip
    figures_dir.mkdir(parents=True, exist_ok=True)
    note = notices.FIGURE if synthetic else ""
    save(figure_counterfactuals(cfs, note), figures_dir / FIGURE)


def clear_outputs(out_dir: Path, figures_dir: Path) -> None:
    """Remove this stage's previous outputs, so nothing stale survives a rerun."""
    names = [f"diagnostics_{eq}.csv" for eq in models.EQUATION_NAMES]
    names += ["robustness_table3.csv", "counterfactuals.csv", FAILURES]
    for path in [out_dir / n for n in names] + [
        figures_dir / f"{FIGURE}{ext}" for ext in (".png", ".pdf")
    ]:
        path.unlink(missing_ok=True)


def fit_published(frames: dict) -> dict:
    """The published two-part fits per (sample, outcome); the error if one fails."""
    fits = {}
    for sample, data in frames.items():
        for outcome in models.OUTCOMES:
            try:
                fits[sample, outcome] = models.fit(data, sample, outcome)
            except (TwoPartError, ValueError) as err:
                fits[sample, outcome] = err
    return fits


def diagnostics_table(fits: dict, equation: str) -> pd.DataFrame:
    """The checks of ``equation`` on every sample, stacked with a ``sample`` key."""
    samples = dict.fromkeys(s for s, _ in fits)
    outcome = models.OUTCOME_OF[equation]
    frames = [
        equation_diagnostics(fits[s, outcome], equation).assign(sample=s)
        for s in samples
    ]
    out = pd.concat(frames, ignore_index=True)
    return out[["sample", *diagnostics.COLUMNS]]


def equation_diagnostics(res, equation: str) -> pd.DataFrame:
    """The checks of one equation, on the design of the published fit."""
    if isinstance(res, Exception):
        return pd.DataFrame(
            [{"check": "(fit failed)", "item": "", "verdict": failure(res)}],
            columns=diagnostics.COLUMNS,
        )
    if equation == "probit":
        return diagnostics.equation_table(res.sample.d, res.designs[0].X, "probit")
    rows2 = res.sample.rows2
    y, X = res.sample.y[rows2], res.designs[1].X[rows2]
    return diagnostics.equation_table(
        y, X, "gamma", "log", proportion=equation == "ratio"
    )


def failure(err: Exception) -> str:
    """A one-line account of a failed fit or scenario for the output tables."""
    return f"not computed: {type(err).__name__}: {err}"


def counterfactual_table(fits: dict, frames: dict) -> pd.DataFrame:
    """Scenario (a) on every sample, (b) on the total sample, by migration scope.

    Delta-method SEs and, for the settlement's expected reimbursement, the
    bounds under selection of claims on their amount
    (:mod:`analysis.beyond.selection_bound`); :func:`add_bootstrap` adds the
    bootstrap columns.
    """
    out = []
    for scenario, sample in cf.PLAN:
        res = fits[sample, "reimb_amount"]
        head = {"scenario": scenario.name, "sample": sample}
        try:
            if isinstance(res, Exception):
                raise res
            rows = cf.evaluate(res, scenario, frames[sample], by="scope")
        except (TwoPartError, ValueError) as err:
            out.append(pd.DataFrame([head | {"group": "all", "quantity": "(fit failed)",
                                             "note": failure(err)}]))  # fmt: skip
            continue
        rows = sb.with_bounds(rows.assign(note=""), res, scenario, frames[sample])
        out.append(rows.assign(**head))
    table = pd.concat(out, ignore_index=True)
    table["n"] = table["n"].astype("Int64")
    first = list(cf.KEYS)
    return table[first + [c for c in table.columns if c not in first]]


def add_bootstrap(table: pd.DataFrame, boot) -> pd.DataFrame:
    """``table`` with the bootstrap columns of ``boot`` (empty if ``boot`` is None).

    Rows the bootstrap did not cover (a failed fit or scenario) keep empty
    bootstrap columns; ``note`` stays last.
    """
    if boot is None:
        cols = pd.DataFrame(columns=[*cf.KEYS, *cfb.COLUMNS])
    else:
        cols = cfb.table_columns(boot)
    out = table.merge(cols, on=list(cf.KEYS), how="left", validate="one_to_one")
    for c in ("boot_reps", "boot_failed"):
        out[c] = out[c].astype("Int64")
    out["boot_scheme"] = out["boot_scheme"].astype(object)
    return out[[c for c in out.columns if c != "note"] + ["note"]]


def suppress_small(table: pd.DataFrame, min_cell: int) -> pd.DataFrame:
    """Blank the estimates of groups with fewer than ``min_cell`` respondents."""
    out = table.copy()
    small = out["n"].fillna(min_cell) < min_cell
    numeric = [c for c in out.columns if out[c].dtype.kind == "f"]
    out.loc[small, numeric] = np.nan
    out.loc[small, "note"] = f"suppressed: fewer than {min_cell} respondents"
    return out


def figure_counterfactuals(table: pd.DataFrame, note: str) -> plt.Figure:
    """Observed vs cross-region-settlement predictions by scope (total sample).

    Each bar carries two 95% intervals: delta method (black, covariates fixed)
    and pairs-bootstrap percentile (orange), when the bootstrap was run; the
    counterfactual expected reimbursement also carries the Lee-type lower bound
    under selection of claims on their amount (red), when the table has it.
    """
    rows = table[
        (table["scenario"] == "cross_region_settlement")
        & (table["sample"] == "total")
        & (table["group"] != "all")
    ]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
    panels = [
        ("share_reimbursed", "Predicted share reimbursed"),
        ("expected_reimbursement", "Expected reimbursement per stay (yuan)"),
    ]
    if rows.empty or "observed" not in rows:
        fig.text(0.5, 0.5, "total-sample model not fitted", ha="center")
        return footnote(fig, note)
    boot_col = "observed_ci_boot_low"
    has_boot = boot_col in rows and bool(rows[boot_col].notna().any())
    for ax, (quantity, title) in zip(axes, panels, strict=True):
        q = rows[rows["quantity"] == quantity].set_index("group")
        q = q.loc[[g for g in FACTORS["scope"] if g in q.index]]
        x = np.arange(len(q))
        for shift, col, label, color in (
            (-0.2, "observed", "At observed scope", "#7F7F7F"),
            (0.2, "counterfactual", "Cross-region settlement", "#1F4E79"),
        ):
            y = q[col].to_numpy(dtype=float)
            ax.bar(x + shift, y, width=0.4, color=color, label=label)
            err = 1.96 * q[f"{col}_se"].to_numpy(dtype=float)
            dx = -0.06 if has_boot else 0.0
            ax.errorbar(x + shift + dx, y, yerr=err, fmt="none", ecolor="black",
                        capsize=3, lw=1)  # fmt: skip
            if has_boot:
                lo = q[f"{col}_ci_boot_low"].to_numpy(dtype=float)
                hi = q[f"{col}_ci_boot_high"].to_numpy(dtype=float)
                ax.errorbar(x + shift + 0.06, y, yerr=[y - lo, hi - y], fmt="none",
                            ecolor="#E69F00", capsize=3, lw=1)  # fmt: skip
        if quantity == sb.QUANTITY and "change_sel_low" in q:
            # where the counterfactual falls if new claimants are selected on
            # their amounts (Lee-type bound; docs/beyond_the_paper.md)
            low = (q["observed"] + q["change_sel_low"]).to_numpy(dtype=float)
            mark = ax.scatter(
                x + 0.2, low, marker="_", s=260, color="#C00000", zorder=3,
                linewidths=2,
                label="Lower bound if new claimants are selected on amount",
            )  # fmt: skip
            ax.set_ylim(0, ax.get_ylim()[1] * 1.15)  # room for the legend
            ax.legend(handles=[mark], frameon=False, fontsize=8, loc="upper left")
        ax.set_xticks(x, [tick_label("scope", g) for g in q.index], fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.spines[["top", "right"]].set_visible(False)
    axes[0].set_ylim(0, 1.15)
    axes[0].legend(frameon=False, fontsize=8, loc="upper left", ncol=2)
    intervals = "95% CIs: delta method"
    if has_boot:
        reps = int(rows["boot_reps"].dropna().iloc[0])
        intervals += f" (black), {reps}-replication pairs-bootstrap percentile (orange)"
    fig.suptitle(
        "Total sample: scope effects in part 1 set to zero, amounts as estimated\n"
        + intervals,
        fontsize=9,
    )
    return footnote(fig, note)
