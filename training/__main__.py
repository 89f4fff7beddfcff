"""``python -m training`` / ``jpsi-train``: train, verify and write the surrogate artifacts."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from training.pipeline import DEFAULT_OUT, TrainConfig, train


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jpsi-train", description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="artifact directory")
    parser.add_argument("--seed", type=int, default=TrainConfig.seed, help="seed of every step")
    parser.add_argument("--quick", action="store_true", help="small samples (tests, smoke runs)")
    args = parser.parse_args(argv)
    config = TrainConfig.quick_config(args.seed) if args.quick else TrainConfig(seed=args.seed)
    command = "jpsi-train " + " ".join(sys.argv[1:] if argv is None else argv)
    run = train(config, args.out, command.strip())
    worst = max(m["p99"] for m in run.metrics.values())
    print(
        f"wrote {args.out} in {run.stages['total_before_write'] + run.stages['write']:.1f} s: "
        f"worst p99 relative error {worst:.2e}, "
        f"{run.timing['points_per_second']:.3g} points/s, "
        f"batch-1 {run.timing['batch1_latency_us']:.1f} µs"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
