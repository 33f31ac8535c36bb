"""Exceptions raised by the two-part estimator (all subclass ``ValueError``)."""

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
    """Separation in part 1: a regressor predicts participation perfectly."""


class ConvergenceError(TwoPartError):
    """A statsmodels fit stopped before the score reached zero."""


class ClusterError(TwoPartError):
    """Cluster or design variable with too few groups."""
