"""The individual checks of raw-survey validation (run by ``validate``).

Purpose
    One pure function per kind of problem. Each takes a :class:`CheckContext` (the raw
    frame, its codebook, the respondent ids used for examples and the concept frame of
    the columns present) and returns a list of :class:`Problem`; none stops at the
    first offending cell, so the report lists every problem of the file.
Inputs
    A raw survey ``DataFrame`` and its :class:`~analysis.cleaning.codebook.Codebook`.
Outputs
    Lists of :class:`Problem` (severity "error" or "warning").
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from analysis.cleaning.codebook import OPTIONAL_CONCEPTS, Codebook
from analysis.cleaning.recode import as_numeric, is_string_concept
from analysis.config import INTERVIEW_MONTH, SURVEY_YEAR

Severity = Literal["error", "warning"]
NOT_APPLICABLE = -8
MONEY = ("hosp_cost", "reimb_amount", "household_income", "household_expenditure")
UNIVERSE = re.compile(r"^\s*(\w+)\s*==\s*(-?\d+)\s*$")
N_EXAMPLES = 5


@dataclass(frozen=True)
class Problem:
    """One problem of a raw file: what, where, which values, how many rows, examples."""

    check: str
    column: str
    concept: str
    detail: str
    values: tuple[tuple[object, int], ...] = ()
    n_rows: int = 0
    example_ids: tuple[str, ...] = ()
    severity: Severity = "error"


@dataclass(frozen=True)
class CheckContext:
    """What every check reads: raw data, codebook, ids and the concepts present."""

    raw: pd.DataFrame
    codebook: Codebook
    ids: pd.Series
    concepts: pd.DataFrame
    value_labels: dict = field(default_factory=dict)
    user_missing: dict = field(default_factory=dict)

    def column(self, concept: str) -> str:
        """Raw column of ``concept``."""
        return self.codebook.column(concept)

    def problem(self, check: str, concept: str, detail: str, mask, **kw) -> Problem:
        """Build a Problem for the rows of ``mask``, counting the raw values there."""
        mask = pd.Series(np.asarray(mask, dtype=bool), index=self.raw.index)
        column = self.column(concept)
        raw_values = self.raw.loc[mask, column] if column in self.raw else None
        values = kw.pop("values", None) or value_counts(raw_values)
        return Problem(
            check=check,
            column=column,
            concept=concept,
            detail=detail,
            values=values,
            n_rows=int(mask.sum()),
            example_ids=tuple(self.ids[mask].drop_duplicates().head(N_EXAMPLES)),
            **kw,
        )


def value_counts(values: pd.Series | None) -> tuple[tuple[object, int], ...]:
    """Return ((value, count), ...) most frequent first, ties in value order."""
    if values is None or values.empty:
        return ()
    counts = values.map(display_value).value_counts(dropna=False)
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
    return tuple((value, int(n)) for value, n in ordered)


def display_value(value: object) -> object:
    """Return ints for integral floats so that 3.0 shows as 3."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return int(value)
    return value


def check_columns(raw: pd.DataFrame, codebook: Codebook) -> list[Problem]:
    """Report concepts whose column is absent, suggesting close raw names (difflib)."""
    problems = []
    duplicated = raw.columns[raw.columns.duplicated()].unique()
    for name in duplicated:
        detail = f"column name {name!r} occurs more than once in the file"
        problems.append(Problem("duplicated_column", str(name), "", detail))
    mapped = set(codebook.varmap.values())
    spare = [str(c) for c in raw.columns if c not in mapped]
    if mapped and not mapped & set(raw.columns):
        shown = ", ".join(repr(c) for c in spare[:6])
        shown += ", ..." if len(spare) > 6 else ""
        detail = (
            f"none of the {len(mapped)} columns named in varmap.csv is in the file "
            f"(its {len(spare)} column(s): {shown or 'none'}): not the survey file, "
            "or varmap.csv not edited for it"
        )
        return problems + [Problem("not_a_survey", "", "", detail)]
    for concept in codebook.variables.index:
        if concept not in codebook.varmap:
            detail = "concept has no entry in varmap.csv"
            problems.append(Problem("unmapped_concept", "", concept, detail))
            continue
        column = codebook.column(concept)
        if column in raw.columns:
            continue
        if codebook.absent(concept, raw.columns):
            problems.append(optional_absent(column, concept))
            continue
        if not column:
            detail = "required concept has no column in varmap.csv (column is empty)"
            problems.append(Problem("unmapped_concept", "", concept, detail))
            continue
        problems.append(missing_column_problem(column, concept, spare))
    return problems


