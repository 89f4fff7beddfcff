"""Latency of /v1/explain: its computation (service/explain.py) and over HTTP.

Single-point requests (the p50 target is ≤ 20 ms for the exact model) and
100-point requests, for the exact engine and, if ``artifacts/surrogate``
holds ``surrogate.onnx``, the ONNX surrogate; plus the additivity error and
how many training-domain points could not be explained. Then single-point
requests over HTTP to a real uvicorn server on 127.0.0.1 (one worker, one
keep-alive connection), as a client sees them.

    python bench/explain.py [--requests N] [--sqrt-s 63]

Prints a table and writes bench/results/explain.json.
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import argparse  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import server as jpsi_serve  # noqa: E402
from runtime.shapley import Explainer  # noqa: E402
from training.anomaly_card import domain_points  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def _session():
    path = ROOT / "artifacts" / "surrogate" / "surrogate.onnx"
    if not path.exists():
        return None
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def measure(explainer, model, points, batch, sqrt_s, target="total_U") -> dict:
    explainer.explain(points[:batch], target, model, sqrt_s)  # warm-up (PDF load, caches)
    times, worst, invalid = [], 0.0, 0
    for start in range(0, len(points) - batch + 1, batch):
        chunk = points[start : start + batch]
        t0 = time.perf_counter()
        body = explainer.explain(chunk, target, model, sqrt_s)
        times.append(time.perf_counter() - t0)
        for r in body["results"]:
            if not r["valid"]:
                invalid += 1
                continue
            total = body["base_value"] + sum(r["shap"].values())
            worst = max(worst, abs(total - r["prediction"]))
    ms = np.array(times) * 1e3
    return {
        "model": model,
        "points_per_request": batch,
        "requests": len(times),
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "max_additivity_error": worst,
        "unexplained_points": invalid,
    }


def measure_http(points, model: str, sqrt_s: float, requests: int) -> dict:
    """p50/p95 of single-point POST /v1/explain against ``jpsi-serve`` on a free local port."""
    server, port = jpsi_serve.start(workers=1, env={"JPSI_LOG_LEVEL": "warning"}, timeout=60)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        times = []
        for p in points[:requests]:
            body = json.dumps(
                {"points": [dict(zip(("x", "z", "Q", "PT"), map(float, p), strict=True))],
                 "model": model, "target": "total_U", "sqrt_s": sqrt_s}
            )  # fmt: skip
            t0 = time.perf_counter()
            conn.request("POST", "/v1/explain", body, {"content-type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            times.append(time.perf_counter() - t0)
            assert resp.status == 200, resp.status
        ms = 1e3 * np.array(times)
        return {
            "model": model,
            "transport": "http",
            "requests": len(times),
            "p50_ms": float(np.median(ms)),
            "p95_ms": float(np.quantile(ms, 0.95)),
        }
    finally:
        jpsi_serve.stop(server, timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--sqrt-s", type=float, default=63.0)
    args = parser.parse_args()
    session = _session()
    explainer = Explainer.from_artifacts(ROOT / "artifacts" / "explain", session=session)
    points = domain_points(max(args.requests, 1000), args.sqrt_s, np.random.default_rng(11))
    rows = []
    for model in ("exact", "surrogate") if session is not None else ("exact",):
        rows.append(measure(explainer, model, points[: args.requests], 1, args.sqrt_s))
        rows.append(measure(explainer, model, points[:1000], 100, args.sqrt_s))
    print(f"background rows: {explainer.background.shape[0]}, sqrt_s = {args.sqrt_s:g} GeV")
    print(f"{'model':<10} {'pts/req':>7} {'reqs':>5} {'p50 ms':>8} {'p95 ms':>8} "
          f"{'max |additivity|':>17} {'unexplained':>11}")  # fmt: skip
    for r in rows:
        print(
            f"{r['model']:<10} {r['points_per_request']:>7} {r['requests']:>5} {r['p50_ms']:>8.2f} "
            f"{r['p95_ms']:>8.2f} {r['max_additivity_error']:>17.2e} {r['unexplained_points']:>11}"
        )
    if session is None:
        print("surrogate: artifacts/surrogate/surrogate.onnx not found, not measured")
    http_rows = [
        measure_http(points, model, args.sqrt_s, args.requests)
        for model in (("exact", "surrogate") if session is not None else ("exact",))
    ]
    for r in http_rows:
        print(f"over HTTP, {r['model']:<10} 1 point: p50 {r['p50_ms']:.2f} ms, "
              f"p95 {r['p95_ms']:.2f} ms ({r['requests']} requests; target p50 <= 20)")  # fmt: skip
    rows += http_rows
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = {
        "sqrt_s": args.sqrt_s,
        "background_rows": int(explainer.background.shape[0]),
        "surrogate_measured": session is not None,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "rows": rows,
    }
    (RESULTS / "explain.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
