"""Out-of-core fits (dask DataFrame, parquet path, Dask cluster) equal the pandas path.

The same simulated frame is fitted by ``twopm`` in memory and as a dask
DataFrame of 7 unequal partitions (clusters spanning partitions): coefficients,
every covariance and every default margin with its SE agree to 1e-10
(relative; covariances relative to sqrt(V_ii V_jj)), on the local scheduler,
on a ``dask.distributed`` cluster reached by its address, and on one reached by
a client whose workers are separate processes (data and plan pickled). Bad
input gets the in-memory path's errors.
"""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

import analysis.twopart.outofcore as outofcore
from analysis.twopart import (
    CollinearityError,
    MissingDataError,
    OutcomeError,
    SeparationError,
    twopm,
)
from analysis.twopart.design import build_design

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("dask.distributed")

RTOL = 1e-10
N = 3000
RHS = "i.f3 ib(2).g c.x c.age c.age#c.age i.bin"
LABELS = ["part", "component", "term", "level", "contrast", "effect"]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(20261206)
    df = pd.DataFrame(
        {
            "f3": rng.choice(["a", "b", "c"], N),
            "g": rng.integers(0, 4, N),
            "bin": rng.integers(0, 2, N),
            "x": rng.normal(size=N),
            "age": rng.integers(18, 65, N).astype(float),
            "cl": rng.integers(0, 40, N),  # every cluster in many partitions
        }
    )
    e1 = 0.3 * (df.f3 == "b") + 0.1 * df.g + 0.4 * df.x - 0.2 * df.bin - 0.1
    part = rng.normal(size=N) + e1 > 0
    mu = np.exp(5 + 0.2 * (df.f3 == "c") + 0.1 * df.x + 0.01 * df.age)
    df["y"] = np.where(part, mu * rng.gamma(1.5, 1 / 1.5, N), 0.0)
    return df


def split(df: pd.DataFrame) -> "dd.DataFrame":
    """Seven partitions of unequal sizes."""
    cuts = [0, 200, 900, 1000, 1700, 2300, 2350, len(df)]
    return dd.from_pandas(df, npartitions=1).repartition(
        divisions=[df.index[c] for c in cuts[:-1]] + [df.index[-1]]
    )


def assert_same(got, want):
    """Coefficients, covariances, llf and default margins equal to RTOL."""
    for part in ("part1", "part2"):
        assert_allclose(got.params[part], want.params[part], rtol=RTOL, atol=1e-14)
    for g, w in ((got.cov, want.cov), (got.cov_part1, want.cov_part1)):
        g, w = g.to_numpy(), w.to_numpy()
        scale = np.sqrt(np.outer(np.diag(w), np.diag(w)))
        assert np.max(np.abs(g - w) / scale) < RTOL
    assert_allclose(got.llf, want.llf, rtol=RTOL)
    mg, mw = got.margins(), want.margins()
    pd.testing.assert_frame_equal(mg[LABELS], mw[LABELS])
    assert list(mg.columns) == list(mw.columns)
    for col in ("estimate", "se", "z", "ci_low", "ci_high"):
        assert_allclose(mg[col], mw[col], rtol=RTOL, atol=1e-14)


CASES = {
    "probit_gamma_oim": {},
    "probit_gamma_cluster": {"vce": "cluster", "cluster": "cl"},
    "logit_gaussian_robust": {
        "model1": "logit",
        "family": "gaussian",
        "link": "identity",
        "vce": "robust",
    },
    "probit_poisson_cl": {"family": "poisson", "vce": "cl", "cluster": "cl"},
    "probit_gamma_eim": {"vce": "eim"},
}


@pytest.mark.parametrize("case", list(CASES))
def test_dask_frame_equals_pandas(data, case):
    kw = CASES[case]
    want = twopm(data, "y", RHS, **kw)
    got = twopm(split(data), "y", RHS, **kw)
    assert_same(got, want)
    # the metadata pass and one Newton pass with variances and margins: the
    # start, fitted on a sample that is here the whole data, is the estimate
    assert got.outofcore["passes"] == 2


@pytest.mark.parametrize("case", ["probit_gamma_cluster", "logit_gaussian_robust"])
def test_newton_from_a_small_sample(data, case, monkeypatch):
    """Starting values from 300 rows of 3 partitions: full-data Newton steps."""
    monkeypatch.setattr(outofcore, "SAMPLE_ROWS", 300)
    monkeypatch.setattr(outofcore, "SAMPLE_PARTITIONS", 3)
    kw = CASES[case]
    got = twopm(split(data), "y", RHS, **kw)
    assert_same(got, twopm(data, "y", RHS, **kw))
    assert got.outofcore["sample_rows"] < 400
    steps = [max(s) for s in got.outofcore["steps"]]
    assert len(steps) >= 3 and steps[-1] <= 1e-10 < steps[0]


def test_parquet_path_missing_drop_and_participation(data, tmp_path):
    df = data.copy()
    df.loc[[3, 1500, 2999], "x"] = np.nan
    df["took"] = (df.y > 0).astype(int)
    df.loc[[10, 2000], "y"] = np.nan  # participants without an amount
    df.loc[df.took == 0, "y"] = 0.0
    split(df).to_parquet(tmp_path / "claims")
    kw = {"participation": "took", "missing": "drop", "part2": "c.x i.f3"}
    want = twopm(df, "y", RHS, **kw)
    got = twopm(tmp_path / "claims", "y", RHS, **kw)
    assert_same(got, want)
    assert got.dropped == want.dropped
    assert got.nobs == want.nobs


