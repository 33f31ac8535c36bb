"""Write the synthetic raw survey as a Stata .dta, byte-identical for the same frame.

Purpose
    ``write_raw_survey(frame, path)`` (called by :func:`analysis.synth.main`): fixed
    time stamp and data label, fixed byte order, Stata 14 format.
Inputs
    The raw frame; ``data/codebook/variables.csv`` and ``value_labels.csv``.
Outputs
    ``data/raw/cmds2014_synthetic.dta``: one row per respondent, key ``syn_id``.
    Variable labels are the codebook's Chinese labels (``label_zh``), as in the real
    file's language; value labels are the Chinese labels of each column's label set
    plus its survey missing codes (-1 不知道, -2 拒绝回答, -8 不适用). The English
    wording of both is in the codebook CSVs.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis import io
from analysis.cleaning.codebook import MISSING_LABELSET, Codebook

DATA_LABEL = "Synthetic CMDS 2014 individual file (not real data)"


def write_raw_survey(
    df: pd.DataFrame,
    path: Path,
    codebook: Codebook | None = None,
    data_label: str = DATA_LABEL,
) -> None:
    """Write ``df`` (raw codes, codebook columns) to a Stata 14 (version 118) .dta."""
    codebook = codebook or Codebook()
    io.write_dta(
        df,
        path,
        data_label,
        variable_labels(codebook, df.columns),
        value_labels(codebook, df.columns),
    )


def variable_labels(codebook: Codebook, columns) -> dict[str, str]:
    """Return {column: Chinese label} for the columns of the raw file."""
    table = codebook.variables.set_index("column")
    return {c: str(table.at[c, "label_zh"]) for c in columns if c in table.index}


def value_labels(codebook: Codebook, columns) -> dict[str, dict[int, str]]:
    """Return {column: {code: Chinese label}}: its label set plus its missing codes."""
    table = codebook.variables.set_index("column")
    labels = codebook.value_labels
    missing = labels[labels["labelset"] == MISSING_LABELSET]
    missing = dict(zip(missing["code"], missing["label_zh"], strict=True))
    out = {}
    for column in columns:
        if column not in table.index:
            continue
        row = table.loc[column]
        mapping = {}
        if isinstance(row["labelset"], str):
            rows = labels[labels["labelset"] == row["labelset"]]
            mapping.update(zip(rows["code"], rows["label_zh"], strict=True))
        if isinstance(row["missing_codes"], str):
            for code in row["missing_codes"].split():
                mapping[int(code)] = missing[int(code)]
        if mapping:
            out[column] = {int(k): mapping[k] for k in sorted(mapping)}
    return out
