"""Figures 1-2 and the forest plot of published versus replicated estimates.

Inputs: the analytic sample and ``outputs/estimates/paper_cells.csv``.
Outputs (``outputs/figures/``, PNG and PDF, byte-identical across runs):

* ``figure1_noreimb_reasons``: reasons for no reimbursement among the non-reimbursed who
  gave a reason, with the published percentages marked (Figure 1);
* ``figure2_hometown_by_scope``: the share not reimbursed because they must go back to
  the hometown, by migration scope, with exact (Clopper-Pearson) 95% CIs, the default of
  Stata's ``ci, binomial`` (Figure 2);
* ``figure_forest_published_vs_replicated``: every Table 3-4 cell, published and
  replicated, with 95% CIs.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from statsmodels.stats.proportion import proportion_confint  # noqa: E402

from analysis.config import PUBLISHED_DIR  # noqa: E402
from analysis.schema import FACTORS  # noqa: E402

SYNTHETIC_NOTE = "Synthetic data calibrated to the publication - not the CMDS microdata"
REASON_LABELS = {
    "go_back_to_hometown": "Need/plan to go back\nto hometown",
    "unaware_of_procedure": "Unaware of the\nprocedure",
    "not_covered_by_policy": "Not covered\nby policy",
    "other": "Other",
}
SCOPE_LABELS = {
    "within_city_across_counties": "Across counties\nwithin a city",
    "within_province_across_cities": "Across cities\nwithin a province",
    "across_provinces": "Across provinces",
}


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
    note = SYNTHETIC_NOTE if synthetic else ""
    reasons, hometown = reason_shares(analytic), hometown_by_scope(analytic)
    cells = pd.read_csv(cells_path)
    if not synthetic:
        from analysis import disclosure

        note = disclosure.figure_note(min_cell)
        reasons, hometown = disclosure.suppress_shares(reasons, hometown, min_cell)
        cells = disclosure.suppress_model_cells(cells, analytic, min_cell)
    figures_dir.mkdir(parents=True, exist_ok=True)
    save(figure1(reasons, note), figures_dir / "figure1_noreimb_reasons")
    save(figure2(hometown, note), figures_dir / "figure2_hometown_by_scope")
    save(
        forest(published_vs_replicated(cells), note),
        figures_dir / "figure_forest_published_vs_replicated",
    )


def reason_shares(analytic: pd.DataFrame) -> pd.DataFrame:
    """Percent of each reason among the non-reimbursed who gave one (Figure 1)."""
    reasons = analytic.loc[analytic["reimbursed"] == 0, "noreimb_reason"].dropna()
    counts = reasons.value_counts().reindex(FACTORS["noreimb_reason"], fill_value=0)
    out = pd.DataFrame({"reason": counts.index, "n": counts.to_numpy()})
    out["pct"] = 100 * out["n"] / out["n"].sum()
    published = pd.read_csv(PUBLISHED_DIR / "figure1.csv").set_index("reason")["pct"]
    return out.assign(published_pct=out["reason"].map(published))


def hometown_by_scope(analytic: pd.DataFrame) -> pd.DataFrame:
    """Share going back to the hometown among non-reimbursed with a reason, by scope."""
    base = analytic[(analytic["reimbursed"] == 0) & analytic["noreimb_reason"].notna()]
    rows = []
    for scope in FACTORS["scope"]:
        group = base[base["scope"] == scope]
        k = int((group["noreimb_reason"] == "go_back_to_hometown").sum())
        n = len(group)
        low, high = proportion_confint(k, n, alpha=0.05, method="beta")
        rows.append((scope, k, n, 100 * k / n, 100 * low, 100 * high))
    return pd.DataFrame(rows, columns=["scope", "k", "n", "pct", "ci_low", "ci_high"])


def published_vs_replicated(cells: pd.DataFrame) -> pd.DataFrame:
    """Long table of every Table 3-4 cell: published and replicated estimate and SE."""
    pub3 = pd.read_csv(PUBLISHED_DIR / "table3.csv")
    pub3 = pub3[pub3["term_group"] != "n"].assign(sample="total")
    pub4 = pd.read_csv(PUBLISHED_DIR / "table4.csv")
    rows = []
    for pub in (pub3, pub4):
        for eq in ("probit", "amount", "ratio"):
            part = pub[["sample", "term", f"{eq}_me", f"{eq}_se"]]
            part.columns = ["sample", "term", "published", "published_se"]
            rows.append(part.assign(equation=eq))
    long = pd.concat(rows, ignore_index=True)
    ours = cells[["sample", "equation", "term", "estimate", "se"]]
    return long.merge(ours, on=["sample", "equation", "term"], how="left")


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
        zorder=3,
        label="Published",
    )
    for xi, pct in zip(x, shares["pct"], strict=True):
        ax.annotate(
            "suppressed" if np.isnan(pct) else f"{pct:.1f}",
            (xi, 0 if np.isnan(pct) else pct),
            ha="center",
            va="bottom",
            fontsize=9,
            xytext=(0, 3),
            textcoords="offset points",
        )
    ax.set_xticks(x, [REASON_LABELS[r] for r in shares["reason"]], fontsize=9)
    ax.set_ylabel("% of non-reimbursed inpatients")
    ax.set_title("Figure 1. Reasons for not getting reimbursement", fontsize=11)
    ax.legend(frameon=False)
    return footnote(fig, note)


def figure2(share: pd.DataFrame, note: str) -> plt.Figure:
    """Share going back to the hometown by scope, with 95% CIs."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    x = np.arange(len(share))
    err = [share["pct"] - share["ci_low"], share["ci_high"] - share["pct"]]
    ax.bar(x, share["pct"], color="#55A868")
    ax.errorbar(x, share["pct"], yerr=err, fmt="none", ecolor="black", capsize=5)
    ax.set_xticks(x, [SCOPE_LABELS[s] for s in share["scope"]], fontsize=9)
    ax.set_ylabel("% not reimbursed: must go back to hometown")
    ax.set_ylim(0, 100)
    ax.set_title(
        "Figure 2. Going back to the hometown, by migration scope", fontsize=11
    )
    return footnote(fig, note)


def forest(long: pd.DataFrame, note: str) -> plt.Figure:
    """Published vs replicated estimates with 95% CIs, one panel per equation."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 9), sharey=True)
    labels = [
        f"{s}: {t}" if s != "total" else t
        for s, t in zip(long["sample"], long["term"], strict=True)
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
        ax.set_title(
            {
                "probit": "P(reimbursed): AME",
                "amount": "Amount: log scale",
                "ratio": "Ratio: AME",
            }[eq],
            fontsize=10,
        )
    axes[0].set_yticks(list(y.values()), list(y.keys()), fontsize=7)
    axes[0].legend(frameon=False, fontsize=8, loc="lower left")
    return footnote(fig, note)


def footnote(fig: plt.Figure, note: str) -> plt.Figure:
    """Stamp the synthetic-data notice on the figure itself."""
    if note:
        fig.text(0.01, 0.005, note, fontsize=7, color="#A00000", ha="left", va="bottom")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig


def save(fig: plt.Figure, stem: Path) -> None:
    """Write PNG and PDF without time stamps, so reruns are byte-identical."""
    fig.savefig(stem.with_suffix(".png"), dpi=150, metadata={"Software": None})
    fig.savefig(
        stem.with_suffix(".pdf"),
        metadata={"CreationDate": None, "Creator": None, "Producer": None},
    )
    plt.close(fig)
