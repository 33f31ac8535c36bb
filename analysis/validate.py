"""Validation of the raw survey (stub; being written)."""

from __future__ import annotations


class AnalyticWarning(UserWarning):
    """Legal but suspicious analytic data."""


def validate_raw(raw, codebook, source="raw"):
    """Stub."""

    class _R:
        def raise_if_errors(self):
            return None

    return _R()


def analytic_warnings(analytic):
    """Stub."""
    return []
