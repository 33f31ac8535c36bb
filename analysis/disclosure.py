"""Disclosure control for outputs of restricted (real) microdata.

Purpose
    In real-data mode (``--real``) every exhibit passes through these functions before
    it is written: a table cell based on fewer than ``min_cell`` respondents (default
    :data:`MIN_CELL` = 10) is replaced by a marker that states the rule, a cell that
    would let a reader recover a suppressed one from a known total is suppressed too
    (complementary suppression), and :func:`check_outputs` proves that no output file
    holds microdata or record-level identifiers. Synthetic runs are not touched.
Inputs
    Tables (DataFrames) with, cell by cell, the number of respondents behind each cell;
    for the exhibits of this package the counts are computed from the analytic sample
    (``descriptives.table1_counts``, :func:`model_cell_counts`).
Outputs
    The same tables with markers, a log of what was suppressed (never the small counts
    themselves), the rule in words (:func:`rule_text`) and a list of violations.

Rule (threshold rule of output checking, e.g. the Eurostat/ONS guidelines for output
checking of microdata): a count of 1 to ``min_cell - 1`` respondents is suppressed, and
so is a mean, SD, percentage or model estimate based on fewer than ``min_cell``
respondents. A share or a 0/1 regressor is "based on" the smaller of its two groups
(yes/no, level/other levels), since the other follows from the total. Zero counts are
shown: they describe no one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.cleaning.schema import BINARIES, FACTORS, SUBSAMPLES, TABLE3_FACTORS
from analysis.config import MIN_CELL
from analysis.io import save_table

COMPLEMENTARY = "suppressed (complementary)"
#: Columns that identify respondents or small areas: never in a real-mode output table.
ID_COLUMNS = ("resp_id", "locality_code", "psu", "neighbourhood", "stratum")
#: File types that hold microdata; none may appear under ``outputs/`` in real mode.
MICRODATA_SUFFIXES = (".parquet", ".dta", ".sav", ".feather", ".pkl", ".pickle")
TEXT_SUFFIXES = (".csv", ".md", ".tex", ".html", ".txt", ".json")
#: A word of a text output; digits after or before a decimal point belong to a number
#: (0.118639 is not the id 118639).
TOKEN = re.compile(r"(?<![\w.])\w+(?!\w|\.\d)")


def marker(min_cell: int = MIN_CELL) -> str:
    """The text of a primary-suppressed cell, e.g. ``"suppressed (n<10)"``."""
    return f"suppressed (n<{min_cell})"


def rule_text(min_cell: int = MIN_CELL) -> str:
    """The disclosure rule in one paragraph, printed with every real-mode exhibit."""
    return (
        f"Disclosure control: counts of 1 to {min_cell - 1} respondents, and means, "
        f"SDs, percentages and model estimates based on fewer than {min_cell} "
        f"respondents, are shown as '{marker(min_cell)}'; a share or a 0/1 regressor "
        "counts the smaller of its two groups. Where a suppressed count could be "
        "recovered from a published total, the next smallest cell of its group is "
        f"suppressed as well ('{COMPLEMENTARY}'). Zero counts are shown."
    )


def small(counts: pd.DataFrame | pd.Series, min_cell: int = MIN_CELL):
    """True where a count is 1 to ``min_cell - 1`` (missing counts are never small)."""
    return counts.gt(0) & counts.lt(min_cell)


def complementary(
    primary: pd.DataFrame,
    counts: pd.DataFrame,
    groups: pd.Series | None = None,
    additive_rows: pd.Series | None = None,
) -> pd.DataFrame:
    """Cells to suppress so that no primary cell follows from a shown total.

    Parameters
    ----------
    primary : DataFrame of bool
        Primary-suppressed cells (same index and columns as ``counts``).
    counts : DataFrame
        Respondents behind each cell.
    groups : Series, optional
        Group label per row: within a column, the rows of one label add up to a shown
        total (the levels of a factor); missing labels belong to no group.
    additive_rows : Series of bool, optional
        Rows whose cells add up across columns (Table 1: total = NCMS + urban).

    Returns
    -------
    DataFrame of bool
        The complementary cells only. Until nothing changes: wherever a group or an
        additive row holds exactly one suppressed cell, the unsuppressed cell with the
        smallest positive count there is suppressed too.
    """
    hidden = primary.copy()
    blocks = []
    if groups is not None:
        for label in groups.dropna().unique():
            rows = groups.index[groups == label]
            blocks += [(rows, [column]) for column in counts.columns]
    if additive_rows is not None:
        blocks += [([row], list(counts.columns))
                   for row in additive_rows.index[additive_rows]]  # fmt: skip
    changed = True
    while changed:
        changed = False
        for rows, columns in blocks:
            block = counts.loc[rows, columns]
            if hidden.loc[rows, columns].to_numpy().sum() != 1:
                continue
            free = (
                block.where(~hidden.loc[rows, columns] & block.gt(0)).stack().dropna()
            )
            if len(free):
                row, column = free.idxmin()
                hidden.loc[row, column] = changed = True
    return hidden & ~primary


@dataclass(frozen=True)
class Suppression:
    """A table after disclosure control.

    Attributes
    ----------
    table : DataFrame
        The input table with markers in the suppressed cells.
    reasons : DataFrame
        Per count column and row: "" (shown), "primary" or "complementary".
    log : DataFrame
        One row per suppressed cell: the table's key columns, ``column``, ``reason``.
    """

    table: pd.DataFrame
    reasons: pd.DataFrame
    log: pd.DataFrame


def suppress(
    table: pd.DataFrame,
    counts: pd.DataFrame,
    cells: Mapping[str, Sequence[str]],
    min_cell: int = MIN_CELL,
    groups: pd.Series | None = None,
    keys: Sequence[str] = (),
    additive_rows: pd.Series | None = None,
) -> Suppression:
    """Suppress the cells of ``table`` based on fewer than ``min_cell`` respondents.

    Parameters
    ----------
    table : DataFrame
        The table as it will be written (numbers or formatted text).
    counts : DataFrame
        Same index as ``table``; one column per entry of ``cells``: the respondents
        behind that cell (for shares, the smaller group). NaN: no count (not checked).
    cells : mapping
        Count column -> the table columns it governs (e.g. ``"total"`` ->
        ``["total", "total_spread"]``: a count and its percentage go together).
    min_cell : int
        Smallest count shown.
    groups : Series, optional
        Rows adding up to a shown total (see :func:`complementary`).
    keys : sequence of str
        Key columns of ``table`` copied into the log.
    additive_rows : Series of bool, optional
        Rows whose cells add up across the count columns (see :func:`complementary`).
    """
    if min_cell < 1:
        raise ValueError(f"min_cell={min_cell} must be at least 1")
    counts = counts[list(cells)].astype(float)
    primary = small(counts, min_cell)
    secondary = complementary(primary, counts, groups, additive_rows)
    reasons = pd.DataFrame("", index=counts.index, columns=counts.columns)
    reasons = reasons.mask(primary, "primary").mask(secondary, "complementary")
    out = table.copy()
    log = []
    for count_column, targets in cells.items():
        for reason, text in (("primary", marker(min_cell)),
                             ("complementary", COMPLEMENTARY)):  # fmt: skip
            rows = reasons.index[reasons[count_column] == reason]
            for target in targets:
                out[target] = out[target].astype(object)
                out.loc[rows, target] = text
            log += [[*table.loc[r, list(keys)], count_column, reason] for r in rows]
    log_frame = pd.DataFrame(log, columns=[*keys, "column", "reason"])
    return Suppression(out, reasons, log_frame)


def suppress_layout(layout, reasons: pd.DataFrame, min_cell: int = MIN_CELL):
    """Put the markers of ``reasons`` into a rendered ``TableLayout``.

    ``reasons`` has one row per layout row (in order) and one column per leading cell
    of the row (in order); the rule is appended to the layout's notes.
    """
    texts = {"primary": marker(min_cell), "complementary": COMPLEMENTARY}
    rows = iter(reasons.itertuples(index=False))
    sections = []
    for section in layout.sections:
        new_rows = []
        for row in section.rows:
            flags = next(rows)
            cells = [
                texts.get(f, c) if f else c
                for f, c in zip(flags, row.cells, strict=False)
            ]
            cells += list(row.cells[len(flags) :])
            new_rows.append(replace(row, cells=tuple(cells)))
        sections.append(replace(section, rows=tuple(new_rows)))
    notes = (*layout.notes, rule_text(min_cell))
    return replace(layout, sections=tuple(sections), notes=notes)


def two_sided(count: pd.Series | float, total: pd.Series | float):
    """Respondents behind a share: the smaller of ``count`` and ``total - count``."""
    return np.minimum(count, np.subtract(total, count))


# --- counts behind the model tables ------------------------------------------------


def model_cell_counts(analytic: pd.DataFrame, cells: pd.DataFrame) -> pd.Series:
    """Respondents behind each model cell (``paper_cells.csv`` row).

    A factor level or 0/1 regressor counts the smaller of (at the level, elsewhere) in
    the equation's estimation sample (all of the subsample for the probit, those in
    part 2 for the amount and ratio); a continuous regressor counts the sample size.
    """
    samples = {}
    for name, schemes in SUBSAMPLES.items():
        sub = analytic[analytic["scheme"].astype(str).isin(schemes)]
        samples[(name, "part1")] = sub
        samples[(name, "part2")] = sub[sub["in_part2"] == 1]
    out = []
    for row in cells.itertuples():
        frame = samples[(row.sample, "part1" if row.equation == "probit" else "part2")]
        hits = np.nan
        for factor in TABLE3_FACTORS:
            if row.term in FACTORS[factor]:
                hits = float((frame[factor].astype(str) == row.term).sum())
        if row.term in BINARIES:
            hits = float((frame[row.term] == 1).sum())
        out.append(len(frame) if np.isnan(hits) else two_sided(hits, len(frame)))
    return pd.Series(out, index=cells.index, dtype=float)


MODEL_COLUMNS = ("estimate", "se", "z", "p", "ci_low", "ci_high")


def suppress_model_cells(
    cells: pd.DataFrame, analytic: pd.DataFrame, min_cell: int = MIN_CELL
) -> pd.DataFrame:
    """``paper_cells`` with estimates of cells based on < ``min_cell`` set to NaN.

    Adds a boolean column ``suppressed``; the counts themselves are not kept.
    """
    n = model_cell_counts(analytic, cells)
    hide = n.lt(min_cell)
    out = cells.copy()
    out.loc[hide, [c for c in MODEL_COLUMNS if c in out]] = np.nan
    out["suppressed"] = hide.to_numpy()
    return out


def mark_model_table(
    table: pd.DataFrame, cells: pd.DataFrame, min_cell: int = MIN_CELL
) -> pd.DataFrame:
    """Write the marker into Table 3/4 cells whose model cell is ``suppressed``.

    ``table`` has ``term`` (and ``sample`` for Table 4; Table 3 is ``total``) and
    ``<equation>_me/_se/_stars`` columns; ``cells`` is :func:`suppress_model_cells`.
    """
    out = table.astype(object).copy()
    hidden = cells[cells["suppressed"]]
    for cell in hidden.itertuples():
        sample = out["sample"] if "sample" in out else "total"
        rows = (out["term"] == cell.term) & (sample == cell.sample)
        for suffix in ("me", "se", "stars"):
            out.loc[rows, f"{cell.equation}_{suffix}"] = marker(min_cell)
    return out


def figure_note(min_cell: int = MIN_CELL) -> str:
    """One-line footnote of a real-data figure."""
    return (
        f"Disclosure control: bars and estimates based on fewer than {min_cell} "
        "respondents are not drawn (rule: replication report)"
    )


def suppress_shares(
    reasons: pd.DataFrame, hometown: pd.DataFrame, min_cell: int = MIN_CELL
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Figures 1-2 data with small shares set to NaN (not drawn).

    ``reasons`` (:func:`analysis.exhibits.figures.reason_shares`: reason, n, pct, ...):
    the
    shares add up to 100, so complementary suppression applies. ``hometown``
    (:func:`analysis.exhibits.figures.hometown_by_scope`: k of n per scope) counts the
    smaller
    of k and n - k. The counts columns themselves are dropped.
    """
    counts = reasons[["n"]].astype(float)
    groups = pd.Series("reasons", index=reasons.index)
    hidden = small(counts, min_cell) | complementary(
        small(counts, min_cell), counts, groups
    )
    reasons = reasons.drop(columns="n").assign(pct=reasons["pct"].mask(hidden["n"]))
    behind = two_sided(hometown["k"].astype(float), hometown["n"].astype(float))
    thin = small(behind, min_cell) | hometown["n"].lt(min_cell)
    hometown = hometown.drop(columns=["k", "n"])
    hometown[["pct", "ci_low", "ci_high"]] = hometown[
        ["pct", "ci_low", "ci_high"]
    ].mask(thin, axis=0)
    return reasons, hometown


