"""The bootstrap and the Monte-Carlo check on a Dask cluster (a LocalCluster started
here) give the same numbers as the in-process run: same chunks, same SeedSequence
children."""

import numpy as np
import pytest

from analysis.inference import montecarlo as mc
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


def test_montecarlo_on_a_cluster_equals_local():
    """``make montecarlo SCHEDULER=...``: the simulations run on a cluster's workers
    and give the same numbers as in one process (each has its own seed child)."""
    dgp = mc.calibrate(toy_analytic(600, np.random.default_rng(2)), "ncms")
    local = mc.run([dgp], 2, 3, seed=4)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as lc:
        remote = mc.run([dgp], 2, 3, seed=4, scheduler=lc.scheduler_address)
    for a, b in zip(local[0], remote[0], strict=True):
        for key in ("estimate", "se_delta", "se_boot", "ci_low", "ci_high"):
            np.testing.assert_array_equal(a[key], b[key])
        assert a["failed"] == b["failed"] and a["boot_failed"] == b["boot_failed"]
