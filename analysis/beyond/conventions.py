"""Settle the SE/AME convention of Tables 3-4: fit a grid of readings, rank them.

The paper prints probit AMEs, GLM coefficients and AMEs with SEs (Tables 3-4) but does
not say how the effects or the SEs were computed. This stage fits the paper's model set
(:func:`analysis.paper.estimates.fit_each`, :mod:`analysis.paper.models`) under every
combination of

* AME: ``derivative`` (hand-built dummies, ``margins, dydx(*)``: the package's reading)
  or ``discrete`` (``i.`` factors, 0 -> 1 changes);
* SE: ``oim``, ``eim``, ``robust``, ``cluster_city``, ``cluster_origin_province``
  (the hukou province, read from the raw file through the codebook) and ``survey``
  (Taylor linearisation with the analytic file's ``stratum`` and ``psu``);
* participation: ``any`` (any reimbursement, Table 1's 778) or ``amount`` (amount > 0,
  the paper's equation (1): 663);

and ranks the readings by their distance to the published points and SEs (every Table
3-4 cell with a published SE above zero). A reading whose columns are missing, or whose
fits fail, is skipped with a note, never a crash. The ranking's own uncertainty is
measured by resampling respondents (half-samples without replacement, see
:func:`resample`): each draw refits every reading, and the share of draws in which a
reading ranks first is reported (overall, and among the SE types of its AME x
participation block, which is the SE question proper).

Outputs (``--out``, default ``outputs/conventions/``, git-ignored):
``conventions.csv`` (one row per reading), ``conventions_cells.csv`` (one row per
reading and cell) and ``conventions.md`` (the summary). On the synthetic survey they
say so on their face: the result shows the mechanics only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import notices
from analysis.cleaning import clean
from analysis.cleaning.codebook import Codebook
from analysis.cleaning.recode import is_string_concept, missing_mask, to_concepts
from analysis.config import MASTER_SEED, POINT_TOL_SE, SE_TOL
from analysis.io import save_table, save_text
from analysis.paper import estimates, models
from analysis.paper.tables import published_vs_replicated

log = logging.getLogger("analysis")

AMES = {"derivative": "columnwise", "discrete": "factor"}
PARTICIPATIONS = {
    "any": "participation = any reimbursement (Table 1's reimbursed)",
    "amount": "participation = amount > 0 (the paper's equation (1))",
}
ORIGIN = "origin_province"  # the hukou province, joined from the raw file
SE_TYPES = {
    "oim": "observed information (Stata's default)",
    "eim": "expected information (glm, irls; vce(eim))",
    "robust": "sandwich, n/(n-1)",
    "cluster_city": "clustered by city of residence, G/(G-1)",
    "cluster_origin_province": "clustered by province of hukou (origin)",
    "survey": "svy linearisation, strata = stratum, PSU = psu, unweighted",
}
CLUSTER_COLUMN = {"cluster_city": "city", "cluster_origin_province": ORIGIN}
READING_KEYS = ("ame", "se_type", "participation")
CELL_KEYS = (*READING_KEYS, "sample", "equation", "term")
DEFAULT_REPS = 19
# A printed number has 3 decimals: a reading reproduces a cell when ours rounds to it.
PRINTED_DECIMALS = 3


class ConventionsError(ValueError):
    """The analytic file cannot be used; the message names the file and the fault."""


@dataclass(frozen=True)
class Reading:
    """One reading of the paper's conventions."""

    ame: str
    se: str
    participation: str

    @property
    def key(self) -> tuple[str, str, str]:
        """(ame, se, participation)."""
        return (self.ame, self.se, self.participation)


@dataclass
class Design:
    """How each SE type can be computed on a file: twopm options, or why not."""

    options: dict[str, dict]
    notes: dict[str, str]


def grid(
    ames=tuple(AMES), se_types=tuple(SE_TYPES), participations=tuple(PARTICIPATIONS)
) -> list[Reading]:
    """Every combination of the given AME, SE and participation readings."""
    for name, allowed in (
        ("ame", AMES),
        ("se", SE_TYPES),
        ("participation", PARTICIPATIONS),
    ):
        given = {"ame": ames, "se": se_types, "participation": participations}[name]
        unknown = sorted(set(given) - set(allowed))
        if unknown:
            raise ValueError(
                f"unknown {name} reading(s) {unknown}; use {list(allowed)}"
            )
    return [Reading(a, s, p) for a in ames for p in participations for s in se_types]


