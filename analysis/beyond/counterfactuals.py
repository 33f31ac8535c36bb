"""Policy counterfactuals from a fitted two-part model, with delta-method SEs.

Two reforms the paper points to (its conclusion; the NHSA's cross-province direct
settlement, ``docs/beyond_the_paper.md``):

* ``cross_region_settlement``: every migrant gets the within-city reimbursement
  probability: the migration-scope terms of part 1 are set to the base level
  (their coefficients to zero in the index) while part 2, the amount given
  reimbursement, keeps each respondent's observed scope;
* ``scheme_equalisation_urbmi`` / ``_uebmi``: NCMS enrollees get the URBMI (or
  UEBMI) part-1 and part-2 effects: their scheme is set to that level in both
  parts, everything else held at its observed value.

For each scenario and averaging group the module reports the predicted share
reimbursed, the expected amount given reimbursement and the expected reimbursement
per inpatient stay (the combined mean), observed (at the data) and counterfactual,
and the change, each with a delta-method SE from the estimator's joint covariance.

Notes
-----
With F the part-1 cdf, h the part-2 mean function, x_i and z_i the part-1 and
part-2 design rows and tildes the counterfactual rows, over an averaging group
R of size n_R:

* share S = (1/n_R) sum F(x_i'b), dS/db = (1/n_R) sum f(x_i'b) x_i;
* amount A = (1/n_R) sum h(z_i'g), dA/dg = (1/n_R) sum h'(z_i'g) z_i;
* expected reimbursement E = (1/n_R) sum F h, with dE/db = mean f h x and
  dE/dg = mean F h' z.

The change is the counterfactual minus the observed value; its gradient is the
difference of gradients, and Var = G V G' with V the joint covariance of
(b, g) (block diagonal unless the fit used ``joint="stacked"``). Covariates are
held fixed and a log-OLS smearing factor is treated as known, as in
:mod:`analysis.twopart.margins`. The change in E is also split symmetrically into
an extensive part mean[(F~ - F)(h + h~)/2] and an intensive part
mean[(h~ - h)(F + F~)/2] (point estimates).

The settlement scenario gives each new claimant the amount predicted for those
who claim now; :mod:`analysis.beyond.selection_bound` bounds its change in
expected reimbursement when claims are selected on their amount.

All functions are pure: they use the public interface of a
:class:`analysis.twopart.TwoPartResults` (``params``, ``cov``, ``predict``,
``design_matrix``, ``row_labels``) and never refit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import norm

from analysis.cleaning.schema import FACTORS, SUBSAMPLES
from analysis.paper.models import dummy_name

_Z975 = norm.ppf(0.975)
QUANTITIES = ("share_reimbursed", "amount_if_reimbursed", "expected_reimbursement")
KEYS = ("scenario", "sample", "group", "quantity")


@dataclass(frozen=True)
class Counterfactual:
    """A scenario: factor levels imposed in each part on the rows it applies to.

    Attributes
    ----------
    name : str
    part1, part2 : mapping of variable -> level
        Levels set in part 1 and in part 2 (an empty mapping leaves that part at
        the data).
    applies_to : tuple (variable, level), optional
        Only rows with ``variable == level`` change, and results are averaged
        over them; ``None``: every row.
    """

    name: str
    part1: Mapping[str, str] = field(default_factory=dict)
    part2: Mapping[str, str] = field(default_factory=dict)
    applies_to: tuple[str, str] | None = None


_WITHIN_CITY = FACTORS["scope"][0]  # the reference scope: no distance barrier
_NCMS, _URBMI, _UEBMI = FACTORS["scheme"]
SCENARIOS = (
    Counterfactual("cross_region_settlement", part1={"scope": _WITHIN_CITY}),
    Counterfactual(
        "scheme_equalisation_urbmi",
        part1={"scheme": _URBMI},
        part2={"scheme": _URBMI},
        applies_to=("scheme", _NCMS),
    ),
    Counterfactual(
        "scheme_equalisation_uebmi",
        part1={"scheme": _UEBMI},
        part2={"scheme": _UEBMI},
        applies_to=("scheme", _NCMS),
    ),
)


#: The stage's (scenario, sample) pairs: settlement on every sample, scheme
#: equalisation on the total sample only (a one-scheme subsample has no NCMS
#: enrollees to move, or no URBMI/UEBMI coefficients to give them).
PLAN = tuple((SCENARIOS[0], s) for s in SUBSAMPLES) + tuple(
    (sc, "total") for sc in SCENARIOS[1:]
)


def counterfactual_frame(
    res, part: str, data: pd.DataFrame, levels: Mapping[str, str], rows: np.ndarray
) -> pd.DataFrame:
    """Copy of ``data`` with the factor ``levels`` imposed on ``rows`` for ``part``.

    Works for both semantics of :mod:`analysis.paper.models`, read from the part's
    term names (``res.params[part].index``): an ``i.`` factor (terms
    ``<variable>=<level>``, alone or in interactions) is set to the level,
    and hand-built 0/1 dummies ``<variable>__<level>`` (terms of their own)
    are set to 1 for the imposed level and 0 for the others. The design of
    the result (:meth:`~analysis.twopart.TwoPartResults.design_matrix`)
    recomputes every term from the changed columns.

    Raises
    ------
    ValueError
        If a variable is not in the part (e.g. ``scheme`` in a one-scheme
        subsample): the scenario has no meaning for that model.
    """
    terms = list(res.params[part].index)
    factors = {f.split("=", 1)[0] for t in terms for f in t.split("#") if "=" in f}
    out = data.copy()
    for var, level in levels.items():
        if var in factors:
            out.loc[rows, var] = level
            continue
        dummies = [t for t in terms if t.startswith(f"{var}__")]
        if not dummies:
            raise ValueError(f"{var!r} is not a regressor of this model part")
        if dummy_name(var, level) not in dummies and level != FACTORS[var][0]:
            raise ValueError(f"{var}={level!r} has no dummy in this model part")
        for name in dummies:
            out.loc[rows, name] = float(name == dummy_name(var, level))
    return out


def predictions(res, frame1: pd.DataFrame, frame2: pd.DataFrame) -> dict:
    """Per-row F, f, h, h' of part 1 on ``frame1`` and part 2 on ``frame2``.

    From the fit's public predictions: F = ``predict(part="part1")``, f its
    ``derivative``, h = ``predict(part="part2")``, h' its ``derivative``.
    """
    return {
        "F": res.predict(frame1, part="part1").to_numpy(),
        "f": res.predict(frame1, part="part1", derivative=True).to_numpy(),
        "h": res.predict(frame2, part="part2").to_numpy(),
        "dh": res.predict(frame2, part="part2", derivative=True).to_numpy(),
    }


def averages(pred: dict, X1: np.ndarray, X2: np.ndarray, rows: np.ndarray) -> dict:
    """Each quantity's average over ``rows`` and its gradient in (b, g)."""
    n = rows.sum()
    x1, x2 = X1[rows], X2[rows]
    F, f, h, dh = (pred[k][rows] for k in ("F", "f", "h", "dh"))
    k1, k2 = X1.shape[1], X2.shape[1]
    out = {
        "share_reimbursed": (F.mean(), np.r_[x1.T @ f / n, np.zeros(k2)]),
        "amount_if_reimbursed": (h.mean(), np.r_[np.zeros(k1), x2.T @ dh / n]),
        "expected_reimbursement": (
            (F * h).mean(),
            np.r_[x1.T @ (f * h) / n, x2.T @ (F * dh) / n],
        ),
    }
    return out


