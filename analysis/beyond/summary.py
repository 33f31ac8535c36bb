"""The beyond-the-paper tables in words: the report's section on them.

Reads what :mod:`analysis.beyond.stage` wrote (specification checks, robustness,
counterfactuals and their bootstrap) and returns the report's items; it draws
nothing, so the report does not load the plotting stack.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.beyond import diagnostics, robustness
from analysis.cleaning import schema
from analysis.paper import models

FIGURE = "figure_counterfactuals"
FAILURES = "counterfactuals_bootstrap_failures.csv"


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
    "reimbursement after the fact does not represent. Far migrants who claim now "
    "are selected on large amounts, and the settlement scenario gives each new "
    "claimant the amount predicted for those who claimed: `change_sel_low` is the "
    "change in expected reimbursement if the new claimants are the bottom of a "
    "claim distribution shaped like the within-city claimants' (Lee-type "
    "trimming by the gap in claim rates), `change_sel_worst` if they claim the "
    "smallest amount in the sample; the model's change is the upper end "
    "(docs/beyond_the_paper.md)."
)

BOOTSTRAP_NOTE = (
    "SEs: `change_se` is the delta method with covariates fixed (the model-based "
    "OIM covariance); `change_se_boot` and the percentile interval "
    "`change_ci_boot` come from a pairs bootstrap (respondents resampled, both "
    "parts refitted, quantities averaged over the drawn rows, so they also carry "
    "the sampling variation of the covariates); `change_se_boot_fixed_x` "
    "averages the same refits over the original rows, the delta method's target."
)


def report_section(paths) -> list:
    """The report's "Beyond the paper" items: (heading, text or DataFrame).

    ``paths`` is a :class:`analysis.config.RunPaths`; the tables are read from
    its ``tables_dir`` (written by :func:`main`).
    """
    tables = paths.tables_dir
    items: list = [
        ("## Beyond the paper", "Method notes: docs/beyond_the_paper.md."),
        ("### Specification checks", DIAGNOSTICS_LEGEND),
    ]
    for eq in models.EQUATION_NAMES:
        diag = pd.read_csv(tables / f"diagnostics_{eq}.csv", keep_default_na=False,
                           na_values=[""])  # fmt: skip
        items.append((f"#### {eq}", diagnostics_view(diag)))
    rob = pd.read_csv(tables / "robustness_table3.csv", keep_default_na=False,
                      na_values=[""])  # fmt: skip
    rob[["changed_vs_baseline", "changed_vs_published"]] = rob[
        ["changed_vs_baseline", "changed_vs_published"]
    ].astype(bool)
    rob["note"] = rob["note"].fillna("")
    terms = schema.contrast_levels("scheme", "scope")
    items += [
        ("### Robustness of Tables 3-4", ROBUSTNESS_LEGEND),
        (None, robustness.wide_view(rob, terms)),
        (None, changed_summary(rob)),
        ("### Policy counterfactuals", counterfactual_view(tables)),
        (None, BOOTSTRAP_NOTE),
        (None, bootstrap_summary(tables)),
        (None, f"Figure: outputs/figures/{FIGURE}.png"),
        (None, CAPTURES),
    ]  # fmt: skip
    return items


DIAGNOSTICS_LEGEND = (
    "Each Table 3-4 equation on the total sample and the NCMS and URBMI+UEBMI "
    "subsamples (the published regressors of each). Cells: the p-value of the "
    "test, `*` if rejected at 5% (link test: the squared index; RESET: index^2 "
    "and index^3; Hosmer-Lemeshow: deciles of p, adjacent ones pooled where a "
    "group would expect fewer than 5 successes or failures); the modified Park "
    "slope (SE) with the published Gamma kept or rejected (for the ratio, "
    "n/a: see below); the family-link the "
    "AIC and BIC pick; the Box-Cox "
    "lambda with its 95% CI. Full rows in outputs/tables/diagnostics_*.csv. On the "
    "synthetic survey the probit's link test, RESET and Hosmer-Lemeshow reject by "
    "construction (its outcomes were calibrated to the published AMEs, not drawn "
    "from a probit); a Park test on the ratio (a proportion) and Box-Cox (a test of "
    "log-OLS, not of the GLM's log link) are not the field's checks for those "
    "questions: a proportion is modelled by beta regression or fractional "
    "logit/probit, the `beta` and `fractional_*` columns of the robustness table "
    "(docs/beyond_the_paper.md)."
)


def diagnostics_view(diag: pd.DataFrame) -> pd.DataFrame:
    """One equation's checks for the report: a row per check, a column per sample."""
    keep = (diag["check"] != "AIC/BIC grid") | (diag["item"] == "choice")
    d = diag[keep].assign(cell=[short_verdict(r) for r in diag[keep].itertuples()])
    order = list(dict.fromkeys(d["sample"]))
    checks = list(dict.fromkeys(d["check"]))
    wide = d.pivot(index="check", columns="sample", values="cell")
    return wide.loc[checks, order].fillna("").reset_index()


