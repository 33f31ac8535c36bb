"""Side-by-side tables of fitted models (Stata's ``esttab``): CSV/Markdown/LaTeX/HTML.

:func:`esttab` collects the estimates of several fits (two-part results, one part of
them, the margins of a two-part fit, or any statsmodels-shaped results) into one tidy
frame: one row per (model, equation, term) with the estimate, SE, z, p, 95% CI, the
significance stars and the model's N, all read from the results' own ``params``,
``bse``, ``tvalues``, ``pvalues``, ``conf_int()`` and ``nobs`` (or the columns of a
``margins()`` frame). The writers lay that frame out side by side, one column per
model, the estimate with its stars over the SE, CI or z in parentheses, and N at the
bottom: :func:`to_csv` (the tidy numbers at full precision), :func:`to_markdown`,
:func:`to_latex` and :func:`to_html` (through :mod:`analysis.render`:
``tabulate`` and pandas' ``Styler``). The mapping to Stata's ``esttab`` options is in
``docs/export.md``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import io, render

STATS = ("se", "ci", "t")
TIDY_COLUMNS = [
    "model",
    "equation",
    "term",
    "estimate",
    "se",
    "z",
    "p",
    "ci_low",
    "ci_high",
    "stars",
    "n",
    "cell",
    "paren",
]
MARGIN_COLUMNS = ("part", "term", "estimate", "se", "z", "p", "ci_low", "ci_high")
CONSTANTS = ("_cons", "const", "Intercept")  # printed last, as esttab
STAT_NOTES = {
    "se": "Standard errors in parentheses.",
    "ci": "95% confidence intervals in brackets.",
    "t": "z statistics in parentheses.",
}
DEFAULT_TITLE = "Estimates"


def esttab(
    results: Sequence,
    names: Sequence[str] | None = None,
    stat: str = "se",
    stars: Sequence[float] = (0.1, 0.05, 0.01),
    keep: Sequence[str] | None = None,
    fmt: str | Callable[[float], str] = "{:.3f}",
    margins: bool | Mapping | None = None,
) -> pd.DataFrame:
    """Tidy frame of several fits for a side-by-side table (Stata's ``esttab``).

    Parameters
    ----------
    results : sequence
        One entry per model (table column): a :class:`~.results.TwoPartResults`
        (both parts, equations ``part1`` and ``part2``), a
        :class:`~.partresults.PartResults` (``res.part1``, ``res.part2``), any
        results with ``params``, ``bse``, ``tvalues``, ``pvalues``, ``conf_int()``
        and ``nobs`` (statsmodels), or a frame returned by ``margins()``.
    names : sequence of str, optional
        Column titles; default ``(1)``, ``(2)``, ... as esttab.
    stat : {"se", "ci", "t"}
        What is printed under each estimate: SE in parentheses, 95% CI in
        brackets, or the z statistic in parentheses.
    stars : sequence of float
        p-value thresholds, one star per threshold the p-value is below
        (strictly), e.g. (0.1, 0.05, 0.01): ``*`` p<0.1, ``**`` p<0.05,
        ``***`` p<0.01.
    keep : sequence of str, optional
        Terms to keep: names or shell patterns (``scope*``), matched against the
        term and against ``equation:term``. Default: all.
    fmt : str or callable
        Format of the printed numbers: ``"{:.3f}"``, ``"%.3f"`` or a function.
    margins : bool or mapping, optional
        For two-part results: tabulate ``res.margins(**margins)`` (``True``: the
        default margins, both parts and the combined mean with its extensive and
        intensive split) instead of the coefficients.

    Returns
    -------
    DataFrame
        Columns ``TIDY_COLUMNS``: the numbers at full precision, ``stars``, ``n``
        (observations of the model's equation; NaN for a bare margins frame),
        ``cell`` (formatted estimate with stars) and ``paren`` (formatted SE, CI
        or z with its brackets). ``attrs`` keep ``stat`` and ``stars`` for the
        writers' notes.
    """
    if stat not in STATS:
        raise ValueError(f"stat must be one of {STATS}, got {stat!r}")
    thresholds = tuple(sorted((float(s) for s in stars), reverse=True))
    if any(not 0 < s < 1 for s in thresholds):
        raise ValueError(f"stars thresholds must lie in (0, 1), got {tuple(stars)}")
    results = list(results)
    if not results:
        raise ValueError("esttab needs at least one results object")
    names = [f"({k + 1})" for k in range(len(results))] if names is None else names
    names = [str(n) for n in names]
    if len(names) != len(results):
        raise ValueError(f"{len(names)} names for {len(results)} results")
    if len(set(names)) != len(names):
        raise ValueError(f"model names must be unique, got {names}")
    frames = [
        _collect(res, margins).assign(model=name)
        for res, name in zip(results, names, strict=True)
    ]
    tidy = pd.concat(frames, ignore_index=True)
    if keep is not None:
        tidy = tidy[
            [
                _kept(e, t, keep)
                for e, t in zip(tidy["equation"], tidy["term"], strict=True)
            ]
        ]
        if tidy.empty:
            raise ValueError(f"keep={list(keep)} matches no term of the results")
    number = _formatter(fmt)
    tidy = tidy.assign(
        stars=[_stars(p, thresholds) for p in tidy["p"]],
        cell=lambda d: [
            number(v) + s for v, s in zip(d["estimate"], d["stars"], strict=True)
        ],
        paren=[_paren(r, stat, number) for r in tidy.itertuples(index=False)],
    )
    out = tidy[TIDY_COLUMNS].reset_index(drop=True)
    out.attrs = {"stat": stat, "stars": thresholds}
    return out


def _collect(res, margins: bool | Mapping | None) -> pd.DataFrame:
    """Estimates of one model: equation, term, estimate, se, z, p, CI, n."""
    if isinstance(res, pd.DataFrame):
        return _from_margins(res, None)
    if margins:
        if not hasattr(res, "margins"):
            raise TypeError(
                f"margins= needs two-part results; got {type(res).__name__}"
            )
        kwargs = dict(margins) if isinstance(margins, Mapping) else {}
        return _from_margins(res.margins(**kwargs), res.nobs)
    missing = [
        a for a in ("params", "bse", "pvalues", "conf_int") if not hasattr(res, a)
    ]
    if missing:
        raise TypeError(
            f"{type(res).__name__} is not a results object: it lacks {missing}"
        )
    params, bse = res.params, res.bse
    ci = res.conf_int()
    frame = pd.DataFrame(
        {
            "estimate": params.to_numpy(float),
            "se": np.asarray(bse, float),
            "z": np.asarray(res.tvalues, float),
            "p": np.asarray(res.pvalues, float),
            "ci_low": np.asarray(ci.iloc[:, 0], float),
            "ci_high": np.asarray(ci.iloc[:, 1], float),
        }
    )
    nobs = res.nobs
    if isinstance(params.index, pd.MultiIndex):
        equations = params.index.get_level_values(0).astype(str)
        terms = params.index.get_level_values(1).astype(str)
    else:
        part = getattr(res, "part", "main")
        equations = pd.Index([str(part)] * len(params))
        terms = params.index.astype(str)
    n = [
        float(nobs[e]) if isinstance(nobs, Mapping) else float(nobs) for e in equations
    ]
    return frame.assign(equation=list(equations), term=list(terms), n=n)


def _from_margins(frame: pd.DataFrame, nobs: Mapping | None) -> pd.DataFrame:
    """Rows of a ``margins()`` frame: equation from part (and component), term=level."""
    missing = [c for c in MARGIN_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"the margins frame lacks column(s) {missing}")
    component = frame.get("component", pd.Series("total", index=frame.index))
    equations = [
        p if c == "total" else f"{p}:{c}"
        for p, c in zip(frame["part"].astype(str), component.astype(str), strict=True)
    ]
    level = frame.get("level", pd.Series(np.nan, index=frame.index))
    terms = [
        str(t) if pd.isna(lv) else f"{t}={lv}"
        for t, lv in zip(frame["term"], level, strict=True)
    ]
    # combined margins average over the part-1 sample, as Stata's e(N) after twopm
    n = [
        np.nan if nobs is None else float(nobs["part2" if p == "part2" else "part1"])
        for p in frame["part"].astype(str)
    ]
    out = frame[list(MARGIN_COLUMNS[2:])].astype(float).reset_index(drop=True)
    out = out.assign(equation=equations, term=terms, n=n)
    twice = out.duplicated(["equation", "term"], keep=False)
    if twice.any():
        raise ValueError(
            f"the margins frame has {int(twice.sum())} rows with the same part and "
            "term (over, at or contrast groups); tabulate one group per model"
        )
    return out


def _kept(equation: str, term: str, keep: Sequence[str]) -> bool:
    """Whether ``term`` (of ``equation``) matches a name or pattern of ``keep``."""
    return any(
        fnmatch.fnmatchcase(term, k) or fnmatch.fnmatchcase(f"{equation}:{term}", k)
        for k in keep
    )


def _formatter(fmt: str | Callable[[float], str]) -> Callable[[float], str]:
    """A number formatter from a ``{}`` spec, a ``%`` spec or a function."""
    if callable(fmt):
        return fmt
    if "{" in fmt:
        return fmt.format
    if fmt.startswith("%"):
        return lambda value: (fmt % value).strip()
    raise ValueError(f"fmt must be like '{{:.3f}}' or '%.3f', got {fmt!r}")


def _stars(p: float, thresholds: tuple[float, ...]) -> str:
    """One star per threshold ``p`` is strictly below (none for a missing p)."""
    if np.isnan(p):
        return ""
    return "*" * sum(p < t for t in thresholds)


def _paren(row, stat: str, number: Callable[[float], str]) -> str:
    """The line under an estimate: (SE), [low, high] or (z)."""
    if stat == "ci":
        return f"[{number(row.ci_low)}, {number(row.ci_high)}]"
    return f"({number(row.se if stat == 'se' else row.z)})"


def wide(tidy: pd.DataFrame) -> pd.DataFrame:
    """The side-by-side text table: one column per model, two lines per term.

    Rows are (equation, term, line) with line ``estimate`` or the printed
    statistic; a term a model does not have is blank in its column. Equations
    and terms keep their order of first appearance (the constant last in its
    equation), models their order in ``tidy``; the observations close the table:
    one ``N`` row (equation ``""``) when every model has one N, else one per
    equation.
    """
    models = list(dict.fromkeys(tidy["model"]))
    keys = list(dict.fromkeys(zip(tidy["equation"], tidy["term"], strict=True)))
    equations = list(dict.fromkeys(e for e, _ in keys))
    keys = [
        k
        for e in equations
        for last in (False, True)
        for k in keys
        if k[0] == e and (k[1] in CONSTANTS) == last
    ]
    by = tidy.set_index(["equation", "term", "model"])
    rows, index = [], []
    for equation, term in keys:
        for line, column in (("estimate", "cell"), ("stat", "paren")):
            index.append((equation, term, line))
            rows.append([_get(by, (equation, term, m), column) for m in models])
    n = tidy.groupby(["equation", "model"], sort=False)["n"].first()
    per_model = tidy.groupby("model", sort=False)["n"].nunique(dropna=False)
    for equation in [""] if (per_model == 1).all() else equations:
        index.append((equation, "N", "n"))
        if equation:
            rows.append([_count(n.get((equation, m), np.nan)) for m in models])
        else:
            first = tidy.groupby("model", sort=False)["n"].first()
            rows.append([_count(first[m]) for m in models])
    return pd.DataFrame(
        rows,
        index=pd.MultiIndex.from_tuples(index, names=["equation", "term", "line"]),
        columns=pd.Index(models, name="model"),
    )


def _get(by: pd.DataFrame, key: tuple, column: str) -> str:
    """The text of ``column`` at ``key``, blank when the model lacks the term."""
    return str(by.at[key, column]) if key in by.index else ""


def _count(n: float) -> str:
    """An observation count as an integer; blank when unknown."""
    return "" if pd.isna(n) else str(int(n))


def layout(
    tidy: pd.DataFrame, title: str = DEFAULT_TITLE, notes: Sequence[str] = ()
) -> render.TableLayout:
    """The :class:`~.render.TableLayout` of :func:`wide`, with its notes.

    One section per equation (titled by it), the statistic line unlabelled under
    its estimate, the N rows last; notes say what the brackets hold and what the
    stars mean (from ``tidy.attrs``), then ``notes``.
    """
    table = wide(tidy)
    counts = table.xs("N", level="term")
    table = table.drop(index="N", level="term")
    equations = list(dict.fromkeys(table.index.get_level_values("equation")))
    sections = []
    for equation in equations:
        block = table.xs(equation, level="equation", drop_level=True)
        rows = tuple(
            render.Row(term if line == "estimate" else "", tuple(cells), indent=True)
            for (term, line), cells in zip(block.index, block.to_numpy(), strict=True)
        )
        sections.append(render.Section(equation, rows))
    n_rows = tuple(
        render.Row(f"N ({e})" if e else "N", tuple(cells))
        for (e, _), cells in zip(counts.index, counts.to_numpy(), strict=True)
    )
    sections.append(render.Section(None, n_rows))
    return render.TableLayout(
        title,
        ("", *table.columns),
        tuple(sections),
        (*_legend(tidy), *notes),
        "tab:" + "".join(c if c.isalnum() else "_" for c in title.lower()),
    )


def _legend(tidy: pd.DataFrame) -> tuple[str, ...]:
    """Notes on the brackets and the stars, from the frame's ``attrs``."""
    out = []
    if "stat" in tidy.attrs:
        out.append(STAT_NOTES[tidy.attrs["stat"]])
    thresholds = tidy.attrs.get("stars", ())
    if thresholds:
        out.append(
            ", ".join(f"{'*' * (k + 1)} p<{t:g}" for k, t in enumerate(thresholds))
            + "."
        )
    return tuple(out)


def to_csv(tidy: pd.DataFrame, path: Path | str, synthetic: bool = False) -> None:
    """Write the tidy frame; floats in shortest round-trip form (full precision).

    ``synthetic`` adds the synthetic-data notice column
    (:func:`analysis.io.with_notice`).
    """
    out = io.with_notice(tidy) if synthetic else tidy
    out.to_csv(path, index=False, lineterminator="\n")


def _rendered_by(renderer, what: str):
    """A ``to_<format>(tidy, title, notes, synthetic)`` drawn by ``renderer``."""

    def to_format(
        tidy: pd.DataFrame,
        title: str = DEFAULT_TITLE,
        notes: Sequence[str] = (),
        synthetic: bool = False,
    ) -> str:
        return renderer(layout(tidy, title, notes), synthetic=synthetic)

    to_format.__name__ = to_format.__qualname__ = renderer.__name__
    source = f":func:`analysis.render.{renderer.__name__}`"
    to_format.__doc__ = f"The side-by-side table as {what} ({source})."
    return to_format


to_markdown = _rendered_by(render.to_markdown, "Markdown")
to_latex = _rendered_by(render.to_latex, "a LaTeX float")
to_html = _rendered_by(render.to_html, "HTML")


WRITERS = {".md": to_markdown, ".tex": to_latex, ".html": to_html}


def write(
    tidy: pd.DataFrame,
    path: Path | str,
    title: str = DEFAULT_TITLE,
    notes: Sequence[str] = (),
    synthetic: bool = False,
) -> Path:
    """Write the table in the format of ``path``'s suffix (.csv, .md, .tex, .html)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        to_csv(tidy, path, synthetic)
    elif suffix in WRITERS:
        text = WRITERS[suffix](tidy, title, notes, synthetic)
        path.write_text(text, encoding="utf-8")
    else:
        raise ValueError(
            f"{path}: unknown table format {suffix!r}; use .csv, .md, .tex or .html"
        )
    return path
