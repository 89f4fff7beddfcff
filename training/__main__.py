"""``jpsi-train`` (``python -m training``): build the shipped artifact sets.

    jpsi-train surrogate [--quick] [--seed S] [--out DIR]   # artifacts/surrogate
    jpsi-train explain   [--quick] [--seed S] [--out DIR]   # artifacts/explain
    jpsi-train anomaly   [--quick] [--seed S] [--out DIR]   # artifacts/anomaly
    jpsi-train all       [--quick] [--out DIR]              # the three, each with its seed

``--out`` is the artifact directory (default: the repository's ``artifacts``); each set
is written to its own subdirectory, staged and renamed into place, and only if it
passes its checks. Same seed, same models and metrics.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from training import builds
from training.anomaly import build_anomaly
from training.explain import build_explain
from training.pipeline import DEFAULT_OUT, TrainConfig, train

SETS = ("surrogate", "explain", "anomaly")


def surrogate(out: Path, quick: bool, seed: int | None, command: str) -> None:
    seed = TrainConfig.seed if seed is None else seed
    config = TrainConfig.quick_config(seed) if quick else TrainConfig(seed=seed)
    run = train(config, out / "surrogate", command)
    worst = max(m["p99"] for m in run.metrics.values())
    print(
        f"surrogate: written to {out / 'surrogate'} in "
        f"{run.stages['total_before_write'] + run.stages['write']:.1f} s: "
        f"worst p99 relative error {worst:.2e}, "
        f"{run.timing['points_per_second']:.3g} points/s, "
        f"batch-1 {run.timing['batch1_latency_us']:.1f} µs"
    )


def explain(out: Path, quick: bool, seed: int | None, command: str) -> None:
    build_explain(out / "explain", quick, command, builds.SEED if seed is None else seed)


def anomaly(out: Path, quick: bool, seed: int | None, command: str) -> None:
    build_anomaly(out / "anomaly", quick, command, builds.SEED if seed is None else seed)


BUILDERS = {"surrogate": surrogate, "explain": explain, "anomaly": anomaly}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="jpsi-train", description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__,
    )  # fmt: skip
    parser.add_argument("set", choices=(*SETS, "all"), help="the artifact set to build")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT.parent, help="artifact directory (parent of sets)"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of every random step")
    parser.add_argument("--quick", action="store_true", help="small samples (tests, smoke runs)")
    args = parser.parse_args(argv)
    if args.set == "all" and args.seed is not None:
        parser.error("--seed goes with one set; 'all' uses each set's own seed")
    command = "jpsi-train " + " ".join(sys.argv[1:] if argv is None else argv)
    for name in SETS if args.set == "all" else (args.set,):
        BUILDERS[name](args.out, args.quick, args.seed, command.strip())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