def suppress_flow(flow: pd.DataFrame, min_cell: int = MIN_CELL) -> pd.DataFrame:
    """The sample-flow table with small removals suppressed, and the chain protected.

    ``n_removed`` of 1 to ``min_cell - 1`` is suppressed; if that leaves a single one,
    the smallest other positive removal is suppressed too; the running ``n_before`` /
    ``n_after`` between the first and last suppressed rows are suppressed so that only
    the sum of the suppressed removals can be derived.
    """
    counts = flow[["n_removed"]].astype(float)
    groups = pd.Series("flow", index=flow.index)
    result = suppress(flow, counts, {"n_removed": ["n_removed"]}, min_cell, groups)
    hidden = np.flatnonzero(result.reasons["n_removed"] != "")
    out = result.table
    if len(hidden):
        first, last = hidden.min(), hidden.max()
        out["n_before"] = out["n_before"].astype(object)
        out["n_after"] = out["n_after"].astype(object)
        out.iloc[first:last, out.columns.get_loc("n_after")] = COMPLEMENTARY
        out.iloc[first + 1 : last + 1, out.columns.get_loc("n_before")] = COMPLEMENTARY
    return out


def suppress_counts(
    table: pd.DataFrame,
    columns: Iterable[str],
    min_cell: int = MIN_CELL,
    groups: pd.Series | None = None,
) -> pd.DataFrame:
    """Suppression of plain count columns (e.g. the recode log, grouped by step)."""
    columns = list(columns)
    cells = {c: [c] for c in columns}
    return suppress(table, table[columns], cells, min_cell, groups).table


