"""Robustness of Table 3 to reasonable alternative specifications.

Each variant refits one or more of Table 3's equations on a sample (the total
sample of Table 3, or the NCMS and URBMI+UEBMI subsamples of Table 4) and is
reported on the published scale (probit: AME on P(reimbursed); amount: log-scale
coefficient; ratio: AME on E[ratio | reimbursed]):

* ``logit``: logit instead of probit for part 1;
* ``ols_log_duan``: OLS of ln(amount) (Duan smearing for the retransformation)
  instead of the Gamma GLM; its coefficients are log-scale effects like the GLM's;
* ``fractional_logit`` / ``fractional_probit``: Papke-Wooldridge QMLE of the ratio
  (Bernoulli GLM with logit / probit link, robust SEs) instead of the Gamma GLM;
* ``beta``: beta regression of the ratio (ML, logit mean, constant precision,
  :mod:`analysis.beyond.betareg`), ratios of 0 or 1 squeezed as Smithson and
  Verkuilen (2006), with derivative AMEs as the fractional variants';
* ``cluster_city``: the published models with cluster-robust SEs by city;
* ``lpm_city_fe``: a linear probability model of reimbursement with city fixed
  effects absorbed (linearmodels ``AbsorbingLS``, SEs clustered by city), so the
  migration-scope effects are identified from differences within cities;
  regressors constant within every city are dropped.

Every cell carries its *conclusion* (significantly positive, significantly
negative, or not significant at 5%) and flags where it differs from the baseline
fit on the same data and from the publication (Table 3 for the total sample;
Table 4, which prints only the migration-scope rows, for the subsamples).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from linearmodels.iv.absorbing import AbsorbingLS

from analysis.beyond import betareg
from analysis.paper import estimates, models
from analysis.paper import published as published_tables
from analysis.twopart import TwoPartError

ALPHA = 0.05
KEYS = ("sample", "variant", "equation", "term")


@dataclass(frozen=True)
class Variant:
    """An alternative specification and the equations it replaces."""

    name: str
    label: str
    equations: tuple[str, ...]
    model1: str = "probit"
    model2: str = "glm"
    family: str = "gamma"
    link: str = "log"
    vce: str = "oim"
    cluster: str | None = None


ALL = models.EQUATION_NAMES
VARIANTS = (
    Variant("baseline", "published specification", ALL),
    Variant("logit", "logit part 1", ("probit",), model1="logit"),
    Variant(
        "ols_log_duan", "OLS on ln(amount), Duan smearing", ("amount",),
        model2="ols_log",
    ),
    Variant(
        "fractional_logit", "fractional logit (QMLE, robust)", ("ratio",),
        family="binomial", link="logit", vce="robust",
    ),
    Variant(
        "fractional_probit", "fractional probit (QMLE, robust)", ("ratio",),
        family="binomial", link="probit", vce="robust",
    ),
    Variant("cluster_city", "cluster-robust SEs by city", ALL, vce="cluster",
            cluster="city"),
)  # fmt: skip
LPM = Variant("lpm_city_fe", "LPM with city fixed effects", ("probit",))
BETA = Variant(
    "beta", "beta regression (ML, logit mean, constant precision)", ("ratio",)
)


def robustness_tables(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """:func:`robustness_table` of every sample in ``frames``, stacked."""
    return pd.concat(
        [robustness_table(data, sample) for sample, data in frames.items()],
        ignore_index=True,
    )


def robustness_table(data: pd.DataFrame, sample: str = "total") -> pd.DataFrame:
    """All variants on one sample, with conclusions and change flags.

    Parameters
    ----------
    data : pandas.DataFrame
        The sample with the column-wise dummies (:func:`models.design_frame`).
    sample : str
        ``"total"``, ``"ncms"`` or ``"urban"``: sets the regressors (Table 4
        drops those constant in a subsample) and the published conclusions.

    Returns
    -------
    pandas.DataFrame
        Key :data:`KEYS`; ``estimate, se, p, n, note`` and the flags
        ``conclusion``, ``baseline_conclusion``, ``published_conclusion``,
        ``changed_vs_baseline``, ``changed_vs_published``.
    """
    frames = [variant_cells(data, v, sample) for v in VARIANTS]
    try:
        frames.append(lpm_cells(data, sample=sample))
    except (ValueError, np.linalg.LinAlgError) as err:
        frames.append(failed(LPM.name, ["probit"], err))
    try:
        frames.append(beta_cells(data, sample))
    except (ValueError, np.linalg.LinAlgError) as err:
        frames.append(failed(BETA.name, ["ratio"], err))
    cells = pd.concat(frames, ignore_index=True)
    out = mark_changes(cells, published_conclusions(sample))
    out.insert(0, "sample", sample)
    return out


def variant_cells(
    data: pd.DataFrame, v: Variant, sample: str = "total"
) -> pd.DataFrame:
    """Published-scale cells of the equations ``v`` replaces (a note if it fails)."""
    rhs = models.regressors(sample, "columnwise", data)
    frames = []
    for outcome in dict.fromkeys(models.OUTCOME_OF[e] for e in v.equations):
        try:
            res = models.fit(
                data, sample, outcome, part1=rhs, model1=v.model1, model2=v.model2,
                family=v.family, link=v.link, vce=v.vce, cluster=v.cluster,
            )  # fmt: skip
        except (TwoPartError, ValueError) as err:
            eqs = [e for e in v.equations if models.OUTCOME_OF[e] == outcome]
            frames.append(failed(v.name, eqs, err))
            continue
        cells = estimates.paper_cells({(sample, outcome): res})
        cells = cells[cells["equation"].isin(v.equations)]
        # coefficient rows keep the column-wise dummy names: map them as margins
        terms = [models.published_term(t) for t in cells["term"]]
        frames.append(cells.assign(term=terms, note=""))
    out = pd.concat(frames, ignore_index=True).assign(variant=v.name)
    return out[[*KEYS[1:], "estimate", "se", "p", "n", "note"]]


def beta_cells(data: pd.DataFrame, sample: str = "total") -> pd.DataFrame:
    """Beta-regression AMEs of the ratio on E[ratio | reimbursed], as cells.

    The estimation rows are the ratio model's part 2 (reimbursed, with a ratio
    and every regressor observed), the regressors ``sample``'s column-wise list;
    every row's ``note`` says how many ratios were on the boundary and whether
    they were squeezed (:func:`analysis.beyond.betareg.BetaFit.note`).
    """
    cols = columnwise_columns(data, sample)
    outcome = models.OUTCOME_OF["ratio"]
    rows = data.loc[data["reimbursed"] == 1, [outcome, *cols]].dropna()
    bf = betareg.fit(rows[outcome].to_numpy(), rows[cols])
    out = betareg.ames(bf)
    return pd.DataFrame(
        {
            "variant": BETA.name,
            "equation": "ratio",
            "term": [models.published_term(t) for t in out["term"]],
            "estimate": out["estimate"].to_numpy(),
            "se": out["se"].to_numpy(),
            "p": out["p"].to_numpy(),
            "n": bf.n,
            "note": bf.note(),
        }
    )


def columnwise_columns(data: pd.DataFrame, sample: str) -> list[str]:
    """The columns of ``sample``'s column-wise regressor list (no ``c.`` prefix)."""
    return [
        c.removeprefix("c.")
        for c in models.regressors(sample, "columnwise", data).split()
    ]