def design(analytic: pd.DataFrame, se_types=tuple(SE_TYPES)) -> Design:
    """The twopm variance options of each SE type the file supports; notes for the rest.

    A cluster or design column must exist and be non-missing on every row (twopm
    would otherwise drop rows, changing the sample) and give at least 2 groups.
    Strata with a single PSU make Stata's ``svy`` report no SE; the survey reading
    then collapses the strata (PSU-only design) and says so.
    """
    options, notes = {}, {}
    for se in se_types:
        if se in ("oim", "eim", "robust"):
            options[se] = {"vce": se}
            continue
        columns = [CLUSTER_COLUMN[se]] if se in CLUSTER_COLUMN else ["stratum", "psu"]
        problem = column_problem(analytic, columns)
        if problem:
            notes[se] = f"skipped: {problem}"
            continue
        if se in CLUSTER_COLUMN:
            options[se] = {"vce": "cluster", "cluster": CLUSTER_COLUMN[se]}
            notes[se] = (
                f"cluster column {CLUSTER_COLUMN[se]!r}: "
                f"{analytic[CLUSTER_COLUMN[se]].nunique()} clusters"
            )
            continue
        psus = analytic.groupby("stratum", observed=True)["psu"].nunique()
        single = int((psus == 1).sum())
        shared = int((analytic.groupby("psu")["stratum"].nunique() > 1).sum())
        if single and shared:
            notes[se] = (
                f"skipped: {single} of {len(psus)} strata have a single PSU (Stata's "
                f"svy gives no SE there) and {shared} psu ids occur in several "
                "strata, so the strata cannot be collapsed without merging PSUs"
            )
        elif single:
            options[se] = {"vce": "survey", "psu": "psu"}
            notes[se] = (
                f"design columns stratum/psu: {single} of {len(psus)} strata have a "
                f"single PSU (Stata's svy gives no SE there), so the strata are "
                f"collapsed: PSU-only design, {analytic['psu'].nunique()} PSUs, "
                "unweighted (the analytic sample has no weight column)"
            )
        else:
            options[se] = {"vce": "survey", "strata": "stratum", "psu": "psu"}
            notes[se] = (
                f"design columns stratum/psu: {len(psus)} strata, "
                f"{analytic['psu'].nunique()} PSUs, unweighted"
            )
    return Design(options, notes)


def column_problem(analytic: pd.DataFrame, columns: list[str]) -> str | None:
    """Why ``columns`` cannot define clusters on ``analytic`` (None if they can)."""
    for column in columns:
        if column not in analytic:
            return f"column {column!r} is not in the analytic file"
        missing = int(analytic[column].isna().sum())
        if missing:
            return (
                f"column {column!r} is missing on {missing} of {len(analytic)} "
                "rows (clustering would drop them)"
            )
        if analytic[column].nunique() < 2:
            return f"column {column!r} has fewer than 2 distinct values"
    return None


def with_participation(analytic: pd.DataFrame, participation: str) -> pd.DataFrame:
    """``analytic`` with ``reimbursed`` read as ``participation``.

    ``amount``: reimbursed = amount > 0 (the 663 of part 2), the definition of the
    paper's equation (1); ``any`` leaves Table 1's 778 as they are.
    """
    if participation == "any":
        return analytic
    out = analytic.copy()
    out["reimbursed"] = (out["reimb_amount"].fillna(0) > 0).astype("int8")
    return out


def fit_reading(analytic: pd.DataFrame, reading: Reading, options: dict):
    """The Table 3-4 cells of one reading, and the notes of its fits.

    Returns
    -------
    tuple
        (cells as :func:`analysis.paper.estimates.paper_cells`, with the cells of
        omitted regressors removed; list of notes of models that were not
        estimable).
    """
    data = with_participation(analytic, reading.participation)
    semantics = AMES[reading.ame]
    attempts = estimates.fit_each(data, semantics=semantics, **options)
    fits = {key: a.res for key, a in attempts.items() if a.ok}
    notes = [f"{s}/{o}: {a.kind}" for (s, o), a in attempts.items() if not a.ok]
    cells = estimates.paper_cells(fits, part1_from_either=True)
    if fits:
        status = estimates.model_status(attempts)
        cells = cells[~estimates.omitted_cells(cells, status)]
    return cells.reset_index(drop=True), notes


def published_cells() -> pd.DataFrame:
    """Every published Table 3-4 cell: keys, published, published_se."""
    empty = pd.DataFrame(columns=["sample", "equation", "term", "estimate", "se"])
    long = published_vs_replicated(empty)
    return long[["sample", "equation", "term", "published", "published_se"]]


