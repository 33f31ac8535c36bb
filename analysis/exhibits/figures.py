"""Figures 1-2 and the forest plot of published versus replicated estimates.

Inputs: the analytic sample and ``outputs/estimates/paper_cells.csv``.
Outputs (``outputs/figures/``, PNG and PDF, byte-identical across runs):

* ``figure1_noreimb_reasons``: reasons for no reimbursement among the non-reimbursed who
  gave a reason, with the published percentages marked and each value written above
  the taller of its bar and its marker (Figure 1);
* ``figure2_hometown_by_scope``: the share not reimbursed because they must go back to
  the hometown, by migration scope, with exact (Clopper-Pearson) 95% CIs, the default of
  Stata's ``ci, binomial``, n under each bar and the method in the notes (Figure 2);
* ``figure_forest_published_vs_replicated``: every Table 3-4 cell, published and
  replicated, with 95% CIs, rows labelled as in the published tables, an x-axis label
  per panel, the legend below the panels and the reference groups in the notes.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from statsmodels.stats.proportion import proportion_confint  # noqa: E402

from analysis import disclosure, notices  # noqa: E402
from analysis.cleaning.schema import FACTORS  # noqa: E402
from analysis.exhibits.model_tables import TERM_LABELS  # noqa: E402
from analysis.paper import published as published_tables  # noqa: E402
from analysis.paper import tables  # noqa: E402
from analysis.plotting import footnote, save, tick_label  # noqa: E402

# Forest plot: the published tables' row labels, prefixed with the regressor they
# belong to, and the published reference groups in the figure's notes.
FOREST_GROUPS = {
    "scheme": "Insurance",
    "education": "Education",
    "income_quintile": "Income",
    "scope": "Migration",
    "reason": "Migration reason",
    "duration": "Years since migration",
    "facility": "Facility",
}
FOREST_TERMS = (
    TERM_LABELS
    | {"age_sq": "Age squared"}
    | dict(
        zip(FACTORS["duration"][1:], ("1 to 5", "5 to 10", "10 or more"), strict=True)
    )
    | dict(
        zip(
            FACTORS["income_quintile"][1:],
            ("2nd quintile", "3rd quintile", "4th quintile", "5th quintile"),
            strict=True,
        )
    )
)
HOMETOWN = FACTORS["noreimb_reason"][0]  # going back to the hometown
FOREST_SAMPLES = {"ncms": "NCMS subsample", "urban": "URBMI+UEBMI subsample"}
FOREST_PANELS = {
    "probit": ("Probability of reimbursement", "Average marginal effect (probability)"),
    "amount": ("Reimbursement amount", "Coefficient (log of the amount, GLM)"),
    "ratio": ("Reimbursement ratio", "Average marginal effect (ratio)"),
}
FOREST_NOTE = (
    "Points: estimates; bars: 95% confidence intervals (estimate \u00b1 1.96 SE), "
    "published SEs for the published estimates. Reference groups: NCMS; primary "
    "school and below; first income quintile; across counties within a city; "
    "seeking jobs; less than 1 year; primary care facility. Last four rows: Table 4."
)
FIGURE2_NOTE = (
    "Error bars: exact (Clopper-Pearson) 95% confidence intervals of the share."
)
FIGURE2_N = "n: non-reimbursed inpatients who gave a reason, in each migration scope."


def main(
    analytic_path: Path,
    cells_path: Path,
    figures_dir: Path,
    synthetic: bool = True,
    min_cell: int = 10,
) -> None:
    """Draw Figures 1-2 and the forest plot.

    With real data (``synthetic=False``) bars and estimates based on fewer than
    ``min_cell`` respondents are not drawn, and the rule is printed on each figure.
    """
    analytic = pd.read_parquet(analytic_path)
    note = notices.FIGURE if synthetic else ""
    reasons, hometown = reason_shares(analytic), hometown_by_scope(analytic)
    cells = pd.read_csv(cells_path)
    if not synthetic:
        note = disclosure.figure_note(min_cell)
        reasons, hometown = disclosure.suppress_shares(reasons, hometown, min_cell)
        cells = disclosure.suppress_model_cells(cells, analytic, min_cell)
    figures_dir.mkdir(parents=True, exist_ok=True)
    save(figure1(reasons, note), figures_dir / "figure1_noreimb_reasons")
    save(figure2(hometown, note), figures_dir / "figure2_hometown_by_scope")
    save(
        forest(tables.published_vs_replicated(cells), note),
        figures_dir / "figure_forest_published_vs_replicated",
    )


def reason_shares(analytic: pd.DataFrame) -> pd.DataFrame:
    """Percent of each reason among the non-reimbursed who gave one (Figure 1)."""
    reasons = analytic.loc[analytic["reimbursed"] == 0, "noreimb_reason"].dropna()
    counts = reasons.value_counts().reindex(FACTORS["noreimb_reason"], fill_value=0)
    out = pd.DataFrame({"reason": counts.index, "n": counts.to_numpy()})
    out["pct"] = 100 * out["n"] / out["n"].sum()
    published = published_tables.read("figure1").set_index("reason")["pct"]
    return out.assign(published_pct=out["reason"].map(published))


def hometown_by_scope(analytic: pd.DataFrame) -> pd.DataFrame:
    """Share going back to the hometown among non-reimbursed with a reason, by scope."""
    base = analytic[(analytic["reimbursed"] == 0) & analytic["noreimb_reason"].notna()]
    rows = []
    for scope in FACTORS["scope"]:
        group = base[base["scope"] == scope]
        k = int((group["noreimb_reason"] == HOMETOWN).sum())
        n = len(group)
        low, high = proportion_confint(k, n, alpha=0.05, method="beta")
        rows.append((scope, k, n, 100 * k / n, 100 * low, 100 * high))
    return pd.DataFrame(rows, columns=["scope", "k", "n", "pct", "ci_low", "ci_high"])


def forest_label(sample: str, group: object, term: str) -> str:
    """The human label of a forest-plot row (the published tables' wording)."""
    text = FOREST_TERMS.get(term, term)
    lower = text if text.isupper() else text[0].lower() + text[1:]
    if sample != "total":  # Table 4: the migration-scope rows of a subsample
        return f"{FOREST_SAMPLES.get(sample, sample)}: migration {lower}"
    if group == "scope":
        return f"Migration {lower}"
    prefix = FOREST_GROUPS.get(group) if isinstance(group, str) else None
    return f"{prefix}: {lower}" if prefix else text


def figure1(shares: pd.DataFrame, note: str) -> plt.Figure:
    """Bar chart of reasons, with the published percentages as markers."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    x = np.arange(len(shares))
    ax.bar(x, shares["pct"], color="#4C72B0", label="Replicated")
    ax.scatter(
        x,
        shares["published_pct"],
        color="black",
        marker="D",
        s=28,
        zorder=3,
        label="Published",
    )
    # each value sits above the taller of its bar and its marker, clear of both
    tops = np.fmax(
        shares["pct"].to_numpy(float), shares["published_pct"].to_numpy(float)
    )
    label_bars(ax, x, shares["pct"], tops, offset=7)
    ticks = [tick_label("noreimb_reason", r) for r in shares["reason"]]
    ax.set_xticks(x, ticks, fontsize=9)
    ax.set_xlim(-0.6, len(x) - 0.4)
    ax.set_ylabel("% of non-reimbursed inpatients")
    top = np.nanmax(tops) if np.isfinite(tops).any() else 100
    ax.set_ylim(0, top * 1.15)
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_title("Figure 1. Reasons for not getting reimbursement", fontsize=11)
    ax.legend(frameon=False, loc="upper right")
    return footnote(fig, note)


def figure2(share: pd.DataFrame, note: str) -> plt.Figure:
    """Share going back to the hometown by scope, with 95% CIs."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    x = np.arange(len(share))
    err = [share["pct"] - share["ci_low"], share["ci_high"] - share["pct"]]
    ax.bar(x, share["pct"], color="#55A868", label="Share")
    ax.errorbar(
        x, share["pct"], yerr=err, fmt="none", ecolor="black", capsize=5,
        label="Exact 95% CI",
    )  # fmt: skip
    ticks = [tick_label("scope", s) for s in share["scope"]]
    caption = FIGURE2_NOTE
    if "n" in share.columns:  # real-data runs drop the counts (disclosure control)
        ticks = [f"{t}\n(n = {n:,})" for t, n in zip(ticks, share["n"], strict=True)]
        caption = f"{FIGURE2_NOTE} {FIGURE2_N}"
    label_bars(ax, x, share["pct"], share["ci_high"], offset=4)
    ax.set_xticks(x, ticks, fontsize=9)
    ax.set_xlim(-0.6, len(x) - 0.4)
    ax.set_ylabel("% of non-reimbursed inpatients\nwho must go back to the hometown")
    ax.set_ylim(0, 100)
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_title(
        "Figure 2. Going back to the hometown, by migration scope", fontsize=11
    )
    ax.legend(frameon=False, loc="upper left", fontsize=8)
    return footnote(fig, note, caption)


def forest(long: pd.DataFrame, note: str) -> plt.Figure:
    """Published vs replicated estimates with 95% CIs, one panel per equation."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 9.5), sharey=True)
    published = published_tables.read("table3", dtype=str)
    groups = long["term"].map(published.set_index("term")["term_group"])
    labels = [
        forest_label(s, g, t)
        for s, g, t in zip(long["sample"], groups, long["term"], strict=True)
    ]
    long = long.assign(label=labels)
    order = list(dict.fromkeys(long["label"]))
    y = {lab: -i for i, lab in enumerate(order)}
    for ax, eq in zip(axes, ("probit", "amount", "ratio"), strict=True):
        part = long[long["equation"] == eq]
        yy = np.array([y[lab] for lab in part["label"]])
        ax.errorbar(
            part["published"],
            yy + 0.15,
            xerr=1.96 * part["published_se"],
            fmt="D",
            ms=3,
            color="black",
            label="Published",
        )
        ax.errorbar(
            part["estimate"],
            yy - 0.15,
            xerr=1.96 * part["se"],
            fmt="o",
            ms=3,
            color="#C44E52",
            label="Replicated",
        )
        ax.axvline(0, color="grey", lw=0.5)
        title, xlabel = FOREST_PANELS[eq]
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(xlabel, fontsize=9)
        ax.tick_params(axis="x", labelsize=8)
    axes[0].set_yticks(list(y.values()), list(y.keys()), fontsize=8)
    axes[0].set_ylim(min(y.values()) - 0.7, 0.7)
    # Table 4's rows below a rule
    first_t4 = next((v for k, v in y.items() if k.split(":")[0] in
                     FOREST_SAMPLES.values()), None)  # fmt: skip
    if first_t4 is not None:
        for ax in axes:
            ax.axhline(first_t4 + 0.5, color="grey", lw=0.5, ls=":")
    fig.suptitle(
        "Tables 3-4: published and replicated estimates", fontsize=11, x=0.01,
        ha="left",
    )  # fmt: skip
    legend = axes[0].get_legend_handles_labels()
    return footnote(fig, note, FOREST_NOTE, legend=legend)


def label_bars(ax, x, pct, tops, offset: float) -> None:
    """Write each bar's share (or "suppressed") ``offset`` points above ``tops``."""
    for xi, value, top in zip(x, pct, tops, strict=True):
        ax.annotate(
            "suppressed" if np.isnan(value) else f"{value:.1f}%",
            (xi, 0 if np.isnan(top) else top),
            ha="center",
            va="bottom",
            fontsize=9,
            xytext=(0, offset),
            textcoords="offset points",
        )
