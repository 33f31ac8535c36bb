"""Stata-like factor-variable notation and the float64 design matrix built from it.

Notation (a subset of Stata's ``fvvarlist``)::

    i.scheme            factor, base = first level (Categorical order or sorted)
    ib(UEBMI).scheme    factor with an explicit base level (ib3.x: third level)
    c.age               continuous
    female              bare name: continuous (as in Stata outside interactions)
    c.age#c.age         product term (age squared, moves with age in margins)
    i.scheme#c.age      factor-by-continuous interaction
    a##b                a b a#b (full factorial)

Writing a precomputed column such as ``age_sq`` gives Stata 12's column-wise
semantics: it is then a variable of its own and does not move with ``age``.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

_ATOM = re.compile(
    r"^(?:(i|c|ib\((?P<lab>[^)]*)\)|ib(?P<num>\d+))\.)?(?P<var>[A-Za-z_]\w*)$"
)


@dataclass(frozen=True)
class Atom:
    """One factor of a term: a continuous variable or a factor's level set."""

    kind: str  # "c" or "f"
    var: str
    base: str | None = None  # ib() label, "#k" for ibk., None = first level


@dataclass(frozen=True)
class Column:
    """One design column: product of continuous atoms and factor-level indicators."""

    name: str
    conts: tuple[str, ...]  # continuous variables (repeats = powers)
    levels: tuple[tuple[str, int], ...]  # (factor, level code)


def parse_regressors(spec: str | tuple[str, ...] | list[str]) -> list[tuple[Atom, ...]]:
    """Parse a factor-variable string (or list of tokens) into terms.

    Parameters
    ----------
    spec : str or sequence of str
        E.g. ``"i.scheme c.age c.age#c.age female"``.

    Returns
    -------
    list of tuple of Atom
        One tuple per term, duplicates removed, order kept.

    Raises
    ------
    ValueError
        On a token that is not valid notation.
    """
    tokens = (
        spec.split() if isinstance(spec, str) else [t for s in spec for t in s.split()]
    )
    terms: list[tuple[Atom, ...]] = []
    for tok in tokens:
        if "##" in tok:
            parts = [_atoms(p, in_interaction=True) for p in tok.split("##")]
            for r in range(1, len(parts) + 1):
                for combo in itertools.combinations(parts, r):
                    terms.append(tuple(a for atoms in combo for a in atoms))
        else:
            pieces = tok.split("#")
            atoms = [
                a for p in pieces for a in _atoms(p, in_interaction=len(pieces) > 1)
            ]
            terms.append(tuple(atoms))
    seen: list[tuple[Atom, ...]] = []
    for t in terms:
        if t not in seen:
            seen.append(t)
    return seen


def _atoms(piece: str, in_interaction: bool) -> list[Atom]:
    m = _ATOM.match(piece)
    if m is None:
        raise ValueError(
            f"regressor token {piece!r} is not valid factor-variable notation"
        )
    prefix, var = m.group(1), m.group("var")
    if prefix == "c":
        return [Atom("c", var)]
    if prefix is None:
        return [Atom("f", var)] if in_interaction else [Atom("c", var)]
    if m.group("lab") is not None:
        return [Atom("f", var, m.group("lab"))]
    if m.group("num") is not None:
        return [Atom("f", var, "#" + m.group("num"))]
    return [Atom("f", var)]


def used_variables(terms: list[tuple[Atom, ...]]) -> list[str]:
    """Return the data columns referenced by ``terms``, in first-appearance order."""
    out: list[str] = []
    for t in terms:
        for a in t:
            if a.var not in out:
                out.append(a.var)
    return out


