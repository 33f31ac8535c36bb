"""The public entry points: :class:`TwoPartModel` and :func:`twopm`."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import scipy.linalg

from .design import build_design
from .fit import PartFit, fit_part1, fit_part2
from .formula import split_formula, to_factor_notation
from .results import TwoPartResults
from .sample import build_sample, check_rank
from .separation import Part1Sample, part1_sample
from .spec import Part1Spec, Part2Spec, TwoPartSpec, VceSpec
from .variance import make_groups, part_vcov, stacked_vcov, subset_groups


class TwoPartModel:
    """Two-part model E[y|x] = P(y>0|x) E[y|y>0,x] (Stata ``twopm``).

    Parameters
    ----------
    spec : TwoPartSpec
        Outcome, the regressors and model of each part, variance choice.
    participation : str, optional
        0/1 column for part 1 when it is not simply ``y > 0``, e.g. when some
        participants have a missing amount (the paper: 778 reimbursed, 663
        with a usable amount). Participants with a missing outcome stay in
        part 1 and leave part 2 (only with ``missing="drop"``; counted).
    """

    def __init__(self, spec: TwoPartSpec, participation: str | None = None):
        self.spec = spec
        self.participation = participation

    def fit(self, data, client=None, scheduler=None) -> TwoPartResults:
        """Fit both parts on ``data`` and compute their covariance.

        Parameters
        ----------
        data : pandas.DataFrame, dask.dataframe.DataFrame or path
            In memory, or out of core: a dask DataFrame or the directory of
            a partitioned parquet data set (:mod:`.outofcore`: the same
            estimates, covariances and default margins, computed by Dask
            reductions over the partitions).
        client : distributed.Client, optional
            Out of core: run on this ``dask.distributed`` cluster.
        scheduler : str, optional
            Out of core: a scheduler address (``"tcp://host:port"``) or a
            local scheduler name; default Dask's local threads.

        Returns
        -------
        TwoPartResults
            Out of core, an :class:`.outofcore.OutOfCoreResults`.

        Raises
        ------
        ValueError
            Subclasses from :mod:`.errors` for every data problem.
        """
        spec = self.spec
        if _out_of_core(data):
            # dask is imported only for out-of-core data: in-memory fits do
            # not pay for its import
            from .outofcore import fit_out_of_core

            return fit_out_of_core(spec, self.participation, data, client, scheduler)
        if client is not None or scheduler is not None:
            raise ValueError(
                "client= and scheduler= are for out-of-core data (a dask "
                "DataFrame or a parquet path), not a pandas DataFrame"
            )
        smp = build_sample(data, spec, self.participation)
        d1 = build_design(smp.data, spec.part1.regressors)
        same = _same_regressors(spec)
        d2 = d1 if same else build_design(smp.data, spec.part2.regressors)
        X2 = d2.X[smp.rows2]
        check_rank(d1.X, d1.names, "part 1")
        check_rank(X2, d2.names, "part 2")
        sep = part1_sample(d1, smp.d)
        smp.rows1 = sep.rows
        w = _weights(smp.data, spec.vce)
        w2 = None if w is None else w[smp.rows2]
        X1 = _reduce(d1.X, sep)
        w1 = w if w is None or sep.rows.all() else w[sep.rows]
        names1 = [d1.names[j] for j in sep.cols]
        f1 = fit_part1(smp.d[sep.rows], X1, spec.part1.model, w1, names1)
        f2 = fit_part2(smp.y[smp.rows2], X2, spec.part2, w2)
        V1, V2, V = _covariances(smp, spec.vce, (f1, f2), (X1, X2), w, sep)
        f1, V1, V = _expand_part1(f1, V1, V, sep, len(d1.names))
        res = TwoPartResults(spec, smp, (d1, d2), (f1, f2), (V1, V2, V), w, X2)
        res.data = data
        res.omitted = sep.omitted
        res.notes = _notes(sep, f1)
        return res


def twopm(
    data,
    outcome: str,
    part1: str | None = None,
    part2: str | None = None,
    participation: str | None = None,
    **options,
) -> TwoPartResults:
    """Fit a two-part model in one call (see :class:`TwoPartModel`).

    Parameters
    ----------
    data : pandas.DataFrame, dask.dataframe.DataFrame or path
        The estimation data; a dask DataFrame or the directory of a
        partitioned parquet data set is fitted out of core
        (:mod:`.outofcore`).
    outcome : str
        The outcome column, or a formula ``"y ~ C(g) + x + I(x**2)"`` (patsy /
        formulaic conventions, :mod:`.formula`) whose right-hand side is part
        1's regressors.
    part1, part2 : str, optional
        Regressors in factor-variable notation (``"i.g c.x c.x#c.x"``) or as
        a formula right-hand side (``"~ C(g) + x"``). ``part2`` defaults to
        part 1's; ``part2=""`` fits a constant only.
    participation : str, optional
        0/1 participation column when it is not ``y > 0``.
    **options
        To the specs: ``model1`` ("probit"/"logit"), ``model2``
        ("glm"/"ols_log"), ``family``, ``link``, ``scale``, ``smearing``,
        ``vce``, ``bread``, ``cluster``, ``strata``, ``psu``, ``weights``,
        ``joint``, ``missing``; out of core also ``client`` (a
        ``distributed.Client``) or ``scheduler`` (an address such as
        ``"tcp://host:8786"``, or a local scheduler name).

    Returns
    -------
    TwoPartResults
    """
    if "~" in outcome:
        outcome, rhs = split_formula(outcome)
        if outcome is None:
            raise ValueError("the formula needs an outcome: 'y ~ ...'")
        if part1 is None:
            part1 = rhs
        part1 = part1 if "~" in part1 else "~" + part1
    if part1 is None:
        raise ValueError("part1 regressors are missing (or pass 'y ~ ...')")
    cols = _column_frame(data)
    part1 = _notation(part1, cols)
    part2 = None if part2 is None else _notation(part2, cols)
    o = dict(options)
    client, scheduler = o.pop("client", None), o.pop("scheduler", None)
    p1 = Part1Spec(part1, o.pop("model1", "probit"))
    p2 = Part2Spec(
        part1 if part2 is None else part2,
        o.pop("model2", "glm"),
        o.pop("family", "gamma"),
        o.pop("link", "log"),
        o.pop("scale", None),
        o.pop("smearing", "duan"),
    )
    missing = o.pop("missing", "raise")
    vce = VceSpec(**o)
    spec = TwoPartSpec(outcome, p1, p2, vce, missing)
    return TwoPartModel(spec, participation).fit(data, client, scheduler)


def _out_of_core(data) -> bool:
    """A path or a dask DataFrame (checked without importing dask)."""
    if isinstance(data, (str, os.PathLike)):
        return True
    return type(data).__module__.startswith("dask.")


def _column_frame(data) -> pd.DataFrame | None:
    """Columns and dtypes of ``data`` for formula translation (None: a path)."""
    if isinstance(data, (str, os.PathLike)):
        return None
    return getattr(data, "_meta", data)  # a dask DataFrame's empty pandas frame


def _notation(regressors: str, data: pd.DataFrame | None) -> str:
    """Factor-variable notation of ``regressors`` (translated if a formula)."""
    if "~" not in regressors:
        return regressors
    _, rhs = split_formula(regressors)
    return to_factor_notation(rhs, data)


def _same_regressors(spec: TwoPartSpec) -> bool:
    a, b = spec.part1.regressors, spec.part2.regressors

    def norm(s):
        return tuple(s.split()) if isinstance(s, str) else tuple(s)

    return norm(a) == norm(b)


def _weights(df: pd.DataFrame, v: VceSpec) -> np.ndarray | None:
    if v.weights is None:
        return None
    if v.kind in ("oim", "eim"):
        raise ValueError(
            "sampling weights need a sandwich vce ('robust', 'cluster', "
            f"'survey', 'hc0', 'hc1', 'cl'; as Stata pweights), not vce={v.vce!r}"
        )
    w = df[v.weights].to_numpy(dtype=float)
    if np.any(w <= 0):
        raise ValueError(f"weights {v.weights!r} must be positive")
    return w


def _reduce(X: np.ndarray, sep: Part1Sample) -> np.ndarray:
    """Part 1's design on the rows and columns left by the separation checks."""
    if not sep.reduced:
        return X
    return np.asfortranarray(X[np.ix_(sep.rows, sep.cols)])