def compare(cells: pd.DataFrame, published: pd.DataFrame) -> pd.DataFrame:
    """Ours against the published numbers, cell by cell (cells with a published SE > 0).

    Columns: the keys, published, published_se, estimate, se, dev_se (ours minus
    published, in published SEs), se_ratio (ours / published), exact_point and
    exact_se (ours printed at 3 decimals is the published number).
    """
    keys = ["sample", "equation", "term"]
    pub = published[published["published_se"] > 0]
    out = pub.merge(cells[[*keys, "estimate", "se"]], on=keys, how="left")
    out["dev_se"] = (out["estimate"] - out["published"]) / out["published_se"]
    out["se_ratio"] = out["se"] / out["published_se"]
    for column, ours, theirs in (
        ("exact_point", "estimate", "published"),
        ("exact_se", "se", "published_se"),
    ):
        out[column] = np.isclose(
            out[ours].round(PRINTED_DECIMALS), out[theirs], rtol=0, atol=1e-9
        )
    return out


def distance(compared: pd.DataFrame) -> dict:
    """How far a reading is from the publication (see ``docs/se_gap.md``).

    ``distance`` = sqrt((mean (dev_se / 0.1)^2 + mean (ln se_ratio / ln 1.15)^2) / 2)
    over the cells the reading estimated: each part is 1 when every cell sits at the
    report's tolerance (points within 0.1 SE, SEs within 15%), 0 at an exact match.
    """
    ok = compared.dropna(subset=["estimate", "se"])
    ok = ok[ok["se"] > 0]
    if ok.empty:
        return {"cells": 0, "distance": np.nan}
    dev = ok["dev_se"].to_numpy()
    lr = np.log(ok["se_ratio"].to_numpy())
    point = np.mean((dev / POINT_TOL_SE) ** 2)
    se = np.mean((lr / np.log1p(SE_TOL)) ** 2)
    return {
        "cells": len(ok),
        "distance": float(np.sqrt((point + se) / 2)),
        "rms_dev_se": float(np.sqrt(np.mean(dev**2))),
        "rms_log_se_ratio": float(np.sqrt(np.mean(lr**2))),
        "median_se_ratio": float(np.median(ok["se_ratio"])),
        "points_within_tol": int(np.sum(np.abs(dev) <= POINT_TOL_SE)),
        "ses_within_tol": int(np.sum(np.abs(ok["se_ratio"] - 1) <= SE_TOL)),
        "exact_points": int(ok["exact_point"].sum()),
        "exact_ses": int(ok["exact_se"].sum()),
        **{
            f"median_se_ratio_{eq.name}": float(
                ok.loc[ok["equation"] == eq.name, "se_ratio"].median()
            )
            for eq in models.EQUATIONS
        },
    }


def evaluate(analytic, readings, design_, published):
    """Fit every reading once; return (per-reading rows, per-cell rows)."""
    rows, cell_frames = [], []
    for reading in readings:
        base = dict(zip(READING_KEYS, reading.key, strict=True))
        if reading.se not in design_.options:
            rows.append(
                {
                    **base,
                    "status": "skipped",
                    "cells": 0,
                    "note": design_.notes[reading.se],
                }
            )
            continue
        cells, notes = fit_reading(analytic, reading, design_.options[reading.se])
        compared = compare(cells, published)
        score = distance(compared)
        note = "; ".join(
            filter(
                None,
                [
                    design_.notes.get(reading.se, ""),
                    *(f"not estimable: {n}" for n in notes),
                ],
            )
        )
        status = "ranked" if score["cells"] else "skipped"
        rows.append({**base, "status": status, **score, "note": note})
        cell_frames.append(compared.assign(**base))
    cells = pd.concat(cell_frames, ignore_index=True) if cell_frames else None
    table = pd.DataFrame(rows)
    if "distance" not in table:  # no reading could be fitted
        table["distance"] = np.nan
    return table, cells


def rank(table: pd.DataFrame) -> pd.Series:
    """Rank of each ranked reading by distance (1 = closest); NaN for the others.

    Readings estimated on fewer cells than the most complete ones are not ranked
    against them (a distance over other cells is not comparable).
    """
    ranked = (table["status"] == "ranked") & table["distance"].notna()
    if ranked.any():
        ranked &= table["cells"] == table.loc[ranked, "cells"].max()
    out = pd.Series(np.nan, index=table.index)
    out[ranked] = table.loc[ranked, "distance"].rank(method="min")
    return out


