"""Load benchmark of the HTTP service: a real uvicorn server on 127.0.0.1, driven by wrk.

    .venv/bin/python bench/load.py [--duration 60] [--workers 1] [--artifact-dir DIR]

Scenarios (targets from issue 4):
  single   one connection, one point per request, /v1/predict and /v1/exact:
           p50 <= 2 ms, p99 <= 5 ms
  load     16 connections on /v1/predict for --duration s (60 by default):
           no errors, p99 <= 50 ms, >= 2000 req/s
  bulk     10 000 points per request through /v1/predict and /v1/exact:
           >= 200 000 points/s
and an in-process breakdown of one 10 000-point request (JSON parsing,
validation, compute, encoding) to say what bounds the bulk rate.

The server is started by this script with as many workers as the Docker image
(``JPSI_WORKERS``, default 1). Needs ``wrk`` (Debian: apt-get install wrk).
Prints a table and writes ``bench/results/load.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import orjson

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.server import start, stop  # noqa: E402
from service.settings import Settings  # noqa: E402

RESULTS = REPO / "bench" / "results" / "load.json"
BULK = 10_000

LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open("{path}", "rb"))
wrk.body = f:read("*a")
f:close()
"""


def sample_points(n: int, seed: int = 1, sqrt_s: float = 63.0) -> list[dict]:
    """Points inside the surrogate's training domain (and the physical domain)."""
    rng = np.random.default_rng(seed)
    m = 2 * n + 10  # some are cut below
    Q = np.exp(rng.uniform(np.log(5.0), np.log(30.0), m))
    y = rng.uniform(0.05, 0.9, m)
    x = Q * Q / (y * sqrt_s**2)
    z = rng.uniform(0.1, 0.9, m)
    PT = rng.uniform(0.0, 1.0, m) * np.minimum(0.5 * z * Q, 10.0)
    keep = x < 0.9
    return [
        {"x": float(a), "z": float(b), "Q": float(c), "PT": float(d)}
        for a, b, c, d in zip(x[keep], z[keep], Q[keep], PT[keep], strict=True)
    ][:n]


def post(port: int, path: str, body: bytes) -> tuple[int, bytes]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=body, headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(f"cannot parse wrk duration {text!r}")
    return float(m.group(1)) * _UNIT[m.group(2)]


def parse_wrk(out: str) -> dict:
    """Requests/s, latency percentiles (ms), request count and errors from ``wrk --latency``."""
    res: dict = {"percentiles_ms": {}}
    for p, v in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)$", out, re.M):
        res["percentiles_ms"][p] = _ms(v)
    m = re.search(r"^\s+Latency\s+(\S+)\s+(\S+)\s+(\S+)", out, re.M)
    if m:
        res["mean_ms"], res["max_ms"] = _ms(m.group(1)), _ms(m.group(3))
    res["requests"] = int(re.search(r"(\d+) requests in", out).group(1))
    res["req_per_s"] = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    res["socket_errors"] = sum(int(g) for g in m.groups()) if m else 0
    return res


def run_wrk(port: int, path: str, body: bytes, conns: int, threads: int, seconds: int) -> dict:
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "body.json").write_bytes(body)
        lua = Path(d) / "post.lua"
        lua.write_text(LUA.format(path=Path(d) / "body.json"))
        cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--timeout", "30s"]
        cmd += ["--latency", "-s", str(lua), f"http://127.0.0.1:{port}{path}"]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    res = parse_wrk(out)
    res.update(path=path, connections=conns, threads=threads, seconds=seconds)
    return res


