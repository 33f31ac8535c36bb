"""Run replications on local cores (joblib/loky) or a Dask cluster, with progress.

Replications are cut into chunks of consecutive ids; each chunk returns its ids
with its draws, which are written into row ``r`` of the result, so the result is
the same for any number of workers, chunk size or completion order (each
replication's randomness comes from its own SeedSequence child,
:func:`.resample.child_rng`). ``workers=1`` runs in-process. With ``scheduler``
(a ``dask.distributed`` address such as ``tcp://host:8786``) the same chunks run
through joblib's Dask backend on that cluster.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from dask.distributed import Client
from joblib import Parallel, delayed, parallel_config
from tqdm import tqdm

from .problem import Problem
from .replicate import FAILURE_COLUMNS, replicate_chunk


@dataclass(frozen=True)
class Replication:
    """What one kind of bootstrap replicates, and how its failures are tabled.

    ``chunk(problem, seed, ids)`` returns ``(ids, draws, failure rows)`` with draws of
    shape ``(len(ids), *shape(problem))``; the failure rows have ``failure_columns``
    and are sorted by ``order`` (stable, so a replication's rows keep their order).
    """

    chunk: Callable
    shape: Callable[[object], tuple[int, ...]]
    failure_columns: tuple[str, ...]
    order: tuple[str, ...]
    desc: str


#: The Table 3-4 bootstrap (:mod:`.replicate`): one draw per quantity.
TABLE_QUANTITIES = Replication(
    replicate_chunk,
    lambda problem: (problem.n_quantities,),
    FAILURE_COLUMNS,
    ("rep", "sample", "outcome"),
    "bootstrap",
)


def run_replications(
    problem: Problem,
    reps: int,
    seed: int,
    workers: int = 1,
    scheduler: str | None = None,
    chunk: int | None = None,
    progress: bool = False,
    replication: Replication = TABLE_QUANTITIES,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Draw ``reps`` replications of every quantity of ``problem``.

    Parameters
    ----------
    problem : Problem
        From :func:`.problem.build_problem`.
    reps : int
        Number of replications (ids 0..reps-1).
    seed : int
        Master seed; replication r uses ``SeedSequence(seed, spawn_key=(r,))``.
    workers : int
        Local processes (joblib loky); ignored with ``scheduler`` (all of the
        cluster's workers are used).
    scheduler : str, optional
        Dask scheduler address; runs the chunks on that cluster.
    chunk : int, optional
        Replications per task (default: about 8 tasks per worker).
    progress : bool
        Show a tqdm progress bar over replications.
    replication : Replication
        What is replicated (default: the Table 3-4 quantities).

    Returns
    -------
    draws : ndarray (reps, Q)
        NaN where a replication's fit failed (``(reps, *replication.shape(problem))``).
    failures : DataFrame
        One row per failed (replication, sample, outcome) refit.
    """
    if reps < 1:
        raise ValueError(f"reps={reps} must be at least 1")
    n_tasks = max(1, workers) * 8 if scheduler is None else 64
    chunk = chunk or max(1, -(-reps // n_tasks))
    chunks = [range(a, min(a + chunk, reps)) for a in range(0, reps, chunk)]
    draws = np.full((reps, *replication.shape(problem)), np.nan)
    failures: list[tuple] = []
    bar = tqdm(total=reps, disable=not progress, unit="rep", desc=replication.desc)
    results = _results(replication.chunk, problem, seed, chunks, workers, scheduler)
    for ids, out, fails in results:
        draws[ids.start : ids.stop] = out
        failures += fails
        bar.update(len(ids))
    bar.close()
    table = pd.DataFrame(failures, columns=list(replication.failure_columns))
    table = table.sort_values(list(replication.order), kind="stable")
    return draws, table.reset_index(drop=True)


def _results(replicate, problem, seed, chunks, workers, scheduler):
    if scheduler is None and workers <= 1:
        for ids in chunks:
            yield replicate(problem, seed, ids)
        return

    tasks = (delayed(replicate)(problem, seed, ids) for ids in chunks)
    yield from run_parallel(tasks, workers, scheduler)


def run_parallel(tasks, workers: int, scheduler: str | None = None):
    """Results of joblib ``tasks`` as they finish, on local processes or a cluster.

    ``scheduler`` (a ``dask.distributed`` address such as ``tcp://host:8786``) runs
    them on that cluster's workers; otherwise ``workers`` local loky processes, one
    BLAS thread each.
    """
    if scheduler is None:
        with parallel_config(backend="loky", inner_max_num_threads=1):
            yield from Parallel(n_jobs=workers, return_as="generator_unordered")(tasks)
        return
    with Client(scheduler) as client, parallel_config(backend="dask"):
        client.wait_for_workers(1)
        yield from Parallel(n_jobs=-1, return_as="generator_unordered")(tasks)