def resample(analytic, readings, design_, published, reps: int, seed: int):
    """Per draw over respondents: each reading's distance and its SE part.

    A draw is half the respondents, drawn without replacement (half-sampling, the
    delete-n/2 jackknife): its estimates scatter around the full-sample ones as a
    bootstrap's do (variance 1/m - 1/n = 1/n), and its SEs, rescaled by
    sqrt(m/n), estimate the full-sample SEs. A bootstrap with replacement would
    put copies of a respondent in the same city and province, and their
    identical scores would inflate every clustered and survey SE.

    Returns (the readings that could be fitted; two reps x readings arrays: the
    distance and the RMS log SE ratio, over the cells every reading estimated in
    the draw).
    """
    usable = [r for r in readings if r.se in design_.options]
    out = np.full((reps, len(usable)), np.nan)
    se_part = np.full((reps, len(usable)), np.nan)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7_301]))
    n = len(analytic)
    m = n // 2
    for b in range(reps):
        rows = np.sort(rng.choice(n, m, replace=False))
        draw = analytic.iloc[rows].reset_index(drop=True)
        compared = {}
        for j, reading in enumerate(usable):
            cells, _ = fit_reading(draw, reading, design_.options[reading.se])
            cells = cells.assign(se=cells["se"] * np.sqrt(m / n))
            compared[j] = compare(cells, published)
        # distances over the cells every reading estimated in this draw
        keys = ["sample", "equation", "term"]
        common = None
        for c in compared.values():
            got = set(map(tuple, c.dropna(subset=["se"])[keys].to_numpy()))
            common = got if common is None else common & got
        for j, c in compared.items():
            mask = [tuple(k) in common for k in c[keys].to_numpy()]
            score = distance(c[mask])
            out[b, j] = score["distance"]
            se_part[b, j] = score.get("rms_log_se_ratio", np.nan)
        log.debug("conventions: half-sample %d of %d", b + 1, reps)
    return usable, out, se_part


def uncertainty(table: pd.DataFrame, usable, draws, se_part) -> pd.DataFrame:
    """Add the resampling columns: shares ranked first, interval of the SE part.

    A resampled estimate moves about one SE from the published point, so the
    point part of a draw's distance mostly measures that noise; the 5-95%
    interval is given for the SE part (RMS log SE ratio), which does not.
    """
    cols = {
        "draws": 0,
        "rms_log_se_ratio_p05": np.nan,
        "rms_log_se_ratio_p95": np.nan,
        "share_first": np.nan,
        "share_first_se_in_block": np.nan,
    }
    table = table.assign(**cols)
    if draws.size == 0:
        return table
    ok = ~np.isnan(draws).any(axis=1)
    draws, se_part = draws[ok], se_part[ok]
    if not len(draws):
        return table
    first = np.argmin(draws, axis=1)
    blocks = {}
    for j, r in enumerate(usable):
        blocks.setdefault((r.ame, r.participation), []).append(j)
    for j, r in enumerate(usable):
        members = blocks[(r.ame, r.participation)]
        block_first = np.array(members)[np.argmin(draws[:, members], axis=1)]
        row = (table[list(READING_KEYS)] == pd.Series(r.key, index=READING_KEYS)).all(
            axis=1
        )
        table.loc[row, "draws"] = len(draws)
        table.loc[row, "rms_log_se_ratio_p05"] = np.percentile(se_part[:, j], 5)
        table.loc[row, "rms_log_se_ratio_p95"] = np.percentile(se_part[:, j], 95)
        table.loc[row, "share_first"] = float(np.mean(first == j))
        table.loc[row, "share_first_se_in_block"] = float(np.mean(block_first == j))
    return table


