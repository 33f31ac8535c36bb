"""The public entry points: :class:`TwoPartModel` and :func:`twopm`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.linalg

from .design import build_design
from .errors import PerfectPredictionError
from .fit import fit_part1, fit_part2
from .results import TwoPartResults
from .sample import build_sample, check_rank
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

    def fit(self, data: pd.DataFrame) -> TwoPartResults:
        """Fit both parts on ``data`` and compute their covariance.

        Returns
        -------
        TwoPartResults

        Raises
        ------
        ValueError
            Subclasses from :mod:`.errors` for every data problem.
        """
        spec = self.spec
        smp = build_sample(data, spec, self.participation)
        d1 = build_design(smp.data, spec.part1.regressors)
        same = _same_regressors(spec)
        d2 = d1 if same else build_design(smp.data, spec.part2.regressors)
        X2 = d2.X[smp.rows2]
        check_rank(d1.X, d1.names, "part 1")
        check_rank(X2, d2.names, "part 2")
        _check_dummy_separation(d1.X, d1.names, smp.d)
        w = _weights(smp.data, spec.vce)
        w2 = None if w is None else w[smp.rows2]
        f1 = fit_part1(smp.d, d1.X, spec.part1.model, w)
        f2 = fit_part2(smp.y[smp.rows2], X2, spec.part2, w2)
        V1, V2, V = _covariances(smp, spec.vce, (f1, f2), (d1.X, X2), w)
        return TwoPartResults(spec, smp, (d1, d2), (f1, f2), (V1, V2, V), w, X2)


def twopm(
    data: pd.DataFrame,
    outcome: str,
    part1: str,
    part2: str | None = None,
    participation: str | None = None,
    **options,
) -> TwoPartResults:
    """Fit a two-part model in one call (see :class:`TwoPartModel`).

    ``options`` go to the specs: ``model1`` ("probit"/"logit"), ``model2``
    ("glm"/"ols_log"), ``family``, ``link``, ``scale``, ``smearing``, ``vce``,
    ``cluster``, ``strata``, ``psu``, ``weights``, ``joint``, ``missing``.
    ``part2`` defaults to ``part1``.
    """
    o = dict(options)
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
    return TwoPartModel(spec, participation).fit(data)


def _same_regressors(spec: TwoPartSpec) -> bool:
    a, b = spec.part1.regressors, spec.part2.regressors

    def norm(s):
        return tuple(s.split()) if isinstance(s, str) else tuple(s)

    return norm(a) == norm(b)


def _weights(df: pd.DataFrame, v: VceSpec) -> np.ndarray | None:
    if v.weights is None:
        return None
    if v.vce == "oim":
        raise ValueError(
            "sampling weights need vce='robust', 'cluster' or 'survey' "
            "(as Stata pweights), not vce='oim'"
        )
    w = df[v.weights].to_numpy(dtype=float)
    if np.any(w <= 0):
        raise ValueError(f"weights {v.weights!r} must be positive")
    return w


def _check_dummy_separation(X: np.ndarray, names: list[str], d: np.ndarray) -> None:
    """Stata's check: a 0/1 regressor whose value 1 (or 0) fixes the outcome.

    Counts come from two passes over X (X'1 and X'd) once the 0/1 columns are
    known, instead of one boolean mask per column and value.
    """
    binary = [j for j in range(len(names) - 1) if _is_binary(X[:, j])]
    if not binary:
        return
    n, n_pos = float(d.size), float(d.sum())
    n1 = (X.T @ np.ones(X.shape[0]))[binary]  # rows with the column == 1
    p1 = (X.T @ d)[binary]  # of which participants
    for j, c1, d1 in zip(binary, n1, p1, strict=True):
        for val, size, pos in ((1.0, c1, d1), (0.0, n - c1, n_pos - d1)):
            if size and (pos == 0 or pos == size):
                raise PerfectPredictionError(
                    f"part 1: {names[j]} == {val:g} predicts "
                    f"{'participation' if pos else 'zero outcome'} perfectly "
                    f"({int(size)} observations); drop or merge it"
                )


def _is_binary(col: np.ndarray) -> bool:
    return bool(np.all((col == 0.0) | (col == 1.0)))


def _covariances(smp, v: VceSpec, fits, Xs, w):
    groups = make_groups(
        None if v.cluster is None else smp.data[v.cluster].to_numpy(),
        None if v.strata is None else smp.data[v.strata].to_numpy(),
        None if v.psu is None else smp.data[v.psu].to_numpy(),
    )
    rows2 = np.flatnonzero(smp.rows2)
    k1 = len(fits[0].params)
    if v.vce == "survey":
        Vs = stacked_vcov(fits, Xs, w, "survey", groups, rows2)
        V1, V2 = Vs[:k1, :k1], Vs[k1:, k1:]
    else:
        V1 = part_vcov(fits[0], Xs[0], w, v.vce, groups)
        g2 = subset_groups(groups, rows2, survey=False)
        w2 = None if w is None else w[rows2]
        V2 = part_vcov(fits[1], Xs[1], w2, v.vce, g2)
    if v.joint == "block":
        V = scipy.linalg.block_diag(V1, V2)
    elif v.vce == "survey":
        V = Vs
    else:
        V = stacked_vcov(fits, Xs, w, v.vce, groups, rows2)
    return V1, V2, V
