"""The recode step: a raw survey frame -> one column per concept, in canonical codes.

Purpose
    The only place where the cleaning stage touches raw column names, and it does so
    through the codebook: ``varmap.csv`` says which data-source column holds a concept,
    ``recode.csv`` maps the source's codes to the canonical codes of
    ``variables.csv`` / ``value_labels.csv``. A real file with other column names or
    other codes is therefore cleaned by editing those two CSVs, never the code.
Inputs
    A raw survey ``DataFrame`` (any column names) and its
    :class:`~analysis.cleaning.codebook.Codebook`.
Outputs
    A ``DataFrame`` indexed like the input with one column per concept: numeric concepts
    as float64 (NaN where a cell is blank or not a number), string concepts as ``str``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from analysis.cleaning.codebook import Codebook


def to_concepts(
    raw: pd.DataFrame,
    codebook: Codebook,
    concepts: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Return the concept frame of ``raw``: renamed to concepts and recoded.

    Parameters
    ----------
    raw : DataFrame
        The survey as read from the data source.
    codebook : Codebook
        Supplies the concept -> column map and the source -> canonical recodes.
    concepts : iterable of str, optional
        Concepts to extract; default every concept of ``variables.csv``.

    Returns
    -------
    DataFrame
        One column per concept, same index as ``raw``.

    Raises
    ------
    KeyError
        If a concept's mapped column is absent from ``raw`` (run
        :func:`analysis.cleaning.validate.validate_raw` first for a full report).

    Notes
    -----
    Codes listed in ``recode.csv`` are replaced all at once (a permutation of codes
    is safe); codes not listed, including the survey missing codes, pass through.
    An optional concept absent from the file (``Codebook.absent``) is all NaN.
    """
    wanted = list(codebook.variables.index if concepts is None else concepts)
    out = {
        concept: (
            pd.Series(np.nan, index=raw.index, name=concept)
            if codebook.absent(concept, raw.columns)
            else concept_series(raw, codebook, concept)
        )
        for concept in wanted
    }
    return pd.DataFrame(out, index=raw.index)


def concept_series(raw: pd.DataFrame, codebook: Codebook, concept: str) -> pd.Series:
    """Return one concept's column of ``raw`` in canonical form (``to_concepts``)."""
    values = raw[codebook.column(concept)]
    if is_string_concept(codebook, concept):
        return values.astype("str").where(values.notna())
    numeric = as_numeric(values)
    mapping = codebook.recode.get(concept)
    if mapping:
        numeric = numeric.replace({float(k): float(v) for k, v in mapping.items()})
    return numeric.rename(concept)


def as_numeric(values: pd.Series) -> pd.Series:
    """Return ``values`` as float64; cells that are not numbers become NaN."""
    return pd.to_numeric(values, errors="coerce").astype("float64")


def is_string_concept(codebook: Codebook, concept: str) -> bool:
    """Return True if the codebook stores ``concept`` as a Stata string (``strN``)."""
    return str(codebook.variables.at[concept, "stata_type"]).startswith("str")


def missing_mask(codebook: Codebook, concepts: pd.DataFrame, concept: str) -> pd.Series:
    """Return True where ``concept`` is a declared survey missing code or blank."""
    values = concepts[concept]
    return values.isna() | values.isin(codebook.missing_codes(concept))
