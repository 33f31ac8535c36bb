"""Fit the paper's two-part models and write tidy estimates (the engine of Tables 3-4).

Inputs: the analytic sample (``data/derived/analytic.parquet``).
Outputs (``outputs/estimates/``):

* ``paper_cells.csv``: one row per (sample, equation, term) on the published scale
  (what Tables 3-4 print), with SE, z, p and 95% CI;
* ``margins_all.csv``: every margin of every fit, including the combined (twopm) mean
  and its extensive/intensive split;
* ``coefficients.csv``: every coefficient of every part.

The fitting is delegated to :mod:`analysis.twopart`; this module only says which model
is fitted on which sample (``analysis.specs``) and maps its terms to the published keys.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis import specs
from analysis.io import save_table
from analysis.schema import FACTORS, SUBSAMPLES
from analysis.twopart import TwoPartResults, twopm

CELL_KEYS = ("sample", "equation", "term")


def main(
    analytic_path: Path,
    estimates_dir: Path,
    vce: str = "oim",
    cluster: str | None = None,
    semantics: specs.Semantics = "columnwise",
) -> None:
    """Fit every model of Tables 3-4 and write the tidy estimate files."""
    analytic = pd.read_parquet(analytic_path)
    fits = fit_all(analytic, vce=vce, cluster=cluster, semantics=semantics)
    cells = paper_cells(fits)
    save_table(cells, CELL_KEYS, estimates_dir / "paper_cells.csv")
    save_table(all_margins(fits), MARGIN_KEYS, estimates_dir / "margins_all.csv")
    save_table(all_coefficients(fits), COEF_KEYS, estimates_dir / "coefficients.csv")


def subsample(analytic: pd.DataFrame, sample: str) -> pd.DataFrame:
    """Rows of ``sample``; unused scheme levels removed, so URBMI is the urban base."""
    rows = analytic[analytic["scheme"].isin(SUBSAMPLES[sample])].copy()
    rows["scheme"] = rows["scheme"].cat.remove_unused_categories()
    return rows.reset_index(drop=True)


def fit_all(
    analytic: pd.DataFrame,
    vce: str = "oim",
    cluster: str | None = None,
    semantics: specs.Semantics = "columnwise",
) -> dict[tuple[str, str], TwoPartResults]:
    """Fit the amount and ratio two-part models on each sample.

    ``semantics`` chooses derivative effects on hand-built dummies (the paper's
    reading) or discrete changes of ``i.`` factors; see :mod:`analysis.specs`.

    Returns
    -------
    dict
        ``{(sample, outcome): TwoPartResults}``; part 1 (the probit) is the same model
        in both fits of a sample, since both use ``reimbursed`` as participation.
    """
    fits = {}
    for sample in SUBSAMPLES:
        data = specs.design_frame(subsample(analytic, sample))
        for outcome in ("reimb_amount", "reimb_ratio"):
            fits[(sample, outcome)] = fit_one(
                data, sample, outcome, semantics, vce, cluster
            )
    return fits


def fit_one(
    data: pd.DataFrame,
    sample: str,
    outcome: str,
    semantics: specs.Semantics = "columnwise",
    vce: str = "oim",
    cluster: str | None = None,
) -> TwoPartResults:
    """One fit of the paper's set on ``data`` (a :func:`specs.design_frame`)."""
    return twopm(
        data,
        outcome,
        part1=specs.regressors(sample, semantics, data),
        participation="reimbursed",
        family="gamma",
        link="log",
        vce=vce,
        cluster=cluster,
        missing="drop",
    )


def paper_cells(fits: dict[tuple[str, str], TwoPartResults]) -> pd.DataFrame:
    """Return the published columns: probit AMEs, amount coefficients, ratio AMEs."""
    frames = []
    for (sample, outcome), res in fits.items():
        for eq in specs.EQUATIONS:
            if eq.outcome != outcome:
                continue
            if eq.reported == "coef":
                table = res.coef_table(eq.part)
                table = table[table["term"] != "_cons"]
                table = table.assign(term=[coef_term(t) for t in table["term"]])
            else:
                table = res.margins(parts=(eq.part,))
                table = table.assign(
                    term=[
                        published_term(v, lv)
                        for v, lv in zip(table["term"], table["level"], strict=True)
                    ]
                )
            cols = ["term", "estimate", "se", "z", "p", "ci_low", "ci_high"]
            frames.append(table[cols].assign(sample=sample, equation=eq.name))
    out = pd.concat(frames, ignore_index=True)
    out["n"] = [
        nobs(fits, s, e) for s, e in zip(out["sample"], out["equation"], strict=True)
    ]
    return out[list(CELL_KEYS) + cols[1:] + ["n"]]


def nobs(fits, sample: str, equation: str) -> int:
    """Observations of the fit behind a published column."""
    eq = next(e for e in specs.EQUATIONS if e.name == equation)
    return int(fits[(sample, eq.outcome)].nobs[eq.part])


def published_term(variable: str, level: str) -> str:
    """Map an estimator margin (variable, level) to the published row key."""
    if variable in FACTORS:
        return str(level)
    return specs.published_term(variable)


def coef_term(name: str) -> str:
    """Map a coefficient name like ``scope=across_provinces`` to the published key."""
    if "=" in name:
        return published_term(*name.split("=", 1))
    return specs.published_term(name)


MARGIN_KEYS = ("sample", "outcome", "part", "component", "term", "level")
COEF_KEYS = ("sample", "outcome", "part", "term")


def all_margins(fits: dict[tuple[str, str], TwoPartResults]) -> pd.DataFrame:
    """Return every margin of every fit: parts 1, 2 and the combined mean, split."""
    frames = [res.margins().assign(sample=s, outcome=o) for (s, o), res in fits.items()]
    out = pd.concat(frames, ignore_index=True)
    return out[list(MARGIN_KEYS) + [c for c in out.columns if c not in MARGIN_KEYS]]


def all_coefficients(fits: dict[tuple[str, str], TwoPartResults]) -> pd.DataFrame:
    """Every coefficient of both parts of every fit."""
    frames = [
        res.coef_table(part).assign(sample=s, outcome=o, part=part)
        for (s, o), res in fits.items()
        for part in ("part1", "part2")
    ]
    out = pd.concat(frames, ignore_index=True)
    return out[list(COEF_KEYS) + [c for c in out.columns if c not in COEF_KEYS]]
