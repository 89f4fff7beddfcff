"""Small requests at the framework's floor (issue 12 item 4): one worker each, side by side
in one run, driven by wrk:

- ``bare``: a bare FastAPI endpoint taking the same one-point body (bench/bare_app.py), as
  ``async def`` (the floor the targets compare with) and as plain ``def`` (``bare sync``);
- ``v1 predict``: POST /v1/predict with one point, every guard of jpsi-serve in force
  (request id, metrics, admission, body limit; and with ``--guards all`` an API key and a
  rate limit high enough not to refuse);
- ``v2 infer``: POST /v2/models/jpsi-surrogate/infer with one point per tensor (V2 JSON);
- ``v1 routes``: as ``v1 predict`` on a second server with ``JPSI_FAST_PATH=false``, every
  request through the FastAPI route (what service/fastpath.py saves).

    .venv/bin/python bench/floor.py [--seconds 3] [--rounds 5] [--guards all|default]

Figures: p50 latency at 1 connection, requests/s at 16 connections (best of ``--rounds``
rounds that alternate the targets, each round starting with another, so contention from
other work and the order hit them alike; many short rounds rather than a few long ones, as
this machine's speed drifts within minutes).
Target: v1 and v2 within 1.5x of bare on both. Prints a table, writes bench/results/floor.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.load import LUA, parse_wrk  # noqa: E402
from bench.server import free_port, start, stop  # noqa: E402

RESULTS = REPO / "bench" / "results" / "floor.json"
POINT = {"x": 0.2, "z": 0.5, "Q": 20.0, "PT": 1.0}
API_KEY = "floor-bench-key"
LUA_HEADERS = 'wrk.headers["X-API-Key"] = "{key}"\n'


def run_wrk(
    port: int, path: str, body: bytes, conns: int, threads: int, seconds: int, extra_lua: str = ""
) -> dict:
    """bench/load.py's wrk run, with extra request headers (Lua) for the API key."""
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "body.json").write_bytes(body)
        lua = Path(d) / "post.lua"
        lua.write_text(LUA.format(path=Path(d) / "body.json") + extra_lua)
        cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--timeout", "30s"]
        cmd += ["--latency", "-s", str(lua), f"http://127.0.0.1:{port}{path}"]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return parse_wrk(out)


def start_bare() -> tuple[subprocess.Popen, int]:
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "bench.bare_app:app", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--workers", "1", "--loop", "uvloop", "--http", "httptools"]
    cmd += ["--no-access-log", "--log-level", "warning"]
    proc = subprocess.Popen(cmd, cwd=REPO)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            req = urllib.request.Request(
                f"http://127.0.0.1:{port}/bare",
                data=orjson.dumps({"points": [POINT]}),
                headers={"content-type": "application/json"},
            )
            urllib.request.urlopen(req, timeout=2).read()
            return proc, port
        except OSError:
            time.sleep(0.2)
    stop(proc)
    raise RuntimeError("bare app did not start")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--guards", choices=["default", "all"], default="all")
    args = ap.parse_args(argv)

    env = {"JPSI_WORKERS": "1"}
    headers = ""
    if args.guards == "all":
        env.update(JPSI_API_KEY=API_KEY, JPSI_RATE_LIMIT_PER_SECOND="1000000")
        headers = LUA_HEADERS.format(key=API_KEY)
    one = orjson.dumps({"points": [POINT], "sqrt_s": 63.0})
    v2 = orjson.dumps(
        {
            "inputs": [
                {"name": k, "shape": [1], "datatype": "FP64", "data": [v]} for k, v in POINT.items()
            ]
        }
    )
    bare, bare_port = start_bare()
    log = open(os.devnull, "wb")
    jpsi, port = start(1, env=env, log=log)
    routes, routes_port = start(1, env={**env, "JPSI_FAST_PATH": "false"}, log=log)
    targets = {
        "bare": (bare_port, "/bare", one, ""),
        "bare sync": (bare_port, "/bare-sync", one, ""),
        "v1 predict": (port, "/v1/predict", one, headers),
        "v2 infer": (port, "/v2/models/jpsi-surrogate/infer", v2, headers),
        "v1 routes": (routes_port, "/v1/predict", one, headers),
    }
    best: dict[str, dict] = {k: {} for k in targets}
    try:
        names = list(targets)
        for round_ in range(args.rounds):
            # each round starts with another target, so none always runs first or last
            order = names[round_ % len(names) :] + names[: round_ % len(names)]
            for conns, threads, key in ((1, 1, "p50_ms"), (16, 2, "req_per_s")):
                for name in order:
                    p, path, body, extra = targets[name]
                    r = run_wrk(p, path, body, conns, threads, args.seconds, extra)
                    if r["non_2xx"] or r["socket_errors"]:
                        raise RuntimeError(f"{name}: {r['non_2xx']} non-2xx, errors {r}")
                    value = r["percentiles_ms"]["50"] if key == "p50_ms" else r["req_per_s"]
                    old = best[name].get(key)
                    if old is None or (value < old if key == "p50_ms" else value > old):
                        best[name][key] = value
                        best[name][key.replace("_ms", "").replace("req_per_s", "c16") + "_run"] = r
    finally:
        stop(jpsi)
        stop(routes)
        stop(bare)
        log.close()
    base = best["bare"]
    print(
        f"{'target':12} {'p50 ms (1 conn)':>16} {'x bare':>7} {'req/s (16 conn)':>16} {'bare/x':>7}"
    )
    verdicts = []
    for name, b in best.items():
        lat = b["p50_ms"] / base["p50_ms"]
        thr = base["req_per_s"] / b["req_per_s"]
        print(f"{name:12} {b['p50_ms']:16.3f} {lat:7.2f} {b['req_per_s']:16.0f} {thr:7.2f}")
        if name in ("v1 predict", "v2 infer"):
            ok = lat <= 1.5 and thr <= 1.5
            verdicts.append(
                f"{name}: latency {lat:.2f}x, throughput {1 / thr:.2f} of bare "
                f"(target within 1.5x): {'PASS' if ok else 'MISS'}"
            )
    for v in verdicts:
        print(v)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "command": "python bench/floor.py " + " ".join(argv or sys.argv[1:]),
                "guards": args.guards,
                "server_env": env,
                "results": best,
                "targets": verdicts,
            },
            indent=2,
        )
    )
    print(f"wrote {RESULTS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