class Variables:
    """Registry of the raw variables: float arrays and factor codes with levels."""

    def __init__(self, data: pd.DataFrame, terms: list[tuple[Atom, ...]]):
        self.cont: dict[str, np.ndarray] = {}
        self.codes: dict[str, np.ndarray] = {}
        self.levels: dict[str, tuple] = {}
        self.base: dict[str, int] = {}
        for t in terms:
            for a in t:
                if a.kind == "c" and a.var not in self.cont:
                    self.cont[a.var] = _as_float(data[a.var], a.var)
                elif a.kind == "f":
                    self._add_factor(data[a.var], a)

    def _add_factor(self, s: pd.Series, atom: Atom) -> None:
        var = atom.var
        if var not in self.codes:
            if isinstance(s.dtype, pd.CategoricalDtype):
                cat = s.cat.remove_unused_categories()
                levels = tuple(
                    c for c in s.cat.categories if c in set(cat.cat.categories)
                )
                codes = pd.Categorical(s, categories=levels).codes
            else:
                levels = tuple(sorted(pd.unique(s)))
                codes = pd.Categorical(s, categories=levels).codes
            self.codes[var] = np.asarray(codes)  # pandas' compact int8/int16
            self.levels[var] = levels
            self.base[var] = 0
        if atom.base is not None:
            self.base[var] = self._base_index(var, atom.base)

    def _base_index(self, var: str, base: str) -> int:
        levels = self.levels[var]
        if base.startswith("#"):
            k = int(base[1:])
            if not 1 <= k <= len(levels):
                raise ValueError(f"ib{k}.{var}: {var} has only {len(levels)} levels")
            return k - 1
        labels = [level_label(lv) for lv in levels]
        if base == "first":
            return 0
        if base == "last":
            return len(levels) - 1
        if base not in labels:
            raise ValueError(f"ib({base}).{var}: level {base!r} not in {labels}")
        return labels.index(base)

    def block(self, start: int, stop: int) -> Variables:
        """The same variables on rows ``start:stop`` (views, no copies)."""
        out = Variables.__new__(Variables)
        out.cont = {k: a[start:stop] for k, a in self.cont.items()}
        out.codes = {k: a[start:stop] for k, a in self.codes.items()}
        out.levels, out.base = self.levels, self.base
        return out

    def level_code(self, var: str, level: object) -> int:
        """Code of ``level`` in factor ``var``; ValueError if absent.

        ``level`` matches a stored level by value (``4`` matches ``4.0``), or by
        its printed label (``"4"``, ``"a"``).
        """
        levels = self.levels[var]
        for k, lv in enumerate(levels):
            if _same_value(lv, level):
                return k
        labels = [level_label(lv) for lv in levels]
        for text in (str(level), level_label(level)):
            if text in labels:
                return labels.index(text)
        raise ValueError(f"level {level!r} is not a level of {var}: {labels}")


def _same_value(a: object, b: object) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def level_label(level: object) -> str:
    """Printed label of a factor level: an integral float prints as an integer.

    The level itself stays as stored (a number stays a number); only names and
    margin labels use this text, so a float-coded factor reads ``religious=4``
    rather than ``religious=4.0``.
    """
    if isinstance(level, (float, np.floating)) and float(level).is_integer():
        return str(int(level))
    return str(level)


def _as_float(s: pd.Series, name: str) -> np.ndarray:
    if isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == object:
        raise ValueError(f"continuous regressor {name!r} is not numeric; use i.{name}")
    return np.asarray(s, dtype=np.float64)


def expand_columns(terms: list[tuple[Atom, ...]], v: Variables) -> list[Column]:
    """Expand terms into design columns (non-base levels only) plus ``_cons`` last."""
    cols: list[Column] = []
    for t in terms:
        conts = tuple(a.var for a in t if a.kind == "c")
        facs = [a.var for a in t if a.kind == "f"]
        choices = [[k for k in range(len(v.levels[f])) if k != v.base[f]] for f in facs]
        for combo in itertools.product(*choices):
            levels = tuple(zip(facs, combo, strict=True))
            name = (
                "#".join(
                    [f"{f}={level_label(v.levels[f][k])}" for f, k in levels]
                    + list(conts)
                )
                if facs
                else "#".join(conts)
            )
            cols.append(Column(name, conts, levels))
    cols.append(Column("_cons", (), ()))
    return cols


def _column_value(
    col: Column, v: Variables, over: dict[str, object], n: int
) -> np.ndarray:
    if not col.conts and len(col.levels) == 1:  # one factor level: 0/1
        var, k = col.levels[0]
        if var in over:
            return np.full(n, float(over[var] == k))
        return (v.codes[var] == k).astype(np.float64)
    out = np.ones(n)
    for var in col.conts:
        x = over.get(var, v.cont[var])
        out = out * x
    for var, k in col.levels:
        if var in over:
            out = out * float(over[var] == k)
        else:
            out = out * (v.codes[var] == k)
    return out


def _column_derivative(
    col: Column, var: str, v: Variables, over: dict[str, object], n: int
) -> np.ndarray:
    """D column / d var for a continuous ``var`` (power rule over repeated atoms)."""
    power = col.conts.count(var)
    rest = Column(col.name, tuple(c for c in col.conts if c != var), col.levels)
    base = _column_value(rest, v, over, n)
    if power == 1:
        return base
    x = np.broadcast_to(np.asarray(over.get(var, v.cont[var]), dtype=float), (n,))
    return base * power * x ** (power - 1)