def optional_absent(column: str, concept: str) -> Problem:
    """A note (warning) that an optional concept is not in the file, and its effect."""
    where = f"column {column!r} not in the file" if column else "not mapped"
    detail = f"optional concept absent ({where}): {OPTIONAL_CONCEPTS[concept]}"
    return Problem("optional_concept_absent", column, concept, detail,
                   severity="warning")  # fmt: skip


def missing_column_problem(column: str, concept: str, spare: list[str]) -> Problem:
    """Return the missing/misnamed-column problem with difflib suggestions."""
    lowered = {c.lower(): c for c in spare}
    close = difflib.get_close_matches(column.lower(), list(lowered), n=3, cutoff=0.6)
    suggestions = [lowered[c] for c in close]
    if suggestions:
        names = " or ".join(repr(s) for s in suggestions)
        detail = (
            f"not found; did you mean {names}? "
            "(rename it in the file or edit the column side of varmap.csv)"
        )
        return Problem("misnamed_column", column, concept, detail)
    detail = "not found, and no similar column name in the file"
    return Problem("missing_column", column, concept, detail)


def check_dtypes(ctx: CheckContext, concept: str) -> list[Problem]:
    """Report blanks, non-numbers and non-integers in a column (text format for str)."""
    values = ctx.raw[ctx.column(concept)]
    blank = values.isna()
    problems = []
    if blank.any():
        declared = " ".join(map(str, ctx.codebook.missing_codes(concept))) or "none"
        detail = f"blank (system-missing) cells; declared missing codes: {declared}"
        problems.append(ctx.problem("blank", concept, detail, blank))
    if is_string_concept(ctx.codebook, concept):
        return problems + check_text(ctx, concept, values)
    numeric = as_numeric(values)
    not_number = numeric.isna() & ~blank
    if not_number.any():
        detail = "non-numeric values in a numeric (integer-coded) column"
        problems.append(ctx.problem("wrong_dtype", concept, detail, not_number))
    fractional = numeric.notna() & (numeric != np.floor(numeric))
    if fractional.any():
        detail = "non-integer values in an integer-coded column"
        problems.append(ctx.problem("wrong_dtype", concept, detail, fractional))
    return problems


def check_text(ctx: CheckContext, concept: str, values: pd.Series) -> list[Problem]:
    """Report a string concept stored as numbers, and malformed locality codes."""
    problems = []
    if pd.api.types.is_numeric_dtype(values):
        detail = "numbers in a string column (leading zeros may be lost); read as text"
        mask = values.notna()
        problems.append(ctx.problem("wrong_dtype", concept, detail, mask))
    elif concept == "locality_code":
        text = values.astype("str")
        bad = values.notna() & ~text.str.match(r"^\d{6}")
        if bad.any():
            detail = "locality code does not start with a 6-digit GB/T 2260 county code"
            problems.append(ctx.problem("bad_format", concept, detail, bad))
    return problems


def valid_codes(codebook: Codebook, concept: str) -> tuple[str, pd.Series | None]:
    """Return (description, label codes or None) of a concept's valid answers."""
    row = codebook.variables.loc[concept]
    if pd.notna(row["labelset"]):
        codes = sorted(codebook.labels(row["labelset"]))
        return f"label set {row['labelset']!r} {codes}", pd.Series(codes)
    return f"valid range [{row['valid_min']}, {row['valid_max']}]", None


def answered(ctx: CheckContext, concept: str) -> pd.Series:
    """Return True where ``concept`` holds a number that is not a missing code."""
    values = ctx.concepts[concept]
    return values.notna() & ~values.isin(ctx.codebook.missing_codes(concept))


