"""Beyond the paper: specification checks, robustness, policy counterfactuals.

Inputs: the analytic sample (``data/derived/analytic.parquet``).
Outputs:

* ``outputs/tables/diagnostics_{probit,amount,ratio}.csv``: the specification checks
  of each Table 3 equation on the total sample (:mod:`analysis.diagnostics`);
* ``outputs/tables/robustness_table3.csv``: Table 3 under alternative
  specifications, with changed conclusions flagged (:mod:`analysis.robustness`);
* ``outputs/tables/counterfactuals.csv``: cross-region settlement (each sample)
  and scheme equalisation (total sample), by migration scope, with delta-method
  SEs (:mod:`analysis.counterfactuals`);
* ``outputs/figures/figure_counterfactuals.{png,pdf}``.

:func:`report_section` returns the replication report's section on these files.
Method notes and the limits of the counterfactuals: ``docs/beyond_the_paper.md``.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from analysis import counterfactuals as cf  # noqa: E402
from analysis import diagnostics, robustness, specs  # noqa: E402
from analysis.estimates import subsample  # noqa: E402
from analysis.figures import SCOPE_LABELS, SYNTHETIC_NOTE, footnote, save  # noqa: E402
from analysis.io import save_table  # noqa: E402
from analysis.schema import SUBSAMPLES  # noqa: E402
from analysis.twopart import TwoPartError, twopm  # noqa: E402

EQUATIONS = {"probit": "reimb_amount", "amount": "reimb_amount", "ratio": "reimb_ratio"}
FIGURE = "figure_counterfactuals"
MIN_CELL = 10


def main(
    analytic_path: Path, out_dir: Path, figures_dir: Path, synthetic: bool = True
) -> None:
    """Write the diagnostics, robustness and counterfactual tables and the figure."""
    clear_outputs(out_dir, figures_dir)
    analytic = pd.read_parquet(analytic_path)
    frames = {s: specs.design_frame(subsample(analytic, s)) for s in SUBSAMPLES}
    fits = fit_published(frames)
    for eq in EQUATIONS:
        table = equation_diagnostics(fits["total", EQUATIONS[eq]], eq)
        save_table(
            table, ("check", "item"), out_dir / f"diagnostics_{eq}.csv", sort=False
        )
    rob = robustness.robustness_table(frames["total"])
    save_table(rob, robustness.KEYS, out_dir / "robustness_table3.csv")
    cfs = counterfactual_table(fits, frames)
    if not synthetic:
        cfs = suppress_small(cfs, MIN_CELL)
    save_table(cfs, cf.KEYS, out_dir / "counterfactuals.csv", sort=False)
    figures_dir.mkdir(parents=True, exist_ok=True)
    note = SYNTHETIC_NOTE if synthetic else ""
    save(figure_counterfactuals(cfs, note), figures_dir / FIGURE)


def clear_outputs(out_dir: Path, figures_dir: Path) -> None:
    """Remove this stage's previous outputs, so nothing stale survives a rerun."""
    names = [f"diagnostics_{eq}.csv" for eq in EQUATIONS]
    names += ["robustness_table3.csv", "counterfactuals.csv"]
    for path in [out_dir / n for n in names] + [
        figures_dir / f"{FIGURE}{ext}" for ext in (".png", ".pdf")
    ]:
        path.unlink(missing_ok=True)


def fit_published(frames: dict) -> dict:
    """The published two-part fits per (sample, outcome); the error if one fails."""
    fits = {}
    for sample, data in frames.items():
        rhs = specs.regressors(sample, "columnwise", data)
        for outcome in ("reimb_amount", "reimb_ratio"):
            try:
                fits[sample, outcome] = twopm(
                    data, outcome, part1=rhs, participation="reimbursed",
                    family="gamma", link="log", missing="drop",
                )  # fmt: skip
            except (TwoPartError, ValueError) as err:
                fits[sample, outcome] = err
    return fits


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
    return diagnostics.equation_table(y, X, "gamma", "log")


def failure(err: Exception) -> str:
    """A one-line account of a failed fit or scenario for the output tables."""
    return f"not computed: {type(err).__name__}: {err}"


def counterfactual_table(fits: dict, frames: dict) -> pd.DataFrame:
    """Scenario (a) on every sample, (b) on the total sample, by migration scope."""
    plan = [(cf.SCENARIOS[0], s) for s in SUBSAMPLES]
    plan += [(sc, "total") for sc in cf.SCENARIOS[1:]]
    out = []
    for scenario, sample in plan:
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
        out.append(rows.assign(**head, note="", se_method="delta"))
    table = pd.concat(out, ignore_index=True)
    table["n"] = table["n"].astype("Int64")
    first = list(cf.KEYS)
    return table[first + [c for c in table.columns if c not in first]]


def suppress_small(table: pd.DataFrame, min_cell: int) -> pd.DataFrame:
    """Blank the estimates of groups with fewer than ``min_cell`` respondents."""
    out = table.copy()
    small = out["n"].fillna(min_cell) < min_cell
    numeric = [c for c in out.columns if out[c].dtype.kind == "f" and c != "n"]
    out.loc[small, numeric] = np.nan
    out.loc[small, "note"] = f"suppressed: fewer than {min_cell} respondents"
    return out


