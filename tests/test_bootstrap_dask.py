"""The bootstrap on a Dask cluster (a LocalCluster started here) gives the same draws
as the in-process run: same chunks, same SeedSequence children."""

import numpy as np
import pytest

from analysis.inference.bootstrap.problem import build_problem
from analysis.inference.bootstrap.resample import cluster
from analysis.inference.bootstrap.runner import run_replications
from analysis.inference.bootstrap.synthetic import toy_analytic

distributed = pytest.importorskip("dask.distributed")


@pytest.mark.parametrize(
    "processes", [False, pytest.param(True, marks=pytest.mark.slow)]
)
def test_dask_cluster_equals_local(processes):
    """Worker threads in this process (fast) or worker processes (slow: ~25 s of
    start-up and imports on 2 cores)."""
    frame = toy_analytic(800, np.random.default_rng(5))
    problem = build_problem(frame, cluster(frame["stratum"], frame["psu"]))
    local, f_local = run_replications(problem, 10, seed=9, workers=1)
    extra = {"env": {"OPENBLAS_NUM_THREADS": "1"}} if processes else {}
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=processes,
        dashboard_address=None,
        **extra,
    ) as lc:
        remote, f_remote = run_replications(
            problem, 10, seed=9, scheduler=lc.scheduler_address, chunk=3
        )
    np.testing.assert_array_equal(local, remote)
    assert f_local.equals(f_remote)