def test_other_margin_requests_take_one_pass(data):
    want = twopm(data, "y", RHS)
    got = twopm(split(data), "y", RHS)
    passes = got.outofcore["passes"]
    for kw in (
        {"variables": ["x", "f3"], "parts": ("combined",)},
        {"part2_sample": "all"},
    ):
        mg, mw = got.margins(**kw), want.margins(**kw)
        pd.testing.assert_frame_equal(mg[LABELS], mw[LABELS])
        assert_allclose(mg["se"], mw["se"], rtol=RTOL)
        assert_allclose(mg["estimate"], mw["estimate"], rtol=RTOL, atol=1e-14)
    with pytest.raises(NotImplementedError, match="at\\(\\), over\\(\\)"):
        got.margins(over="bin")
    with pytest.raises(NotImplementedError, match="estimation rows"):
        got.predictive_margins()
    new = data.iloc[:5]
    assert_allclose(got.predict(new), want.predict(new), rtol=RTOL)
    assert "Two-part model of y" in str(got.summary())
    assert got.outofcore["passes"] == passes + 2  # one pass per new request


def test_distributed_cluster_by_address(data):
    """Workers as threads of this process: the distributed scheduler's path."""
    want = twopm(data, "y", RHS, vce="cluster", cluster="cl")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as lc:
        got = twopm(
            split(data),
            "y",
            RHS,
            vce="cluster",
            cluster="cl",
            scheduler=lc.scheduler_address,
        )
    assert_same(got, want)


def test_distributed_cluster_worker_processes(data, tmp_path):
    """Two worker processes reading parquet: plan and results cross processes."""
    split(data).to_parquet(tmp_path / "claims")
    want = twopm(data, "y", RHS, vce="robust")
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            env={"OPENBLAS_NUM_THREADS": "1"},
        ) as lc,
        distributed.Client(lc) as client,
    ):
        got = twopm(tmp_path / "claims", "y", RHS, vce="robust", client=client)
    assert_same(got, want)


def test_errors_as_in_memory(data):
    ddf = split(data)
    with pytest.raises(ValueError, match=r"columns not in the data: \['nope'\]"):
        twopm(ddf, "y", "c.x c.nope")
    # a base level absent from every partition
    with pytest.raises(ValueError, match=r"ib\(9\).g: level '9' not in"):
        twopm(ddf, "y", "ib(9).g c.x")
    # a level with no participant: refused before any full-data step
    sep = data.assign(y=np.where(data.g == 3, 0.0, data.y))
    with pytest.raises(SeparationError, match="g=3 predicts the outcome perfectly"):
        twopm(split(sep), "y", "i.g c.x")
    # a participant with a non-positive amount in a log-link part 2
    bad = data.assign(took=(data.y > 0).astype(int))
    bad.loc[bad.index[:4], "took"] = 1
    bad.loc[bad.index[:4], "y"] = 0.0
    msg = "rows where 'took' contradicts 'y'"
    with pytest.raises(OutcomeError, match=msg):
        twopm(bad, "y", "c.x", participation="took")
    with pytest.raises(OutcomeError, match=msg):
        twopm(split(bad), "y", "c.x", participation="took")
    miss = data.assign(x=data.x.where(data.index != 7))
    with pytest.raises(MissingDataError, match=r"part 1: x \(1\)"):
        twopm(split(miss), "y", "c.x")
    # a part-2 level absent among the positives
    zero = data.assign(y=np.where(data.f3 == "c", 0.0, data.y), f4=data.f3)
    with pytest.raises(CollinearityError, match=r"part 2: columns \['f4=c'\]"):
        twopm(split(zero), "y", "c.x", part2="i.f4 c.x")
    with pytest.raises(ValueError, match="do not support sampling weights"):
        twopm(ddf, "y", "c.x", weights="age", vce="robust")


def test_sample_partitions_spread_and_cover():
    lengths = np.full(100, 10_000)
    take, stride = outofcore._sample_partitions(lengths, 60_000, 8)
    assert take.size == 8 and take.min() < 20 and take.max() > 80 and stride == 2
    take, stride = outofcore._sample_partitions(np.full(100, 10**6), 10**6, 8)
    assert take.size == 8 and stride == 8
    take, stride = outofcore._sample_partitions(np.array([5, 0, 7]), 100, 8)
    assert_allclose(take, [0, 2])
    assert stride == 1


def test_streaming_floor_pass_forms_both_parts_information(data):
    """The benchmark's floor: X'X over every row and over the positive outcomes,
    equal to the design's own products."""
    rhs = "i.f3 i.g c.x c.age"
    levels = {"f3": ["a", "b", "c"], "g": [0, 1, 2, 3]}
    got = outofcore.streaming_xtwx(
        split(data), rhs, ["f3", "g", "x", "age"], levels, positive="y"
    )
    X = build_design(data, rhs).X
    X2 = X[data["y"].to_numpy() > 0]
    assert_allclose(got[0], X.T @ X, rtol=1e-12)
    assert_allclose(got[1], X2.T @ X2, rtol=1e-12)