def figure_counterfactuals(table: pd.DataFrame, note: str) -> plt.Figure:
    """Observed vs cross-region-settlement predictions by scope (total sample)."""
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
    for ax, (quantity, title) in zip(axes, panels, strict=True):
        q = rows[rows["quantity"] == quantity].set_index("group")
        q = q.loc[[g for g in SCOPE_LABELS if g in q.index]]
        x = np.arange(len(q))
        for shift, col, label, color in (
            (-0.2, "observed", "At observed scope", "#7F7F7F"),
            (0.2, "counterfactual", "Cross-region settlement", "#1F4E79"),
        ):
            err = 1.96 * q[f"{col}_se"].to_numpy(dtype=float)
            y = q[col].to_numpy(dtype=float)
            ax.bar(x + shift, y, width=0.4, color=color, label=label)
            ax.errorbar(x + shift, y, yerr=err, fmt="none", ecolor="black",
                        capsize=3, lw=1)  # fmt: skip
        ax.set_xticks(x, [SCOPE_LABELS[g] for g in q.index], fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.spines[["top", "right"]].set_visible(False)
    axes[0].set_ylim(0, 1.15)
    axes[0].legend(frameon=False, fontsize=8, loc="upper left", ncol=2)
    fig.suptitle(
        "Total sample: scope effects in part 1 set to zero, amounts as estimated "
        "(95% CIs, delta method)",
        fontsize=9,
    )
    return footnote(fig, note)


CAPTURES = (
    "What the counterfactuals do: they re-evaluate the fitted model with the "
    "migration-scope terms of the participation equation set to the within-city "
    "level (cross-region settlement), or with NCMS enrollees given the URBMI or "
    "UEBMI coefficients in both parts (scheme equalisation), holding every "
    "respondent's covariates, hospital use and costs at their observed values. "
    "What they do not capture: any behavioural response (more or different "
    "inpatient use, or a different choice of hospital, once reimbursement is "
    "easier), any change in prices, costs or the insurers' budgets, selection "
    "into migration or into schemes, and general-equilibrium effects. The scope "
    "coefficients are associations, so (a) is the reimbursement gap the model "
    "attributes to scope, not a causal effect of the reform; the NHSA's direct "
    "settlement (2023) also changes when patients pay, which a model of "
    "reimbursement after the fact does not represent. SEs are delta-method "
    "(covariates fixed); bootstrap SEs are not yet computed."
)


def report_section(paths) -> list:
    """The report's "Beyond the paper" items: (heading, text or DataFrame).

    ``paths`` is a :class:`analysis.config.RunPaths`; the tables are read from
    its ``tables_dir`` (written by :func:`main`).
    """
    tables = paths.tables_dir
    items: list = [
        ("## Beyond the paper", "Method notes: docs/beyond_the_paper.md."),
        ("### Specification checks (total sample)", None),
    ]
    for eq in EQUATIONS:
        diag = pd.read_csv(tables / f"diagnostics_{eq}.csv", keep_default_na=False)
        keep = (diag["check"] != "AIC/BIC grid") | (diag["item"] == "choice")
        items.append((f"#### {eq}", diag.loc[keep, ["check", "item", "verdict"]]))
    rob = pd.read_csv(tables / "robustness_table3.csv", keep_default_na=False,
                      na_values=[""])  # fmt: skip
    rob[["changed_vs_baseline", "changed_vs_published"]] = rob[
        ["changed_vs_baseline", "changed_vs_published"]
    ].astype(bool)
    rob["note"] = rob["note"].fillna("")
    terms = ("URBMI", "UEBMI", "within_province_across_cities", "across_provinces")
    items += [
        ("### Robustness of Table 3", ROBUSTNESS_LEGEND),
        (None, robustness.wide_view(rob, terms)),
        (None, changed_summary(rob)),
        ("### Policy counterfactuals", counterfactual_view(tables)),
        (None, f"Figure: outputs/figures/{FIGURE}.png"),
        (None, CAPTURES),
    ]  # fmt: skip
    return items


ROBUSTNESS_LEGEND = (
    "Cells: estimate (p) on the published scale (probit: AME; amount: log-scale "
    "coefficient; ratio: AME). `!` marks a conclusion (significantly +, "
    "significantly -, or not significant at 5%) that differs from the baseline fit "
    "on the same data; `?` one that differs from the published Table 3. Scheme "
    "and scope rows shown; all terms in outputs/tables/robustness_table3.csv."
)


def changed_summary(rob: pd.DataFrame) -> str:
    """One sentence per variant: how many conclusions change against the baseline."""
    parts = []
    for variant, g in rob[rob["variant"] != "baseline"].groupby("variant", sort=False):
        changed = g.loc[g["changed_vs_baseline"], ["equation", "term"]]
        listed = ", ".join(f"{e}:{t}" for e, t in changed.itertuples(index=False))
        parts.append(
            f"{variant}: {len(changed)} changed" + (f" ({listed})" if listed else "")
        )
    return "Conclusions changed against the baseline - " + "; ".join(parts) + "."


def counterfactual_view(tables: Path) -> pd.DataFrame:
    """Report view of the counterfactuals: the 'all' rows, rounded."""
    t = pd.read_csv(tables / "counterfactuals.csv").fillna({"note": ""})
    t = t[t["group"] == "all"]
    cols = ["scenario", "sample", "quantity", "observed", "counterfactual", "change",
            "change_se", "change_p", "n", "note"]  # fmt: skip
    return t[cols].round(
        {"observed": 3, "counterfactual": 3, "change": 3, "change_se": 3, "change_p": 4}
    )
