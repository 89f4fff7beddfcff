"""Throughput of the exact engine: 10⁶ random physical points, all 8 channels, default PDF set.

Compares ``physics.evaluate`` with a straightforward vectorised baseline that
interpolates each PDF flavour separately with scipy's RegularGridInterpolator
(linear in ln x, ln Q) and evaluates the formulas channel by channel. Both
run single-threaded, in the same process, on the same points.

    python bench/exact.py [--points N] [--repeat R]

Prints a table and writes bench/results/exact.json.
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from scipy.interpolate import RegularGridInterpolator  # noqa: E402

import physics  # noqa: E402
from physics import constants as c  # noqa: E402
from physics.coupling import alpha_s  # noqa: E402
from physics.pdf import load_pdf  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def sample_points(n: int, seed: int = 2024, sqrt_s: float = 63.0):
    """Physical points: log-uniform x and Q over the allowed region, uniform z and P_T."""
    rng = np.random.default_rng(seed)
    s = sqrt_s**2
    xs, qs = [], []
    have = 0
    while have < n:
        Q = np.exp(rng.uniform(np.log(1.7), np.log(0.95 * sqrt_s), 4 * n))
        x = np.exp(rng.uniform(np.log(1e-4), 0.0, 4 * n))
        ok = (Q**2 / (x * s) <= 1) & (Q**2 * (1 - x) / x + c.M_PROTON**2 >= c.W_THRESHOLD**2)
        xs.append(x[ok])
        qs.append(Q[ok])
        have += int(ok.sum())
    x = np.concatenate(xs)[:n]
    Q = np.concatenate(qs)[:n]
    z = rng.uniform(0.05, 0.95, n)
    PT = rng.uniform(0.0, 5.0, n)
    return x, z, Q, PT


class Baseline:
    """Per-flavour RegularGridInterpolator in (ln x, ln Q), formulas channel by channel."""

    FLAVOURS = (21, 2, -2, 1, -1, 3, -3)

    def __init__(self, pdf):
        xs = pdf.subgrids[0].xs
        qs = np.concatenate([s.qs if i == 0 else s.qs[1:] for i, s in enumerate(pdf.subgrids)])
        self.interp = {}
        for pid in self.FLAVOURS:
            table = np.concatenate(
                [s.xf[:, :, s.pids.index(pid)] if i == 0 else s.xf[:, 1:, s.pids.index(pid)]
                 for i, s in enumerate(pdf.subgrids)], axis=1)  # fmt: skip
            self.interp[pid] = RegularGridInterpolator((np.log(xs), np.log(qs)), table)

    def __call__(self, x, z, Q, PT, sqrt_s=63.0):
        pts = np.column_stack([np.log(x), np.log(Q)])
        f = {pid: self.interp[pid](pts) / x for pid in self.FLAVOURS}
        g = f[21]
        qeff = 4 / 9 * (f[2] + f[-2]) + 1 / 9 * (f[1] + f[-1] + f[3] + f[-3])
        M, C, a_em = c.M_JPSI, c.GEV2_TO_PB, c.ALPHA_EM
        a_m, a_30 = alpha_s(M), alpha_s(30.0)
        y = Q**2 / (x * sqrt_s**2)
        Y = 1 - y + y**2 / 2
        zt, zb = 2 - z, 1 - z
        F = np.exp(-(PT**2) / 0.25) / (math.pi * 0.25)
        G = np.exp(-((1 - z) ** 2) / 0.04) / math.sqrt(math.pi * 0.04)
        K = 2 * a_m**2 * c.O3S1_8 / (9 * math.pi * 3 * M**3 * z)
        den = (z**2 * PT**2 + M**2 * (1 - z)) ** 2
        D1 = K * (PT**2 * z**2 * (z**2 - 2 * z + 2) + 2 * M**2 * (z - 1) ** 2) / den
        D1LL = K * (PT**2 * z**2 * (z**2 - 2 * z + 2) - 4 * M**2 * (z - 1) ** 2) / den
        out = {}
        out["oct3s1_U"] = C * 4 * math.pi * a_em**2 / Q**4 * Y * qeff * 3 * D1
        out["oct3s1_L"] = C * 4 * math.pi * a_em**2 / Q**4 * Y * qeff * (D1 - D1LL)
        out["oct1s0_U"] = (
            C
            * Y
            * 32
            * math.pi**3
            * z
            * a_em**2
            * a_30
            / (9 * M * Q**6 * zt**3)
            * g
            * G
            * F
            * c.O1S0_8
        )
        out["oct1s0_L"] = out["oct1s0_U"] / 3
        P_U = y**2 * (8 + z * (3 * z - 8)) + 8 * (1 - y) * zt - 2 * (1 - y) * z * zt**2
        P_L = (2 - y) ** 2 - 2 * z * (1 - y)
        out["oct3p0_U"] = (
            C
            * 64
            * math.pi**3
            * z
            * a_em**2
            * a_30
            / (9 * M**3 * Q**6 * zt**5)
            * P_U
            * g
            * G
            * F
            * c.O3P0_8
        )
        out["oct3p0_L"] = (
            C
            * 64
            * math.pi**3
            * z**3
            * a_em**2
            * a_30
            / (9 * M**3 * Q**6 * zt**5)
            * P_L
            * g
            * G
            * F
            * c.O3P0_8
        )
        B = (
            C
            * 512
            * math.pi
            * zb
            * a_em**2
            * a_30**2
            / (243 * M * Q**6 * z * zt**2)
            * Y
            * g
            * c.O3S1_1
        )
        out["sing3s1_U"] = B * (PT**2 + zb**2 * M**2 * (2 - z * zt)) / (PT**2 + zb**2 * M**2) ** 2
        out["sing3s1_L"] = B * PT**2 / (PT**2 + zb**2 * M**2) ** 2
        out["total_U"] = out["oct3s1_U"] + out["oct1s0_U"] + out["oct3p0_U"] + out["sing3s1_U"]
        out["total_L"] = out["oct3s1_L"] + out["oct1s0_L"] + out["oct3p0_L"] + out["sing3s1_L"]
        return out


def best_of(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), float(np.median(times))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    pdf = load_pdf()
    x, z, Q, PT = sample_points(args.points)
    physics.evaluate(x[:100], z[:100], Q[:100], PT[:100])  # warm the interpolant caches
    baseline = Baseline(pdf)

    check = physics.evaluate(x, z, Q, PT)
    assert check["valid"].all()
    best_engine, med_engine = best_of(lambda: physics.evaluate(x, z, Q, PT), args.repeat)
    best_base, med_base = best_of(lambda: baseline(x, z, Q, PT), args.repeat)

    # the baseline interpolates linearly: how far is it from the LHAPDF-exact engine?
    ref = baseline(x, z, Q, PT)
    rel = np.abs(ref["total_U"] / check["total_U"] - 1.0)

    n = args.points
    result = {
        "benchmark": "exact engine throughput",
        "points": n,
        "threads": 1,
        "pdf_set": pdf.name,
        "engine": {"best_s": best_engine, "median_s": med_engine, "points_per_s": n / best_engine},
        "baseline": {
            "description": "per-flavour RegularGridInterpolator (linear in ln x, ln Q), "
            "channel by channel",
            "best_s": best_base,
            "median_s": med_base,
            "points_per_s": n / best_base,
            "total_U_rel_diff_vs_engine": {
                "median": float(np.median(rel)),
                "p99": float(np.quantile(rel, 0.99)),
            },
        },
        "speedup": best_base / best_engine,
        "target": {"points_per_s": 2e6, "speedup": 3.0},
        "machine": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
        },
        "command": "python bench/exact.py " + " ".join(argv or []),
    }
    print(f"points                    {n:,}")
    mpts = 1e-6 * n
    print(f"engine   points/s         {mpts / best_engine:8.2f} M", end="")
    print(f"   (best of {args.repeat}; median {mpts / med_engine:.2f} M)")
    print(f"baseline points/s         {mpts / best_base:8.2f} M   (median {mpts / med_base:.2f} M)")
    print(f"speed-up engine/baseline  {best_base / best_engine:8.2f} x   (target >= 3)")
    print(f"baseline total_U vs engine: median rel diff {np.median(rel):.2e}, ", end="")
    print(f"p99 {np.quantile(rel, 0.99):.2e}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "exact.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"written {out}")
    return result


if __name__ == "__main__":
    main()
