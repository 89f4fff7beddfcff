"""Burst benchmark of the overload guard: a real ``jpsi-serve`` on 127.0.0.1, hit by a few
hundred requests at once.

    .venv/bin/python bench/burst.py [--burst 300] [--limit 8] [--points 100] [--rounds 3]

Every connection is opened first, then all requests are sent together, each a
/v1/exact request of ``--points`` points. With ``JPSI_MAX_CONCURRENT_REQUESTS``
= ``--limit`` the requests past the limit must come back as 503 problem+json
with Retry-After, quickly, and nothing else may happen: no other status, no
connection error. For contrast the same burst is sent to a server whose limit
is above the burst (everything queues). While each burst is in flight,
/healthz is asked once and must answer 200.

Prints a table and writes ``bench/results/burst.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import orjson

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "burst.json"
sys.path.insert(0, str(REPO))

from bench.load import sample_points  # noqa: E402
from bench.server import start, stop  # noqa: E402


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


def http_request(method: str, path: str, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


async def one(conn, request: bytes, go: asyncio.Event) -> dict:
    reader, writer = conn
    await go.wait()
    start = time.perf_counter()
    try:
        writer.write(request)
        await writer.drain()
        status, headers, _ = await asyncio.wait_for(read_response(reader), 60)
        return {
            "status": status,
            "ms": 1e3 * (time.perf_counter() - start),
            "retry_after": headers.get("retry-after"),
            "problem": headers.get("content-type") == "application/problem+json",
        }
    except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
        return {"status": None, "error": type(exc).__name__}
    finally:
        writer.close()


async def burst(port: int, n: int, request: bytes | list[bytes]) -> tuple[list[dict], dict]:
    """``n`` copies of ``request``, or each request of a list, all sent at once."""
    requests = request if isinstance(request, list) else [request] * n
    conns = await asyncio.gather(
        *(asyncio.open_connection("127.0.0.1", port) for _ in requests), return_exceptions=True
    )
    connect_errors = sum(isinstance(c, BaseException) for c in conns)
    go = asyncio.Event()
    tasks = [
        asyncio.create_task(one(c, req, go))
        for c, req in zip(conns, requests, strict=True)
        if isinstance(c, tuple)
    ]
    health_conn = await asyncio.open_connection("127.0.0.1", port)
    health_go = asyncio.Event()
    health = asyncio.create_task(one(health_conn, http_request("GET", "/healthz"), health_go))
    await asyncio.sleep(0.05)
    go.set()
    await asyncio.sleep(0.01)  # the burst is in flight
    health_go.set()
    results = await asyncio.gather(*tasks)
    probe = await health
    for _ in range(connect_errors):
        results.append({"status": None, "error": "connect"})
    return results, probe


def percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def summarise(results: list[dict], probes: list[dict]) -> dict:
    statuses = Counter(r["status"] for r in results if r["status"] is not None)
    refused = [r for r in results if r["status"] == 503]
    served = [r for r in results if r["status"] == 200]
    ms_503 = [r["ms"] for r in refused]
    ms_200 = [r["ms"] for r in served]
    return {
        "requests": len(results),
        "status_200": statuses.get(200, 0),
        "status_503": statuses.get(503, 0),
        "other_statuses": {str(k): v for k, v in statuses.items() if k not in (200, 503)},
        "connection_errors": sum(r["status"] is None for r in results),
        "503_with_retry_after_and_problem_json": sum(
            bool(r["retry_after"]) and r["problem"] for r in refused
        ),
        "latency_503_ms": {
            "p50": percentile(ms_503, 50),
            "p99": percentile(ms_503, 99),
            "max": max(ms_503, default=None),
        },
        "latency_200_ms": {
            "p50": percentile(ms_200, 50),
            "p99": percentile(ms_200, 99),
            "max": max(ms_200, default=None),
        },
        "healthz_during_burst": [{"status": p["status"], "ms": p.get("ms")} for p in probes],
    }


def scenario(limit: int, args: argparse.Namespace, body: bytes) -> dict:
    env = {
        "JPSI_LOG_LEVEL": "warning",
        "JPSI_MAX_CONCURRENT_REQUESTS": str(limit),
        "JPSI_RETRY_AFTER_SECONDS": "1",
    }
    if args.artifact_dir is not None:
        env["JPSI_ARTIFACT_DIR"] = str(args.artifact_dir)
    server, port = start(1, env)
    request = http_request("POST", "/v1/exact", body)
    results: list[dict] = []
    probes: list[dict] = []
    try:
        asyncio.run(burst(port, 8, request))  # warm-up
        for _ in range(args.rounds):
            got, probe = asyncio.run(burst(port, args.burst, request))
            results += got
            probes.append(probe)
            time.sleep(0.2)
        # the floor: the same burst of GET /healthz, which costs next to nothing
        floor, _ = asyncio.run(burst(port, args.burst, http_request("GET", "/healthz")))
    finally:
        stop(server, timeout=30)
    ms = [r["ms"] for r in floor if r["status"] == 200]
    floor_ms = {"p50": percentile(ms, 50), "p99": percentile(ms, 99), "ok": len(ms)}
    return {"limit": limit, **summarise(results, probes), "healthz_burst_ms": floor_ms}


BINNED_MAX = orjson.dumps(
    {
        "bins": [{"x": [0.05 + 0.001 * i, 0.3], "z": [0.1, 1.0], "Q": [10.0, 30.0]}
                 for i in range(100)],
        "PT": [0.05 * (k + 1) for k in range(200)],
    }
)  # fmt: skip
"""The largest binned request the default limits allow: 100 bins × 200 P_T values."""


def mixed_scenario(deadline: float, args: argparse.Namespace, cheap_body: bytes) -> dict:
    """One worker, a burst of ``--expensive`` maximal binned requests and ``--cheap``
    one-point requests sent together, with cost admission at ``deadline`` seconds."""
    env = {
        "JPSI_LOG_LEVEL": "warning",
        "JPSI_REQUEST_DEADLINE_SECONDS": str(deadline),
        "JPSI_WORKERS": "1",
    }
    if args.artifact_dir is not None:
        env["JPSI_ARTIFACT_DIR"] = str(args.artifact_dir)
    server, port = start(1, env)
    expensive = http_request("POST", "/v1/exact/binned", BINNED_MAX)
    cheap = http_request("POST", "/v1/exact", cheap_body)
    order = [expensive] * args.expensive + [cheap] * args.cheap
    try:
        # warm-up, one at a time: the worker learns how fast it really is (service/admission.py)
        for request in (cheap, expensive, expensive, cheap):
            asyncio.run(burst(port, 1, [request]))
        got, probe = asyncio.run(burst(port, len(order), order))
    finally:
        stop(server, timeout=60)
    kinds = {
        "binned 100x200": got[: args.expensive],
        "exact 1 point": got[args.expensive : args.expensive + args.cheap],
    }
    return {
        "deadline_s": deadline,
        **{kind: summarise(results, [probe]) for kind, results in kinds.items()},
    }


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--burst", type=int, default=300, help="requests sent at once")
    ap.add_argument("--limit", type=int, default=8, help="JPSI_MAX_CONCURRENT_REQUESTS")
    ap.add_argument("--points", type=int, default=100, help="points per /v1/exact request")
    ap.add_argument("--rounds", type=int, default=3, help="bursts per scenario")
    ap.add_argument("--artifact-dir", type=Path, default=None, help="default: JPSI_ARTIFACT_DIR")
    ap.add_argument("--expensive", type=int, default=16, help="binned requests (mixed burst)")
    ap.add_argument("--cheap", type=int, default=64, help="1-point requests (mixed burst)")
    ap.add_argument("--deadline", type=float, default=5.0, help="JPSI_REQUEST_DEADLINE_SECONDS")
    args = ap.parse_args(argv)
    body = orjson.dumps({"points": sample_points(args.points), "sqrt_s": 63.0})
    cheap_body = orjson.dumps({"points": sample_points(1), "sqrt_s": 63.0})
    mixed = {
        f"deadline {args.deadline:g} s": mixed_scenario(args.deadline, args, cheap_body),
        "no deadline": mixed_scenario(1e6, args, cheap_body),
    }

    runs = {
        f"limit {args.limit}": scenario(args.limit, args, body),
        f"limit {10 * args.burst} (queue)": scenario(10 * args.burst, args, body),
    }
    guarded = runs[f"limit {args.limit}"]
    checks = [
        ("no other statuses", not guarded["other_statuses"]),
        ("no connection errors", guarded["connection_errors"] == 0),
        ("some 503s", guarded["status_503"] > 0),
        (
            "every 503 has Retry-After, problem+json",
            guarded["503_with_retry_after_and_problem_json"] == guarded["status_503"],
        ),
        (
            "/healthz 200 during every burst",
            all(p["status"] == 200 for p in guarded["healthz_during_burst"]),
        ),
    ]

    print(
        f"\n{args.rounds} bursts of {args.burst} POST /v1/exact ({args.points} points), "
        f"1 worker, cpus={os.cpu_count()}"
    )
    print(
        f"{'run':20} {'200':>6} {'503':>6} {'other':>6} {'conn err':>9} "
        f"{'503 p50':>8} {'503 p99':>8} {'200 p50':>8} {'200 p99':>8} {'healthz ms':>11}"
    )
    for name, r in runs.items():
        health = max((p["ms"] or 0) for p in r["healthz_during_burst"])
        print(
            f"{name:20} {r['status_200']:6d} {r['status_503']:6d} "
            f"{sum(r['other_statuses'].values()):6d} {r['connection_errors']:9d} "
            f"{fmt(r['latency_503_ms']['p50']):>8} {fmt(r['latency_503_ms']['p99']):>8} "
            f"{fmt(r['latency_200_ms']['p50']):>8} {fmt(r['latency_200_ms']['p99']):>8} "
            f"{health:11.1f}"
        )
    print("(latencies in ms, from sending the request to the end of the answer)")
    floor = guarded["healthz_burst_ms"]
    print(
        f"floor: the same burst of GET /healthz takes p50 {fmt(floor['p50'])} ms, "
        f"p99 {fmt(floor['p99'])} ms (client and server handling {args.burst} requests at once)"
    )
    print(
        f"\nmixed burst, 1 worker: {args.expensive} x binned 100 bins x 200 PT and "
        f"{args.cheap} x /v1/exact 1 point, sent together"
    )
    print(f"{'run':16} {'kind':16} {'200':>5} {'503':>5} {'other':>6} {'200 p50':>8} "
          f"{'200 max':>8} {'503 p50':>8} {'503 max':>8}")  # fmt: skip
    for name, run in mixed.items():
        for kind in ("binned 100x200", "exact 1 point"):
            r = run[kind]
            print(
                f"{name:16} {kind:16} {r['status_200']:5d} {r['status_503']:5d} "
                f"{sum(r['other_statuses'].values()) + r['connection_errors']:6d} "
                f"{fmt(r['latency_200_ms']['p50']):>8} {fmt(r['latency_200_ms']['max']):>8} "
                f"{fmt(r['latency_503_ms']['p50']):>8} {fmt(r['latency_503_ms']['max']):>8}"
            )
    admitted = mixed[f"deadline {args.deadline:g} s"]
    unguarded = mixed["no deadline"]
    slowest = max(
        (admitted[k]["latency_200_ms"]["max"] or 0.0) for k in ("binned 100x200", "exact 1 point")
    )
    checks += [
        (
            "mixed: expensive requests refused early with Retry-After",
            0
            < admitted["binned 100x200"]["status_503"]
            == admitted["binned 100x200"]["503_with_retry_after_and_problem_json"],
        ),
        (
            "mixed: slowest 200 faster than without a deadline",
            slowest
            < max(
                (unguarded[k]["latency_200_ms"]["max"] or 0.0)
                for k in ("binned 100x200", "exact 1 point")
            ),
        ),
        (
            "mixed, with the deadline: no other status, no connection error",
            all(
                not admitted[k]["other_statuses"] and admitted[k]["connection_errors"] == 0
                for k in ("binned 100x200", "exact 1 point")
            ),
        ),
    ]
    for name, ok in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "burst": args.burst,
                "rounds": args.rounds,
                "points_per_request": args.points,
                "workers": 1,
                "runs": runs,
                "mixed": mixed,
                "checks": [{"name": n, "pass": ok} for n, ok in checks],
            },
            indent=2,
        )
    )
    print(f"\nwrote {RESULTS.relative_to(REPO)}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