@dataclass(frozen=True)
class Setup:
    """What a scenario needs besides the coefficients: designs, rows and groups.

    Built once by :func:`prepare`; :func:`evaluate` (delta method) and the
    bootstrap (:mod:`analysis.beyond.counterfactual_bootstrap`, which refits many
    times) both evaluate the quantities on it, so they average over the same
    rows in the same group order.

    Attributes
    ----------
    X1, X2, X1c, X2c : ndarray
        Observed and counterfactual part-1 and part-2 designs (all part-1 rows).
    masks : ndarray of bool (G, n)
        Rows averaged over for each group (``applies`` and the group label).
    labels : list of str
        Group labels, ``"all"`` first.
    frames : tuple of pandas.DataFrame
        The estimation rows, observed, then with the part-1 and the part-2
        levels imposed (the rows of ``X1``, ``X1c`` and ``X2c``).
    """

    X1: np.ndarray
    X2: np.ndarray
    X1c: np.ndarray
    X2c: np.ndarray
    masks: np.ndarray
    labels: list[str]
    frames: tuple = ()


def prepare(
    res, scenario: Counterfactual, data: pd.DataFrame, by: str | None = None
) -> Setup:
    """Counterfactual designs and averaging groups of ``scenario`` for ``res``.

    Groups with no applicable rows are left out. Parameters as :func:`evaluate`.
    """
    rows_data = data.loc[res.row_labels]
    applies = np.ones(len(rows_data), bool)
    if scenario.applies_to is not None:
        var, level = scenario.applies_to
        applies = (rows_data[var].astype(str) == level).to_numpy()
    f1 = counterfactual_frame(res, "part1", rows_data, scenario.part1, applies)
    f2 = counterfactual_frame(res, "part2", rows_data, scenario.part2, applies)
    X1c = res.design_matrix(f1, part="part1")
    X2c = res.design_matrix(f2, part="part2")
    groups = None if by is None else rows_data[by].astype(str).to_numpy()
    candidates = ["all"] if by is None else ["all", *_ordered(rows_data[by])]
    labels, masks = [], []
    for label in candidates:
        mask = applies if label == "all" else applies & (groups == label)
        if mask.any():
            labels.append(label)
            masks.append(mask)
    return Setup(
        res.design_matrix(part="part1"),
        res.design_matrix(part="part2"),
        X1c,
        X2c,
        np.array(masks, bool),
        labels,
        (rows_data, f1, f2),
    )


