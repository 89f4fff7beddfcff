"""Surrogate vs exact engine: accuracy on fresh held-out points, throughput and latency.

    .venv/bin/python bench/surrogate_vs_exact.py [--artifacts DIR] [--seed-spread 3]

Accuracy: |σ_pred/σ_exact − 1| per output over ≥ 100 000 physical points of the
training domain (scrambled Sobol', a seed the training never used), every point
counted. Speed, single-threaded in the same process (onnxruntime
intra_op_num_threads = inter_op_num_threads = 1; numpy is single-threaded):
throughput at batch 10 000 (median of interleaved repeats of both) and the
median batch-1 latency of many ``run_with_iobinding`` calls on pre-allocated
buffers (plain ``sess.run`` for reference). ``--seed-spread N`` retrains with N
seeds into temporary directories and reports the spread of the test metrics.
Writes JSON to bench/results/surrogate_vs_exact.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from physics import OUTPUTS, evaluate  # noqa: E402
from runtime.onnx import BoundRunner, predict, session  # noqa: E402
from training.artifacts import MODEL_FILE, verify  # noqa: E402
from training.metrics import TARGETS, failures, relative_error, summarize  # noqa: E402
from training.pipeline import DEFAULT_OUT, TrainConfig, train  # noqa: E402
from training.sampling import sample_domain  # noqa: E402
from training.targets import exact_sigma  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "surrogate_vs_exact.json"


def exact_batch(pts: np.ndarray) -> None:
    evaluate(pts[:, 1], pts[:, 2], pts[:, 3], pts[:, 4], sqrt_s=pts[:, 0])


def throughput(sess, pts: np.ndarray, rounds: int) -> dict:
    batch = np.ascontiguousarray(pts[:10_000])
    exact_batch(batch)
    predict(sess, batch)
    t_exact, t_sur = [], []
    for _ in range(rounds):  # interleaved, so that machine load hits both alike
        t0 = time.perf_counter()
        exact_batch(batch)
        t_exact.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        predict(sess, batch)
        t_sur.append(time.perf_counter() - t0)
    n = batch.shape[0]
    exact_rate, sur_rate = n / np.median(t_exact), n / np.median(t_sur)
    return {
        "batch": n,
        "exact_points_per_s": exact_rate,
        "surrogate_points_per_s": sur_rate,
        "ratio_surrogate_over_exact": sur_rate / exact_rate,
    }


def latency(sess, pts: np.ndarray, calls: int) -> dict:
    runner = BoundRunner(sess, 1)
    one = np.ascontiguousarray(pts[:1])
    feeds = {"features": one}

    def median_us(fn) -> float:
        for _ in range(200):
            fn()
        ts = np.empty(calls)
        for i in range(calls):
            t0 = time.perf_counter()
            fn()
            ts[i] = time.perf_counter() - t0
        return float(np.median(ts) * 1e6)

    return {
        "surrogate_iobinding_us": median_us(lambda: runner(one)),
        "surrogate_run_us": median_us(lambda: sess.run(["sigma"], feeds)),
        "exact_us": median_us(lambda: exact_batch(one)) if calls else None,
    }


def seed_spread(seeds: list[int]) -> dict:
    per_seed = {}
    for seed in seeds:
        with tempfile.TemporaryDirectory() as tmp:
            run = train(TrainConfig(seed=seed), Path(tmp) / "surrogate", f"bench seed {seed}")
            per_seed[seed] = run.metrics
    spread = {}
    for name in OUTPUTS:
        for stat in ("median", "p99", "max"):
            vals = [per_seed[s][name][stat] for s in seeds]
            spread.setdefault(name, {})[stat] = {"min": min(vals), "max": max(vals)}
    return {"seeds": seeds, "spread": spread}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--log2-points", type=int, default=19, help="Sobol' draws (≈35 %% kept)")
    parser.add_argument("--seed", type=int, default=99991, help="seed of the fresh test points")
    parser.add_argument("--rounds", type=int, default=40, help="interleaved batch-10k repeats")
    parser.add_argument("--calls", type=int, default=20_000, help="batch-1 calls")
    parser.add_argument("--seed-spread", type=int, default=0, help="retrain with N seeds")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    manifest = verify(args.artifacts)
    sess = session(args.artifacts / MODEL_FILE, threads=1)
    pts = sample_domain(args.log2_points, args.seed)
    exact = exact_sigma(pts)
    rel = relative_error(predict(sess, pts), exact)
    accuracy = summarize(rel)
    print(f"accuracy on {len(pts)} fresh physical points (seed {args.seed}):")
    print(f"{'output':<10} {'median':>9} {'p90':>9} {'p99':>9} {'max':>9}")
    for name, m in accuracy.items():
        print(f"{name:<10} {m['median']:9.2e} {m['p90']:9.2e} {m['p99']:9.2e} {m['max']:9.2e}")
    missed = failures(accuracy)
    print("targets (median ≤ 1e-3, p99 ≤ 1e-2):", "all met" if not missed else missed)

    speed = throughput(sess, pts, args.rounds)
    lat = latency(sess, pts, args.calls)
    print(
        f"batch 10k: surrogate {speed['surrogate_points_per_s']:.3g} pts/s, exact "
        f"{speed['exact_points_per_s']:.3g} pts/s, ratio {speed['ratio_surrogate_over_exact']:.2f}"
    )
    print(
        f"batch 1: surrogate {lat['surrogate_iobinding_us']:.1f} µs (IOBinding), "
        f"{lat['surrogate_run_us']:.1f} µs (sess.run); exact {lat['exact_us']:.0f} µs"
    )
    files = {p.name: p.stat().st_size for p in args.artifacts.iterdir() if p.is_file()}
    stages = manifest["timing"]["stage_seconds"]
    result = {
        "artifacts": str(args.artifacts),
        "model_sha256": manifest["files"][MODEL_FILE],
        "n_points": len(pts),
        "seed": args.seed,
        "accuracy": accuracy,
        "targets": TARGETS,
        "targets_met": not missed,
        "throughput": speed,
        "latency": lat,
        "artifact_bytes": {"model": files[MODEL_FILE], "total": sum(files.values())},
        "training_seconds": stages,
        "threads": {"onnxruntime_intra_op": 1, "onnxruntime_inter_op": 1},
    }
    size = files[MODEL_FILE] / 1e6, sum(files.values()) / 1e6
    print(f"artifact: model {size[0]:.2f} MB, set {size[1]:.2f} MB; training stages {stages}")
    if args.seed_spread:
        result["seed_spread"] = seed_spread([11 * (i + 1) for i in range(args.seed_spread)])
        for name, s in result["seed_spread"]["spread"].items():
            print(f"{name:<10} median {s['median']['min']:.2e}–{s['median']['max']:.2e}  "
                  f"p99 {s['p99']['min']:.2e}–{s['p99']['max']:.2e}")  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0 if not missed else 1


if __name__ == "__main__":
    raise SystemExit(main())
