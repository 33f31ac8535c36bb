"""The run's omission log: what was not estimated or not written, and why.

Purpose
    A run on a real file can complete with parts missing: a model that is not
    estimable on its subsample, a regressor dropped because it predicts the outcome
    perfectly, an output skipped because an optional concept is absent from the
    file. Each stage records its omissions here (replacing its own earlier rows), the
    tables and the report mark the cells concerned, and ``python -m analysis
    summary`` (the last step of ``make reproduce``) prints them and sets the exit
    status (``EXIT_OMISSIONS`` with ``--strict``).
Inputs
    Rows from the stages (:func:`record`).
Outputs
    ``<run>/outputs/logs/omissions.csv``: stage, output, item, reason, n (the
    observations concerned, 0 if not a count).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

COLUMNS = ["stage", "output", "item", "reason", "n"]
FILE = "omissions.csv"
NOTE_ITEM = "note"  # a row that records a note of a fit, not an omission


def path_of(logs_dir: Path) -> Path:
    """The omission log of a run."""
    return Path(logs_dir) / FILE


def read(logs_dir: Path) -> pd.DataFrame:
    """Every omission recorded in the run (empty frame if none)."""
    path = path_of(logs_dir)
    if not path.exists():
        return pd.DataFrame(columns=COLUMNS)
    return pd.read_csv(path, dtype={"item": str, "reason": str}, keep_default_na=False)


def record(logs_dir: Path, stage: str, rows: list[tuple]) -> pd.DataFrame:
    """Replace ``stage``'s rows of the log by ``rows`` (output, item, reason, n).

    Returns
    -------
    DataFrame
        The whole log after the update.
    """
    old = read(logs_dir)
    new = pd.DataFrame([(stage, *r) for r in rows], columns=COLUMNS)
    table = pd.concat([old[old["stage"] != stage], new], ignore_index=True)
    if table.empty and not path_of(logs_dir).exists():
        return table
    path_of(logs_dir).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path_of(logs_dir), index=False, lineterminator="\n")
    return table


def omitted(table: pd.DataFrame) -> pd.DataFrame:
    """Rows that are omissions (not mere notes of a fit)."""
    return table[table["item"] != NOTE_ITEM]


def summary(logs_dir: Path) -> list[str]:
    """Lines for the terminal: each omission and note, or that there is none."""
    table = read(logs_dir)
    gone, notes = omitted(table), table[table["item"] == NOTE_ITEM]
    if gone.empty:
        lines = ["Run complete: every model estimated and every output written."]
    else:
        lines = [
            f"Run complete with {len(gone)} omission(s) "
            f"(listed in {path_of(logs_dir)}):"
        ]
    lines += [line(r) for r in gone.itertuples(index=False)]
    if not notes.empty:
        lines.append("Notes of the fits (no output omitted):")
        lines += [line(r) for r in notes.itertuples(index=False)]
    return lines


def line(r) -> str:
    """One omission or note as an indented line with its count."""
    count = f" [{int(r.n):,} obs]" if int(r.n or 0) else ""
    return f"  - {r.stage}: {r.output}: {r.item}: {r.reason}{count}"


# --- model status (written by analysis.paper.estimates)
# ------------------------------------

STATUS_FILE = "model_status.csv"
NOT_SCORED = ("not estimable", "omitted")


def model_status(estimates_dir: Path) -> pd.DataFrame:
    """The estimate stage's ``model_status.csv`` (empty frame if absent)."""
    path = Path(estimates_dir) / STATUS_FILE
    if not path.exists():
        return pd.DataFrame(columns=["sample", "equation", "term", "status", "reason",
                                     "n"])  # fmt: skip
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def marker(status: str, reason: str) -> str:
    """Cell text of a column not estimable or a regressor omitted, with its reason."""
    return f"{status} ({reason.split(':', 1)[0]})"


def not_estimated(status: pd.DataFrame) -> pd.DataFrame:
    """Rows of columns not estimable and of regressors omitted."""
    return status[status["status"].isin(NOT_SCORED)]


def mark_verdicts(verdicts: pd.DataFrame, status: pd.DataFrame) -> pd.DataFrame:
    """Replace the verdict of every cell not estimated by its marker.

    ``verdicts`` has one row per published cell (sample, equation, term).
    """
    out = verdicts.copy()
    for r in not_estimated(status).itertuples(index=False):
        rows = (out["sample"] == r.sample) & (out["equation"] == r.equation)
        if r.status == "omitted":
            rows &= out["term"] == r.term
        out.loc[rows, "verdict"] = marker(r.status, r.reason)
    return out


def scored(verdicts: pd.DataFrame) -> pd.DataFrame:
    """Cells that were estimated (those the targets are measured on)."""
    return verdicts[~verdicts["verdict"].astype(str).str.startswith(NOT_SCORED)]


def report_section(estimates_dir: Path) -> list:
    """The report's section on what was not estimated, or nothing if all was."""
    gone = not_estimated(model_status(estimates_dir))
    if gone.empty:
        return []
    text = (
        "These Table 3-4 cells were not estimated; the tables print the reason in "
        "each cell, and the targets above are measured on the other cells. A "
        "regressor that predicts the outcome perfectly is omitted with the "
        "observations it predicts, as Stata's `probit` does; a regressor that does "
        "not vary is omitted as collinear; a column whose subsample is empty, too "
        "small or without variation in the outcome is not estimable."
    )
    table = gone.rename(columns={"n": "observations"})
    return [("## Not estimated", text), (None, table)]
