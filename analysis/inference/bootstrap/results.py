"""The ``bootstrap`` stage: bootstrap SEs and CIs of every Table 3-4 quantity.

Inputs: the analytic sample (``data/derived/analytic.parquet``).
Outputs (``outputs/estimates/``, beside the delta-method files), ``<scheme>`` being
``pairs`` or ``cluster``:

* ``bootstrap_<scheme>_quantities.csv``: every coefficient and margin (part 1,
  part 2, combined total/extensive/intensive) of every (sample, outcome) fit, with
  the estimate, delta-method SE, bootstrap SE, bias, percentile / normal / BC CIs,
  replications, successful and failed replications;
* ``bootstrap_<scheme>_paper_cells.csv``: ``paper_cells.csv``'s shape (the cells
  Tables 3-4 print) with bootstrap SEs, normal-theory z and p, and the chosen CI;
* ``bootstrap_<scheme>_failures.csv``: one row per failed refit (replication,
  sample, outcome, stage, error); ``rep = -1`` marks a fit that failed on the full
  sample (no bootstrap for it);
* ``bootstrap_<scheme>_draws.parquet``: the replications themselves (one column
  per quantity, in catalogue order; NaN = failed).

and ``outputs/tables/table3_bootstrap_<scheme>.csv`` / ``table4_...`` (Tables 3-4
in the published layout with bootstrap SEs and stars), when ``tables_dir`` is given.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm

from analysis import config, disclosure
from analysis.io import save_table
from analysis.paper import models, tables
from analysis.paper.estimates import CELL_KEYS

from . import resample
from .intervals import CI_METHODS, summarise_draws
from .problem import CATALOGUE_KEYS, build_problem
from .replicate import FAILURE_COLUMNS
from .runner import run_replications

log = logging.getLogger(__name__)

#: Replications when none are given (Stata's convention of B + 1 = 1000).
DEFAULT_REPS = getattr(config, "BOOTSTRAP_REPS", 999)


@dataclass
class BootstrapResult:
    """Tidy bootstrap output: one row per quantity, the draws and the failures."""

    quantities: pd.DataFrame
    draws: np.ndarray
    failures: pd.DataFrame
    nobs: dict
    scheme: str
    reps: int
    seed: int


def main(
    analytic_path: Path,
    estimates_dir: Path,
    tables_dir: Path | None = None,
    reps: int = DEFAULT_REPS,
    scheme: resample.Scheme = "pairs",
    workers: int = 1,
    scheduler: str | None = None,
    seed: int = config.MASTER_SEED,
    semantics: models.Semantics = "columnwise",
    ci: str = "percentile",
    progress: bool = True,
    synthetic: bool = True,
    min_cell: int | None = None,
) -> BootstrapResult:
    """Bootstrap the Table 3-4 model set and write the tidy files (module doc).

    CLI: ``python -m analysis bootstrap --reps N --cluster --workers K
    --scheduler ADDR`` (``--cluster`` = ``scheme="cluster"``: PSUs within strata;
    ``--real``: ``synthetic=False`` and ``min_cell``, the disclosure rule of the
    Tables 3-4 it writes).
    """
    analytic = pd.read_parquet(analytic_path)
    result = bootstrap(
        analytic, reps, seed, scheme, workers, scheduler, semantics, progress
    )
    write(result, estimates_dir, tables_dir, ci, synthetic, analytic, min_cell)
    log.info("bootstrap (%s): %s", scheme, failure_summary(result.failures, reps))
    return result


def failure_summary(failures: pd.DataFrame, reps: int) -> str:
    """One sentence on the failed refits: per sample, how many and which errors."""
    if failures.empty:
        return f"{reps} replications, no failed refit"
    parts = []
    for sample, rows in failures.groupby("sample", sort=False):
        full = rows[rows["rep"] < 0]
        drawn = rows[rows["rep"] >= 0]
        errors = ", ".join(f"{e} {n}" for e, n in drawn.groupby("error").size().items())
        text = f"{sample} {drawn['rep'].nunique()} of {reps}"
        text += f" ({errors})" if errors else ""
        if len(full):
            pairs = zip(full["outcome"], full["error"], strict=True)
            text += "; not estimable on the full sample: " + ", ".join(
                f"{o} ({e})" for o, e in pairs
            )
        parts.append(text)
    return (
        "replications with a failed refit, left out of that sample's SEs and "
        "intervals: " + "; ".join(parts)
    )


def bootstrap(
    analytic: pd.DataFrame,
    reps: int = DEFAULT_REPS,
    seed: int = config.MASTER_SEED,
    scheme: resample.Scheme = "pairs",
    workers: int = 1,
    scheduler: str | None = None,
    semantics: models.Semantics = "columnwise",
    progress: bool = False,
) -> BootstrapResult:
    """Fit, replicate ``reps`` times and summarise (pure: no file I/O).

    ``scheme="cluster"`` resamples the ``psu`` column within ``stratum``
    (:func:`.resample.cluster`, Rao-Wu); ``"pairs"`` resamples respondents.
    """
    if scheme not in resample.SCHEMES:
        raise ValueError(f"scheme={scheme!r} not in {resample.SCHEMES}")
    if scheme == "pairs":
        sampler = resample.pairs(len(analytic))
    else:
        sampler = resample.cluster(analytic["stratum"], analytic["psu"])
    problem = build_problem(analytic, sampler, semantics)
    draws, failures = run_replications(
        problem, reps, seed, workers, scheduler, progress=progress
    )
    full = [
        (-1, s, o, "full sample", msg.split(":", 1)[0], msg[:200])
        for (s, o), msg in problem.failed_fits.items()
    ]
    failures = pd.concat(
        [pd.DataFrame(full, columns=list(FAILURE_COLUMNS)), failures],
        ignore_index=True,
    )
    cat = problem.catalogue
    stats = summarise_draws(cat["estimate"].to_numpy(), draws)
    quantities = pd.concat([cat, stats], axis=1).assign(reps=reps)
    return BootstrapResult(
        quantities, draws, failures, problem.nobs, scheme, reps, seed
    )


def write(
    result: BootstrapResult,
    estimates_dir: Path,
    tables_dir: Path | None,
    ci: str,
    synthetic: bool = True,
    analytic: pd.DataFrame | None = None,
    min_cell: int | None = None,
) -> None:
    """Write the tidy files, and Tables 3-4 with bootstrap SEs.

    ``synthetic`` adds the synthetic-data notice to the tables. With ``min_cell``
    (real-data mode) a table cell based on fewer respondents, counted in
    ``analytic``, is suppressed (:mod:`analysis.disclosure`); the tidy files under
    ``estimates_dir`` are working files and are not.
    """
    stem = f"bootstrap_{result.scheme}"
    q = result.quantities
    save_table(q, CATALOGUE_KEYS, estimates_dir / f"{stem}_quantities.csv")
    cells = paper_cells(result, ci)
    save_table(cells, CELL_KEYS, estimates_dir / f"{stem}_paper_cells.csv")
    save_table(
        result.failures.assign(row=range(len(result.failures))),
        ("row",),
        estimates_dir / f"{stem}_failures.csv",
    )
    draws = pd.DataFrame(result.draws, columns=[_label(r) for r in q.itertuples()])
    draws.insert(0, "rep", np.arange(result.reps))
    save_table(draws, ("rep",), estimates_dir / f"{stem}_draws.parquet")
    if tables_dir is not None:
        tables_dir.mkdir(parents=True, exist_ok=True)
        hidden = None
        if min_cell is not None:
            hidden = disclosure.suppress_model_cells(cells, analytic, min_cell)
        for name, table in (("table3", tables.table3), ("table4", tables.table4)):
            laid_out = table(cells)
            if hidden is not None:
                laid_out = disclosure.mark_model_table(laid_out, hidden, min_cell)
            tables.write_csv(laid_out, tables_dir / f"{name}_{stem}.csv", synthetic)


def _label(row) -> str:
    parts = (
        row.sample,
        row.outcome,
        row.kind,
        row.part,
        row.component,
        row.term,
        row.level,
    )
    return "|".join(str(p) for p in parts)


def paper_cells(result: BootstrapResult, ci: str = "percentile") -> pd.DataFrame:
    """The published cells (``estimates.paper_cells`` shape) with bootstrap SEs.

    ``se`` is the bootstrap SE; ``z``/``p`` are normal-theory from it;
    ``ci_low``/``ci_high`` the ``ci`` interval. Extra columns: ``se_delta``,
    ``bias``, ``reps``, ``n_failed``, ``ci_method``.
    """
    if ci not in CI_METHODS:
        raise ValueError(f"ci={ci!r} not in {CI_METHODS}")
    q = result.quantities
    frames = []
    for eq in models.EQUATIONS:
        rows = q[(q["outcome"] == eq.outcome) & (q["part"] == eq.part)]
        if eq.reported == "coef":
            rows = rows[(rows["kind"] == "coef") & (rows["term"] != "_cons")]
            terms = [models.published_term(t) for t in rows["term"]]
        else:
            rows = rows[(rows["kind"] == "margin") & (rows["component"] == "total")]
            terms = [
                models.published_term(t, lv)
                for t, lv in zip(rows["term"], rows["level"], strict=True)
            ]
        frames.append(rows.assign(equation=eq.name, term=terms))
    cells = pd.concat(frames, ignore_index=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = cells["estimate"] / cells["se_boot"]
    out = pd.DataFrame(
        {
            "sample": cells["sample"],
            "equation": cells["equation"],
            "term": cells["term"],
            "estimate": cells["estimate"],
            "se": cells["se_boot"],
            "z": z,
            "p": 2.0 * norm.sf(np.abs(z)),
            "ci_low": cells[f"ci_{ci}_low"],
            "ci_high": cells[f"ci_{ci}_high"],
            "n": [
                result.nobs[(s, e.outcome)][e.part]
                for s, e in zip(
                    cells["sample"], map(_equation, cells["equation"]), strict=True
                )
            ],
            "se_delta": cells["se_delta"],
            "bias": cells["bias"],
            "reps": cells["reps"],
            "n_failed": cells["n_failed"],
            "ci_method": ci,
        }
    )
    return out


def _equation(name: str) -> models.EquationSpec:
    return next(e for e in models.EQUATIONS if e.name == name)
