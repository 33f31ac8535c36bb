"""One bootstrap replication: weights -> refits -> every quantity, or a failure.

Pure numpy: each part is refitted by :func:`analysis.twopart.arrays.fit_binary` /
:func:`~analysis.twopart.arrays.fit_glm` on the fixed design with the replication's
row weights, starting from the full-sample estimates, and the margins come from
the fit's precomputed :class:`~analysis.twopart.arrays.MarginPlan`. Part 1 is fitted
once per sample (both outcomes share it, as in the paper).

A refit that fails (a lost category, perfect prediction, non-convergence, a
singular information matrix, non-finite margins) leaves its quantities NaN in
that replication and is recorded as a :data:`Failure` row; nothing is redrawn.
"""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from analysis.twopart.arrays import refit_binary, refit_glm

from .problem import Problem, SampleKernel
from .resample import child_rng

#: Errors that mark a replication's refit as failed (package errors are ValueErrors).
REFIT_ERRORS = (ValueError, np.linalg.LinAlgError, FloatingPointError, OverflowError)
FAILURE_COLUMNS = ("rep", "sample", "outcome", "stage", "error", "message")


def replicate_chunk(problem: Problem, seed: int, reps: range):
    """Run replications ``reps``; return (reps, draws (len(reps) x Q), failures)."""
    out = np.full((len(reps), problem.n_quantities), np.nan)
    failures: list[tuple] = []
    with threadpool_limits(1):  # small problems: BLAS threads only cost time
        for i, r in enumerate(reps):
            w = problem.resampler.weights(child_rng(seed, r))
            for kernel in problem.samples:
                _replicate_sample(kernel, w[kernel.pos], out[i], failures, r)
    return reps, out, failures


def _replicate_sample(k: SampleKernel, w, row, failures, r) -> None:
    try:
        b1 = refit_binary(k.d, k.X1, k.model1, w, k.b1, k.bin1, k.names1)
    except REFIT_ERRORS as error:
        for f in k.fits:
            failures.append(_failure(r, k.name, f.outcome, "part1", error))
        return
    for f in k.fits:
        try:
            w2 = w[f.rows2]
            b2 = refit_glm(f.y2, f.X2, f.family, f.link, w2, f.b2, f.bin2, f.names2)
            m = f.plan.evaluate(b1, b2, w)
            if not np.all(np.isfinite(m)):
                raise FloatingPointError("non-finite margins")
        except REFIT_ERRORS as error:
            failures.append(_failure(r, k.name, f.outcome, "part2", error))
            continue
        row[f.q0 : f.q1] = np.concatenate([b1, b2, m])


def _failure(r, sample, outcome, stage, error) -> tuple:
    return (r, sample, outcome, stage, type(error).__name__, str(error)[:200])
