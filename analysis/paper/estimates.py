"""Fit the paper's two-part models and write tidy estimates (the engine of Tables 3-4).

Inputs: the analytic sample (``data/derived/analytic.parquet``).
Outputs (``outputs/estimates/``):

* ``paper_cells.csv``: one row per (sample, equation, term) on the published scale
  (what Tables 3-4 print), with SE, z, p and 95% CI;
* ``margins_all.csv``: every margin of every fit, including the combined (twopm) mean
  and its extensive/intensive split;
* ``coefficients.csv``: every coefficient of every part;
* ``model_status.csv``: one row per published column (sample, equation) saying whether
  it was estimated, and why not; one row per regressor omitted from a fit (a 0/1
  column that predicts the outcome perfectly, dropped with its observations as
  Stata's ``probit`` does) and per note of the fit.

The fitting is delegated to :mod:`analysis.twopart`; this module only says which model
is fitted on which sample (``analysis.paper.models``) and maps its terms to the
published keys.
Models are fitted one at a time: a model that is not estimable on its data (an empty
or too small subsample, an outcome that does not vary, separation the estimator
cannot resolve, ...) is recorded with its reason and every other model is still
fitted and written (:mod:`analysis.omissions` lists them at the end of the run).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis import omissions
from analysis.cleaning.schema import SUBSAMPLES
from analysis.io import save_table
from analysis.paper import models
from analysis.twopart import TwoPartError, TwoPartResults

CELL_KEYS = ("sample", "equation", "term")
STATUS_KEYS = ("sample", "equation", "term")
STATUS_COLUMNS = [*STATUS_KEYS, "status", "reason", "n"]
ESTIMATED, NOT_ESTIMABLE = "estimated", "not estimable"
OMITTED, NOTE = "omitted", "note"
# Short reasons printed in a table cell (the full reason is in model_status.csv).
KINDS = {
    "EmptySubsample": "empty subsample",
    "TooFewCases": "too few cases",
    "NoVariation": "outcome does not vary",
    "SeparationError": "perfect prediction",
    "PerfectPredictionError": "perfect prediction",
    "CollinearityError": "collinear regressors",
    "ConvergenceError": "no convergence",
    "EmptySampleError": "no usable observations",
    "OutcomeError": "outcome unusable",
    "MissingDataError": "missing data",
    "ClusterError": "too few clusters",
}
NOTE_TERM = re.compile(r"note: (\S+) (?:!=|==) 0 predicts")


@dataclass
class Fit:
    """One two-part fit, or why it was not estimable.

    Attributes
    ----------
    res : TwoPartResults or None
        The fit; None when not estimable.
    kind : str
        Short reason (a key of ``KINDS``' values) when not estimable.
    reason : str
        Full reason when not estimable.
    n : int
        Observations of the subsample.
    """

    res: TwoPartResults | None
    kind: str = ""
    reason: str = ""
    n: int = 0
    notes: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True if the model was estimated."""
        return self.res is not None


def main(
    analytic_path: Path,
    estimates_dir: Path,
    vce: str = "oim",
    cluster: str | None = None,
    semantics: models.Semantics = "columnwise",
) -> None:
    """Fit every model of Tables 3-4 and write the tidy estimate files."""
    for name in ("paper_cells.csv", "margins_all.csv", "coefficients.csv", STATUS):
        (estimates_dir / name).unlink(missing_ok=True)
    analytic = pd.read_parquet(analytic_path)
    attempts = fit_each(analytic, vce=vce, cluster=cluster, semantics=semantics)
    fits = {key: a.res for key, a in attempts.items() if a.ok}
    status = model_status(attempts)
    cells = paper_cells(fits, part1_from_either=True)
    cells = cells[~omitted_cells(cells, status)].reset_index(drop=True)
    save_table(cells, CELL_KEYS, estimates_dir / "paper_cells.csv")
    save_table(all_margins(fits), MARGIN_KEYS, estimates_dir / "margins_all.csv")
    save_table(all_coefficients(fits), COEF_KEYS, estimates_dir / "coefficients.csv")
    save_table(status, STATUS_KEYS, estimates_dir / STATUS, sort=False)
    logs_dir = estimates_dir.parent / "logs"
    omissions.record(logs_dir, "estimate", omission_rows(status))


STATUS = "model_status.csv"


def subsample(analytic: pd.DataFrame, sample: str) -> pd.DataFrame:
    """Rows of ``sample``; unused scheme levels removed, so URBMI is the urban base."""
    rows = analytic[analytic["scheme"].isin(SUBSAMPLES[sample])].copy()
    rows["scheme"] = rows["scheme"].cat.remove_unused_categories()
    return rows.reset_index(drop=True)


def fit_each(
    analytic: pd.DataFrame,
    vce: str = "oim",
    cluster: str | None = None,
    semantics: models.Semantics = "columnwise",
    **options,
) -> dict[tuple[str, str], Fit]:
    """Fit every model of :func:`fit_all`, one at a time; record the ones that fail.

    ``options`` are further :func:`analysis.twopart.twopm` options (for example a
    survey design's ``strata`` and ``psu``) passed to every fit.

    Returns
    -------
    dict
        ``{(sample, outcome): Fit}``. A subsample that is empty, whose
        participation does not vary, or that has no more observations than
        parameters in a part is not fitted; a fit that raises
        :class:`~analysis.twopart.TwoPartError` is recorded with its message. No
        other exception is caught (it is a bug, not a property of the data).
    """
    out = {}
    for sample in SUBSAMPLES:
        data = models.design_frame(subsample(analytic, sample))
        problem = too_small(data, sample, semantics)
        if problem is None:
            rhs1, rhs2, dropped = usable_regressors(data, sample, semantics)
        for outcome in models.OUTCOMES:
            if problem is not None:
                out[(sample, outcome)] = Fit(None, *problem, n=len(data))
                continue
            try:
                res = models.fit(
                    data, sample, outcome, semantics, part1=rhs1,
                    part2=None if rhs2 == rhs1 else rhs2, vce=vce, cluster=cluster,
                    **options,
                )  # fmt: skip
            except TwoPartError as error:
                kind = KINDS.get(type(error).__name__, "estimation error")
                reason = f"{type(error).__name__}: {error}"
                out[(sample, outcome)] = Fit(None, kind, reason, len(data))
                continue
            out[(sample, outcome)] = Fit(res, n=len(data), notes=dropped)
    return out


def usable_regressors(data: pd.DataFrame, sample: str, semantics: models.Semantics):
    """The regressors of each part that vary in its estimation rows, and the rest.

    As Stata's ``probit`` and ``glm`` omit a regressor that is constant in the
    estimation sample ("omitted because of collinearity"), a regressor of the
    paper's list that does not vary among part 1's rows (the subsample) or part
    2's rows (its positives) is left out of that part with a note, instead of
    making the whole model fail on a collinearity with the constant.

    Returns
    -------
    tuple
        (part 1 regressors, part 2 regressors, notes), the notes as
        ``(part, design column, reason)``.
    """
    tokens = models.regressors(sample, semantics, data).split()
    rows = {"part1": data.index, "part2": data.index[data["in_part2"] == 1]}
    kept, notes = {}, []
    for part, index in rows.items():
        kept[part] = []
        for token in tokens:
            column = token.split(".", 1)[1]
            values = data.loc[index, column].dropna()
            if values.nunique() >= 2:
                kept[part].append(token)
                continue
            value = "no observation" if values.empty else f"always {values.iloc[0]:g}"
            notes.append((part, column, (
                f"note: {column} omitted because of collinearity: {value} in the "
                f"{len(index)} {part.replace('part', 'part ')} observations of "
                f"subsample {sample}"
            )))  # fmt: skip
    return " ".join(kept["part1"]), " ".join(kept["part2"]), notes


def too_small(data: pd.DataFrame, sample: str, semantics: models.Semantics):
    """(kind, reason) if ``data`` cannot support the model at all, else None."""
    schemes = "+".join(SUBSAMPLES[sample])
    if data.empty:
        return KINDS["EmptySubsample"], (
            f"no respondent of the analytic sample has scheme {schemes}"
        )
    k1 = len(models.regressors(sample, semantics, data).split()) + 1
    n1, n2 = len(data), int(data["in_part2"].sum())
    positives = int(data["reimbursed"].sum())
    if positives in (0, n1):
        return KINDS["NoVariation"], (
            f"reimbursed is {int(positives > 0)} for all {n1} respondents of "
            f"subsample {sample} ({schemes}): part 1 has no variation"
        )
    for part, n in (("part 1", n1), ("part 2", n2)):
        if n <= k1:
            return KINDS["TooFewCases"], (
                f"{part} of subsample {sample} ({schemes}) has {n} observation(s) "
                f"for {k1} parameters"
            )
    return None


def fit_all(
    analytic: pd.DataFrame,
    vce: str = "oim",
    cluster: str | None = None,
    semantics: models.Semantics = "columnwise",
) -> dict[tuple[str, str], TwoPartResults]:
    """Fit the amount and ratio two-part models on each sample.

    ``semantics`` chooses derivative effects on hand-built dummies (the paper's
    reading) or discrete changes of ``i.`` factors; see :mod:`analysis.paper.models`.

    Returns
    -------
    dict
        ``{(sample, outcome): TwoPartResults}``; part 1 (the probit) is the same model
        in both fits of a sample, since both use ``reimbursed`` as participation.
    """
    fits = {}
    for sample in SUBSAMPLES:
        data = models.design_frame(subsample(analytic, sample))
        for outcome in models.OUTCOMES:
            fits[(sample, outcome)] = models.fit(
                data, sample, outcome, semantics, vce=vce, cluster=cluster
            )
    return fits


def paper_cells(
    fits: dict[tuple[str, str], TwoPartResults], part1_from_either: bool = False
) -> pd.DataFrame:
    """Return the published columns: probit AMEs, amount coefficients, ratio AMEs.

    With ``part1_from_either``, ``fits`` may lack a model that was not estimable:
    the probit column (part 1, the same model in both fits of a sample) then comes
    from the other fit of the sample. Without it (callers that pass one fit at a
    time), each column comes from its own fit only.
    """
    frames = []
    cols = ["term", "estimate", "se", "z", "p", "ci_low", "ci_high"]
    for (sample, outcome), res in fits.items():
        for eq in models.EQUATIONS:
            if source_outcome(fits, sample, eq, part1_from_either) != outcome:
                continue
            if eq.reported == "coef":
                table = res.coef_table(eq.part)
                table = table[table["term"] != "_cons"]
                terms = [models.published_term(t) for t in table["term"]]
                table = table.assign(term=terms)
            else:
                table = res.margins(parts=(eq.part,))
                table = table.assign(
                    term=[
                        models.published_term(v, lv)
                        for v, lv in zip(table["term"], table["level"], strict=True)
                    ]
                )
            frames.append(table[cols].assign(sample=sample, equation=eq.name))
    if not frames:
        return pd.DataFrame(columns=[*CELL_KEYS, *cols[1:], "n"])
    out = pd.concat(frames, ignore_index=True)
    out["n"] = [
        nobs(fits, s, e, part1_from_either)
        for s, e in zip(out["sample"], out["equation"], strict=True)
    ]
    return out[list(CELL_KEYS) + cols[1:] + ["n"]]


def source_outcome(
    fits, sample: str, eq: models.EquationSpec, part1_from_either: bool = True
) -> str | None:
    """The fit a published column is read from (part 1 from either fit)."""
    if (sample, eq.outcome) in fits:
        return eq.outcome
    if eq.part == "part1" and part1_from_either:
        return next((o for s, o in fits if s == sample), None)
    return None


def nobs(fits, sample: str, equation: str, part1_from_either: bool = True) -> int:
    """Observations of the fit behind a published column."""
    eq = next(e for e in models.EQUATIONS if e.name == equation)
    source = source_outcome(fits, sample, eq, part1_from_either)
    return int(fits[(sample, source)].nobs[eq.part])


def model_status(attempts: dict[tuple[str, str], Fit]) -> pd.DataFrame:
    """One row per published column, per omitted regressor and per note.

    Columns ``STATUS_COLUMNS``: ``term`` is empty on the row of the column itself
    (status estimated / not estimable, reason, observations), the published key of
    an omitted regressor (status omitted, the estimator's note, observations not
    used) or ``note <i>`` for another note of the fit (status note).
    """
    fits = {key: a.res for key, a in attempts.items() if a.ok}
    rows = []
    for sample in SUBSAMPLES:
        for eq in models.EQUATIONS:
            outcome = source_outcome(fits, sample, eq)
            if outcome is None:
                a = attempts[(sample, eq.outcome)]
                rows.append((sample, eq.name, "", NOT_ESTIMABLE,
                             f"{a.kind}: {a.reason}", a.n))  # fmt: skip
                continue
            res = fits[(sample, outcome)]
            n = nobs(fits, sample, eq.name)
            rows.append((sample, eq.name, "", ESTIMATED, "", n))
            rows += constant_rows(attempts[(sample, outcome)], sample, eq)
            rows += note_rows(res, sample, eq)
    return pd.DataFrame(rows, columns=STATUS_COLUMNS)


def constant_rows(fit: Fit, sample: str, eq: models.EquationSpec) -> list[tuple]:
    """Regressors left out of ``eq``'s part because they do not vary there."""
    return [
        (
            sample,
            eq.name,
            models.published_term(column),
            OMITTED,
            f"constant: {note}",
            0,
        )
        for part, column, note in fit.notes
        if part == eq.part
    ]


def note_rows(res, sample: str, eq: models.EquationSpec) -> list[tuple]:
    """Omitted regressors and notes of a fit that concern equation ``eq``.

    Part-1 notes (separation: a regressor dropped with the observations it
    predicts, rows completely determined) belong to the probit column. Read with
    ``getattr`` so that results objects without them give no row.
    """
    if eq.part != "part1":
        return []
    rows, named = [], set()
    for o in getattr(res, "omitted", []) or []:
        term = models.published_term(str(o.term))
        named.add(str(getattr(o, "note", "")))
        rows.append((sample, eq.name, term, OMITTED,
                     f"{o.reason}: {getattr(o, 'note', '')}".strip(": "),
                     int(getattr(o, "nobs", 0))))  # fmt: skip
    seen = {r[2] for r in rows}
    for i, note in enumerate(getattr(res, "notes", []) or [], start=1):
        text = str(getattr(note, "note", note))
        if text in named:
            continue
        match = NOTE_TERM.search(text)
        term = models.published_term(match.group(1)) if match else ""
        if term and term not in seen:
            seen.add(term)
            rows.append((sample, eq.name, term, OMITTED, text, 0))
        else:
            rows.append((sample, eq.name, f"note {i}", NOTE, text, 0))
    return rows


def omitted_cells(cells: pd.DataFrame, status: pd.DataFrame) -> pd.Series:
    """True for cells of a regressor the fit omitted (its 0 is not an estimate)."""
    gone = status.loc[status["status"] == OMITTED, list(STATUS_KEYS)]
    keys = set(gone.itertuples(index=False, name=None))
    return pd.Series(
        [k in keys for k in zip(cells["sample"], cells["equation"], cells["term"],
                                strict=True)],
        index=cells.index, dtype=bool,
    )  # fmt: skip


def omission_rows(status: pd.DataFrame) -> list[tuple]:
    """Rows of the run's omission log: (output, item, reason, n)."""
    rows = []
    for r in status[status["status"] != ESTIMATED].itertuples(index=False):
        column = f"Table {'3' if r.sample == 'total' else '4'} {r.equation} column"
        output = f"{column} ({r.sample} sample)"
        item = "whole column" if r.status == NOT_ESTIMABLE else (
            r.term if r.status == OMITTED else "note")  # fmt: skip
        rows.append((output, item, f"{r.status}: {r.reason}", int(r.n)))
    return rows


MARGIN_KEYS = ("sample", "outcome", "part", "component", "term", "level")
COEF_KEYS = ("sample", "outcome", "part", "term")


def all_margins(fits: dict[tuple[str, str], TwoPartResults]) -> pd.DataFrame:
    """Return every margin of every fit: parts 1, 2 and the combined mean, split."""
    frames = [res.margins().assign(sample=s, outcome=o) for (s, o), res in fits.items()]
    if not frames:
        return pd.DataFrame(columns=list(MARGIN_KEYS))
    out = pd.concat(frames, ignore_index=True)
    return out[list(MARGIN_KEYS) + [c for c in out.columns if c not in MARGIN_KEYS]]


def all_coefficients(fits: dict[tuple[str, str], TwoPartResults]) -> pd.DataFrame:
    """Every coefficient of both parts of every fit."""
    frames = [
        res.coef_table(part).assign(sample=s, outcome=o, part=part)
        for (s, o), res in fits.items()
        for part in ("part1", "part2")
    ]
    if not frames:
        return pd.DataFrame(columns=list(COEF_KEYS))
    out = pd.concat(frames, ignore_index=True)
    return out[list(COEF_KEYS) + [c for c in out.columns if c not in COEF_KEYS]]