# --- output check -----------------------------------------------------------------


def record_ids(analytic: pd.DataFrame) -> set[str]:
    """Record-level identifiers of the analytic sample, as text (ids as stored)."""
    return set(analytic["resp_id"].astype(str))


def check_outputs(
    outputs_dir: Path, ids: Iterable[str], min_id_length: int = 4
) -> list[str]:
    """Return one message per output file that holds microdata or record-level ids.

    Parameters
    ----------
    outputs_dir : Path
        A run's ``outputs/`` folder; every file below it is checked.
    ids : iterable of str
        Record-level identifiers (e.g. :func:`record_ids`).
    min_id_length : int
        Shorter ids are not searched for in text (too many false hits).

    Notes
    -----
    Three checks: no microdata file type (``MICRODATA_SUFFIXES``); no CSV column named
    as an identifier (``ID_COLUMNS``); no text token equal to an identifier.
    """
    ids = {i for i in ids if len(i) >= min_id_length}
    problems = []
    for path in sorted(p for p in Path(outputs_dir).rglob("*") if p.is_file()):
        name = path.relative_to(outputs_dir).as_posix()
        if path.suffix.lower() in MICRODATA_SUFFIXES:
            problems.append(f"{name}: a microdata file type ({path.suffix})")
            continue
        if path.suffix.lower() not in TEXT_SUFFIXES:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if path.suffix.lower() == ".csv":
            header = text.split("\n", 1)[0].split(",")
            named = sorted(set(header) & set(ID_COLUMNS))
            if named:
                problems.append(f"{name}: identifier column(s) {named}")
        found = sorted(set(TOKEN.findall(text)) & ids)
        if found:
            # the ids themselves are not repeated: the message may land in an output
            problems.append(f"{name}: {len(found)} record-level id(s)")
    return problems


