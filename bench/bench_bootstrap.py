"""Time the bootstrap of the Table 3-4 model set against a naive statsmodels loop.

The job: B pairs-bootstrap replications of the full model set (3 samples x
{probit, Gamma-log amount, Gamma-log ratio}) with every AME. Each method runs in a
fresh subprocess; peak memory is the peak of the summed RSS of that process and its
children (loky / Dask workers), sampled every 50 ms.

* ``package``: :func:`analysis.inference.bootstrap.results.bootstrap` (full-sample fits,
  kernels, B refits of 9 models with all margins: part 1, part 2, combined with
  the extensive/intensive split, plus the summary and CIs), with 1 and 2 workers.
  Timed from data in memory to tidy result (imports excluded; worker start-up
  included).
* ``naive``: per replication, rows drawn (same SeedSequence children), pandas
  subsample and design frame per sample, ``sm.Probit(...).fit()`` and
  ``sm.GLM(..., Gamma(Log())).fit()`` for amount and ratio with
  ``get_margeff(at="overall")`` on each (the plain statsmodels way of
  ``/work/shared/research/statsmodels_baseline.md``). Run for ``--naive-reps``
  replications and extrapolated linearly to B (stated in the output).

Run: OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/bench_bootstrap.py
     [--reps 999] [--naive-reps 40] [--data PATH_TO_ANALYTIC_PARQUET]
Without --data the analytic-schema frame of analysis.inference.bootstrap.synthetic (N =
1,165)
is used.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def load(data: str | None):
    import pandas as pd

    from analysis.inference.bootstrap.synthetic import toy_analytic

    if data:
        return pd.read_parquet(data)
    return toy_analytic(1165, np.random.default_rng(2022))


class PeakRSS:
    """Peak of the summed RSS of this process and its children."""

    def __init__(self):
        import psutil

        self.proc, self.peak, self.stop = psutil.Process(), 0, False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop:
            total = 0
            for p in [self.proc, *self.proc.children(recursive=True)]:
                try:
                    total += p.memory_info().rss
                except Exception:
                    pass
            self.peak = max(self.peak, total)
            time.sleep(0.05)

    def close(self) -> float:
        self.stop = True
        self.thread.join()
        return self.peak / 2**20


class Clock:
    """Wall and CPU time, load and peak RSS of one timed job (the record both share)."""

    def __init__(self):
        self.mem = PeakRSS()
        self.load1 = os.getloadavg()[0]
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def stop(self, reps: int) -> dict:
        return {
            "seconds": time.perf_counter() - self.wall,
            "cpu_seconds_main_process": time.process_time() - self.cpu,
            "load1_before": self.load1,
            "reps": reps,
            "peak_mib": self.mem.close(),
        }


def run_package(data, reps: int, workers: int) -> dict:
    from analysis.inference.bootstrap import results

    frame = load(data)
    clock = Clock()
    res = results.bootstrap(frame, reps, seed=1, scheme="pairs", workers=workers)
    f = res.failures
    return {
        **clock.stop(reps),
        "refits_failed": int((f["rep"] >= 0).sum()),
        "full_sample_failed": int((f["rep"] < 0).sum()),
        "failed_by": {
            "/".join(k): int(v)
            for k, v in f.groupby(["sample", "outcome", "error"]).size().items()
        },
        "quantities": len(res.quantities),
    }


def run_naive(data, reps: int) -> dict:
    import statsmodels.api as sm

    from analysis.cleaning.schema import SUBSAMPLES
    from analysis.inference.bootstrap.resample import child_rng
    from analysis.paper import models
    from analysis.paper.estimates import subsample

    frame = load(data)
    cols = {
        s: [
            t.split(".", 1)[1]
            for t in models.regressors(
                s, "columnwise", models.design_frame(subsample(frame, s))
            ).split()
        ]
        for s in SUBSAMPLES
    }
    failed, fits = 0, 0
    clock = Clock()
    for r in range(reps):
        boot = frame.iloc[child_rng(1, r).integers(0, len(frame), len(frame))]
        for s in SUBSAMPLES:
            fits += 1
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    data_s = models.design_frame(subsample(boot, s))
                    X = sm.add_constant(data_s[cols[s]].to_numpy(float), prepend=False)
                    d = data_s["reimbursed"].to_numpy(float)
                    p1 = sm.Probit(d, X).fit(disp=0)
                    p1.get_margeff(at="overall")
                    for y in ("reimb_amount", "reimb_ratio"):
                        rows = (d == 1) & data_s[y].notna().to_numpy()
                        g = sm.GLM(
                            data_s.loc[rows, y].to_numpy(),
                            X[rows],
                            family=sm.families.Gamma(sm.families.links.Log()),
                        ).fit()
                        g.get_margeff(at="overall")
            except Exception:
                failed += 1
    return {
        **clock.stop(reps),
        "sample_refits": fits,
        "sample_refits_failed": failed,
    }


def child(args) -> None:
    if args.method == "naive":
        out = run_naive(args.data, args.reps)
    else:
        out = run_package(args.data, args.reps, int(args.method[-1]))
    print("RESULT " + json.dumps(out, default=str))


def parent(args) -> None:
    rows = {}
    for method, reps in (
        ("package-w2", args.reps),
        ("package-w1", args.reps),
        ("naive", args.naive_reps),
    ):
        cmd = [sys.executable, __file__, "--child", method, "--reps", str(reps)]
        if args.data:
            cmd += ["--data", args.data]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        rows[method] = json.loads(out.split("RESULT ", 1)[1])
        print(method, rows[method], flush=True)
    naive = rows["naive"]
    per_rep = naive["seconds"] / naive["reps"]
    naive_b = per_rep * args.reps
    print(
        f"\nnaive statsmodels: {naive['seconds']:.1f} s for {naive['reps']} reps "
        f"= {per_rep:.3f} s/rep -> {naive_b:.0f} s for {args.reps} "
        f"({'measured' if naive['reps'] == args.reps else 'extrapolated'}); "
        f"{naive['sample_refits_failed']} of {naive['sample_refits']} sample refits "
        "failed"
    )
    for m in ("package-w2", "package-w1"):
        r = rows[m]
        print(
            f"{m}: {r['seconds']:.1f} s for {r['reps']} reps, "
            f"{naive_b / r['seconds']:.1f}x faster than naive, peak "
            f"{r['peak_mib']:.0f} MiB (naive {naive['peak_mib']:.0f} MiB), "
            f"{r['refits_failed']} failed refits {r['failed_by']}"
        )


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=999)
    ap.add_argument("--naive-reps", type=int, default=40)
    ap.add_argument("--data", default=None)
    ap.add_argument("--child", dest="method", default=None)
    a = ap.parse_args()
    child(a) if a.method else parent(a)
