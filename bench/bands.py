"""Cost of theory bands: points and bins, in process, single-threaded.

Points: the central evaluation plus a band from 7-point scales × 4 LDME sets ×
3 PDF sets (each source its own envelope, then quadrature), on random physical
points at √s = 63 GeV. Bins: the study's four (z, Q) bins with the same
variations, against a central binned request. The LDME sets are the
registered default and three client-given sets derived from it (×½, ×2, and
⟨O(³P₀[8])⟩ negated): the cost does not depend on the values.

    python bench/bands.py [--points N] [--repeat R]

Prints a table and writes bench/results/bands.json.
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import physics  # noqa: E402
from bench.exact import best_of, sample_points  # noqa: E402
from physics.ldme import DEFAULT_LDME_SET, LDME_FIELDS, REGISTRY, LDMESet  # noqa: E402
from physics.variations import Uncertainty, binned_bands, point_bands  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
PDF_SETS = ("NNPDF31_lo_as_0118", "NNPDF31_lo_as_0130", "NNPDF23_lo_as_0119_qed")
STUDY_BINS = [
    physics.Bin(x=(0.05, 0.5), z=z, Q=q)
    for z in ((0.1, 0.4), (0.4, 1.0))
    for q in ((10.0, 30.0), (30.0, 50.0))
]
PTS = np.linspace(0.1, 5.0, 20)


def ldme_sets() -> tuple[LDMESet, ...]:
    base = REGISTRY[DEFAULT_LDME_SET]
    values = {f: getattr(base.ldme, f) for f in LDME_FIELDS}
    half = LDMESet.custom("half", **{f: 0.5 * v for f, v in values.items()})
    double = LDMESet.custom("double", **{f: 2.0 * v for f, v in values.items()})
    flipped = LDMESet.custom("negative_3P0", **{**values, "O3P0_8": -values["O3P0_8"]})
    return (base, half, double, flipped)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    theory = physics.TheoryConfig()
    unc = Uncertainty(ldme_sets(), "7-point", PDF_SETS)
    x, z, Q, PT = sample_points(args.points)
    for name in PDF_SETS:
        physics.load_pdf(name)
    warm = physics.evaluate(x[:100], z[:100], Q[:100], PT[:100])
    point_bands(x[:100], z[:100], Q[:100], PT[:100], theory=theory, uncertainty=unc, central=warm)

    def central():
        return physics.evaluate(x, z, Q, PT, theory=theory)

    def with_band():
        ev = physics.evaluate(x, z, Q, PT, theory=theory)
        return point_bands(x, z, Q, PT, theory=theory, uncertainty=unc, central=ev)

    best_c, med_c = best_of(central, args.repeat)
    best_b, med_b = best_of(with_band, args.repeat)

    def binned_central():
        return physics.binned(STUDY_BINS, PTS, sqrt_s=63.0, theory=theory)

    def binned_with_band():
        res = physics.binned(STUDY_BINS, PTS, sqrt_s=63.0, theory=theory)
        return binned_bands(
            STUDY_BINS, PTS, sqrt_s=63.0, theory=theory, uncertainty=unc, central=res
        )

    binned_with_band()
    best_bc, _ = best_of(binned_central, args.repeat)
    best_bb, _ = best_of(binned_with_band, args.repeat)

    n = args.points
    result = {
        "benchmark": "theory bands (7-point scales x 4 LDME sets x 3 PDF sets)",
        "points": n,
        "threads": 1,
        "variations": {
            "ldme_sets": [s.name for s in unc.ldme_sets],
            "scales": unc.scales,
            "pdf_sets": list(unc.pdf_sets),
        },
        "points_central": {"best_s": best_c, "median_s": med_c, "points_per_s": n / best_c},
        "points_with_band": {
            "best_s": best_b,
            "median_s": med_b,
            "points_per_s": n / best_b,
            "target_points_per_s": 5e5,
        },
        "binned": {
            "bins": [dataclasses.asdict(b) for b in STUDY_BINS],
            "PT_values": PTS.size,
            "central_best_s": best_bc,
            "with_band_best_s": best_bb,
            "ratio": best_bb / best_bc,
            "target_ratio": 5.0,
        },
        "machine": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "cores": os.cpu_count(),
            "note": "shared machine under load: figures are pessimistic",
        },
        "command": "python bench/bands.py " + " ".join(argv or sys.argv[1:]),
    }
    mp = 1e-6 * n
    print(f"points                        {n:,}")
    print(f"central only      points/s    {mp / best_c:8.2f} M   (median {mp / med_c:.2f} M)")
    print(f"central + band    points/s    {mp / best_b:8.2f} M   (median {mp / med_b:.2f} M)")
    print("                                            (target >= 0.5 M)")
    print(f"binned central    {len(STUDY_BINS)} bins x {PTS.size} PT   {best_bc * 1e3:8.1f} ms")
    print(f"binned + band                  {best_bb * 1e3:8.1f} ms   ", end="")
    print(f"ratio {best_bb / best_bc:.2f} x (target <= 5)")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "bands.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"written {out}")
    return result


if __name__ == "__main__":
    main()
