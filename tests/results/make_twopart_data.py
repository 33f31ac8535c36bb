"""Generate tests/results/twopart_data.csv, the deterministic data set shared by the
R reference scripts (tests/r/*.R) and the Python tests.

Run: .venv/bin/python tests/results/make_twopart_data.py
"""

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm

N = 600
SEED = 20240611


def make() -> pd.DataFrame:
    """Two-part DGP: probit participation, gamma-log amount, beta ratio."""
    rng = np.random.default_rng(SEED)
    stratum = np.repeat(np.arange(1, 7), N // 6)
    psu = np.tile(np.repeat(np.arange(1, 6), N // 30), 6)  # 5 PSUs per stratum
    cl = rng.integers(1, 31, N)
    f3 = rng.choice(np.array(["a", "b", "c"]), N, p=[0.4, 0.35, 0.25])
    x = np.round(rng.normal(40, 10, N), 1)
    dd = rng.binomial(1, 0.45, N)
    fb = (f3 == "b").astype(float)
    fc = (f3 == "c").astype(float)
    xs = (x - 40) / 10
    psu_eff = rng.normal(0, 0.3, 30)[(stratum - 1) * 5 + psu - 1]
    idx1 = -0.1 + 0.4 * fb + 0.8 * fc + 0.3 * xs - 0.15 * xs**2 + 0.3 * dd + psu_eff
    part = (idx1 + rng.normal(size=N) > 0).astype(int)
    idx2 = 7.5 + 0.3 * fb + 0.6 * fc + 0.2 * xs + 0.05 * xs**2 - 0.2 * dd + psu_eff
    amount = np.exp(idx2) * rng.gamma(1.5, 1 / 1.5, N)
    mu_r = norm.cdf(-0.2 + 0.3 * fb + 0.5 * fc + 0.1 * xs - 0.2 * dd)
    ratio = rng.beta(mu_r * 6, (1 - mu_r) * 6)
    w = np.round(rng.uniform(0.5, 3.0, N), 3)
    return pd.DataFrame(
        {
            "y": np.where(part == 1, np.round(amount, 2), 0.0),
            "ratio": np.where(part == 1, np.round(ratio, 6), 0.0),
            "f3": f3,
            "x": x,
            "x_sq": x * x,
            "dd": dd,
            "cl": cl,
            "stratum": stratum,
            "psu": psu,
            "w": w,
        }
    )


if __name__ == "__main__":
    out = Path(__file__).with_name("twopart_data.csv")
    make().to_csv(out, index=False, float_format="%.10g")
    print(f"wrote {out}")