def short_verdict(r) -> str:
    """A few characters summarising one diagnostics row (see DIAGNOSTICS_LEGEND)."""
    if r.verdict.startswith("not computed"):
        return r.verdict
    if r.check == "modified Park test":
        if r.verdict.endswith(diagnostics.PROPORTION_NOTE):
            return (
                f"{r.estimate:.2f} ({r.se:.2f}); n/a: a proportion (beta, fractional)"
            )
        kept = r.verdict.rsplit("; ", 1)[-1]
        return f"{r.estimate:.2f} ({r.se:.2f}); {kept}"
    if r.check == "AIC/BIC grid":
        return r.verdict.split(";")[0].replace(" picks", "")
    if r.check == "Box-Cox":
        return r.verdict.split(";")[0].replace("lambda = ", "")
    star = "*" if r.p < diagnostics.ALPHA else ""
    groups = ""
    if r.check == "Hosmer-Lemeshow":
        groups = f" ({int(r.df) + 2} groups)"
    return f"p = {r.p:.3f}{star}{groups}"


ROBUSTNESS_LEGEND = (
    "Cells: estimate (p) on the published scale (probit: AME; amount: log-scale "
    "coefficient; ratio: AME). `!` marks a conclusion (significantly +, "
    "significantly -, or not significant at 5%) that differs from the baseline fit "
    "on the same data; `?` one that differs from the publication (Table 3 for the "
    "total sample; Table 4, scope rows only, for the subsamples). Scheme and scope "
    "rows shown; all terms in outputs/tables/robustness_table3.csv."
)


def changed_summary(rob: pd.DataFrame) -> str:
    """Per sample and variant: how many conclusions change against the baseline."""
    if "sample" not in rob:
        rob = rob.assign(sample="total")
    sentences = []
    for sample, rs in rob.groupby("sample", sort=False):
        parts = []
        alt = rs[rs["variant"] != "baseline"]
        for variant, g in alt.groupby("variant", sort=False):
            changed = g.loc[g["changed_vs_baseline"], ["equation", "term"]]
            listed = ", ".join(f"{e}:{t}" for e, t in changed.itertuples(index=False))
            parts.append(
                f"{variant}: {len(changed)} changed"
                + (f" ({listed})" if listed else "")
            )
        sentences.append(f"{sample}: " + "; ".join(parts) + ".")
    return "Conclusions changed against the baseline - " + " ".join(sentences)


def counterfactual_view(tables: Path) -> pd.DataFrame:
    """Report view of the counterfactuals: the 'all' rows, rounded."""
    t = pd.read_csv(tables / "counterfactuals.csv", dtype={"note": object})
    t = t.fillna({"note": ""})
    t = t[t["group"] == "all"]
    cols = ["scenario", "sample", "quantity", "observed", "counterfactual", "change",
            "change_se", "change_se_boot", "change_se_boot_fixed_x",
            "change_ci_boot_low", "change_ci_boot_high", "change_p",
            "change_sel_low", "change_sel_worst", "n",
            "boot_failed", "note"]  # fmt: skip
    cols = [c for c in cols if c in t]
    digits = {c: 3 for c in cols if c not in ("change_p", "n", "boot_failed")}
    return t[cols].round(digits | {"change_p": 4})


def bootstrap_summary(tables: Path) -> str:
    """One sentence: replications, scheme and failed refits per sample."""
    t = pd.read_csv(tables / "counterfactuals.csv")
    if "boot_reps" not in t or t["boot_reps"].isna().all():
        return "The bootstrap was not run (reps = 0)."
    reps = int(t["boot_reps"].dropna().iloc[0])
    path = tables / FAILURES
    failures = pd.read_csv(path) if path.exists() else pd.DataFrame()
    samples = list(dict.fromkeys(t.loc[t["boot_reps"].notna(), "sample"]))
    parts = []
    for s in samples:
        f = failures[failures["sample"] == s] if len(failures) else failures
        why = ""
        if len(f):
            counts = f.groupby("error").size()
            why = " (" + ", ".join(f"{e} {n}" for e, n in counts.items()) + ")"
        parts.append(f"{s} {len(f)} of {reps}{why}")
    return (
        f"Bootstrap: {reps} pairs replications from the master seed (the draws of "
        "`make bootstrap`). Failed refits, whose replications are left out of that "
        "sample's SEs and intervals (nothing is redrawn): " + "; ".join(parts) + "."
    )