def check_codes(ctx: CheckContext, concept: str) -> list[Problem]:
    """Report values neither valid (label set / range) nor a declared missing code."""
    if is_string_concept(ctx.codebook, concept):
        return []
    values = ctx.concepts[concept]
    description, codes = valid_codes(ctx.codebook, concept)
    if codes is not None:
        valid = values.isin(codes.astype(float))
    else:
        row = ctx.codebook.variables.loc[concept]
        valid = values.between(float(row["valid_min"]), float(row["valid_max"]))
    outside = answered(ctx, concept) & ~valid
    problems = []
    if concept in MONEY:
        negative = outside & values.lt(0)
        if negative.any():
            detail = "negative amount (not a declared missing code)"
            problems.append(ctx.problem("negative_amount", concept, detail, negative))
        outside &= ~negative
    if outside.any():
        missing = " ".join(map(str, ctx.codebook.missing_codes(concept))) or "none"
        detail = (
            f"codes outside the codebook: not in {description} nor missing ({missing})"
        )
        detail += user_missing_hint(ctx, concept, outside)
        problems.append(ctx.problem("code_outside_codebook", concept, detail, outside))
    return problems


def user_missing_hint(ctx: CheckContext, concept: str, outside: pd.Series) -> str:
    """Say which offending codes the file itself declares as SPSS user-missing."""
    declared = ctx.user_missing.get(ctx.column(concept), ())
    raw = as_numeric(ctx.raw.loc[outside, ctx.column(concept)])
    hit = sorted({display_value(v) for v in raw if v in declared})
    if not hit:
        return ""
    missing = " ".join(map(str, ctx.codebook.missing_codes(concept))) or "-1 -2 -8"
    return (
        f" ({', '.join(map(str, hit))} declared user-missing in the file: map "
        f"them in recode.csv to this column's missing codes {missing})"
    )


def check_amount_above_cost(ctx: CheckContext) -> list[Problem]:
    """Report reimbursement amounts larger than the total cost of the stay."""
    if not {"reimb_amount", "hosp_cost"} <= set(ctx.concepts):
        return []
    amount, cost = ctx.concepts["reimb_amount"], ctx.concepts["hosp_cost"]
    both = answered(ctx, "reimb_amount") & answered(ctx, "hosp_cost")
    above = both & amount.gt(cost) & cost.ge(0)
    if not above.any():
        return []
    pairs = pd.Series(
        [
            f"{display_value(a)} > {display_value(c)}"
            for a, c in zip(amount[above], cost[above], strict=True)
        ]
    )
    detail = f"reimbursement amount above the total cost ({ctx.column('hosp_cost')})"
    return [ctx.problem("amount_above_cost", "reimb_amount", detail, above,
                        values=value_counts(pairs))]  # fmt: skip


def check_duplicate_ids(ctx: CheckContext) -> list[Problem]:
    """Report respondent ids that occur more than once."""
    if "resp_id" not in ctx.concepts:
        return []
    ids = ctx.raw[ctx.column("resp_id")]
    dup = ids.duplicated(keep=False) & ids.notna()
    if not dup.any():
        return []
    detail = "duplicated respondent ids (the key must be unique)"
    return [ctx.problem("duplicated_id", "resp_id", detail, dup)]


def check_universe(ctx: CheckContext, concept: str) -> list[Problem]:
    """Report answers outside a question's universe and -8 inside it (a warning)."""
    universe = str(ctx.codebook.variables.at[concept, "universe"])
    match = UNIVERSE.match(universe)
    if not match or match.group(1) not in ctx.concepts:
        return []
    gate, code = match.group(1), float(match.group(2))
    inside = ctx.concepts[gate].eq(code)
    gate_column = ctx.column(gate)
    problems = []
    violation = ~inside & answered(ctx, concept)
    if violation.any():
        detail = (
            f"skip-pattern violation: answered outside its universe ({universe}), "
            f"i.e. where {gate_column} != {match.group(2)}"
        )
        problems.append(ctx.problem("skip_violation", concept, detail, violation))
    skipped = inside & ctx.concepts[concept].eq(NOT_APPLICABLE)
    if skipped.any():
        detail = f"not applicable (-8) although inside its universe ({universe})"
        problems.append(
            ctx.problem("skipped_in_universe", concept, detail, skipped,
                        severity="warning")
        )  # fmt: skip
    return problems


