"""Two-part fits on data larger than memory: every sum over rows is a Dask reduction.

:func:`~analysis.twopart.twopm` sends a dask DataFrame, or the path of a
partitioned parquet data set, here. X is never held whole: each partition is
read as its compact columns (factor codes, continuous columns as stored) and
its design is built in blocks of ``BLOCK_ROWS`` rows, used and dropped.

Notes
-----
Every quantity the in-memory path sums over rows is a sum of per-partition
contributions: log likelihood, score X'u, observed information X' diag(a) X,
Pearson chi2 and deviance, the robust meat X' diag(u^2) X, cluster score sums
(keyed by cluster, so clusters spanning partitions add up), and each default
margin's estimate and delta-method gradient (:func:`.fastmargins.fast_margins`
on each block, the averages' denominators being the whole sample's). A pass
maps every partition to a long frame of (key, value) contributions and Dask
sums them by key (``map_partitions`` then ``groupby("key").sum()``, a tree
reduction), on the local scheduler or on a ``dask.distributed`` cluster.

Passes over the data:

1. metadata: row counts, missing values, factor levels with their counts of
   participants, outcome checks (one ``dask.compute`` of small reductions);
2. starting values: Newton in memory on a few partitions spread over the
   data (about ``SAMPLE_ROWS`` rows), so that few full-data steps remain;
3. full-data Newton steps for both parts at once, each pass giving the
   objective, score and information at the current coefficients; a step that
   lowers the objective is halved (the in-memory line search). Once the last
   next step predicted by quadratic convergence (C s^2, C the ratio of the
   last step to the square of the one before, at least 1) is below
   ``ACCEPT``, the next pass also computes the meat and all default margins;
   when its step is indeed below ``ACCEPT`` it is the last pass, so the last
   Newton pass is also the variance and margins pass. When the sample is the
   whole data set the first pass is such a pass.

The fit stops at a step below ``ACCEPT`` = 1e-12 (1 + |b|), tighter than the
in-memory rule (1e-10, after which the covariances and margins are formed at
b plus that step): the covariances and margins of the last pass are those at
the estimate to about 1e-12, and the estimates are b plus the last step, so
all equal the in-memory results to 1e-10 (``tests/test_twopart_dask.py``).

Supported: part 1 probit/logit; part 2 any GLM family and link; vce ``oim``,
``eim``, ``robust``, ``cluster``, ``hc0``, ``hc1``, ``cl`` (either bread);
block joint covariance; ``missing="raise"``/``"drop"``. Refused with a clear
error: sampling weights, survey designs, ``joint="stacked"``, log-OLS part 2,
and a part-1 factor level that predicts participation perfectly (the
in-memory fit drops such a level with a note; out of core it is refused in
the metadata pass, before any full-data step).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from types import SimpleNamespace

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import scipy.linalg

from .design import Design, build_design, design_for, level_label, parse_regressors
from .errors import (
    ConvergenceError,
    MissingDataError,
    OutcomeError,
    SeparationError,
)
from .fastmargins import Layout, fast_margins
from .fit import (
    MAXITER,
    PartFit,
    binary_expected,
    binary_factors,
    glm_family,
    newton_binary,
    newton_glm,
)
from .inference import MARGIN_COLUMNS, delta_se, inference_columns, row_blocks
from .links import MEANS
from .margins import Context
from .newton import binary_loglike, glm_factors, solve_spd, xtwx
from .results import TwoPartResults
from .sample import check_gram, design_columns, missing_message
from .spec import TwoPartSpec
from .variance import small_sample_factor

#: Rows of the in-memory sample that gives Newton's starting values.
SAMPLE_ROWS = 1_000_000
#: Newton steps on that sample (its estimates are starting values only).
START_STEPS = 50
#: Partitions the sample is drawn from (every s-th row of each).
SAMPLE_PARTITIONS = 8
#: Rows per block of a partition: X of a block is its only N-sized array.
BLOCK_ROWS = 131_072
#: A Newton step below ACCEPT (1 + |b|) in every coefficient ends the fit:
#: the variances and margins of that pass are then those at the estimate to
#: about 1e-12 (the in-memory rule stops at 1e-10 and evaluates them at b
#: plus that step).
ACCEPT = 1e-12
#: Empty frame of a pass's (key, value) contributions (``map_partitions`` meta).
_KV_META = pd.DataFrame(
    {"key": np.zeros(0, np.int64), "value": np.zeros(0, np.float64)}
)
_SANDWICH = ("robust", "cluster", "hc0", "hc1", "cl")
_CLUSTERED = ("cluster", "cl")


def is_out_of_core(data) -> bool:
    """True for a dask DataFrame or a path (the out-of-core inputs of ``twopm``)."""
    if isinstance(data, (str, os.PathLike)):
        return True
    return isinstance(data, dd.DataFrame)


@dataclass
class _Plan:
    """What a partition needs to compute its contributions (shipped to workers)."""

    outcome: str
    participation: str | None
    drop_cols: list | None  # columns whose missing values drop a row
    designs: tuple  # template designs of part 1 and part 2
    same: bool  # part 2 has part 1's regressors
    model1: str
    family: str
    link: str
    cluster: str | None
    clusters: np.ndarray | None  # sorted cluster ids (codes are positions)
    offsets: dict = field(default_factory=dict)  # name -> (start, shape)
    size: int = 0

    def add(self, name: str, shape: tuple) -> None:
        """Reserve a slot of ``shape`` in the dense contribution vector."""
        self.offsets[name] = (self.size, shape)
        self.size += int(np.prod(shape, dtype=np.int64))

    def unpack(self, vec: np.ndarray, name: str) -> np.ndarray:
        """The slot ``name`` of a summed contribution vector."""
        start, shape = self.offsets[name]
        return vec[start : start + int(np.prod(shape, dtype=np.int64))].reshape(shape)


@dataclass
class _Request:
    """One pass: coefficients, and which sums to form besides the Newton ones."""

    b1: np.ndarray
    b2: np.ndarray
    meat: bool = False
    eim: bool = False
    layout: Layout | None = None
    totals: tuple = ()  # (N, N2, part-2 averaging total)
    part2_all: bool = False


def fit_out_of_core(
    spec: TwoPartSpec,
    participation: str | None,
    data,
    client=None,
    scheduler=None,
) -> OutOfCoreResults:
    """Fit a two-part model on a dask DataFrame or a parquet path (module Notes).

    Parameters
    ----------
    spec : TwoPartSpec
        As for the in-memory fit.
    participation : str, optional
        0/1 participation column when it is not ``y > 0``.
    data : dask.dataframe.DataFrame or str or os.PathLike
        The data, or a directory of parquet files (read by
        ``dask.dataframe.read_parquet``, only the used columns).
    client : distributed.Client, optional
        Run the passes on this cluster.
    scheduler : str, optional
        A ``dask.distributed`` scheduler address (``"tcp://host:port"``), or
        a local scheduler name (``"threads"``, ``"processes"``,
        ``"synchronous"``). Default: Dask's default (threads).

    Returns
    -------
    OutOfCoreResults
        A :class:`~.results.TwoPartResults` with the fit, covariances and
        the default margins computed during the fit.
    """
    _check_supported(spec)
    fit = _Fit(spec, participation, data, (client, scheduler))
    try:
        return fit.run()
    finally:
        fit.runner.close()


def _check_supported(spec: TwoPartSpec) -> None:
    v = spec.vce
    refused = []
    if spec.part2.model != "glm":
        refused.append(f"model2={spec.part2.model!r} (use a GLM part 2)")
    if v.weights is not None:
        refused.append("sampling weights")
    if v.kind == "survey" or v.strata is not None or v.psu is not None:
        refused.append("survey designs (strata, psu)")
    if v.joint != "block":
        refused.append(f"joint={v.joint!r}")
    if refused:
        raise ValueError(
            "out-of-core fits (dask DataFrame or parquet path) do not support "
            + ", ".join(refused)
            + "; fit a pandas DataFrame instead"
        )


class _Runner:
    """Where the passes run: Dask's default scheduler, a client, or an address."""

    def __init__(self, client, scheduler):
        self.own = None
        if client is None and isinstance(scheduler, str) and "://" in scheduler:
            # distributed is optional and slow to import: only when asked for
            from distributed import Client

            client = self.own = Client(scheduler)
        self.client = client
        self.scheduler = None if client is not None else scheduler
        self.passes = 0
        self.seconds: list[float] = []  # wall time of each computation

    def compute(self, *collections, full: bool = True):
        """Compute ``collections`` together (one read of the data), counting passes."""
        self.passes += int(full)
        t = time.perf_counter()
        if self.client is not None:
            out = self.client.compute(list(collections), sync=True)
        else:
            out = dask.compute(*collections, scheduler=self.scheduler)
        self.seconds.append(time.perf_counter() - t)
        return out

    def close(self) -> None:
        if self.own is not None:
            self.own.close()