def evaluate(
    res, scenario: Counterfactual, data: pd.DataFrame, by: str | None = None
) -> pd.DataFrame:
    """Observed and counterfactual quantities with their change, by group.

    Parameters
    ----------
    res : TwoPartResults
        The fitted model (not refitted).
    scenario : Counterfactual
        Levels imposed and the rows they apply to.
    data : pandas.DataFrame
        The frame ``res`` was fitted on (its index locates the estimation rows);
        it supplies the ``applies_to`` variable and the ``by`` labels.
    by : str, optional
        Column of ``data``: results for ``"all"`` and for each of its values.

    Returns
    -------
    pandas.DataFrame
        One row per (group, quantity): ``observed``, ``counterfactual``,
        ``change`` with ``*_se``, ``change_ci_low/high``, ``change_p``, the
        change's ``extensive``/``intensive`` split (expected reimbursement only)
        and ``n``.
    """
    st = prepare(res, scenario, data, by)
    rows_data, f1, f2 = st.frames
    obs = predictions(res, rows_data, rows_data)
    cf = predictions(res, f1, f2)
    V = res.cov.to_numpy()
    out = []
    for label, mask in zip(st.labels, st.masks, strict=True):
        a, c = averages(obs, st.X1, st.X2, mask), averages(cf, st.X1c, st.X2c, mask)
        split = decompose(obs, cf, mask)
        for q in QUANTITIES:
            row = _row(label, q, a[q], c[q], V, split if q == QUANTITIES[2] else None)
            out.append(row | {"n": int(mask.sum())})
    return pd.DataFrame(out)


def _ordered(s: pd.Series) -> list[str]:
    """Labels of ``s`` in category order (or sorted), as strings."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        return [str(c) for c in s.cat.categories if (s == c).any()]
    return sorted(s.astype(str).unique())


def decompose(obs: dict, cf: dict, rows: np.ndarray) -> tuple[float, float]:
    """Symmetric extensive/intensive split of the change in F h over ``rows``."""
    F0, F1, h0, h1 = obs["F"][rows], cf["F"][rows], obs["h"][rows], cf["h"][rows]
    ext = np.mean((F1 - F0) * (h0 + h1) / 2)
    inten = np.mean((h1 - h0) * (F0 + F1) / 2)
    return float(ext), float(inten)


def _row(label, quantity, observed, counterfactual, V, split) -> dict:
    (o, go), (c, gc) = observed, counterfactual
    se = [float(np.sqrt(max(g @ V @ g, 0.0))) for g in (go, gc, gc - go)]
    change = c - o
    z = change / se[2] if se[2] > 0 else np.nan
    return {
        "group": str(label),
        "quantity": quantity,
        "observed": float(o),
        "observed_se": se[0],
        "counterfactual": float(c),
        "counterfactual_se": se[1],
        "change": float(change),
        "change_se": se[2],
        "change_ci_low": change - _Z975 * se[2],
        "change_ci_high": change + _Z975 * se[2],
        "change_p": float(2 * norm.sf(abs(z))) if np.isfinite(z) else np.nan,
        "change_extensive": split[0] if split else np.nan,
        "change_intensive": split[1] if split else np.nan,
    }