def run(
    analytic: pd.DataFrame,
    readings: list[Reading] | None = None,
    published: pd.DataFrame | None = None,
    reps: int = 0,
    seed: int = MASTER_SEED,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Evaluate, rank and resample the readings on ``analytic``.

    Returns
    -------
    tuple
        (one row per reading: status, distance and its parts, rank, resampling
        columns, note; one row per reading and cell: the comparison).
    """
    readings = grid() if readings is None else readings
    published = published_cells() if published is None else published
    design_ = design(
        analytic, sorted({r.se for r in readings}, key=list(SE_TYPES).index)
    )
    table, cells = evaluate(analytic, readings, design_, published)
    table["rank"] = rank(table)
    empty = np.empty((0, 0))
    usable, draws, se_part = (
        resample(analytic, readings, design_, published, reps, seed)
        if reps > 0
        else ([], empty, empty)
    )
    table = uncertainty(table, usable, draws, se_part)
    order = ["rank", "distance"]
    table = table.sort_values(order, kind="stable", na_position="last")
    return table.reset_index(drop=True), cells


def origin_provinces(
    raw_path: Path | None, codebook: Codebook, encoding: str | None = None
) -> tuple[pd.Series | None, str]:
    """Province of hukou per resp_id, read from the raw file through the codebook.

    Returns (Series indexed by the analytic resp_id, or None; a note saying where
    it came from or why it is unavailable).
    """
    if raw_path is None or not Path(raw_path).exists():
        return None, f"raw file {raw_path} not found (pass --raw)"
    needed = ["resp_id", "locality_code", "stratum", "psu", "hukou_province"]
    try:
        raw = clean.read_raw(Path(raw_path), codebook, encoding)
        if codebook.absent("hukou_province", raw.columns):
            return None, f"{raw_path}: the codebook maps no column to hukou_province"
        concepts = to_concepts(raw, codebook, needed)
    except (ValueError, KeyError) as error:
        return None, f"{raw_path}: {error}"
    ids = clean.derive_design(concepts, codebook)["resp_id"]
    bad = missing_mask(codebook, concepts, "hukou_province")
    values = concepts["hukou_province"].where(~bad)
    if not is_string_concept(codebook, "hukou_province"):  # a code: 11 -> "11"
        values = values.map(lambda v: f"{int(v):02d}" if pd.notna(v) else None)
    return pd.Series(values.to_numpy(), index=ids.to_numpy(), name=ORIGIN), (
        f"{ORIGIN} = hukou_province of {raw_path} (column "
        f"{codebook.column('hukou_province')!r})"
    )


def with_origin(analytic: pd.DataFrame, origin: pd.Series | None) -> pd.DataFrame:
    """``analytic`` plus the origin-province column (missing where unknown)."""
    if origin is None or ORIGIN in analytic:
        return analytic
    origin = origin[~origin.index.duplicated()]
    return analytic.assign(**{ORIGIN: analytic["resp_id"].map(origin)})


def main(
    analytic_path: Path,
    out_dir: Path,
    raw_path: Path | None = None,
    codebook: Codebook | None = None,
    encoding: str | None = None,
    reps: int = DEFAULT_REPS,
    seed: int = MASTER_SEED,
    synthetic: bool = True,
) -> pd.DataFrame:
    """Run the grid on the analytic file and write the CSVs and the summary."""
    analytic = read_analytic(Path(analytic_path))
    origin, origin_note = origin_provinces(raw_path, codebook or Codebook(), encoding)
    analytic = with_origin(analytic, origin)
    table, cells = run(analytic, reps=reps, seed=seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_table(
        table,
        READING_KEYS,
        out_dir / "conventions.csv",
        sort=False,
        digits=6,
        synthetic=synthetic,
    )
    if cells is not None:
        save_table(
            cells,
            CELL_KEYS,
            out_dir / "conventions_cells.csv",
            digits=6,
            synthetic=synthetic,
        )
    text = summary(table, cells, analytic_path, origin_note, reps, synthetic)
    save_text(text, out_dir / "conventions.md")
    return table


def read_analytic(path: Path) -> pd.DataFrame:
    """The analytic sample, refused with a message if the models cannot use it."""
    try:
        analytic = pd.read_parquet(path)
    except (OSError, ValueError) as error:
        raise ConventionsError(
            f"{path}: not a readable parquet file ({error})"
        ) from None
    needed = [
        "resp_id",
        "reimbursed",
        *models.OUTCOMES,
        *(t.split(".", 1)[1] for t in models.TABLE3_REGRESSORS),
    ]
    absent = [c for c in needed if c not in analytic]
    if absent:
        raise ConventionsError(
            f"{path}: column(s) {absent} missing ({len(analytic)} rows); the models "
            "of Tables 3-4 need them (an analytic sample from `python -m analysis "
            "clean`)"
        )
    if analytic.empty:
        raise ConventionsError(f"{path}: no rows")
    return analytic


def summary(table, cells, analytic_path, origin_note, reps, synthetic) -> str:
    """The Markdown summary of a run."""
    lines = ["# Which SE / AME convention reproduces Tables 3-4?", ""]
    if synthetic:
        lines += [
            f"**Synthetic data ({notices.CSV}).** The input is the synthetic "
            "survey, generated under the package's own reading (derivative AMEs, "
            "OIM, any reimbursement). This run shows the mechanics only; it says "
            "nothing about the convention the paper used. Run it on the real file "
            '(docs/se_gap.md, "Settling the convention on the real file").',
            "",
        ]
    lines += [
        f"Input: `{analytic_path}`. Origin province: {origin_note}.",
        f"Distance = sqrt((mean (dev/{POINT_TOL_SE:g} SE)^2 + mean (ln SE ratio / "
        f"ln {1 + SE_TOL:g})^2) / 2) over every Table 3-4 cell with a published "
        "SE > 0; "
        "0 = every number reproduced, 1 = every cell at the report's tolerance. "
        f"Exact = ours printed at {PRINTED_DECIMALS} decimals equals the published "
        "number: the correct reading on the real file reproduces (nearly) all.",
        f"Resampling: {reps} half-samples of the respondents (without replacement, "
        "SEs rescaled to the full sample); `first` = share of draws in which "
        "the reading has the smallest distance of all; `first SE` = the same among "
        "the SE types of its AME x participation block.",
        "",
        "| rank | AME | SE | participation | cells | distance | RMS log SE ratio "
        "(resampled 5-95%) | first | first SE | points within 0.1 SE | SEs within "
        "15% | median SE ratio (probit) | exact points / SEs |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table.itertuples():
        if r.status != "ranked":
            continue
        lines.append(
            f"| {fmt(r.rank, 0)} | {r.ame} | {r.se_type} | {r.participation} | "
            f"{r.cells} | "
            f"{fmt(r.distance)} | {fmt(r.rms_log_se_ratio)} "
            f"({fmt(r.rms_log_se_ratio_p05)}-{fmt(r.rms_log_se_ratio_p95)})"
            f" | {fmt(r.share_first, 2)} | {fmt(r.share_first_se_in_block, 2)} | "
            f"{r.points_within_tol} | {r.ses_within_tol} | {fmt(r.median_se_ratio)} "
            f"({fmt(r.median_se_ratio_probit)}) | "
            f"{r.exact_points} / {r.exact_ses} |"
        )
    skipped = table[table["status"] != "ranked"]
    notes = table[(table["status"] == "ranked") & table["note"].astype(bool)]
    if len(skipped) or len(notes):
        lines += ["", "Notes:", ""]
        # a design note repeats for every AME x participation block: list it once
        seen = set()
        for r in pd.concat([skipped, notes]).itertuples():
            text = f"{r.se_type}: {r.note}"
            if text not in seen:
                seen.add(text)
                lines.append(f"- {text}")
    lines += ["", *pattern_lines(cells)]
    return "\n".join(lines) + "\n"


def pattern_lines(cells: pd.DataFrame | None) -> list[str]:
    """The decisive pattern: each reading's SEs against OIM / derivative / any."""
    if cells is None:
        return []
    keys = ["sample", "equation", "term"]
    oim = cells.query(
        "ame == 'derivative' and participation == 'any' and se_type == 'oim'"
    )
    if oim.empty:
        return []
    oim = oim.set_index(keys)["se"]
    lines = [
        "## What each reading changes (the pattern to look for)",
        "",
        "SE of the reading / SE under derivative AMEs + OIM + any reimbursement, by "
        "equation: median [min, max], and the cell that moves most.",
        "",
        "| reading | probit | amount | ratio | largest change |",
        "|---|---|---|---|---|",
    ]
    for (ame, se, part), group in cells.groupby(list(READING_KEYS), sort=False):
        if (ame, se, part) == ("derivative", "oim", "any"):
            continue
        ratio = (group.set_index(keys)["se"] / oim).dropna()
        if ratio.empty:
            continue
        parts = []
        for eq in models.EQUATIONS:
            r = ratio[ratio.index.get_level_values("equation") == eq.name]
            parts.append(
                f"{fmt(r.median(), 2)} [{fmt(r.min(), 2)}, {fmt(r.max(), 2)}]"
                if len(r)
                else ""
            )
        worst = (np.log(ratio)).abs().idxmax()
        lines.append(
            f"| {ame} / {se} / {part} | {' | '.join(parts)} | "
            f"{'/'.join(worst)} {fmt(ratio[worst], 2)} |"
        )
    return lines


def fmt(value, digits: int = 3) -> str:
    """A number for the summary ('' when missing)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return f"{value:.{digits}f}"