def breakdown(points: list[dict], artifact_dir: Path | None) -> dict:
    """Per-stage cost (ms) of one 10 000-point /v1/exact and /v1/predict request, in process."""
    import physics
    from service import compute
    from service.metrics import Metrics
    from service.schemas.exact import ExactRequest
    from service.schemas.predict import PredictRequest
    from service.settings import Settings
    from service.state import load_state

    body = orjson.dumps({"points": points, "sqrt_s": 63.0})
    st = load_state(Settings(**({"artifact_dir": artifact_dir} if artifact_dir else {})), Metrics())

    def best(f, k=7):
        times = []
        for _ in range(k):
            t0 = time.perf_counter()
            f()
            times.append(time.perf_counter() - t0)
        return 1e3 * min(times)

    data = orjson.loads(body)
    req = ExactRequest.model_validate(data)
    x, z, Q, PT = compute.columns(req.points, ("x", "z", "Q", "PT"))
    out = {
        "bytes_in": len(body),
        "json_parse_orjson_ms": best(lambda: orjson.loads(body)),
        "json_parse_stdlib_ms": best(lambda: json.loads(body)),
        "validate_ms": best(lambda: ExactRequest.model_validate(data)),
        "to_arrays_ms": best(lambda: compute.columns(req.points, ("x", "z", "Q", "PT"))),
        "evaluate_ms": best(lambda: physics.evaluate(x, z, Q, PT, sqrt_s=63.0)),
        "exact_compute_and_encode_ms": best(
            lambda: compute.exact_points(req.points, 63.0, None, None, st.pdf_sets)
        ),
    }
    out["exact_encode_and_checks_ms"] = out["exact_compute_and_encode_ms"] - out["evaluate_ms"]
    if st.surrogate is not None:
        preq = PredictRequest.model_validate(data)
        feats = np.column_stack([np.full(x.size, 63.0), x, z, Q, PT])
        out["onnx_run_ms"] = best(lambda: st.surrogate.run(feats))
        out["predict_compute_and_encode_ms"] = best(
            lambda: compute.predict_points(preq.points, 63.0, None, st.surrogate)
        )
    out["bytes_out"] = len(compute.exact_points(req.points, 63.0, None, None, st.pdf_sets))
    stages = {
        "JSON parsing (orjson)": out["json_parse_orjson_ms"],
        "validation (pydantic)": out["validate_ms"],
        "points to arrays": out["to_arrays_ms"],
        "physics.evaluate": out["evaluate_ms"],
        "checks + JSON encoding": out["exact_encode_and_checks_ms"],
    }
    total = sum(stages.values())
    out["exact_shares"] = {k: round(v / total, 3) for k, v in stages.items()}
    out["exact_bound_by"] = max(stages, key=stages.get)
    return out


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=60, help="seconds of the 16-connection run")
    ap.add_argument("--short", type=int, default=10, help="seconds of each other wrk run")
    ap.add_argument("--workers", type=int, default=Settings().workers, help="uvicorn workers")
    ap.add_argument("--artifact-dir", type=Path, default=None, help="default: JPSI_ARTIFACT_DIR")
    args = ap.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk not found: apt-get install wrk", file=sys.stderr)
        return 2

    one = orjson.dumps({"points": sample_points(1), "sqrt_s": 63.0})
    bulk_points = sample_points(BULK)
    bulk = orjson.dumps({"points": bulk_points, "sqrt_s": 63.0})
    env = {} if args.artifact_dir is None else {"JPSI_ARTIFACT_DIR": str(args.artifact_dir)}
    server, port = start(args.workers, env, ready="/healthz")
    runs: dict[str, dict] = {}
    try:
        status, text = post(port, "/v1/predict", one)
        have_predict = status == 200
        model = orjson.loads(text).get("model") if have_predict else None
        if not have_predict:
            print(f"/v1/predict answers {status}: {text[:200]!r}; predict runs skipped")
        paths = ["/v1/exact"] + (["/v1/predict"] if have_predict else [])
        for path in paths:
            assert post(port, path, one)[0] == 200 and post(port, path, bulk)[0] == 200
            run_wrk(port, path, one, 1, 1, 2)  # warm-up
            runs[f"single {path}"] = run_wrk(port, path, one, 1, 1, args.short)
        if have_predict:
            runs["load /v1/predict"] = run_wrk(port, "/v1/predict", one, 16, 2, args.duration)
        for path in paths:
            for conns in (1, 2):
                r = run_wrk(port, path, bulk, conns, conns, args.short)
                r["points_per_s"] = r["req_per_s"] * BULK
                runs[f"bulk {path} c{conns}"] = r
    finally:
        stop(server, timeout=30)

    checks = []
    for path in ("/v1/exact", "/v1/predict"):
        r = runs.get(f"single {path}")
        if r:
            p = r["percentiles_ms"]
            checks.append((f"single {path} p50 <= 2 ms", p["50"], p["50"] <= 2.0))
            checks.append((f"single {path} p99 <= 5 ms", p["99"], p["99"] <= 5.0))
    r = runs.get("load /v1/predict")
    if r:
        errors = r["non_2xx"] + r["socket_errors"]
        checks.append(("load /v1/predict errors == 0", errors, errors == 0))
        checks.append(("load /v1/predict p99 <= 50 ms", r["percentiles_ms"]["99"],
                       r["percentiles_ms"]["99"] <= 50.0))  # fmt: skip
        checks.append(("load /v1/predict >= 2000 req/s", r["req_per_s"], r["req_per_s"] >= 2000))
    for path in ("/v1/exact", "/v1/predict"):
        rates = [runs[k]["points_per_s"] for k in runs if k.startswith(f"bulk {path} ")]
        if rates:
            checks.append((f"bulk {path} >= 200000 points/s", max(rates), max(rates) >= 2e5))

    parts = breakdown(bulk_points, args.artifact_dir)

    print(f"\nworkers={args.workers}  cpus={os.cpu_count()}  model={model}")
    print(f"{'run':32} {'req/s':>9} {'p50 ms':>8} {'p75':>8} {'p90':>8} {'p99':>8} {'errors':>7}")
    for name, r in runs.items():
        p = r["percentiles_ms"]
        errors = r["non_2xx"] + r["socket_errors"]
        print(f"{name:32} {r['req_per_s']:9.1f} {p['50']:8.2f} {p['75']:8.2f} {p['90']:8.2f} "
              f"{p['99']:8.2f} {errors:7d}" + (f"  {r['points_per_s']:,.0f} points/s"
                                               if "points_per_s" in r else ""))  # fmt: skip
    print("\nin-process cost of one 10 000-point request (best of 7, ms):")
    for k, v in parts.items():
        if isinstance(v, float):
            print(f"  {k:34} {v:10.2f}")
        elif isinstance(v, int):
            print(f"  {k:34} {v:10d}")
    shares = ", ".join(f"{k} {100 * v:.0f}%" for k, v in parts["exact_shares"].items())
    print(f"  /v1/exact in-process shares: {shares}")
    print(f"  bounded by: {parts['exact_bound_by']} (plus HTTP transfer of bytes_in/bytes_out)")
    print("\ntargets:")
    for name, value, ok in checks:
        print(f"  {verdict(ok)}  {name:40} measured {value:,.2f}")

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "workers": args.workers,
                "model": model,
                "runs": runs,
                "breakdown_ms": parts,
                "targets": [{"name": n, "value": v, "pass": ok} for n, v, ok in checks],
            },
            indent=2,
        )
    )
    print(f"\nwrote {RESULTS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