def _expand_part1(f1, V1, V, sep: Part1Sample, k1: int):
    """Put omitted part-1 columns back with coefficient 0 and variance 0.

    Stata's convention for an omitted regressor (``o.x``): b = 0, zero row
    and column in V, so predictions and margins simply ignore it. Score and
    information factors become N-vectors, zero on the rows not used.
    """
    if not sep.reduced:
        return f1, V1, V
    cols = sep.cols
    b = np.zeros(k1)
    b[cols] = f1.params
    n = sep.rows.size
    u, a = np.zeros(n), np.zeros(n)
    u[sep.rows], a[sep.rows] = f1.u, f1.a
    info = np.zeros((k1, k1))
    info[np.ix_(cols, cols)] = f1.extra["info"]
    extra = {**f1.extra, "info": info}
    if "a_eim" in extra:
        extra["a_eim"] = np.zeros(n)
        extra["a_eim"][sep.rows] = f1.extra["a_eim"]
    f1 = PartFit(b, u, a, f1.scale, f1.mean, f1.iterations, f1.kind, extra)
    k = V.shape[0]
    idx = np.concatenate([cols, np.arange(k1, k1 + k - V1.shape[0])])
    V1f = np.zeros((k1, k1))
    V1f[np.ix_(cols, cols)] = V1
    Vf = np.zeros((k1 + k - V1.shape[0],) * 2)
    Vf[np.ix_(idx, idx)] = V
    return f1, V1f, Vf


