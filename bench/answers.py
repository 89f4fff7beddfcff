"""Fingerprints of the service's answers to a fixed set of requests, to show that a change of
structure changed no answer, bit for bit.

    .venv/bin/python bench/answers.py --out before.json        # on the old tree
    .venv/bin/python bench/answers.py --out after.json         # on the new tree
    .venv/bin/python bench/answers.py --compare before.json after.json

The requests run in process (``TestClient`` on ``service.create_app`` with the artifacts of
the tree it runs in): every endpoint, valid and unphysical points, every channel, the theory
options, bins, explanations with both models, anomaly scores with and without values, and
refusals. An answer is its status code and the sha256 of its body (JSON re-serialised with
sorted keys, so only values count). To fingerprint an older tree, run the script with that
tree first on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import warnings
from pathlib import Path

POINTS = [
    {"x": 0.2, "z": 0.5, "Q": 20.0, "PT": 1.0},
    {"x": 0.05, "z": 0.3, "Q": 8.0, "PT": 0.5},
    {"x": 0.5, "z": 0.8, "Q": 30.0, "PT": 2.0},
    {"x": 0.6, "z": 0.95, "Q": 45.0, "PT": 0.0},
    {"x": 0.01, "z": 0.5, "Q": 50.0, "PT": 1.0},  # y = 63 > 1
    {"x": 0.999, "z": 0.5, "Q": 2.0, "PT": 1.0},  # W below threshold
    {"x": 0.3, "z": 0.2, "Q": 12.0, "PT": 5.0},  # outside the TMD region
    {"x": 1e-12, "z": 0.5, "Q": 5.0, "PT": 1.0},  # off the PDF grid
]
BINS = [
    {"x": [0.1, 0.3], "z": [0.1, 0.4], "Q": [10.0, 30.0]},
    {"x": [0.3, 0.9], "z": [0.4, 1.0], "Q": [30.0, 50.0]},
    {"x": [0.001, 0.01], "z": [0.4, 0.9], "Q": [10.0, 30.0]},  # unphysical at 63 GeV
]

REQUESTS: list[tuple[str, str, dict | None]] = [
    ("POST", "/v1/exact", {"points": POINTS}),
    ("POST", "/v1/exact", {"points": POINTS, "sqrt_s": 141.0, "channels": ["total_L"]}),
    ("POST", "/v1/exact", {"points": POINTS, "sqrt_s": 29.0, "theory": {"quarks": "ud"}}),
    ("POST", "/v1/exact", {"points": POINTS, "theory": {"ldme": {"O3S1_8": 0.006}}}),
    ("POST", "/v1/exact", {"points": POINTS, "theory": {"pdf_set": "NNPDF31_lo_as_0130"}}),
    ("POST", "/v1/predict", {"points": POINTS}),
    ("POST", "/v1/predict", {"points": POINTS, "sqrt_s": 100.0, "channels": ["oct3s1_U"]}),
    ("POST", "/v1/exact/binned", {"bins": BINS, "PT": [0.1, 0.5, 1.0, 2.0, 4.0]}),
    ("POST", "/v1/exact/binned", {"bins": BINS[:2], "PT": [1.0], "sqrt_s": 45.0}),
    ("POST", "/v1/pdf", {"points": [{"x": 0.1, "Q": 10.0}, {"x": 2.0, "Q": 5.0}]}),
    ("POST", "/v1/explain", {"points": POINTS[:4], "model": "exact", "target": "total_U"}),
    ("POST", "/v1/explain", {"points": POINTS[:4], "model": "surrogate", "target": "oct3s1_U"}),
    ("POST", "/v1/anomaly", {"points": POINTS}),
    (
        "POST",
        "/v1/anomaly",
        {"points": [{**POINTS[0], "sigma": {"total_U": 3.0e-6, "oct3s1_U": 1.0}}, POINTS[1]]},
    ),
    ("POST", "/v1/exact", {"points": [{"x": "a", "z": 0.5, "Q": 20.0, "PT": 1.0}]}),
    ("POST", "/v1/exact", {"points": POINTS, "channels": ["nope"]}),
    (
        "POST",
        "/v1/exact/binned",
        {"bins": [{"x": [0.3, 0.1], "z": [0.4, 0.9], "Q": [10, 30]}], "PT": [1.0]},
    ),
    ("GET", "/healthz", None),
    ("GET", "/readyz", None),
]


def fingerprint(response) -> dict:
    try:
        body = json.dumps(response.json(), sort_keys=True).encode()
    except ValueError:
        body = response.content
    return {"status": response.status_code, "sha256": hashlib.sha256(body).hexdigest()}


def run(artifacts: Path | None) -> dict[str, dict]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

        from service import Settings, create_app

    settings = Settings(artifact_dir=artifacts) if artifacts else Settings()
    out = {}
    with TestClient(create_app(settings)) as client:
        for i, (method, path, body) in enumerate(REQUESTS):
            r = client.request(method, path, json=body)
            out[f"{i:02d} {method} {path}"] = fingerprint(r)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="write the fingerprints here")
    ap.add_argument("--artifacts", type=Path, default=None, help="artifact directory")
    ap.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
    args = ap.parse_args(argv)
    if args.compare:
        before, after = (json.loads(p.read_text()) for p in args.compare)
        differ = [k for k in before if before[k] != after.get(k)]
        for key in before:
            print(f"{'same' if key not in differ else 'DIFFERENT':9} {key}")
        print(f"{len(before) - len(differ)} of {len(before)} answers identical")
        return 1 if differ else 0
    result = run(args.artifacts)
    text = json.dumps(result, indent=2) + "\n"
    if args.out:
        args.out.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
