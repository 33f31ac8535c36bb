"""The paper's model set prepared once for thousands of refits.

:func:`build_problem` fits every model of Tables 3-4 on the full analytic sample
(the same calls as :func:`analysis.paper.estimates.fit_all`) and keeps, per fit, only
numpy arrays: the designs, the outcome, the part-2 rows, the full-sample
coefficients (warm starts) and a :class:`~analysis.twopart.arrays.MarginPlan`.
It also lists every bootstrapped quantity in a tidy *catalogue*: each coefficient
of both parts and each margin (part 1, part 2, combined total/extensive/intensive)
of every (sample, outcome) fit, with its full-sample estimate and delta-method SE.

A fit that fails on the full sample (e.g. separation in a subsample) is recorded in
``Problem.failed_fits`` and its quantities are absent; the other fits proceed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.cleaning.schema import SUBSAMPLES
from analysis.paper import models
from analysis.paper.estimates import subsample
from analysis.twopart.arrays import MarginPlan, binary_columns

from .resample import Resampler

CATALOGUE_KEYS = ("sample", "outcome", "kind", "part", "component", "term", "level")


@dataclass
class FitKernel:
    """One (sample, outcome) fit as arrays; quantities at ``q0:q1`` of a draw."""

    outcome: str
    rows2: np.ndarray  # positions of part-2 rows among the sample's rows
    y2: np.ndarray
    X2: np.ndarray
    names2: list[str]  # column names of X2, for failure messages
    bin2: np.ndarray
    b2: np.ndarray
    family: str
    link: str
    plan: MarginPlan
    q0: int
    q1: int


@dataclass
class PartOneKernel:
    """One sample's rows in the analytic frame and its part 1 as arrays."""

    name: str
    pos: np.ndarray  # positions of the part-1 rows in the analytic frame
    X1: np.ndarray
    names1: list[str]  # column names of X1, for failure messages
    d: np.ndarray
    bin1: np.ndarray
    b1: np.ndarray
    model1: str


@dataclass
class SampleKernel(PartOneKernel):
    """One sample: its rows in the analytic frame, part 1 and its fits."""

    fits: list[FitKernel] = field(default_factory=list)


@dataclass
class Problem:
    """Everything a replication needs (numpy only) plus the tidy catalogue."""

    samples: list[SampleKernel]
    resampler: Resampler
    catalogue: pd.DataFrame
    failed_fits: dict  # (sample, outcome) -> error message
    n_quantities: int
    nobs: dict  # (sample, outcome) -> {"part1": n, "part2": n}


def build_problem(
    analytic: pd.DataFrame,
    resampler: Resampler,
    semantics: models.Semantics = "columnwise",
    vce: str = "oim",
    cluster: str | None = None,
    samples: tuple[str, ...] = tuple(SUBSAMPLES),
) -> Problem:
    """Fit the model set on ``analytic`` and prepare replication kernels.

    ``resampler`` draws weights over the rows of ``analytic`` (see
    :mod:`.resample`); ``vce``/``cluster`` only set the delta-method SEs reported
    beside the bootstrap ones. ``samples`` restricts the set to some of the
    paper's samples (the Monte-Carlo check simulates one sample at a time).
    """
    kernels, frames, failed, nobs, q = [], [], {}, {}, 0
    for name in samples:
        mask = analytic["scheme"].isin(SUBSAMPLES[name]).to_numpy()
        data = models.design_frame(subsample(analytic, name))
        kernel = None
        for outcome in models.OUTCOMES:
            try:
                res = _fit(data, name, outcome, semantics, vce, cluster)
            except ValueError as error:  # the package's errors subclass ValueError
                failed[(name, outcome)] = f"{type(error).__name__}: {error}"
                continue
            if kernel is None:
                kernel = _sample_kernel(name, np.flatnonzero(mask), res)
            elif not _same_part1(kernel, res):
                raise ValueError(f"{name}: part-1 samples differ between outcomes")
            nobs[(name, outcome)] = dict(res.nobs)
            cat = _catalogue(res, name, outcome)
            fit = _fit_kernel(res, outcome, q, q + len(cat))
            kernel.fits.append(fit)
            frames.append(cat)
            q += len(cat)
        if kernel is not None:
            kernels.append(kernel)
    catalogue = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return Problem(kernels, resampler, catalogue, failed, q, nobs)


def _fit(data, sample, outcome, semantics, vce, cluster):
    """One fit exactly as :func:`analysis.paper.estimates.fit_all` makes it."""
    return models.fit(data, sample, outcome, semantics, vce=vce, cluster=cluster)


def _sample_kernel(name: str, positions: np.ndarray, res) -> SampleKernel:
    X1 = res.design_matrix(part="part1")
    return SampleKernel(
        name,
        positions[res.row_labels.to_numpy()],
        X1,
        list(res.params["part1"].index),
        res.participation,
        binary_columns(X1),
        res.params["part1"].to_numpy().copy(),
        res.spec.part1.model,
    )


def _same_part1(kernel: SampleKernel, res) -> bool:
    return np.array_equal(
        kernel.X1, res.design_matrix(part="part1")
    ) and np.array_equal(kernel.d, res.participation)


def _fit_kernel(res, outcome: str, q0: int, q1: int) -> FitKernel:
    p2 = res.spec.part2
    if p2.model != "glm":
        raise NotImplementedError("bootstrap kernels support GLM part 2 only")
    rows2 = np.flatnonzero(res.part2.rows)
    X2 = np.ascontiguousarray(res.design_matrix(part="part2")[rows2])
    return FitKernel(
        outcome,
        rows2,
        res.outcome[rows2],
        X2,
        list(res.params["part2"].index),
        binary_columns(X2),
        res.params["part2"].to_numpy().copy(),
        p2.family,
        p2.link,
        MarginPlan.from_results(res),
        q0,
        q1,
    )


def _catalogue(res, sample: str, outcome: str) -> pd.DataFrame:
    """Coefficients of both parts, then every margin, in kernel order."""
    frames = []
    for part in ("part1", "part2"):
        t = res.coef_table(part)
        frames.append(
            pd.DataFrame(
                {
                    "kind": "coef",
                    "part": part,
                    "component": "",
                    "term": t["term"],
                    "level": "",
                    "estimate": t["estimate"],
                    "se_delta": t["se"],
                }
            )
        )
    m = res.margins()
    frames.append(
        pd.DataFrame(
            {
                "kind": "margin",
                "part": m["part"],
                "component": m["component"],
                "term": m["term"],
                "level": m["level"].astype(str),
                "estimate": m["estimate"],
                "se_delta": m["se"],
            }
        )
    )
    out = pd.concat(frames, ignore_index=True).assign(sample=sample, outcome=outcome)
    return out[list(CATALOGUE_KEYS) + ["estimate", "se_delta"]]
