"""Time analysis.twopart against the plain statsmodels way, at several N.

Each (method, N) runs in a fresh subprocess so peak RSS is its own. The job: part 1
probit + part 2 Gamma(log) GLM on Table-3-shaped data (7 factors, age, age squared,
5 binaries: K = 27 with the constant), then AMEs with delta-method SEs for every
regressor in both parts (and, for twopart, the combined mean with its split).
Baseline: sm.Probit(...).fit() + sm.GLM(..., Gamma(Log())).fit(method="newton") +
get_margeff(dummy=True) per part; with ``--no-baseline-margins-above`` N the
baseline skips get_margeff (it needs O(N K^2) memory).

``cpu_seconds`` (process CPU time) and ``load1_before``/``load1_after`` (1-minute load
average when the timed job starts and ends) show whether other jobs shared the
machine: with one BLAS thread, wall time well above CPU time means the process waited
for a core. twopart rows also give the CPU split between fit and margins;
``twopart-generic`` is the same job with the generic per-scenario margins
(``margins(_generic=True)``), the code path before the vectorised one.

Run: OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/bench_twopart.py [N ...]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FACTORS = {
    "scheme": 3,
    "education": 4,
    "income": 5,
    "scope": 3,
    "reason": 3,
    "duration": 4,
    "facility": 4,
}
BINARIES = ["female", "married", "has_job", "rural", "urban"]
RHS = (
    " ".join(f"i.{f}" for f in FACTORS)
    + " c.age c.age_sq "
    + " ".join(f"i.{b}" for b in BINARIES)
)


def make_data(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({f: rng.integers(0, k, n) for f, k in FACTORS.items()})
    for b in BINARIES:
        df[b] = rng.integers(0, 2, n)
    df["age"] = rng.integers(18, 65, n).astype(float)
    df["age_sq"] = df.age**2
    idx = sum(0.15 * df[f] for f in FACTORS) - 0.5 + 0.1 * df.female
    part = rng.normal(size=n) + idx - 0.6 > 0
    amount = np.exp(7 + 0.1 * idx + 0.01 * df.age) * rng.gamma(1.2, 1 / 1.2, n)
    df["y"] = np.where(part, amount, 0.0)
    return df


def run_twopart(df: pd.DataFrame, fast: bool = True) -> dict:
    """Fit and margins; returns the CPU seconds of each (``fast``: vectorised).

    ``fast=False`` forces the generic per-scenario margins
    (``margins(_generic=True)``), the code path before the vectorised one.
    """
    from analysis.twopart import twopm  # imported before the clock starts

    c0 = time.process_time()
    res = twopm(df, "y", RHS)
    c1 = time.process_time()
    res.margins(_generic=not fast)
    c2 = time.process_time()
    return {"fit_cpu_seconds": c1 - c0, "margins_cpu_seconds": c2 - c1}


def run_baseline(df: pd.DataFrame, margins: bool) -> None:
    import statsmodels.api as sm  # imported before the clock starts

    X = pd.get_dummies(
        df[list(FACTORS) + BINARIES].astype("category"), drop_first=True, dtype=float
    )
    X[["age", "age_sq"]] = df[["age", "age_sq"]]
    X = sm.add_constant(X).to_numpy()
    d = (df.y > 0).to_numpy(float)
    p1 = sm.Probit(d, X).fit(disp=0)
    pos = d == 1
    fam = sm.families.Gamma(sm.families.links.Log())
    p2 = sm.GLM(df.y.to_numpy()[pos], X[pos], family=fam).fit(method="newton", disp=0)
    if margins:
        p1.get_margeff(at="overall", dummy=True).summary_frame()
        p2.get_margeff(at="overall", dummy=True).summary_frame()


def time_xtwx_pass(n: int, k: int = 27, repeat: int = 3) -> float:
    """Seconds of one blocked X' diag(v) X pass at (n, k): the fits' unit of work.

    Best of ``repeat`` (the floor of the target "within 3x of the X'WX passes
    the fits need", about 32 passes by the count in statsmodels_baseline.md).
    """
    from analysis.twopart.newton import xtwx

    rng = np.random.default_rng(0)
    X = np.asfortranarray(rng.random((n, k)))
    v = rng.random(n)
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        xtwx(X, v)
        best = min(best, time.perf_counter() - t)
    return best


def child(method: str, n: int, margins: bool) -> None:
    import resource

    if method == "xtwx":
        sec = time_xtwx_pass(n)
        load = os.getloadavg()[0]
        print(
            json.dumps(
                {
                    "method": "xtwx pass",
                    "n": n,
                    "seconds": sec,
                    "x32_passes": 32 * sec,
                    "load1_before": load,
                }
            )
        )
        return

    import statsmodels.api  # noqa: F401  (imports are not timed)

    import analysis.twopart  # noqa: F401

    df = make_data(n)
    before = _rss_mib()
    load = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    split = {}
    if method.startswith("twopart"):
        split = run_twopart(df, fast=method == "twopart")
    else:
        run_baseline(df, margins)
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "method": method,
                "n": n,
                "seconds": secs,
                "cpu_seconds": cpu,
                "load1_before": load,
                "peak_mib": peak,
                "rss_before_mib": before,
                "margins": margins,
                "load1_after": os.getloadavg()[0],
                **split,
            }
        )
    )


def _rss_mib() -> float:
    """Current resident memory (Linux), MiB: data and imports before the clock."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main(sizes=(1_165, 200_000, 2_000_000), margins_max=200_000) -> None:
    rows = []
    for n in sizes:
        for method in ("xtwx", "twopart", "twopart-generic", "statsmodels"):
            margins = method != "statsmodels" or n <= margins_max
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    method,
                    str(n),
                    str(int(margins)),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(rows[-1], flush=True)
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".2f"))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]), bool(int(sys.argv[4])))
    elif len(sys.argv) > 1:
        main(tuple(int(a) for a in sys.argv[1:]))
    else:
        main()