def check_arrival_dates(ctx: CheckContext) -> list[Problem]:
    """Warn about arrivals after the May 2014 interview (they count as duration 0-1)."""
    if not {"arrival_year", "arrival_month"} <= set(ctx.concepts):
        return []
    year, month = ctx.concepts["arrival_year"], ctx.concepts["arrival_month"]
    both = answered(ctx, "arrival_year") & answered(ctx, "arrival_month")
    late = both & (12 * year + month > 12 * SURVEY_YEAR + INTERVIEW_MONTH)
    if not late.any():
        return []
    detail = f"arrival after the {SURVEY_YEAR}-{INTERVIEW_MONTH:02d} interview"
    return [ctx.problem("arrival_after_interview", "arrival_month", detail, late,
                        severity="warning")]  # fmt: skip


# --- value labels stored in the file ----------------------------------------------

LEADING_CODE = re.compile(r"^\s*[\(\[]?-?\d+[\)\]]?\s*[.:=、,，)）-]?\s*")


def normalise_label(text: object) -> str:
    """A label without a leading code ("1. ", "(1)"), spaces and case."""
    label = LEADING_CODE.sub("", str(text)) if str(text).strip() else ""
    return re.sub(r"\s+", "", label).lower()


def canonical_labels(codebook: Codebook, concept: str) -> dict[int, tuple[str, ...]]:
    """{canonical code: (label_zh, label_en)} of a concept, survey missing included."""
    table = codebook.value_labels
    labelset = codebook.variables.at[concept, "labelset"]
    sets = [labelset] if isinstance(labelset, str) else []
    rows = table[table["labelset"].isin(sets)]
    out = {
        int(r.code): (normalise_label(r.label_zh), normalise_label(r.label_en))
        for r in rows.itertuples(index=False)
    }
    missing = table[table["labelset"] == "missing"]
    for r in missing.itertuples(index=False):
        if int(r.code) in codebook.missing_codes(concept):
            names = (normalise_label(r.label_zh), normalise_label(r.label_en))
            out[int(r.code)] = names
    return out


def agrees(label: str, labels: tuple[str, ...]) -> bool:
    """True if ``label`` equals, contains or is contained in one of ``labels``."""
    return any(
        c
        and (
            label == c or (min(len(label), len(c)) >= 2 and (c in label or label in c))
        )
        for c in labels
    )


def names_other(label: str, own: tuple[str, ...], other: tuple[str, ...]) -> bool:
    """True if ``label`` is another code's label and not an extension of its own."""
    if label in other:
        return True
    return any(
        len(c) >= 2 and c in label and not any(c in o for o in own if o) for c in other
    )


def check_labels(ctx: CheckContext, concept: str) -> list[Problem]:
    """Report file value labels that contradict the mapping of ``recode.csv``.

    A code whose label in the file is not its canonical label after the recode but
    is the canonical label of another code of the concept (the order reversed, the
    codes shifted by one, a missing code taken for an answer) is an error: the
    mapping says one thing and the file's own labels another.
    """
    column = ctx.column(concept)
    labels = ctx.value_labels.get(column)
    if not labels or is_string_concept(ctx.codebook, concept):
        return []
    canonical = canonical_labels(ctx.codebook, concept)
    recode = ctx.codebook.recode.get(concept, {})
    clashes = []
    for code, text in sorted(labels.items()):
        label = normalise_label(text)
        if not label or float(code) != int(float(code)):
            continue
        mapped = recode.get(int(code), int(code))
        own = canonical.get(mapped, ())
        if agrees(label, own):
            continue
        other = [c for c, names in canonical.items()
                 if c != mapped and names_other(label, own, names)]  # fmt: skip
        if other:
            clashes.append((code, text, mapped, other[0]))
    if not clashes:
        return []
    raw = as_numeric(ctx.raw[column])
    table = ctx.codebook.value_labels
    keys = zip(table["labelset"], table["code"], strict=True)
    zh = dict(zip(keys, table["label_zh"], strict=True))
    labelset = ctx.codebook.variables.at[concept, "labelset"]

    def name(c: int) -> str:
        return zh.get((labelset, c)) or zh.get(("missing", c)) or "?"

    lines = [
        f"code {display_value(code)} is labelled {text!r} in the file but recode.csv "
        f"maps it to canonical {mapped} ({name(mapped)}); {text!r} is canonical "
        f"{other} ({name(other)})"
        for code, text, mapped, other in clashes
    ]
    detail = (
        "value labels in the file contradict recode.csv (label vs mapping): "
        + "; ".join(lines)
    )
    mask = raw.isin([float(c) for c, *_ in clashes])
    return [ctx.problem("label_contradicts_mapping", concept, detail, mask)]