def failed(variant: str, equations: list[str], err: Exception) -> pd.DataFrame:
    """One row per equation recording why a variant could not be fitted."""
    return pd.DataFrame(
        {
            "variant": variant,
            "equation": equations,
            "term": "(fit failed)",
            "estimate": np.nan,
            "se": np.nan,
            "p": np.nan,
            "n": 0,
            "note": f"{type(err).__name__}: {err}",
        }
    )


def lpm_cells(
    data: pd.DataFrame,
    regressors: list[str] | None = None,
    cluster: str = "city",
    sample: str = "total",
) -> pd.DataFrame:
    """LPM of reimbursement with ``cluster`` effects absorbed, clustered SEs.

    ``regressors`` default to the column-wise list of ``sample``'s published
    model (:func:`models.regressors`). The note of each estimated row says how
    many respondents share a city with another respondent: only they carry
    within-city variation (few in a small subsample such as the urban one).

    Notes
    -----
    y_i = x_i'b + a_city + e_i by within-city least squares (linearmodels
    ``AbsorbingLS``, which sweeps out the effects); ``drop_absorbed=True`` removes
    regressors with no within-city variation. Cluster-robust covariance by the
    same cities (linearmodels' default small-sample factor for ``clustered``).
    The coefficients are effects on P(reimbursed), the probit AMEs' scale.
    """
    cols = regressors or columnwise_columns(data, sample)
    rows = data[["reimbursed", cluster, *cols]].dropna()
    exog = rows[cols].astype(float).assign(const=1.0)
    groups = pd.Categorical(rows[cluster])
    codes = pd.Series(groups.codes, index=rows.index)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the note listing absorbed regressors
        fit = AbsorbingLS(
            rows["reimbursed"].astype(float), exog,
            absorb=pd.DataFrame({cluster: groups}, index=rows.index),
            drop_absorbed=True,
        ).fit(cov_type="clustered", clusters=codes)  # fmt: skip
    b = fit.params.drop("const", errors="ignore")
    size = rows.groupby(cluster, observed=True)[cluster].transform("size")
    within = (
        f"within-city variation from {int((size > 1).sum())} of {len(rows)} "
        f"respondents ({int(groups.value_counts().gt(1).sum())} cities with 2+)"
    )
    out = pd.DataFrame(
        {
            "variant": LPM.name,
            "equation": "probit",
            "term": [models.published_term(c) for c in b.index],
            "estimate": b.to_numpy(),
            "se": fit.std_errors[b.index].to_numpy(),
            "p": fit.pvalues[b.index].to_numpy(),
            "n": int(fit.nobs),
            "note": within,
        }
    )
    dropped = [models.published_term(c) for c in cols if c not in b.index]
    if dropped:
        out = pd.concat([out, absorbed_rows(dropped)], ignore_index=True)
    return out


