"""The analytic sample for Stata users: a labelled ``.dta`` and its data dictionary.

The cleaning stage writes both beside ``analytic.parquet``: the ``.dta`` (Stata 14
format, fixed time stamp, so the same data give the same bytes) stores each factor
as integer codes 1..k in the published order (1 = the reference group of Tables 3-4)
with the printed labels of ``data/codebook/levels.csv`` as value labels, 0/1
indicators with no/yes labels, and every column with its description
(:data:`analysis.cleaning.schema.DESCRIPTIONS`). The dictionary is Markdown, one row
per column, and describes structure only (no counts), so it is the same for the
synthetic survey and a real file.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis import io, notices, vocabulary
from analysis.cleaning import schema

YES_NO = {0: "no", 1: "yes"}
DICTIONARY_COLUMNS = ("column", "type", "description", "values", "role")
DATA_LABEL = "Analytic sample of Wang et al. (2022), BMJ Open 12:e060551"


def stata_frame(analytic: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """The analytic frame with factors as codes 1..k, and their value labels."""
    out = analytic.copy()
    labels = {}
    for factor, levels in vocabulary.FACTORS.items():
        if factor not in out:
            continue
        codes = {level: k for k, level in enumerate(levels, start=1)}
        out[factor] = out[factor].astype(object).map(codes).astype("float64")
        labels[factor] = {k: vocabulary.label(factor, lv) for lv, k in codes.items()}
    for column in schema.BINARIES:
        if column in out:
            labels[column] = YES_NO
    return out, labels


def write_dta(analytic: pd.DataFrame, path: Path, synthetic: bool = True) -> Path:
    """Write the labelled ``.dta`` of the analytic sample and log its hash."""
    frame, value_labels = stata_frame(analytic)
    label = f"{DATA_LABEL} - {notices.CSV}" if synthetic else DATA_LABEL
    descriptions = {c: schema.DESCRIPTIONS[c][:80] for c in frame.columns}
    io.write_dta(frame, path, label, descriptions, value_labels)
    io.log_file(path, schema.KEY, frame.shape)
    return path


def dictionary(analytic: pd.DataFrame) -> pd.DataFrame:
    """One row per analytic column: name, Stata type, description, codes, key role."""
    rows = []
    for column in analytic.columns:
        if column in vocabulary.FACTORS:
            levels = vocabulary.FACTORS[column]
            kind = "numeric (factor codes)"
            reference = column in schema.TABLE3_FACTORS
            values = "; ".join(
                f"{k} = {vocabulary.label(column, lv)} (`{lv}`)"
                + (", reference" if k == 1 and reference else "")
                for k, lv in enumerate(levels, start=1)
            )
        elif column in schema.BINARIES:
            kind, values = "numeric (0/1)", "0 = no; 1 = yes"
        elif column in schema.CONTINUOUS:
            kind, values = "numeric", ""
        else:
            kind, values = "str (id)", ""
        role = "design" if column in schema.DESIGN else ""
        role = "key" if column in schema.KEY else role
        rows.append((column, kind, schema.DESCRIPTIONS[column], values, role))
    return pd.DataFrame(rows, columns=list(DICTIONARY_COLUMNS))


def write_dictionary(
    analytic: pd.DataFrame, path: Path, synthetic: bool = True
) -> Path:
    """Write the Markdown data dictionary of the analytic sample."""
    head = [f"{notices.CAPTION}\n"] if synthetic else []
    head += [
        "# Data dictionary: the analytic sample",
        "",
        "`analytic.parquet` (and `analytic.dta` for Stata, with these labels): one row",
        "per respondent of the paper's sample, key `resp_id`. Missing values: a factor",
        "or amount that does not apply (see the description) is empty / `.` in Stata.",
        "Factor codes run 1..k in the published order; 1 is the reference group of",
        "Tables 3-4.",
        "",
    ]
    table = dictionary(analytic).to_markdown(index=False)
    return io.save_text("\n".join(head) + table + "\n", path)