class _Fit:
    """One out-of-core fit: metadata, starting values, Newton, variances, margins."""

    def __init__(self, spec, participation, data, where: tuple):
        self.spec, self.participation, self.where = spec, participation, where
        self.runner = _Runner(*where)
        c1, c2, ids = design_columns(spec)
        self.part_col = participation if participation is not None else spec.outcome
        self.cols1 = list(dict.fromkeys([self.part_col, *c1, *c2, *ids]))
        self.used = list(dict.fromkeys([spec.outcome, *self.cols1]))
        self.ddf = _open(data, self.used)

    # ------------------------------------------------------------- metadata
    def run(self) -> OutOfCoreResults:
        meta = self._metadata()
        plan = self._plan(meta)
        b1, b2 = self._start(plan, meta)
        return self._newton(plan, meta, b1, b2)

    def _metadata(self) -> dict:
        """Pass 1: counts, levels, outcome checks (module Notes)."""
        spec, ddf = self.spec, self.ddf
        missing = ddf[self.cols1].isna().sum()
        clean = ddf.dropna(subset=self.cols1)
        y = clean[spec.outcome]
        if self.participation is None:
            d = (y > 0).astype("float64")
        else:
            d = clean[self.participation].astype("float64")
        clean = clean.assign(__d=d)
        todo = {
            "missing": missing,
            "miss2": ((d == 1) & y.isna()).sum(),
            "neg": (y < 0).sum(),
            "zeros": (d == 0).sum(),
            "pos": ((d == 1) & ~y.isna()).sum(),
            "lengths": clean.map_partitions(len),
        }
        if self.participation is not None:
            todo["not01"] = (~d.isin([0.0, 1.0])).sum()
            todo["contra"] = (((d == 0) & (y > 0)) | ((d == 1) & (y <= 0))).sum()
        factors = self._factors()
        for f in factors:
            todo["f:" + f] = clean.groupby(f, observed=True)["__d"].agg(
                ["count", "sum"]
            )
        if spec.vce.cluster is not None and spec.vce.kind in _CLUSTERED:
            todo["clusters"] = clean[spec.vce.cluster].drop_duplicates()
        for c in self._continuous():
            _check_numeric(ddf._meta[c], c)
        keys = list(todo)
        out = dict(zip(keys, self.runner.compute(*todo.values()), strict=True))
        self._check_metadata(out)
        return out

    def _variables_of_kind(self, kind: str) -> list[str]:
        """Variables entering either part as factors ("f") or continuous ("c")."""
        regs = (self.spec.part1.regressors, self.spec.part2.regressors)
        return list(
            dict.fromkeys(
                a.var
                for r in regs
                for t in parse_regressors(r)
                for a in t
                if a.kind == kind
            )
        )

    def _factors(self) -> list[str]:
        return self._variables_of_kind("f")

    def _continuous(self) -> list[str]:
        return self._variables_of_kind("c")

    def _check_metadata(self, m: dict) -> None:
        """The in-memory sample checks (``sample.build_sample``), from counts."""
        spec, outcome = self.spec, self.spec.outcome
        part = self.participation
        if part is not None and m["not01"]:
            raise OutcomeError(f"participation indicator {part!r} is not 0/1")
        if part is not None and m["contra"]:
            raise OutcomeError(
                f"{int(m['contra'])} rows where {part!r} contradicts "
                f"{outcome!r} (indicator 0 with y > 0, or 1 with y <= 0)"
            )
        miss = {c: int(n) for c, n in m["missing"].items() if n}
        dropped = {
            "part 1": miss,
            "part 2": {outcome: int(m["miss2"])} if m["miss2"] else {},
        }
        if spec.missing == "raise" and (dropped["part 1"] or dropped["part 2"]):
            raise MissingDataError(missing_message(dropped))
        m["dropped"] = dropped
        if m["neg"]:
            raise OutcomeError(
                f"outcome {outcome!r} has {int(m['neg'])} negative values"
            )
        if not m["zeros"]:
            raise OutcomeError(f"outcome {outcome!r} has no zeros: nothing for part 1")
        if not m["pos"]:
            raise OutcomeError(f"outcome {outcome!r} has no usable positive values")

    def _levels(self, m: dict) -> dict:
        """Factor levels as the in-memory design orders them (category or sorted)."""
        out = {}
        for f in self._factors():
            counts = m["f:" + f]["count"]
            present = [v for v, n in counts.items() if n > 0]
            dtype = self.ddf._meta[f].dtype
            if isinstance(dtype, pd.CategoricalDtype):
                keep = set(present)
                out[f] = [c for c in dtype.categories if c in keep]
            else:
                out[f] = sorted(present)
        return out

    def _plan(self, m: dict) -> _Plan:
        spec = self.spec
        levels = self._levels(m)
        frame = _template_frame(levels, self._continuous())
        d1 = build_design(frame, spec.part1.regressors)
        same = _norm(spec.part1.regressors) == _norm(spec.part2.regressors)
        d2 = d1 if same else build_design(frame, spec.part2.regressors)
        self._check_separation(d1, m)
        clusters = None
        if "clusters" in m:
            clusters = np.sort(pd.unique(np.asarray(m["clusters"])))
        plan = _Plan(
            spec.outcome,
            self.participation,
            self.cols1 if spec.missing == "drop" else None,
            (d1, d2),
            same,
            spec.part1.model,
            spec.part2.family,
            spec.part2.link,
            spec.vce.cluster if clusters is not None else None,
            clusters,
        )
        k1, k2 = len(d1.names), len(d2.names)
        for name, shape in [
            ("ll1", (1,)),
            ("g1", (k1,)),
            ("A1", (k1, k1)),
            ("f2", (1,)),
            ("g2", (k2,)),
            ("A2", (k2, k2)),
            ("chi2", (1,)),
            ("llobs2", (1,)),
            ("M1", (k1, k1)),
            ("M2", (k2, k2)),
            ("E1", (k1, k1)),
            ("E2", (k2, k2)),
        ]:
            plan.add(name, shape)
        return plan

    def _check_separation(self, d1: Design, m: dict) -> None:
        """Refuse a non-base part-1 factor level whose rows all fail or all succeed."""
        v = d1.variables
        model = self.spec.part1.model
        for f in d1.factor_variables():
            tab = m["f:" + f]
            for k, lev in enumerate(v.levels[f]):
                if k == v.base[f]:
                    continue
                n, s = int(tab.loc[lev, "count"]), float(tab.loc[lev, "sum"])
                if s == 0 or s == n:
                    what = "failures" if s == 0 else "successes"
                    raise SeparationError(
                        f"part 1 {model}: {f}={level_label(lev)} predicts the "
                        f"outcome perfectly ({n} rows, all {what}). The in-memory "
                        "fit drops such a level and its rows with a note; out of "
                        "core it is refused: drop those rows or merge the level"
                    )

    # -------------------------------------------------------- starting values
    def _start(self, plan: _Plan, m: dict) -> tuple[np.ndarray, np.ndarray]:
        """Newton in memory on a few partitions (module Notes, pass 2)."""
        lengths = np.asarray(m["lengths"], dtype=np.int64)
        take, stride = _sample_partitions(lengths, SAMPLE_ROWS, SAMPLE_PARTITIONS)
        self.whole = take.size == lengths.size and stride == 1
        parts = [self.ddf.partitions[int(i)] for i in take]
        rows = dd.concat(parts).map_partitions(_every, stride)
        (pdf,) = self.runner.compute(rows, full=False)
        self.sample_rows = len(pdf)
        d, y, D1, X2, y2 = _arrays(pdf, plan)
        family = glm_family(plan.family, plan.link)
        b1 = _start_values(
            D1.X,
            lambda k: d.min() < d.max(),
            lambda Xk: newton_binary(d, Xk, plan.model1, None, START_STEPS),
        )
        b2 = _start_values(
            X2,
            lambda k: y2.size > k,
            lambda Xk: newton_glm(y2, Xk, family, None, START_STEPS),
        )
        return b1, b2

    # ----------------------------------------------------------------- Newton
    def _newton(self, plan, m, b1, b2) -> OutOfCoreResults:
        spec = self.spec
        names = (plan.designs[0].names, plan.designs[1].names)
        n, n2 = int(m["lengths"].sum()), int(m["pos"])
        kind, bread = spec.vce.kind, spec.vce.resolved_bread
        lay = Layout(_Shape(plan.designs), ("part1", "part2", "combined"), None)
        parts = [_Part("part 1 " + spec.part1.model, b1), None]
        parts[1] = _Part(f"part 2 glm {spec.part2.family}/{spec.part2.link}", b2)
        near = self.whole  # the start is the in-memory fit: check and finish
        checked = False
        self.steps = []
        for _ in range(MAXITER):
            req = _Request(parts[0].b, parts[1].b)
            if near:
                req.meat = kind in _SANDWICH
                req.eim = kind == "eim" or (kind in _SANDWICH and bread == "eim")
                req.layout, req.totals = lay, (n, n2, n2)
            vec, clus = self._pass(plan, req)
            sums = [
                (
                    plan.unpack(vec, "ll1")[0],
                    plan.unpack(vec, "g1"),
                    plan.unpack(vec, "A1"),
                ),
                (
                    plan.unpack(vec, "f2")[0],
                    plan.unpack(vec, "g2"),
                    plan.unpack(vec, "A2"),
                ),
            ]
            if not checked:
                for j, label in enumerate(("part 1", "part 2")):
                    check_gram(sums[j][2], names[j], label)
                checked = True
            done = [p.update(*s) for p, s in zip(parts, sums, strict=True)]
            self.steps.append([float(p.last) for p in parts])
            if all(done) and near:
                return self._results(plan, m, parts, vec, clus, req, (n, n2))
            near = all(p.near for p in parts)
        worst = max(parts, key=lambda p: p.last)
        raise ConvergenceError(
            f"{worst.label} did not converge after {MAXITER} Newton iterations "
            f"(largest remaining Newton step {worst.last:.3g})"
        )

    def _pass(self, plan: _Plan, req: _Request):
        """One full-data pass: summed dense contributions and cluster score sums."""
        meta = _KV_META.copy()
        width, n_out = _widths(plan, req)
        contrib = self.ddf.map_partitions(_contributions, plan, req, meta=meta)
        total = contrib.groupby("key")["value"].sum()
        (s,) = self.runner.compute(total)
        vec = np.zeros(plan.size + n_out * (1 + width))
        keys = s.index.to_numpy()
        dense = keys < vec.size
        vec[keys[dense]] = s.to_numpy()[dense]
        clus = None
        if plan.clusters is not None and req.meat:
            w = width + 2
            clus = np.zeros((plan.clusters.size, w))
            ck = keys[~dense] - vec.size
            clus[ck // w, ck % w] = s.to_numpy()[~dense]
        return vec, clus

    # -------------------------------------------------------------- results
    def _results(self, plan, m, parts, vec, clus, req, ns) -> OutOfCoreResults:
        spec = self.spec
        kind = spec.vce.kind
        b1, b2 = parts[0].final, parts[1].final
        k1, k2 = b1.size, b2.size
        n, n2 = ns
        scale = _glm_scale(spec, plan.unpack(vec, "chi2")[0], -parts[1].f, n2, k2)
        covs = []
        for j, (k, nn) in enumerate(((k1, n), (k2, n2))):
            A = plan.unpack(vec, f"A{j + 1}")
            phi = 1.0 if j == 0 else scale
            if kind == "oim":
                covs.append(phi * np.linalg.inv(A))
                continue
            Ainv = np.linalg.inv(plan.unpack(vec, f"E{j + 1}") if req.eim else A)
            if kind == "eim":
                covs.append(phi * Ainv)
                continue
            off = 0 if j == 0 else k1
            if kind in _CLUSTERED:
                Z = clus[:, off : off + k]
                rows = clus[:, k1 + k2 + j] > 0
                M, groups = Z[rows].T @ Z[rows], int(rows.sum())
            else:
                M, groups = plan.unpack(vec, f"M{j + 1}"), 0
            q = small_sample_factor("ml", kind, nn, k, groups)
            V = q * Ainv @ M @ Ainv
            covs.append(0.5 * (V + V.T))
        V = scipy.linalg.block_diag(*covs)
        fits = (
            PartFit(
                b1, np.empty(0), np.empty(0), 1.0, MEANS[plan.model1], parts[0].it, "ml"
            ),
            PartFit(
                b2, np.empty(0), np.empty(0), scale, MEANS[plan.link], parts[1].it, "ml"
            ),
        )
        llf2 = _glm_llf(
            plan.family, plan.unpack(vec, "llobs2")[0], plan.unpack(vec, "chi2")[0], n2
        )
        n_clusters = None
        if clus is not None:
            n_clusters = int(np.sum(clus[:, k1 + k2] > 0))
        res = OutOfCoreResults(
            spec,
            plan.designs,
            fits,
            (covs[0], covs[1], V),
            {"part1": n, "part2": n2},
            m["dropped"],
            (parts[0].f, llf2),
            n_clusters,
        )
        res.outofcore = {
            "passes": self.runner.passes,
            "newton_passes": self.runner.passes - 1,
            "sample_rows": self.sample_rows,
            "steps": self.steps,
            # metadata, sample read, then each Newton pass (the last with margins)
            "pass_seconds": self.runner.seconds,
            "partitions": int(len(m["lengths"])),
        }
        res._fitter = (self, plan)
        res._default = _margin_frame(req.layout, vec, plan, V, k1 + k2)
        return res

    def margins_pass(self, plan, res, parts, variables, part2_sample):
        """Default ``dydx`` margins of a fitted model in one more pass."""
        lay = Layout(_Shape(plan.designs), tuple(parts), variables)
        n, n2 = res.nobs["part1"], res.nobs["part2"]
        req = _Request(
            res.fits[0].params,
            res.fits[1].params,
            layout=lay,
            totals=(n, n2, n if part2_sample == "all" else n2),
            part2_all=part2_sample == "all",
        )
        self.runner = _Runner(*self.where)
        try:
            vec, _ = self._pass(plan, req)
        finally:
            self.runner.close()
        res.outofcore["passes"] += 1
        return _margin_frame(lay, vec, plan, res.cov.to_numpy(), res.cov.shape[0])


@dataclass
class _Part:
    """Newton state of one part: coefficients, objective, last step, line search."""

    label: str
    b: np.ndarray
    f: float = -np.inf
    step: np.ndarray | None = None
    base: np.ndarray | None = None  # coefficients the step started from
    t: float = 1.0
    last: float = np.inf  # largest relative step taken last
    before: float = np.nan  # the one before it
    it: int = 0
    near: bool = False
    final: np.ndarray | None = None  # the estimate: b plus the last step

    def update(self, f, g, A) -> bool:
        """Take the pass's sums at ``b``; return True when ``b`` is the estimate."""
        if self.step is not None and not (
            np.isfinite(f) and f >= self.f - 1e-12 * (1.0 + abs(self.f))
        ):
            if self.t < 2.0**-30:
                raise ConvergenceError(f"{self.label}: step halving failed")
            self.t *= 0.5  # the in-memory line search, one halving per pass
            self.b = self.base + self.t * self.step
            return False
        step = solve_spd(A, g)
        if step is None:
            raise ConvergenceError(
                f"{self.label}: information matrix is not positive definite"
            )
        rel = np.max(np.abs(step) / (1.0 + np.abs(self.b)))
        if rel <= ACCEPT:
            self.f, self.near, self.last = f, True, rel
            if self.final is None:
                self.final = self.b + step
            return True
        self.f, self.base, self.step, self.t = f, self.b, step, 1.0
        self.b = self.b + step
        self.it += 1
        self.before, self.last = self.last, rel
        growth = rel / self.before**2 if np.isfinite(self.before) else 1.0
        self.near = max(growth, 1.0) * rel * rel <= ACCEPT
        return False


class _Shape:
    """The designs of a fit, enough for :class:`.fastmargins.Layout`."""

    margin_variables = TwoPartResults.margin_variables

    def __init__(self, designs):
        self.designs = designs


def _open(data, columns: list[str]):
    """The used columns of a dask DataFrame or of a parquet data set."""
    if isinstance(data, (str, os.PathLike)):
        path = os.fspath(data)
        if not os.path.exists(path):
            raise FileNotFoundError(f"no parquet data set at {path}")
        data = dd.read_parquet(path)
    absent = [c for c in columns if c not in data.columns]
    if absent:
        raise ValueError(f"columns not in the data: {absent}")
    return data[columns]


def _check_numeric(meta: pd.Series, name: str) -> None:
    if isinstance(meta.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(
        meta.dtype
    ):
        raise ValueError(f"continuous regressor {name!r} is not numeric; use i.{name}")


def _norm(s) -> tuple:
    return tuple(s.split()) if isinstance(s, str) else tuple(s)


def _template_frame(levels: dict, continuous: list[str]) -> pd.DataFrame:
    """A few rows holding every level of every factor (designs' column layout)."""
    m = max([len(v) for v in levels.values()] + [1])
    frame = {
        f: pd.Categorical([v[i % len(v)] for i in range(m)], categories=v)
        for f, v in levels.items()
    }
    frame.update({c: np.zeros(m) for c in continuous if c not in frame})
    return pd.DataFrame(frame)


def _sample_partitions(lengths: np.ndarray, rows: int, most: int):
    """(partitions, stride): every stride-th row of them is about ``rows`` rows.

    ``most`` partitions (all if fewer), taken in a low-discrepancy order of
    their positions (golden-ratio steps) so that they span the whole file
    order; all partitions and stride 1 when the data have at most ``rows``
    rows.
    """
    if lengths.sum() <= rows:
        return np.flatnonzero(lengths > 0), 1
    order = np.argsort(np.arange(lengths.size) * 0.6180339887 % 1.0, kind="stable")
    take = [int(i) for i in order if lengths[i]][:most]
    got = int(lengths[take].sum())
    return np.sort(np.asarray(take)), max(1, -(-got // rows))


def _every(pdf: pd.DataFrame, stride: int) -> pd.DataFrame:
    """Every ``stride``-th row of a partition (the starting-value sample)."""
    return pdf.iloc[::stride]


def _arrays(pdf: pd.DataFrame, plan: _Plan):
    """(d, y, part-1 design, part-2 X, part-2 y) of a frame of used columns."""
    if plan.drop_cols is not None:
        pdf = pdf.dropna(subset=plan.drop_cols)
    y = pdf[plan.outcome].to_numpy(dtype=float)
    if plan.participation is None:
        d = (y > 0).astype(float)
    else:
        d = pdf[plan.participation].to_numpy(dtype=float)
    rows2 = (d == 1) & ~np.isnan(y)
    D1 = design_for(plan.designs[0], pdf, vectorised=True)
    if plan.same:  # column by column: X[rows2] of a Fortran X is a slow copy
        X2 = np.empty((int(rows2.sum()), D1.X.shape[1]), order="F")
        for j in range(X2.shape[1]):
            np.compress(rows2, D1.X[:, j], out=X2[:, j])
    else:
        X2 = design_for(plan.designs[1], pdf.loc[rows2], vectorised=True).X
    return d, y, D1, X2, y[rows2]


def _start_values(X, enough, fit) -> np.ndarray:
    """``fit``'s coefficients on the columns the sample has (0 for the others).

    ``enough(k)`` says whether the sample supports k coefficients; ``fit(Xk)``
    returns (params, steps, converged), of which only finite params are kept.
    """
    b = np.zeros(X.shape[1])
    keep = np.flatnonzero(np.any(X != 0, axis=0))
    if not enough(keep.size):
        return b
    with np.errstate(all="ignore"):
        bk, _, _ = fit(np.asfortranarray(X[:, keep]))
    if np.all(np.isfinite(bk)):
        b[keep] = bk
    return b


def _widths(plan: _Plan, req: _Request) -> tuple[int, int]:
    k = len(plan.designs[0].names) + len(plan.designs[1].names)
    n_out = 0 if req.layout is None else len(req.layout.index)
    return k, n_out


def _contributions(pdf: pd.DataFrame, plan: _Plan, req: _Request) -> pd.DataFrame:
    """A partition's contributions as (key, value) rows (module Notes)."""
    width, n_out = _widths(plan, req)
    k1 = len(plan.designs[0].names)
    vec = np.zeros(plan.size + n_out * (1 + width))
    est = vec[plan.size : plan.size + n_out]
    G = vec[plan.size + n_out :].reshape(n_out, width)
    clus = None
    if plan.clusters is not None and req.meat:
        clus = np.zeros((plan.clusters.size, width + 2))
    fam = glm_family(plan.family, plan.link)
    for s in range(0, len(pdf), BLOCK_ROWS):
        blk = pdf.iloc[s : s + BLOCK_ROWS]
        d, y, D1, X2, y2 = _arrays(blk, plan)
        if d.size == 0:
            continue
        rows2 = (d == 1) & ~np.isnan(y)
        X1 = D1.X
        with np.errstate(all="ignore"):
            eta1 = X1 @ req.b1
            u1, a1 = binary_factors(d, eta1, plan.model1)
            eta2 = X2 @ req.b2
            u2, a2, mu2 = glm_factors(fam, y2, eta2)
            var2 = fam.variance(mu2)
            _put(plan, vec, "ll1", binary_loglike(d, eta1, plan.model1, None))
            _put(plan, vec, "g1", X1.T @ u1)
            _put(plan, vec, "A1", xtwx(X1, a1))
            _put(plan, vec, "f2", -float(np.sum(fam.resid_dev(y2, mu2) ** 2)))
            _put(plan, vec, "g2", X2.T @ u2)
            _put(plan, vec, "A2", xtwx(X2, a2))
            _put(plan, vec, "chi2", float(np.sum((y2 - mu2) ** 2 / var2)))
            if req.layout is not None:  # the log likelihood of the last pass
                llobs = fam.loglike_obs(y2, mu2, scale=1.0)
                _put(plan, vec, "llobs2", float(np.sum(llobs)))
        if req.meat and clus is None:
            _put(plan, vec, "M1", xtwx(X1, u1 * u1))
            _put(plan, vec, "M2", xtwx(X2, u2 * u2))
        if req.eim:
            _put(plan, vec, "E1", xtwx(X1, binary_expected(eta1, plan.model1)))
            _put(plan, vec, "E2", xtwx(X2, 1.0 / (fam.link.deriv(mu2) ** 2 * var2)))
        if clus is not None:
            codes = np.searchsorted(
                plan.clusters, blk[plan.cluster].to_numpy()[_kept(blk, plan)]
            )
            g = plan.clusters.size
            for j in range(k1):
                clus[:, j] += np.bincount(codes, weights=X1[:, j] * u1, minlength=g)
            c2 = codes[rows2]
            for j in range(X2.shape[1]):
                clus[:, k1 + j] += np.bincount(c2, weights=X2[:, j] * u2, minlength=g)
            clus[:, width] += np.bincount(codes, minlength=g)
            clus[:, width + 1] += np.bincount(c2, minlength=g)
        if req.layout is not None:
            _margins_block(D1, X2, rows2, plan, req, est, G, blk)
    keys = np.flatnonzero(vec)
    vals = vec[keys]
    if clus is not None:
        ck = np.flatnonzero(clus.ravel())
        keys = np.concatenate([keys, vec.size + ck])
        vals = np.concatenate([vals, clus.ravel()[ck]])
    return pd.DataFrame({"key": keys.astype(np.int64), "value": vals})


def _kept(blk: pd.DataFrame, plan: _Plan) -> np.ndarray:
    """Rows of a block left after dropping missing values (``missing="drop"``)."""
    if plan.drop_cols is None:
        return np.ones(len(blk), bool)
    return ~blk[plan.drop_cols].isna().any(axis=1).to_numpy()


def _put(plan: _Plan, vec: np.ndarray, name: str, value) -> None:
    start, shape = plan.offsets[name]
    size = int(np.prod(shape, dtype=np.int64))
    vec[start : start + size] += np.ravel(value)


def _margins_block(D1, X2, rows2, plan, req: _Request, est, G, blk) -> None:
    """Add a block's share of the margins (:func:`.fastmargins.fast_margins`)."""
    n, n2, t2 = req.totals
    if plan.same:
        D2 = D1
    else:
        D2 = design_for(plan.designs[1], blk[_kept(blk, plan)], vectorised=True)
    ctx = Context(
        (D1, D2),
        (req.b1, req.b2),
        (MEANS[plan.model1], MEANS[plan.link]),
        None,
        rows2,
        X2,
    )
    every = np.ones(rows2.size, bool)
    samples = {
        "part1": (every, float(n)),
        "part2": (every, float(t2)) if req.part2_all else (rows2, float(n2)),
        "combined": (every, float(n)),
    }
    samples = {p: samples[p] for p in req.layout.parts}
    e, g = fast_margins(
        SimpleNamespace(context=ctx), req.layout, samples, row_blocks(rows2.size, rows2)
    )
    est += e
    G += g


def _margin_frame(lay: Layout, vec, plan: _Plan, V: np.ndarray, k: int) -> pd.DataFrame:
    """Margins with delta-method SEs in ``margins()``'s layout."""
    n_out = len(lay.index)
    est = vec[plan.size : plan.size + n_out]
    G = vec[plan.size + n_out : plan.size + n_out * (1 + k)].reshape(n_out, k).copy()
    for o, e, i in lay.totals:  # combined totals: extensive + intensive
        G[o] = G[e] + G[i]
    out = pd.DataFrame(lay.labels, columns=MARGIN_COLUMNS[:6])
    out["estimate"] = est[lay.gather]
    se = delta_se(G[lay.gather], V)
    out["se"] = se
    return out.assign(**inference_columns(out["estimate"].to_numpy(), se))[
        MARGIN_COLUMNS
    ]


def _glm_scale(spec, chi2: float, deviance: float, n2: int, k2: int) -> float:
    rule = spec.part2.resolved_scale
    if not isinstance(rule, str):
        return float(rule)
    if rule == "one":
        return 1.0
    return (chi2 if rule == "x2" else deviance) / (n2 - k2)


def _glm_llf(family: str, llobs: float, chi2: float, n2: int) -> float:
    """Part 2's log likelihood as ``partresults.part_llf`` (Gaussian: ML scale)."""
    if family != "gaussian":
        return llobs
    scale = chi2 / n2
    return -0.5 * chi2 / scale - 0.5 * n2 * np.log(2.0 * np.pi * scale)


class OutOfCoreResults(TwoPartResults):
    """A two-part fit on out-of-core data: the in-memory results, without rows.

    Coefficients, covariances, ``summary()``, ``coef_table()``, ``llf``,
    ``predict(newdata)`` and ``design_matrix(newdata)`` work as in memory.
    ``margins()`` returns the default margins computed during the fit; other
    default ``dydx`` requests (``variables``, ``parts``, ``part2_sample``)
    take one more pass over the data. Requests that need the estimation rows
    in memory (``at()``, ``over()``, elasticities, contrasts, ``atmeans``,
    predictive margins, predictions on the estimation rows) raise
    ``NotImplementedError``. ``outofcore`` records the passes over the data.
    """

    def __init__(self, spec, designs, fits, covs, nobs, dropped, llfs, n_clusters):
        self.spec, self.designs, self.fits = spec, designs, fits
        self.sample, self.weights, self.data = None, None, None
        self._set_estimates(designs, fits, covs)
        self.nobs = nobs
        self.omitted, self.notes = [], []
        self.dropped = dropped
        self._llfs = llfs
        self._n_clusters = n_clusters
        self.outofcore: dict = {}

    def _part(self, part: str):
        out = super()._part(part)
        out.__dict__["llf"] = self._llfs[0 if part == "part1" else 1]
        return out

    @property
    def n_clusters(self) -> int | None:
        """Clusters of the estimation sample (``vce="cluster"``)."""
        return self._n_clusters

    def margins(
        self,
        variables=None,
        parts=("part1", "part2", "combined"),
        effect="dydx",
        at=None,
        over=None,
        part2_sample="positives",
        contrast=False,
        atmeans=False,
        *,
        _generic=False,
    ) -> pd.DataFrame:
        """Default ``dydx`` margins (see the class docstring and ``TwoPartResults``)."""
        if (
            effect != "dydx"
            or at
            or over is not None
            or contrast
            or atmeans
            or _generic
        ):
            raise NotImplementedError(
                "out of core, margins() computes dydx margins without at(), over(), "
                "contrast or atmeans; fit a pandas DataFrame (or a sample) for those"
            )
        if part2_sample not in ("positives", "all"):
            raise ValueError(
                f"part2_sample={part2_sample!r} not in ('positives', 'all')"
            )
        self._check_variables(variables)
        default = variables is None and part2_sample == "positives"
        if default and tuple(parts) == ("part1", "part2", "combined"):
            return self._default.copy()
        fitter, plan = self._fitter
        return fitter.margins_pass(plan, self, parts, variables, part2_sample)

    def _rows_needed(self, what: str):
        raise NotImplementedError(
            f"out of core, {what} needs the estimation rows in memory; "
            "fit a pandas DataFrame (or a sample) for it"
        )

    def predictive_margins(self, *args, **kwargs):
        """Not available out of core (the class docstring)."""
        self._rows_needed("predictive_margins()")

    def predict(self, newdata=None, part="combined", linear=False, derivative=False):
        """Predictions on ``newdata`` (a pandas DataFrame; see ``TwoPartResults``)."""
        if newdata is None:
            self._rows_needed("predict() without newdata")
        return super().predict(newdata, part, linear, derivative)

    def design_matrix(self, newdata=None, part="part1"):
        """Design rows for ``newdata`` (a pandas DataFrame; see ``TwoPartResults``)."""
        if newdata is None:
            self._rows_needed("design_matrix() without newdata")
        return super().design_matrix(newdata, part)

    def over_groups(self, over):
        """Not available out of core (the class docstring)."""
        self._rows_needed("over()")

    @property
    def row_labels(self):
        """Not available out of core (the class docstring)."""
        self._rows_needed("row_labels")

    @property
    def participation(self):
        """Not available out of core (the class docstring)."""
        self._rows_needed("participation")

    @property
    def outcome(self):
        """Not available out of core (the class docstring)."""
        self._rows_needed("outcome")


def streaming_xtwx(
    data,
    regressors: str,
    columns: list[str],
    levels: dict,
    client=None,
    scheduler=None,
    positive: str | None = None,
) -> np.ndarray:
    """X'X over ``data`` in one pass, X built per block as a fit builds it.

    The unit of work of a Newton step with the same reading and design
    building as a fit: the time of this pass is the floor a fit's passes are
    compared with (``bench/bench_outofcore.py``). With ``positive`` (the outcome
    column) the same pass also forms X'X over the rows where it is positive, so it
    does the matrix work of one Newton step of a two-part model: both parts'
    information.

    Parameters
    ----------
    data : dask.dataframe.DataFrame or str or os.PathLike
        As for :func:`fit_out_of_core`.
    regressors : str
        Factor-variable notation.
    columns : list of str
        The columns ``regressors`` use.
    levels : dict
        Levels of each factor (as the data store them).
    client, scheduler
        As for :func:`fit_out_of_core`.
    positive : str, optional
        The outcome column: also X'X over its positive rows (part 2's).

    Returns
    -------
    ndarray (K, K), or (2, K, K) with ``positive``: all rows, then the positive ones
    """
    ddf = _open(data, columns + ([positive] if positive else []))
    conts = [c for c in columns if c not in levels]
    design = build_design(_template_frame(levels, conts), regressors)
    k = len(design.names)
    runner = _Runner(client, scheduler)
    try:
        contrib = ddf.map_partitions(
            _xtx_chunk, design, k, positive, meta=_KV_META.copy()
        )
        (s,) = runner.compute(contrib.groupby("key")["value"].sum())
    finally:
        runner.close()
    parts = 2 if positive else 1
    out = np.zeros(parts * k * k)
    out[s.index.to_numpy()] = s.to_numpy()
    return out.reshape(parts, k, k) if positive else out.reshape(k, k)


def _xtx_chunk(
    pdf: pd.DataFrame, design: Design, k: int, positive: str | None = None
) -> pd.DataFrame:
    out = np.zeros((2 if positive else 1, k, k))
    for s in range(0, len(pdf), BLOCK_ROWS):
        blk = pdf.iloc[s : s + BLOCK_ROWS]
        X = design_for(design, blk, vectorised=True).X
        out[0] += xtwx(X, np.ones(X.shape[0]))
        if positive:
            X2 = X[blk[positive].to_numpy() > 0]
            out[1] += xtwx(X2, np.ones(X2.shape[0]))
    keys = np.arange(out.size, dtype=np.int64)
    return pd.DataFrame({"key": keys, "value": out.ravel()})