def absorbed_rows(terms: list[str]) -> pd.DataFrame:
    """Rows for regressors with no within-city variation (not identified)."""
    return pd.DataFrame(
        {
            "variant": LPM.name,
            "equation": "probit",
            "term": terms,
            "estimate": np.nan,
            "se": np.nan,
            "p": np.nan,
            "n": 0,
            "note": "constant within cities: absorbed by the fixed effects",
        }
    )


def conclusion(estimate: float, p: float, alpha: float = ALPHA) -> str:
    """``+`` / ``-`` if significant at ``alpha`` (two-sided), ``ns`` otherwise."""
    if np.isnan(estimate) or np.isnan(p):
        return ""
    if p >= alpha:
        return "ns"
    return "+" if estimate > 0 else "-"


def published_conclusions(sample: str = "total") -> pd.DataFrame:
    """Conclusion of every published cell of ``sample`` (a star means p < 0.05).

    The total sample's come from Table 3; a subsample's from Table 4, which
    prints only the two migration-scope rows (the other terms get none).
    """
    if sample == "total":
        t3 = published_tables.read("table3", dtype=str)
        t3 = t3[t3["term_group"] != "n"]
    else:
        t3 = published_tables.read("table4", dtype=str)
        t3 = t3[t3["sample"] == sample]
    rows = []
    for eq in ALL:
        for term, me, st in zip(
            t3["term"], t3[f"{eq}_me"], t3[f"{eq}_stars"], strict=True
        ):
            sig = isinstance(st, str) and "*" in st
            value = float(me)
            rows.append((eq, term, ("+" if value > 0 else "-") if sig else "ns"))
    return pd.DataFrame(rows, columns=["equation", "term", "published_conclusion"])


def mark_changes(cells: pd.DataFrame, published: pd.DataFrame) -> pd.DataFrame:
    """Add each cell's conclusion and whether it differs from baseline/published."""
    out = cells.copy()
    out["conclusion"] = [
        conclusion(e, p) for e, p in zip(out["estimate"], out["p"], strict=True)
    ]
    base = out.loc[out["variant"] == "baseline", ["equation", "term", "conclusion"]]
    out = out.merge(
        base.rename(columns={"conclusion": "baseline_conclusion"}),
        on=["equation", "term"], how="left",
    ).merge(published, on=["equation", "term"], how="left")  # fmt: skip
    for ref in ("baseline", "published"):
        other = out[f"{ref}_conclusion"].fillna("")
        out[f"changed_vs_{ref}"] = (
            (out["conclusion"] != "") & (other != "") & (out["conclusion"] != other)
        )
    return out.fillna({"baseline_conclusion": "", "published_conclusion": ""})


def wide_view(
    table: pd.DataFrame, terms: tuple[str, ...] | None = None
) -> pd.DataFrame:
    """Report view: one row per (sample, equation, term), one column per variant.

    A cell reads ``estimate (p)``; ``!`` marks a conclusion that differs from the
    baseline fit on the same data, ``?`` one that differs from the publication.
    """
    t = table if terms is None else table[table["term"].isin(terms)]
    t = t[t["term"] != "(fit failed)"]

    def cell(r) -> str:
        if np.isnan(r.estimate):
            return "absorbed" if r.note else ""
        marks = ("!" if r.changed_vs_baseline else "") + (
            "?" if r.changed_vs_published else ""
        )
        return f"{r.estimate:.3f} ({r.p:.3f}){marks}"

    t = t.assign(cell=[cell(r) for r in t.itertuples()])
    order = [v.name for v in VARIANTS] + [LPM.name]
    # the beta column beside the other models of the ratio
    order.insert(order.index("fractional_probit") + 1, BETA.name)
    if "sample" not in t:
        t = t.assign(sample="total")
    index = ["sample", "equation", "term"]
    wide = t.pivot(index=index, columns="variant", values="cell")
    wide = wide[[c for c in order if c in wide.columns]].fillna("")
    wide = wide.reset_index()
    # samples in the order they appear (total, ncms, urban), not alphabetically
    rank = {s: i for i, s in enumerate(dict.fromkeys(t["sample"]))}
    wide = wide.sort_values(
        ["sample", "equation", "term"],
        key=lambda c: c.map(rank) if c.name == "sample" else c,
        kind="stable",
    )
    return wide.reset_index(drop=True)
