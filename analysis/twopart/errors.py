"""Exceptions raised by the two-part estimator (all subclass ``ValueError``).

Every error a model can raise on its data is a :class:`TwoPartError`, so a caller
fitting many models can catch that one class per model; the messages name the
variable, level and number of observations involved.
"""

from __future__ import annotations


class TwoPartError(ValueError):
    """Base class: the data or the specification cannot be estimated."""


class OutcomeError(TwoPartError):
    """Outcome with negative values, no zeros or no positives."""


class MissingDataError(TwoPartError):
    """Missing values in used columns while ``missing="raise"``."""


class CollinearityError(TwoPartError):
    """Regressors are collinear (or a column is constant zero)."""


class PerfectPredictionError(TwoPartError):
    """Separation in part 1 that cannot be resolved by dropping a regressor.

    A 0/1 regressor (or factor level) that predicts one outcome is *not* an
    error: as Stata's ``probit``/``logit``, the fit drops it and the rows it
    determines and records an :class:`~analysis.twopart.separation.Omitted`
    note. What remains an error is what Stata refuses too (see
    :class:`SeparationError`) and, in bootstrap refits, a resample in which a
    0/1 column separates (the replication's coefficient vector would lose an
    element).
    """


class SeparationError(PerfectPredictionError):
    """A continuous regressor or a combination of regressors separates part 1.

    Stata stops with ``outcome = x > c predicts data perfectly`` (r(2000)) when
    one continuous regressor separates the outcomes; when only a linear
    combination does, the likelihood keeps rising along that direction and no
    finite estimate exists.
    """


class EmptySampleError(TwoPartError):
    """No observations (or no variation in the outcome) left to estimate a part."""


class ConvergenceError(TwoPartError):
    """A statsmodels fit stopped before the score reached zero."""


class ClusterError(TwoPartError):
    """Cluster or design variable with too few groups."""
