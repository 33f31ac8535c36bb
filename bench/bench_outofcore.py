"""Time out-of-core two-part fits on claims-like partitioned parquet data.

The data (never in the repository): ``/tmp/claims/N<n>/part-<i>.parquet``, files of
1,000,000 rows each drawn from their own seed, so any N is written file by file in
bounded memory and the same files are reused. Columns are compact as claims
extracts store them: 7 factors and 5 binaries as int8 codes, age as float64, a
hospital id (int32, 2,000 hospitals, the cluster) and the amount y (zero for
non-users, Gamma with a log mean otherwise). Part 1 probit, part 2 Gamma(log), the
regressors of ``bench_twopart.py`` with age squared as ``c.age#c.age`` (K = 27).

Jobs, each in a fresh subprocess (its own peak RSS, read by ``getrusage``):

* ``xtwx``: one streaming pass of X'X over the same files, X built per block as a
  fit builds it (:func:`analysis.twopart.outofcore.streaming_xtwx`);
* ``xtwx2``: the same pass also forming X'X over the users (part 2's rows): the matrix
  work of one Newton step of the two-part model, the floor;
* ``dask-oim`` / ``dask-cluster``: ``twopm(path, ...)`` with OIM or hospital-cluster
  SEs, all default margins with SEs computed in the fit (Dask's local threads);
* ``pandas-oim`` / ``pandas-cluster`` (``--pandas``): the files read into one pandas
  frame, then the in-memory ``twopm`` + ``margins()`` (reading not timed).

Each row reports wall and CPU seconds, full-data passes (the metadata pass, the
Newton passes, the last of which also computes variances and margins), peak RSS,
and the 1-minute load average before and after (the machine is shared: wall well
above CPU / 2 means waiting for a core). Dask and pandas results of the same N are
compared (maximum relative difference of coefficients, covariances relative to
sqrt(V_ii V_jj), margins and their SEs).

Run: OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/bench_outofcore.py [--pandas] N ...
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_twopart import BINARIES, FACTORS  # noqa: E402  (the same claims columns)

from analysis.twopart import twopm  # noqa: E402
from analysis.twopart.outofcore import streaming_xtwx  # noqa: E402

ROOT = Path("/tmp/claims")
FILE_ROWS = 1_000_000
HOSPITALS = 2_000
RHS = (
    " ".join(f"i.{f}" for f in FACTORS)
    + " c.age c.age#c.age "
    + " ".join(f"i.{b}" for b in BINARIES)
)
COLUMNS = [*FACTORS, *BINARIES, "age"]


def claims_file(rows: int, seed: int) -> pa.Table:
    """One file of claims-like rows (module docstring), deterministic in ``seed``."""
    rng = np.random.default_rng([20261206, seed])
    cols = {f: rng.integers(0, k, rows).astype(np.int8) for f, k in FACTORS.items()}
    for b in BINARIES:
        cols[b] = rng.integers(0, 2, rows).astype(np.int8)
    cols["age"] = rng.integers(18, 90, rows).astype(np.float64)
    hosp = rng.integers(0, HOSPITALS, rows).astype(np.int32)
    effect = np.random.default_rng([20261206, 0]).normal(0, 0.2, HOSPITALS)
    idx = sum(0.15 * cols[f] for f in FACTORS) - 0.5 + 0.1 * cols["female"]
    idx = idx + 0.01 * (cols["age"] - 50) + effect[hosp]
    use = rng.normal(size=rows) + idx - 0.6 > 0
    mean = np.exp(7 + 0.1 * idx + 0.01 * cols["age"] + effect[hosp])
    y = np.where(use, mean * rng.gamma(1.2, 1 / 1.2, rows), 0.0)
    return pa.table({**cols, "hospital": hosp, "y": y})


def write(n: int) -> Path:
    """The data set of ``n`` rows (written once; file i has seed i)."""
    path = ROOT / f"N{n}"
    done = path / "_complete"
    if done.exists():
        return path
    path.mkdir(parents=True, exist_ok=True)
    for i, start in enumerate(range(0, n, FILE_ROWS)):
        rows = min(FILE_ROWS, n - start)
        pq.write_table(claims_file(rows, i), path / f"part-{i:04d}.parquet")
    done.write_text(str(n))
    return path


def child(job: str, n: int) -> dict:
    """Run one job in this process; return its measurements."""
    path = write(n)
    kind = job.split("-")[1] if "-" in job else ""
    vce = {"vce": "cluster", "cluster": "hospital"} if kind == "cluster" else {}
    out: dict = {"job": job, "n": n}
    if job.startswith("pandas"):
        df = pd.read_parquet(path)
    load, t0, c0 = os.getloadavg()[0], time.perf_counter(), time.process_time()
    if job in ("xtwx", "xtwx2"):
        levels = {f: list(range(k)) for f, k in FACTORS.items()}
        positive = "y" if job == "xtwx2" else None
        streaming_xtwx(
            path, RHS, COLUMNS, {**levels, **{b: [0, 1] for b in BINARIES}},
            positive=positive,
        )  # fmt: skip
    elif job.startswith("dask"):
        res = twopm(str(path), "y", RHS, **vce)
        m = res.margins()
        out.update(res.outofcore)
    else:
        res = twopm(df, "y", RHS, **vce)
        m = res.margins()
    out["seconds"] = time.perf_counter() - t0
    out["cpu_seconds"] = time.process_time() - c0
    out["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["load1_before"], out["load1_after"] = load, os.getloadavg()[0]
    if not job.startswith("xtwx"):
        keep = ROOT / "results" / f"{job}-N{n}.npz"
        keep.parent.mkdir(parents=True, exist_ok=True)
        np.savez(
            keep,
            params=res.params.to_numpy(),
            cov=res.cov.to_numpy(),
            est=m["estimate"].to_numpy(),
            se=m["se"].to_numpy(),
        )
    return out


def compare(n: int, kind: str) -> dict:
    """Maximum relative differences of the dask and pandas results of one N."""
    a = np.load(ROOT / "results" / f"dask-{kind}-N{n}.npz")
    b = np.load(ROOT / "results" / f"pandas-{kind}-N{n}.npz")
    s = np.sqrt(np.outer(np.diag(b["cov"]), np.diag(b["cov"])))

    def rel(x, y):
        return float(np.max(np.abs(x - y) / np.abs(y)))

    return {
        "job": f"dask vs pandas ({kind})",
        "n": n,
        "params": rel(a["params"], b["params"]),
        "cov": float(np.max(np.abs(a["cov"] - b["cov"]) / s)),
        "margins": rel(a["est"], b["est"]),
        "margin_se": rel(a["se"], b["se"]),
    }


def main(sizes: list[int], pandas: bool) -> None:
    jobs = ["xtwx", "xtwx2", "dask-oim", "dask-cluster"]
    jobs += ["pandas-oim", "pandas-cluster"] if pandas else []
    rows = []
    for n in sizes:
        t = time.perf_counter()
        write(n)
        print(f"N={n:,}: data ready in {time.perf_counter() - t:.1f} s", flush=True)
        for job in jobs:
            done = subprocess.run(
                [sys.executable, __file__, "--child", job, str(n)],
                capture_output=True,
                text=True,
                check=True,
            )
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), flush=True)
        if pandas:
            for kind in ("oim", "cluster"):
                print(json.dumps(compare(n, kind)), flush=True)
    table = pd.DataFrame(rows).drop(columns="steps", errors="ignore")
    xtwx = table[table.job == "xtwx2"].set_index("n")  # the two-part Newton step
    dask = table.job.str.startswith("dask")
    # the Newton passes at the floor's speed (wall and CPU), and the job's ratio
    for col, short in (("seconds", "wall"), ("cpu_seconds", "cpu")):
        floor = table.n[dask].map(xtwx[col]) * table.newton_passes[dask]
        table.loc[dask, f"floor_{short}"] = floor
        table.loc[dask, f"x_floor_{short}"] = table[col][dask] / floor
    print(table.to_markdown(index=False, floatfmt=".2f"))


if __name__ == "__main__":
    if sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], int(sys.argv[3]))))
    else:
        args = [a for a in sys.argv[1:] if a != "--pandas"]
        main([int(a) for a in args], "--pandas" in sys.argv)