class Design:
    """A float64 design matrix with the metadata margins need.

    Attributes
    ----------
    X : ndarray of shape (n, k)
        Built once; counterfactual columns are recomputed only where touched.
    names : list of str
        Column names, ``_cons`` last as in Stata.
    """

    def __init__(self, columns: list[Column], variables: Variables, n: int):
        self.columns = columns
        self.variables = variables
        self.n = n
        self.names = [c.name for c in columns]
        self.X = np.empty((n, len(columns)), dtype=np.float64, order="F")
        for j, c in enumerate(columns):
            col = self.X[:, j]
            if not c.conts and len(c.levels) == 1:  # a factor level: one pass
                var, k = c.levels[0]
                col[:] = variables.codes[var] == k
            elif len(c.conts) == 1 and not c.levels:
                col[:] = variables.cont[c.conts[0]]
            elif not c.conts and not c.levels:
                col[:] = 1.0
            else:
                col[:] = _column_value(c, variables, {}, n)

    def block(self, start: int, stop: int) -> Design:
        """The design restricted to rows ``start:stop`` (views of X and variables)."""
        out = Design.__new__(Design)
        out.columns, out.names = self.columns, self.names
        out._touching = self.__dict__.setdefault("_touching", {})
        out.variables = self.variables.block(start, stop)
        out.X = self.X[start:stop]
        out.n = out.X.shape[0]
        return out

    def take(self, rows: np.ndarray, X: np.ndarray) -> Design:
        """The design on the rows of mask ``rows``, given X on those rows."""
        out = Design.__new__(Design)
        out.columns, out.names = self.columns, self.names
        out._touching = self.__dict__.setdefault("_touching", {})
        v = Variables.__new__(Variables)
        v.cont = {k: a[rows] for k, a in self.variables.cont.items()}
        v.codes = {k: a[rows] for k, a in self.variables.codes.items()}
        v.levels, v.base = self.variables.levels, self.variables.base
        out.variables, out.X, out.n = v, X, X.shape[0]
        return out

    def touching(self, variables: set[str]) -> np.ndarray:
        """Return the indices of the columns that involve any of ``variables``."""
        key = frozenset(variables)
        cache = self.__dict__.setdefault("_touching", {})
        if key not in cache:
            idx = [
                j
                for j, c in enumerate(self.columns)
                if variables & (set(c.conts) | {f for f, _ in c.levels})
            ]
            cache[key] = np.asarray(idx, dtype=np.int64)
        return cache[key]

    def factor_variables(self) -> list[str]:
        """Factor variables used, in column order."""
        return list(dict.fromkeys(f for c in self.columns for f, _ in c.levels))

    def continuous_variables(self) -> list[str]:
        """Continuous variables used, in column order."""
        return list(dict.fromkeys(v for c in self.columns for v in c.conts))

    def evaluate(
        self, over: dict[str, object], rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Columns touched by the overrides ``{var: value}`` and their new values.

        Factor overrides are level codes; continuous ones scalars or arrays.
        ``rows`` (a boolean mask) restricts the returned block to those rows.
        """
        idx = self.touching(set(over))
        block = np.empty((self.n, idx.size), order="F")
        for m, j in enumerate(idx):
            block[:, m] = _column_value(self.columns[j], self.variables, over, self.n)
        return idx, _restrict(block, rows)

    def derivative(
        self, var: str, over: dict[str, object], rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Columns involving continuous ``var`` and d(column)/d(var) under ``over``."""
        idx = np.asarray(
            [j for j, c in enumerate(self.columns) if var in c.conts], dtype=np.int64
        )
        block = np.empty((self.n, idx.size), order="F")
        for m, j in enumerate(idx):
            block[:, m] = _column_derivative(
                self.columns[j], var, self.variables, over, self.n
            )
        return idx, _restrict(block, rows)


def _restrict(block: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
    if rows is None or rows.all():
        return block
    return np.asfortranarray(block[rows])


def build_design(data: pd.DataFrame, spec) -> Design:
    """Parse ``spec`` and build its :class:`Design` on ``data`` (no missing values)."""
    terms = parse_regressors(spec)
    variables = Variables(data, terms)
    return Design(expand_columns(terms, variables), variables, len(data))


def design_for(design: Design, data: pd.DataFrame, vectorised: bool = False) -> Design:
    """The design of a fit evaluated on new rows (same columns, levels, bases).

    Parameters
    ----------
    design : Design
        A fitted part's design.
    data : pandas.DataFrame
        New rows without missing values in the used columns.
    vectorised : bool, default False
        Match factor values to the levels with pandas (exact values, so an integer
        column matches integer levels): fast, for the partitions of a data set whose
        levels were collected over all of it. Otherwise value by value with the
        fit's own equality of levels.

    Raises
    ------
    ValueError
        A factor value that is not a level of the fit.
    """
    old = design.variables
    v = Variables.__new__(Variables)
    v.levels, v.base = old.levels, old.base
    v.cont = {k: _as_float(data[k], k) for k in old.cont}
    v.codes = {}
    for var, levels in old.levels.items():
        vals = data[var].to_numpy()
        if vectorised:
            codes = np.asarray(
                pd.Categorical(data[var], categories=list(levels)).codes, np.int64
            )
        else:
            codes = np.full(len(vals), -1, dtype=np.int64)
            for k in range(len(levels)):
                codes[[_same_value(x, levels[k]) for x in vals]] = k
        if (codes < 0).any():
            bad = sorted({level_label(x) for x in vals[codes < 0]})
            raise ValueError(f"{var}: values {bad} are not levels of the fit")
        v.codes[var] = codes
    return Design(design.columns, v, len(data))
