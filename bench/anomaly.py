"""Injected-anomaly benchmark of the shipped anomaly scorer (artifacts/anomaly).

Clean data (exact × U(0.8, 1.2) per output, training-domain kinematics at
√s = 28, 45, 63, 100, 141 GeV) against each anomaly class of
``training.anomaly_card.CLASSES``: ROC AUC vs clean and recall at the
calibrated threshold, plus the clean false-positive rate. A fresh seed and a
larger sample than the model card's.

    python bench/anomaly.py [--per-sqrt-s N] [--seed S]

Prints a table and writes bench/results/anomaly.json.
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from runtime.anomaly import AnomalyScorer  # noqa: E402
from training.anomaly_card import evaluate, table_markdown  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-sqrt-s", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=97)
    args = parser.parse_args()
    scorer = AnomalyScorer.from_artifacts(ROOT / "artifacts" / "anomaly")
    t0 = time.perf_counter()
    result = evaluate(scorer, args.per_sqrt_s, args.seed)
    result["seconds"] = time.perf_counter() - t0
    result["artifact_version"] = scorer.manifest["version"]
    print(table_markdown(result))
    misses = [r["class"] for r in result["classes"] if r["roc_auc"] < 0.99 or r["recall"] < 0.95]
    print(f"below target (AUC 0.99 / recall 95 %): {misses or 'none'}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "anomaly.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
