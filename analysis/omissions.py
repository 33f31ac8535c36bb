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


def summary(logs_dir: Path) -> list[str]:
    """Lines for the terminal: one per omission, or one saying there is none."""
    table = read(logs_dir)
    if table.empty:
        return ["Run complete: every model estimated and every output written."]
    lines = [
        f"Run complete with {len(table)} omission(s) "
        f"(listed in {path_of(logs_dir)}):"
    ]
    for r in table.itertuples(index=False):
        count = f" [{int(r.n):,} obs]" if int(r.n or 0) else ""
        lines.append(f"  - {r.stage}: {r.output}: {r.item}: {r.reason}{count}")
    return lines