class DisclosureError(RuntimeError):
    """A real-data output holds microdata or record-level ids."""


def cell_names(cells: pd.DataFrame) -> set[str]:
    """``sample/equation/term`` of the rows :func:`suppress_model_cells` hid."""
    hidden = cells[cells["suppressed"]]
    return set(hidden["sample"] + "/" + hidden["equation"] + "/" + hidden["term"])


def report_section(outputs_dir: Path, ids: Iterable[str], min_cell: int) -> list:
    """The report's "Disclosure control" items: the rule and the output check."""
    problems = check_outputs(outputs_dir, ids)
    verdict = (
        "Output check: no file under outputs/ holds a microdata file type, an "
        "identifier column or a record-level id."
        if not problems
        else "Output check FAILED: " + "; ".join(problems)
    )
    return [
        ("## Disclosure control", rule_text(min_cell)),
        (None, verdict),
        (None, "outputs/estimates/ holds the unsuppressed model files the tables are "
               "built from: they are working files, not for release."),
    ]  # fmt: skip


def raise_if_disclosive(outputs_dir: Path, ids: Iterable[str]) -> None:
    """Raise :class:`DisclosureError` listing every output that fails the check."""
    problems = check_outputs(outputs_dir, ids)
    if problems:
        raise DisclosureError(
            "disclosure check of "
            + str(outputs_dir)
            + " failed:\n  "
            + "\n  ".join(problems)
        )


def control_flow_files(flow_path: Path, min_cell: int = MIN_CELL) -> None:
    """Rewrite the sample flow and its recode log of a real run, suppressed.

    The files are those of :func:`analysis.cleaning.clean.main` (``sample_flow.csv`` and
    ``sample_flow_recodes.csv``); they are saved again through
    :func:`analysis.io.save_table` so the manifest records the released bytes.
    """
    flow_path = Path(flow_path)
    flow = suppress_flow(pd.read_csv(flow_path, dtype={"step": str}), min_cell)
    save_table(flow, ["step"], flow_path, sort=False)
    recodes_path = flow_path.with_name(f"{flow_path.stem}_recodes.csv")
    if recodes_path.exists():
        recodes = pd.read_csv(recodes_path, dtype={"step": str})
        counts = [c for c in recodes.columns if c.startswith("n_")]
        hidden = suppress_counts(recodes, counts, min_cell, recodes["step"])
        save_table(hidden, ["step", "recode"], recodes_path, sort=False)