def _notes(sep: Part1Sample, f1) -> list[str]:
    """Stata-style notes: omitted regressors, then completely determined rows."""
    notes = [o.note for o in sep.omitted]
    fail, succ = f1.extra.get("determined", (0, 0))
    if fail or succ:
        notes.append(
            f"note: {fail} failures and {succ} successes completely determined."
        )
    return notes


def _covariances(smp, v: VceSpec, fits, Xs, w, sep: Part1Sample):
    """Per-part and joint covariances (part 1 on the rows it was fitted on)."""
    groups = make_groups(
        None if v.cluster is None else smp.data[v.cluster].to_numpy(),
        None if v.strata is None else smp.data[v.strata].to_numpy(),
        None if v.psu is None else smp.data[v.psu].to_numpy(),
    )
    rows2 = np.flatnonzero(smp.rows2)
    k1 = len(fits[0].params)
    if sep.rows.all():
        full1, X1full = fits[0], Xs[0]
    else:  # stacked scores over the N rows: part-1 scores zero where unused
        full1 = PartFit(
            fits[0].params,
            np.zeros(sep.rows.size),
            np.zeros(sep.rows.size),
            fits[0].scale,
            fits[0].mean,
            fits[0].iterations,
            fits[0].kind,
            fits[0].extra,
        )
        full1.u[sep.rows] = fits[0].u
        full1.extra = dict(fits[0].extra)
        if "a_eim" in full1.extra:
            full1.extra["a_eim"] = np.zeros(sep.rows.size)
            full1.extra["a_eim"][sep.rows] = fits[0].extra["a_eim"]
        X1full = np.zeros((sep.rows.size, k1))
        X1full[sep.rows] = Xs[0]
    kind, bread = v.kind, v.resolved_bread
    if kind == "survey":
        Vs = stacked_vcov(
            (full1, fits[1]), (X1full, Xs[1]), w, "survey", groups, rows2, bread
        )
        V1, V2 = Vs[:k1, :k1], Vs[k1:, k1:]
    else:
        g1 = (
            groups
            if sep.rows.all()
            else subset_groups(groups, np.flatnonzero(sep.rows), survey=False)
        )
        w1 = w if w is None or sep.rows.all() else w[sep.rows]
        V1 = part_vcov(fits[0], Xs[0], w1, kind, g1, bread)
        g2 = subset_groups(groups, rows2, survey=False)
        w2 = None if w is None else w[rows2]
        V2 = part_vcov(fits[1], Xs[1], w2, kind, g2, bread)
    if v.joint == "block":
        V = scipy.linalg.block_diag(V1, V2)
    elif kind == "survey":
        V = Vs
    else:
        V = stacked_vcov(
            (full1, fits[1]), (X1full, Xs[1]), w, kind, groups, rows2, bread
        )
    return V1, V2, V
